"""A suspended tenant's services stop answering with a clear error; reactivated, they answer again."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from servicekonto.domain.admins import Principal, TenantAction, TenantNotActive
from tests.integration.accounts.helpers import register_and_verify
from tests.integration.oidc.helpers import authorize_params, code_flow, pkce, register_portal
from tests.support.saml import ENTITY_ID, sp_metadata

OPERATOR = Principal(kind="account", id="00000000-0000-0000-0000-000000000001", operator=True)


def test_a_suspended_tenants_services_answer_with_a_clear_error(client: TestClient, container: Any) -> None:
    portal = register_portal(container)
    tenant = container.tenants.ensure("Musterstadt")
    container.saml_sps.add(tenant.id, sp_metadata())
    _verifier, challenge = pkce()
    params = authorize_params(portal, challenge)
    assert client.get("/oidc/authorize", params=params, follow_redirects=False).status_code in (302, 303)

    container.admin.change_tenant(OPERATOR, tenant.id, TenantAction.SUSPEND)
    page = client.get("/oidc/authorize", params=params, follow_redirects=False)
    assert page.status_code == 403 and "derzeit gesperrt" in page.text
    token = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                        auth=(portal.client_id, portal.client_secret))
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"  # an OAuth error, in JSON
    assert "suspended" in token.json()["error_description"]
    with pytest.raises(TenantNotActive):
        container.saml_sps.get(ENTITY_ID)

    container.admin.change_tenant(OPERATOR, tenant.id, TenantAction.REACTIVATE)
    assert client.get("/oidc/authorize", params=params, follow_redirects=False).status_code in (302, 303)
    assert container.saml_sps.get(ENTITY_ID).tenant_id == tenant.id


def test_a_citizen_still_sees_consents_for_a_suspended_tenants_service(client: TestClient, container: Any,
                                                                       settings: Any) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container)
    code_flow(client, portal)
    tenant = container.tenants.ensure("Musterstadt")
    container.admin.change_tenant(OPERATOR, tenant.id, TenantAction.SUSPEND)
    assert client.get("/konto/einwilligungen").status_code == 200
