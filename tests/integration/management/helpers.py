"""Two tenants, an admin client for each, and a citizen who can be made an admin: the world every
management API test starts from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient

from servicekonto.domain.admins import MANAGE_SCOPE
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import login, register_and_verify


@dataclass
class TenantSetup:
    id: str
    client_id: str
    secret: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def token_for(client: TestClient, client_id: str, secret: str, scope: str = MANAGE_SCOPE) -> str:
    answer = client.post("/oidc/token", data={"grant_type": "client_credentials", "scope": scope},
                         auth=(client_id, secret))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def tenant_with_admin_client(client: TestClient, container: Any, name: str) -> TenantSetup:
    tenant = container.tenants.create(name)
    created = container.oidc_clients.create(tenant_id=tenant.id, name=f"{name} admin",
                                            grant_types=("client_credentials",), scopes=(MANAGE_SCOPE,))
    return TenantSetup(tenant.id, created.client.client_id, created.secret,
                       token_for(client, created.client.client_id, created.secret))


def citizen_session(client: TestClient, settings: Settings, username: str = "erika") -> None:
    register_and_verify(client, settings.data_dir / "outbox", username=username, email=f"{username}@example.de")
    assert login(client, username).status_code == 303


def csrf_of(client: TestClient) -> str:
    """The CSRF token of the session, as the console's forms carry it."""
    page = client.get("/konto")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["code"], body["status"]) == (code, status), body
    assert body["type"] == f"urn:servicekonto:problem:{code}"


PORTAL = {"name": "Bürgerportal", "redirect_uris": ["https://portal.example.de/callback"],
          "post_logout_redirect_uris": ["https://portal.example.de/"]}
