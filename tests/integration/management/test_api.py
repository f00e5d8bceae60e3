"""The management API on both stacks: every operation, and on every endpoint the rule that a tenant admin
never sees or changes another tenant's anything."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.management.helpers import (
    PORTAL,
    TenantSetup,
    citizen_session,
    csrf_of,
    problem,
    tenant_with_admin_client,
    token_for,
)
from tests.support.saml import ENTITY_ID, sp_metadata


@pytest.fixture
def two(client: TestClient, container: Any) -> tuple[TenantSetup, TenantSetup]:
    return (tenant_with_admin_client(client, container, "Musterstadt"),
            tenant_with_admin_client(client, container, "Beispielhausen"))


def test_the_openapi_document_describes_the_api(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/tenants/{tenant_id}/oidc-clients/{client_id}/secret" in document["paths"]
    assert "Problem" in document["components"]["schemas"]


def test_without_credentials_the_answer_is_a_401_problem(client: TestClient) -> None:
    problem(client.get("/api/tenants"), 401, "admin.unauthenticated")
    problem(client.get("/api/tenants", headers={"Authorization": "Bearer nonsense"}), 401, "admin.unauthenticated")
    problem(client.get("/api/tenants", headers={"Authorization": "Basic eDp5"}), 401, "admin.unauthenticated")


def test_a_token_without_the_manage_scope_is_refused(client: TestClient, container: Any) -> None:
    tenant = container.tenants.create("Musterstadt")
    machine = container.oidc_clients.create(tenant_id=tenant.id, name="Fachverfahren",
                                            grant_types=("client_credentials",), scopes=("profile",))
    token = token_for(client, machine.client.client_id, machine.secret, scope="profile")
    problem(client.get("/api/tenants", headers={"Authorization": f"Bearer {token}"}), 403, "admin.forbidden")


def test_a_tenant_admin_client_manages_its_oidc_clients(client: TestClient, container: Any,
                                                        two: tuple[TenantSetup, TenantSetup]) -> None:
    mine, _other = two
    base = f"/api/tenants/{mine.id}"
    assert [t["id"] for t in client.get("/api/tenants", headers=mine.auth).json()] == [mine.id]
    assert client.get(base, headers=mine.auth).json()["status"] == "active"

    created = client.post(f"{base}/oidc-clients", json=PORTAL, headers=mine.auth)
    assert created.status_code == 201, created.text
    client_id, secret = created.json()["client"]["client_id"], created.json()["client_secret"]
    assert len(secret) >= 40 and created.json()["client"]["redirect_uris"] == PORTAL["redirect_uris"]
    listed = client.get(f"{base}/oidc-clients", headers=mine.auth).json()
    assert {c["client_id"] for c in listed} == {mine.client_id, client_id}
    assert "client_secret" not in client.get(f"{base}/oidc-clients/{client_id}", headers=mine.auth).json()

    changed = client.patch(f"{base}/oidc-clients/{client_id}", headers=mine.auth,
                           json={"redirect_uris": ["https://portal.example.de/callback", "https://portal.example.de/cb2"]})
    assert changed.status_code == 200 and len(changed.json()["redirect_uris"]) == 2
    problem(client.patch(f"{base}/oidc-clients/{client_id}", headers=mine.auth,
                         json={"redirect_uris": ["https://elsewhere.example.org/cb"]}), 400, "oidc_client.invalid")
    problem(client.patch(f"{base}/oidc-clients/{client_id}", headers=mine.auth,
                         json={"redirect_uris": ["http://portal.example.de/cb"]}), 400, "oidc_client.invalid")
    assert container.oidc_clients.get(client_id).redirect_uris[1] == "https://portal.example.de/cb2"

    rotated = client.post(f"{base}/oidc-clients/{client_id}/secret", headers=mine.auth)
    assert rotated.status_code == 200 and rotated.json()["client_secret"] not in (None, secret)
    fresh = container.oidc_clients.get(client_id)
    assert not container.oidc_clients.check_secret(fresh, secret)
    assert container.oidc_clients.check_secret(fresh, rotated.json()["client_secret"])

    assert client.delete(f"{base}/oidc-clients/{client_id}", headers=mine.auth).status_code == 204
    problem(client.get(f"{base}/oidc-clients/{client_id}", headers=mine.auth), 404, "service.not_found")
    assert container.oidc_clients.get(client_id) is None

    events = [e["event"] for e in client.get(f"{base}/audit-events", headers=mine.auth).json()]
    assert events == ["admin:oidc_client:deleted", "admin:oidc_client:secret_rotated",
                      "admin:oidc_client:updated", "admin:oidc_client:created"]
    assert all(secret not in str(e) for e in client.get(f"{base}/audit-events", headers=mine.auth).json())


def test_bad_input_is_a_400_problem_and_changes_nothing(client: TestClient, container: Any,
                                                       two: tuple[TenantSetup, TenantSetup]) -> None:
    mine, _other = two
    base = f"/api/tenants/{mine.id}/oidc-clients"
    problem(client.post(base, json={"name": ""}, headers=mine.auth), 400, "request.invalid")
    problem(client.post(base, json={**PORTAL, "colour": "blue"}, headers=mine.auth), 400, "request.invalid")
    problem(client.post(base, json={**PORTAL, "redirect_uris": ["http://portal.example.de/cb"]}, headers=mine.auth),
            400, "oidc_client.invalid")
    problem(client.post(base, json={**PORTAL, "scopes": ["servicekonto:manage"]}, headers=mine.auth),
            400, "oidc_client.invalid")
    problem(client.post(base, content=b"{", headers={**mine.auth, "content-type": "application/json"}),
            400, "request.invalid")
    assert len(client.get(base, headers=mine.auth).json()) == 1


def test_a_management_client_created_through_the_api_gets_its_own_token(
        client: TestClient, two: tuple[TenantSetup, TenantSetup]) -> None:
    mine, _other = two
    created = client.post(f"/api/tenants/{mine.id}/oidc-clients", json={"name": "CI", "manage": True},
                          headers=mine.auth).json()
    assert "servicekonto:manage" in created["client"]["scopes"]
    token = token_for(client, created["client"]["client_id"], created["client_secret"])
    assert client.get("/api/tenants", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_saml_sps_are_added_from_metadata_listed_and_deleted(client: TestClient, container: Any,
                                                            two: tuple[TenantSetup, TenantSetup]) -> None:
    mine, _other = two
    base = f"/api/tenants/{mine.id}/saml-sps"
    added = client.post(base, json={"metadata_xml": sp_metadata().decode()}, headers=mine.auth)
    assert added.status_code == 201, added.text
    sp_id = added.json()["id"]
    assert added.json()["entity_id"] == ENTITY_ID
    assert [sp["id"] for sp in client.get(base, headers=mine.auth).json()] == [sp_id]
    assert client.get(f"{base}/{sp_id}", headers=mine.auth).json()["name"] == "Bürgerportal Musterstadt"
    problem(client.post(base, json={"metadata_xml": sp_metadata().decode()}, headers=mine.auth),
            409, "saml_sp.entity_id_taken")
    problem(client.post(base, json={"metadata_xml": "<nonsense"}, headers=mine.auth), 400, "saml_sp.invalid")
    problem(client.post(base, json={}, headers=mine.auth), 400, "request.invalid")
    problem(client.post(base, json={"metadata_url": "ftp://portal.example.de/md"}, headers=mine.auth),
            400, "saml_sp.invalid")
    assert client.delete(f"{base}/{sp_id}", headers=mine.auth).status_code == 204
    assert client.get(base, headers=mine.auth).json() == []
    assert container.saml_sps.get(ENTITY_ID) is None
    events = [e["event"] for e in client.get(f"/api/tenants/{mine.id}/audit-events", headers=mine.auth).json()]
    assert events == ["admin:saml_sp:deleted", "admin:saml_sp:added"]


def _their_world(client: TestClient, container: Any, theirs: TenantSetup) -> tuple[str, str]:
    created = client.post(f"/api/tenants/{theirs.id}/oidc-clients", json=PORTAL, headers=theirs.auth)
    sp = client.post(f"/api/tenants/{theirs.id}/saml-sps", json={"metadata_xml": sp_metadata().decode()},
                     headers=theirs.auth)
    assert created.status_code == 201 and sp.status_code == 201
    return created.json()["client"]["client_id"], sp.json()["id"]


ENDPOINTS = [
    ("GET", "/api/tenants/{t}", None),
    ("POST", "/api/tenants/{t}/approve", None),
    ("POST", "/api/tenants/{t}/reject", None),
    ("POST", "/api/tenants/{t}/suspend", None),
    ("POST", "/api/tenants/{t}/reactivate", None),
    ("GET", "/api/tenants/{t}/audit-events", None),
    ("GET", "/api/tenants/{t}/statistics", None),
    ("GET", "/api/tenants/{t}/oidc-clients", None),
    ("POST", "/api/tenants/{t}/oidc-clients", PORTAL),
    ("GET", "/api/tenants/{t}/oidc-clients/{c}", None),
    ("PATCH", "/api/tenants/{t}/oidc-clients/{c}", {"redirect_uris": ["https://portal.example.de/evil"]}),
    ("POST", "/api/tenants/{t}/oidc-clients/{c}/secret", None),
    ("DELETE", "/api/tenants/{t}/oidc-clients/{c}", None),
    ("GET", "/api/tenants/{t}/saml-sps", None),
    ("POST", "/api/tenants/{t}/saml-sps", {"metadata_xml": "<x/>"}),
    ("GET", "/api/tenants/{t}/saml-sps/{s}", None),
    ("DELETE", "/api/tenants/{t}/saml-sps/{s}", None),
    ("PATCH", "/api/tenants/{t}/saml-sps/{s}", {"name": "Evil", "allowed_methods": ["password"]}),
    ("POST", "/api/tenants/{t}/saml-sps/{s}/refresh", None),
    ("PATCH", "/api/tenants/{t}/oidc-clients/{c}", {"allowed_attributes": [], "min_trust_level": 1}),
    ("GET", "/api/tenants/{t}/admins", None),
    ("POST", "/api/tenants/{t}/admins", {"username": "erika"}),
    ("DELETE", "/api/tenants/{t}/admins/00000000-0000-0000-0000-000000000000", None),
    ("GET", "/api/tenants/{t}/service-roles", None),
    ("POST", "/api/tenants/{t}/service-roles", {"service_id": "{c}", "name": "antragsteller"}),
    ("DELETE", "/api/tenants/{t}/service-roles?service_id={c}&name=antragsteller", None),
]


def test_every_tenant_endpoint_is_in_the_cross_tenant_test(client: TestClient) -> None:
    """A new endpoint under a tenant cannot skip the test below: the OpenAPI document names them all."""
    document = client.get("/api/openapi.json").json()
    scoped = {(method.upper(), "/api" + path) for path, operations in document["paths"].items()
              if path.startswith("/tenants/{tenant_id}") for method in operations}
    tested = {(method, template.split("?")[0].replace("{t}", "{tenant_id}").replace("{c}", "{client_id}")
               .replace("{s}", "{sp_id}").replace("00000000-0000-0000-0000-000000000000", "{account_id}"))
              for method, template, _ in ENDPOINTS}
    assert scoped <= tested, sorted(scoped - tested)


@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_a_tenant_admin_never_reaches_another_tenant(client: TestClient, container: Any,
                                                     two: tuple[TenantSetup, TenantSetup], method: str,
                                                     template: str, body: Any) -> None:
    mine, theirs = two
    their_client, their_sp = _their_world(client, container, theirs)
    before = client.get(f"/api/tenants/{theirs.id}/oidc-clients/{their_client}", headers=theirs.auth).json()
    path = template.format(t=theirs.id, c=their_client, s=their_sp)
    if isinstance(body, dict):
        body = {k: v.format(c=their_client) if isinstance(v, str) else v for k, v in body.items()}
    answer = client.request(method, path, json=body, headers=mine.auth)
    problem(answer, 404, "tenant.not_found")
    # the same ids under one's own tenant are not found either
    own_path = template.format(t=mine.id, c=their_client, s=their_sp)
    if "{c}" in template or "{s}" in template:
        problem(client.request(method, own_path, json=body, headers=mine.auth), 404, "service.not_found")
    after = client.get(f"/api/tenants/{theirs.id}/oidc-clients/{their_client}", headers=theirs.auth).json()
    assert after == before
    [sp] = client.get(f"/api/tenants/{theirs.id}/saml-sps", headers=theirs.auth).json()
    assert (sp["name"], sp["allowed_methods"]) == ("Bürgerportal Musterstadt", None)
    assert container.admin._roles.for_tenant(theirs.id) == []
    assert container.tenants.get(theirs.id).status.value == "active"
    assert container.oidc_clients.check_secret(container.oidc_clients.get(theirs.client_id), theirs.secret)
    assert not client.get(f"/api/tenants/{theirs.id}/audit-events", headers=mine.auth).is_success


def test_tenant_lifecycle_request_approve_suspend_reactivate(client: TestClient, container: Any,
                                                              settings: Settings,
                                                              two: tuple[TenantSetup, TenantSetup]) -> None:
    mine, _other = two
    citizen_session(client, settings)
    csrf = {"X-CSRF-Token": csrf_of(client)}
    request = {"name": "Amt Neudorf", "organisation": "Amt Neudorf", "contact": "it@neudorf.example.de",
               "purpose": "Online-Anträge des Bürgeramts"}
    problem(client.post("/api/tenants", json=request), 403, "csrf.failed")
    asked = client.post("/api/tenants", json=request, headers=csrf)
    assert asked.status_code == 201 and asked.json()["status"] == "requested", asked.text
    tenant_id = asked.json()["id"]
    problem(client.post("/api/tenants", json=request, headers=csrf), 409, "tenant.name_taken")
    problem(client.post("/api/tenants", json={**request, "name": "X", "contact": "nobody"}, headers=csrf),
            400, "tenant.request_invalid")
    # the requester administers the tenant, but only an operator decides
    assert [t["id"] for t in client.get("/api/tenants").json()] == [tenant_id]
    problem(client.post(f"/api/tenants/{tenant_id}/approve", headers=csrf), 403, "admin.forbidden")
    problem(client.post(f"/api/tenants/{tenant_id}/oidc-clients", json=PORTAL, headers=csrf), 403,
            "tenant.not_active")
    problem(client.post("/api/tenants", json={**request, "name": "Y"}, headers=mine.auth), 403, "admin.forbidden")

    container.admin.grant("erika", operator=True)
    assert {t["id"] for t in client.get("/api/tenants").json()} >= {tenant_id, mine.id}
    problem(client.post(f"/api/tenants/{tenant_id}/suspend", headers=csrf), 409, "tenant.transition_invalid")
    assert client.post(f"/api/tenants/{tenant_id}/approve", headers=csrf).json()["status"] == "active"

    assert client.post(f"/api/tenants/{mine.id}/suspend", headers=csrf).json()["status"] == "suspended"
    problem(client.get("/api/tenants", headers=mine.auth), 403, "tenant.not_active")
    refused = client.post("/oidc/token", data={"grant_type": "client_credentials", "scope": "servicekonto:manage"},
                          auth=(mine.client_id, mine.secret))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"  # an OAuth error
    assert client.post(f"/api/tenants/{mine.id}/reactivate", headers=csrf).json()["status"] == "active"
    assert client.get("/api/tenants", headers=mine.auth).status_code == 200

    events = [e["event"] for e in client.get(f"/api/tenants/{mine.id}/audit-events").json()]
    assert events[:2] == ["admin:tenant:reactivated", "admin:tenant:suspended"]
    assert [e["event"] for e in client.get(f"/api/tenants/{tenant_id}/audit-events").json()] == [
        "admin:tenant:approved", "admin:tenant:requested"]
