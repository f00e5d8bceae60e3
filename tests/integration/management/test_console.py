"""The console pages in process: a tenant admin registers services, an operator decides on tenants, and
every action shows up in the tenant's audit log."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action
from tests.integration.management.helpers import citizen_session
from tests.support.saml import ENTITY_ID, sp_metadata


def _post(client: TestClient, page: str, action_prefix: str, data: dict[str, str], **kwargs: Any) -> Any:
    action, token = form_action(client.get(page).text, action_prefix)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False, **kwargs)


def test_the_console_needs_a_login(client: TestClient) -> None:
    answer = client.get("/verwaltung", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/anmelden?return_to=%2Fverwaltung")


def test_a_tenant_admin_registers_services_in_the_console(client: TestClient, container: Any,
                                                          settings: Settings) -> None:
    citizen_session(client, settings)
    tenant = container.tenants.create("Musterstadt")
    other = container.tenants.create("Beispielhausen")
    container.admin.grant("erika", tenant_id=tenant.id)

    overview = client.get("/verwaltung")
    assert overview.status_code == 200 and "Musterstadt" in overview.text and "Beispielhausen" not in overview.text
    assert client.get(f"/verwaltung/mandanten/{other.id}").status_code == 404

    page = f"/verwaltung/mandanten/{tenant.id}/oidc-clients/neu"
    refused = _post(client, page, page, {"name": "Portal", "client_type": "confidential",
                                         "redirect_uris": "http://portal.example.de/cb", "min_trust_level": "1"})
    assert refused.status_code == 400 and 'data-message-id="oidc_client.invalid"' in refused.text
    assert container.oidc_clients.for_tenant(tenant.id) == []
    created = _post(client, page, page, {"name": "Bürgerportal", "client_type": "confidential",
                                         "redirect_uris": "https://portal.example.de/cb\r\n", "min_trust_level": "2"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', created.text).group(1)  # type: ignore[union-attr]
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', created.text).group(1)  # type: ignore[union-attr]
    registered = container.oidc_clients.get(client_id)
    assert registered.tenant_id == tenant.id and int(registered.min_trust_level) == 2
    assert container.oidc_clients.check_secret(registered, secret)
    detail = client.get(f"/verwaltung/mandanten/{tenant.id}")
    assert client_id in detail.text and secret not in detail.text

    sp_page = f"/verwaltung/mandanten/{tenant.id}/saml-sps/neu"
    action, token = form_action(client.get(sp_page).text, sp_page)
    added = client.post(action, data={"csrf_token": token}, files={"metadata_file": ("sp.xml", sp_metadata())},
                        follow_redirects=False)
    assert added.status_code == 303, added.text
    assert container.saml_sps.get(ENTITY_ID).tenant_id == tenant.id
    again = client.post(action, data={"csrf_token": token}, files={"metadata_file": ("sp.xml", sp_metadata())})
    assert again.status_code == 409 and 'data-message-id="saml_sp.entity_id_taken"' in again.text
    bad = client.post(action, data={"csrf_token": token}, files={"metadata_file": ("sp.xml", b"<x")})
    assert bad.status_code == 400 and 'data-message-id="saml_sp.invalid"' in bad.text
    forged = client.post(action, data={"csrf_token": "forged"}, files={"metadata_file": ("sp.xml", b"<x")})
    assert forged.status_code == 403

    detail = client.get(f"/verwaltung/mandanten/{tenant.id}")
    sp_id = container.saml_sps.get(ENTITY_ID).id
    deleted = _post(client, f"/verwaltung/mandanten/{tenant.id}", f"/verwaltung/mandanten/{tenant.id}/saml-sps/{sp_id}",
                    {})
    assert deleted.status_code == 303 and container.saml_sps.get(ENTITY_ID) is None
    rotated = _post(client, f"/verwaltung/mandanten/{tenant.id}",
                    f"/verwaltung/mandanten/{tenant.id}/oidc-clients/{client_id}", {"action": "rotate"})
    assert rotated.status_code == 200 and secret not in rotated.text

    log = client.get(f"/verwaltung/mandanten/{tenant.id}").text
    for event in ("admin:oidc_client:created", "admin:saml_sp:added", "admin:saml_sp:deleted",
                  "admin:oidc_client:secret_rotated"):
        assert event in log
    assert "Status" in log and "Aktiv" in log  # German first


def test_an_operator_approves_a_requested_tenant(client: TestClient, container: Any, settings: Settings) -> None:
    citizen_session(client, settings)
    asked = _post(client, "/verwaltung/mandant-beantragen", "/verwaltung/mandant-beantragen",
                  {"name": "Amt Neudorf", "organisation": "Amt Neudorf", "contact": "it@neudorf.example.de",
                   "purpose": "Bürgeramt online"})
    assert asked.status_code == 303
    tenant_id = asked.headers["location"].split("/")[-1].split("?")[0]
    detail = client.get(asked.headers["location"])
    assert 'data-status="requested"' in detail.text and 'value="approve"' not in detail.text
    empty = _post(client, "/verwaltung/mandant-beantragen", "/verwaltung/mandant-beantragen", {"name": "X"})
    assert empty.status_code == 400 and "error-summary" in empty.text

    container.admin.grant("erika", operator=True)
    page = f"/verwaltung/mandanten/{tenant_id}"
    approved = _post(client, page, f"{page}/status", {"action": "approve"})
    assert approved.status_code == 303
    assert 'data-status="active"' in client.get(page).text
    suspended = _post(client, page, f"{page}/status", {"action": "suspend"})
    assert suspended.status_code == 303 and container.tenants.get(tenant_id).status.value == "suspended"
    assert "admin:tenant:suspended" in client.get(page).text


def test_the_console_asks_for_a_second_factor_by_default(client: TestClient, container: Any,
                                                         settings: Settings) -> None:
    container.admin.min_trust_level = 2  # the default of the setting; this directory relaxes it to 1
    citizen_session(client, settings)
    container.admin.grant("erika", operator=True)
    page = client.get("/verwaltung")
    assert page.status_code == 403 and 'data-message-id="admin.trust_level_too_low"' in page.text
    api = client.get("/api/tenants")
    assert api.status_code == 403 and api.json()["code"] == "admin.trust_level_too_low"


def test_a_tenant_admin_never_reaches_another_tenant_in_the_console(client: TestClient, container: Any,
                                                                    settings: Settings) -> None:
    citizen_session(client, settings)
    mine = container.tenants.create("Musterstadt")
    theirs = container.tenants.create("Beispielhausen")
    container.admin.grant("erika", tenant_id=mine.id)
    their_client = container.oidc_clients.create(tenant_id=theirs.id, name="Portal",
                                                 redirect_uris=("https://portal.example.de/cb",))
    their_sp = container.saml_sps.add(theirs.id, sp_metadata())
    own_page = f"/verwaltung/mandanten/{mine.id}"
    _action, token = form_action(client.get(f"{own_page}/oidc-clients/neu").text, f"{own_page}/oidc-clients/neu")
    base = f"/verwaltung/mandanten/{theirs.id}"
    for path in ("", "/statistik", "/oidc-clients/neu", "/saml-sps/neu"):
        assert client.get(base + path).status_code == 404, path
    for path, data in ((f"{base}/status", {"action": "suspend"}),
                       (f"{base}/oidc-clients/neu", {"name": "Evil", "redirect_uris": "https://evil.example/cb"}),
                       (f"{base}/oidc-clients/{their_client.client.client_id}", {"action": "rotate"}),
                       (f"{base}/oidc-clients/{their_client.client.client_id}", {"action": "delete"}),
                       (f"{base}/saml-sps/{their_sp.id}/loeschen", {}),
                       (f"{own_page}/oidc-clients/{their_client.client.client_id}", {"action": "delete"}),
                       (f"{own_page}/saml-sps/{their_sp.id}/loeschen", {})):
        answer = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 404, (path, answer.status_code)
    assert container.tenants.get(theirs.id).status.value == "active"
    assert container.oidc_clients.check_secret(container.oidc_clients.get(their_client.client.client_id),
                                               their_client.secret)
    assert container.saml_sps.get(ENTITY_ID) is not None
    assert [c.name for c in container.oidc_clients.for_tenant(theirs.id)] == ["Portal"]
