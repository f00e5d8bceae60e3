"""Administrators through the API (a tenant's admins, the operator admins and the rule that the last one
stays), the rate limit on tenant requests, refused requests in the statistics, and SP metadata registered
from a URL: refreshed, and on failure kept and recorded."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from servicekonto.protocols.fetch import non_public_reason
from servicekonto.services.admin import TENANT_REQUESTS_PER_DAY
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import register_and_verify
from tests.integration.management.helpers import (
    TenantSetup,
    citizen_session,
    csrf_of,
    problem,
    tenant_with_admin_client,
)
from tests.support.saml import ENTITY_ID, sp_metadata

METADATA_URL = "https://portal.example.de/saml/metadata"


@pytest.fixture
def mine(client: TestClient, container: Any) -> TenantSetup:
    return tenant_with_admin_client(client, container, "Musterstadt")


def test_a_tenants_admins_are_listed_added_and_removed(client: TestClient, container: Any, settings: Settings,
                                                        mine: TenantSetup) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    base = f"/api/tenants/{mine.id}/admins"
    assert client.get(base, headers=mine.auth).json() == []
    problem(client.post(base, json={"username": "nobody"}, headers=mine.auth), 400, "admin.account_unknown")
    added = client.post(base, json={"username": "erika"}, headers=mine.auth)
    assert added.status_code == 201, added.text
    assert (added.json()["username"], added.json()["role"]) == ("erika", "tenant_admin")
    account_id = added.json()["account_id"]
    assert [a["account_id"] for a in client.get(base, headers=mine.auth).json()] == [account_id]
    assert client.delete(f"{base}/{account_id}", headers=mine.auth).status_code == 204
    problem(client.delete(f"{base}/{account_id}", headers=mine.auth), 404, "admin.role_not_found")
    assert client.get(base, headers=mine.auth).json() == []
    events = [e["event"] for e in client.get(f"/api/tenants/{mine.id}/audit-events", headers=mine.auth).json()]
    assert events[:2] == ["admin:role:revoked", "admin:role:granted"]


def test_operators_are_listed_and_the_last_one_stays(client: TestClient, container: Any, settings: Settings,
                                                     mine: TenantSetup) -> None:
    register_and_verify(client, settings.data_dir / "outbox", username="max", email="max@example.de")
    citizen_session(client, settings)
    problem(client.get("/api/operators", headers=mine.auth), 403, "admin.forbidden")
    problem(client.get("/api/operators"), 403, "admin.forbidden")  # erika holds no role yet
    container.admin.grant("erika", operator=True)
    container.admin.grant("max", operator=True)
    csrf = {"X-CSRF-Token": csrf_of(client)}
    listed = client.get("/api/operators").json()
    assert sorted(o["username"] for o in listed) == ["erika", "max"]
    ids = {o["username"]: o["account_id"] for o in listed}
    problem(client.delete(f"/api/operators/{ids['max']}", headers=mine.auth), 403, "admin.forbidden")
    assert client.delete(f"/api/operators/{ids['max']}", headers=csrf).status_code == 204
    problem(client.delete(f"/api/operators/{ids['erika']}", headers=csrf), 409, "admin.last_operator")
    assert [o["username"] for o in client.get("/api/operators").json()] == ["erika"]
    with pytest.raises(Exception, match="operator"):
        container.admin.revoke("erika", operator=True)


def test_tenant_requests_are_rate_limited(client: TestClient, settings: Settings) -> None:
    citizen_session(client, settings)
    csrf = {"X-CSRF-Token": csrf_of(client)}
    for number in range(TENANT_REQUESTS_PER_DAY):
        asked = client.post("/api/tenants", headers=csrf, json={
            "name": f"Amt {number}", "organisation": "Amt", "contact": "it@amt.example.de", "purpose": "Anträge"})
        assert asked.status_code == 201, asked.text
    refused = client.post("/api/tenants", headers=csrf, json={
        "name": "Amt X", "organisation": "Amt", "contact": "it@amt.example.de", "purpose": "Anträge"})
    problem(refused, 429, "tenant.request_rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    assert len(client.get("/api/tenants").json()) == TENANT_REQUESTS_PER_DAY


def test_refused_requests_are_counted_per_day(client: TestClient, container: Any, mine: TenantSetup) -> None:
    from servicekonto.domain.audit import AuditEvent

    for _ in range(2):
        container.auditor.record(AuditEvent.CONSENT_REFUSED, tenant_id=mine.id, service="portal", attributes="")
    other = tenant_with_admin_client(client, container, "Beispielhausen")
    container.auditor.record(AuditEvent.CONSENT_REFUSED, tenant_id=other.id, service="portal", attributes="")
    found = client.get(f"/api/tenants/{mine.id}/statistics", headers=mine.auth).json()
    assert [(f["kind"], f["count"]) for f in found["failures"]] == [("account:consent:refused", 2)]


def test_metadata_from_a_url_are_refreshed_and_a_failure_keeps_them(client: TestClient, container: Any,
                                                                    mine: TenantSetup) -> None:
    served: dict[str, Any] = {"body": sp_metadata()}

    def fetch(url: str) -> bytes:
        assert url == METADATA_URL
        if isinstance(served["body"], Exception):
            raise served["body"]
        return bytes(served["body"])

    container.admin._fetch = fetch
    base = f"/api/tenants/{mine.id}/saml-sps"
    added = client.post(base, json={"metadata_url": METADATA_URL}, headers=mine.auth)
    assert added.status_code == 201, added.text
    sp = added.json()
    assert sp["metadata_url"] == METADATA_URL and sp["metadata_error"] is None and sp["metadata_fetched_at"]

    from servicekonto.domain.saml_sp import SpMetadataUnavailable
    served["body"] = SpMetadataUnavailable("https://portal.example.de/saml/metadata answered HTTP 503")
    failed = client.post(f"{base}/{sp['id']}/refresh", headers=mine.auth)
    assert failed.status_code == 200 and "HTTP 503" in failed.json()["metadata_error"]
    assert container.saml_sps.get(ENTITY_ID).metadata_xml == sp_metadata().decode()  # the old ones stay
    served["body"] = sp_metadata(entity_id="https://elsewhere.example.de/saml")
    moved = client.post(f"{base}/{sp['id']}/refresh", headers=mine.auth).json()
    assert "entityID" in moved["metadata_error"]

    served["body"] = sp_metadata()
    assert container.admin.refresh_due().refreshed == 0  # checked a moment ago: not due yet
    fixed = client.post(f"{base}/{sp['id']}/refresh", headers=mine.auth).json()
    assert fixed["metadata_error"] is None
    events = [e["event"] for e in client.get(f"/api/tenants/{mine.id}/audit-events", headers=mine.auth).json()]
    assert events[:3] == ["admin:saml_sp:metadata_refreshed", "admin:saml_sp:metadata_refresh_failed",
                          "admin:saml_sp:metadata_refresh_failed"]

    uploaded = container.admin.add_saml_sp(container.admin.command_line(), mine.id,
                                           metadata_xml=sp_metadata(entity_id="https://other.example.de/saml"))
    problem(client.post(f"{base}/{uploaded.id}/refresh", headers=mine.auth), 400, "saml_sp.no_metadata_url")


def test_due_metadata_are_refreshed_by_maintenance(container: Any, mine: TenantSetup) -> None:
    from datetime import timedelta

    container.admin._fetch = lambda url: sp_metadata()
    sp = container.admin.add_saml_sp(container.admin.command_line(), mine.id, metadata_url=METADATA_URL)
    container.admin._store.saml_sp_metadata_failed(sp.id, checked_at=sp.created_at - timedelta(hours=7),
                                                  error="saml_sp.metadata_unavailable: timeout")
    report = container.admin.refresh_due()
    assert (report.refreshed, report.failed) == (1, 0)
    assert container.saml_sps.registration(ENTITY_ID).metadata_error is None


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/md", "https://10.1.2.3/md", "https://169.254.169.254/latest/meta-data",
    "https://[::1]/md", "https://[::ffff:192.168.0.1]/md", "http://portal.example.de/md", "ftp://portal.example.de/md",
    "https://user:pw@portal.example.de/md", "https://internal.example/md",
])
def test_urls_into_our_own_network_are_refused_outside_the_test_system(url: str) -> None:
    private = {"internal.example": ["192.168.1.10"], "portal.example.de": ["203.0.113.7"]}
    resolve = lambda host: private.get(host, [])  # noqa: E731
    assert non_public_reason(url, test_system=False, resolve=resolve) is not None
    assert non_public_reason("https://portal.example.de/md", test_system=False,
                             resolve=lambda host: ["93.184.216.34"]) is None
    assert non_public_reason("http://127.0.0.1:9/md", test_system=True) is None
