"""Statistics per tenant: logins at its services per day by methods and trust level, as JSON and as a
table with a server-rendered SVG chart; another tenant's numbers stay out of reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from servicekonto.domain.transfers import Transfer
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence.transfers import SqlTransferLog
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import register_and_verify
from tests.integration.management.helpers import problem, tenant_with_admin_client, token_for
from tests.integration.oidc.helpers import code_flow, register_portal


def test_logins_are_counted_per_day_method_and_level(client: TestClient, container: Any, settings: Settings,
                                                     database_for: Any) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container)
    tenant = container.tenants.ensure("Musterstadt")
    code_flow(client, portal)  # today: one login with a password, level 1
    account_id = container.account_repository.find_by_login("erika").id
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    for _ in range(3):
        SqlTransferLog(database_for).record(Transfer(
            account_id=account_id, occurred_at=two_days_ago, tenant_id=tenant.id, protocol="oidc",
            service_id=portal.client_id, service_name="Portal", attributes=("email",),
            trust_level=TrustLevel.LOW, methods=("pwd", "otp")))
    machine = container.oidc_clients.create(tenant_id=tenant.id, name="Admin", grant_types=("client_credentials",),
                                            scopes=("servicekonto:manage",))
    auth = {"Authorization": f"Bearer {token_for(client, machine.client.client_id, machine.secret)}"}
    other = tenant_with_admin_client(client, container, "Beispielhausen")

    found = client.get(f"/api/tenants/{tenant.id}/statistics", headers=auth)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["days"] == 30
    logins = {(row["day"], tuple(row["methods"]), row["trust_level"]): row["count"] for row in body["logins"]}
    today = datetime.now(UTC).date().isoformat()
    assert logins == {(today, ("pwd",), 1): 1, (two_days_ago.date().isoformat(), ("pwd", "otp"), 2): 3}
    assert client.get(f"/api/tenants/{other.id}/statistics", headers=other.auth).json()["logins"] == []
    problem(client.get(f"/api/tenants/{other.id}/statistics", headers=auth), 404, "tenant.not_found")
    problem(client.get(f"/api/tenants/{tenant.id}/statistics?days=0", headers=auth), 400, "request.invalid")

    container.admin.grant("erika", tenant_id=tenant.id)
    page = client.get(f"/verwaltung/mandanten/{tenant.id}/statistik")
    assert page.status_code == 200
    assert page.text.count("<rect ") == 2 and 'role="img"' in page.text and "<script" not in page.text
    assert "pwd otp" in page.text and "4" in page.text
    assert client.get(f"/verwaltung/mandanten/{other.id}/statistik").status_code == 404
