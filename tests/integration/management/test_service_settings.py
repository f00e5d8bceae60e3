"""Per-service settings (issue #7) through the management API, and the protocols obeying them: allowed
attributes are never requested from the citizen, the minimum trust level and the allowed methods raise the
request's level, and an OIDC client's token endpoint auth method, keys and token format can be changed."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc.jwk import ECKey, KeySet
from starlette.testclient import TestClient

from servicekonto.domain.auth_request import AuthRequest
from servicekonto.domain.trust import TrustLevel
from servicekonto.settings import Settings
from tests.integration.management.helpers import PORTAL, TenantSetup, problem, tenant_with_admin_client
from tests.integration.oidc.helpers import REDIRECT_URI, authorize_params, pkce
from tests.support.saml import (
    authn_request_xml,
    post_params,
    request_signing_key,
    sign_enveloped,
    sp_metadata_with_keys,
)
from tests.unit.test_saml_response import sp_encryption_key


@pytest.fixture
def mine(client: TestClient, container: Any) -> TenantSetup:
    return tenant_with_admin_client(client, container, "Musterstadt")


def public_jwks() -> dict[str, Any]:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)
    return KeySet([key]).as_dict(private=False)


def test_an_oidc_client_is_registered_with_its_settings(client: TestClient, container: Any,
                                                        mine: TenantSetup) -> None:
    body = {**PORTAL, "allowed_attributes": ["email", "given_name"], "allowed_methods": ["passkey", "eid"],
            "min_trust_level": 2, "access_token_format": "opaque"}
    created = client.post(f"/api/tenants/{mine.id}/oidc-clients", json=body, headers=mine.auth)
    assert created.status_code == 201, created.text
    out = created.json()["client"]
    assert out["allowed_attributes"] == ["given_name", "email"]  # catalogue order
    assert out["allowed_methods"] == ["passkey", "eid"] and out["access_token_format"] == "opaque"
    assert out["has_secret"] and not out["has_keys"]
    stored = container.oidc_clients.get(out["client_id"])
    assert stored.allowed_attributes == ("given_name", "email") and stored.allowed_methods == ("passkey", "eid")


def test_settings_are_changed_and_bad_ones_change_nothing(client: TestClient, container: Any,
                                                          mine: TenantSetup) -> None:
    base = f"/api/tenants/{mine.id}/oidc-clients"
    client_id = client.post(base, json=PORTAL, headers=mine.auth).json()["client"]["client_id"]
    path = f"{base}/{client_id}"
    changed = client.patch(path, headers=mine.auth, json={
        "name": "Neues Portal", "allowed_attributes": ["family_name"], "allowed_methods": ["eid"],
        "min_trust_level": 3, "access_token_format": "opaque"})
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert (out["name"], out["allowed_attributes"], out["allowed_methods"], out["min_trust_level"],
            out["access_token_format"]) == ("Neues Portal", ["family_name"], ["eid"], 3, "opaque")
    assert out["redirect_uris"] == PORTAL["redirect_uris"]  # not sent, not changed

    before = client.get(path, headers=mine.auth).json()
    problem(client.patch(path, headers=mine.auth, json={"allowed_attributes": ["shoe_size"]}), 400,
            "service.attributes_invalid")
    problem(client.patch(path, headers=mine.auth, json={"allowed_methods": []}), 400, "service.methods_invalid")
    problem(client.patch(path, headers=mine.auth, json={"allowed_methods": ["carrier_pigeon"]}), 400,
            "request.invalid")
    problem(client.patch(path, headers=mine.auth, json={"name": "Neu", "min_trust_level": 5}), 400,
            "request.invalid")
    problem(client.patch(path, headers=mine.auth, json={"name": "Neu", "token_endpoint_auth_method": "none"}), 400,
            "oidc_client.invalid")
    problem(client.patch(path, headers=mine.auth, json={"name": "Neu",
                                                        "token_endpoint_auth_method": "private_key_jwt"}),
            400, "oidc_client.invalid")  # no keys
    assert client.get(path, headers=mine.auth).json() == before

    lifted = client.patch(path, headers=mine.auth, json={"allowed_attributes": None, "allowed_methods": None})
    assert lifted.json()["allowed_attributes"] is None and lifted.json()["allowed_methods"] is None
    events = client.get(f"/api/tenants/{mine.id}/audit-events", headers=mine.auth).json()
    assert events[0]["event"] == "admin:oidc_client:updated"
    assert events[0]["details"]["fields"] == "allowed_attributes allowed_methods"


def test_private_key_jwt_replaces_the_secret_and_back(client: TestClient, container: Any,
                                                      mine: TenantSetup) -> None:
    base = f"/api/tenants/{mine.id}/oidc-clients"
    created = client.post(base, json=PORTAL, headers=mine.auth).json()
    client_id, secret = created["client"]["client_id"], created["client_secret"]
    path = f"{base}/{client_id}"
    keys = client.patch(path, headers=mine.auth, json={"token_endpoint_auth_method": "private_key_jwt",
                                                       "jwks": public_jwks()})
    assert keys.status_code == 200, keys.text
    assert keys.json()["has_keys"] and not keys.json()["has_secret"]
    assert not container.oidc_clients.check_secret(container.oidc_clients.get(client_id), secret)
    problem(client.post(f"{path}/secret", headers=mine.auth), 400, "oidc_client.no_secret")
    problem(client.patch(path, headers=mine.auth, json={"jwks": {"keys": [{"kty": "nonsense"}]}}), 400,
            "oidc_client.invalid")

    back = client.patch(path, headers=mine.auth, json={"token_endpoint_auth_method": "client_secret_post"})
    assert back.status_code == 200 and not back.json()["has_secret"]
    rotated = client.post(f"{path}/secret", headers=mine.auth)
    assert rotated.status_code == 200 and rotated.json()["client"]["has_secret"]
    assert container.oidc_clients.check_secret(container.oidc_clients.get(client_id), rotated.json()["client_secret"])


def test_keys_come_from_a_jwks_uri_and_are_fetched_again(client: TestClient, container: Any,
                                                         mine: TenantSetup) -> None:
    served = {"document": json.dumps(public_jwks())}
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return served["document"]

    container.admin._fetch_jwks = fetch
    body = {"name": "Fachverfahren", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://portal.example.de/jwks"}
    created = client.post(f"/api/tenants/{mine.id}/oidc-clients", json=body, headers=mine.auth)
    assert created.status_code == 201, created.text
    assert created.json()["client_secret"] is None and created.json()["client"]["jwks_uri"] == body["jwks_uri"]
    client_id = created.json()["client"]["client_id"]

    served["document"] = json.dumps(public_jwks())
    report = container.admin.refresh_due()
    assert report.refreshed == 1 and fetched == [body["jwks_uri"]] * 2
    assert container.oidc_clients.registration(client_id).jwks == served["document"]
    served["document"] = "not a key set"
    assert container.admin.refresh_due().failed == 1
    assert container.oidc_clients.registration(client_id).jwks != "not a key set"  # the old keys stay
    events = [e["event"] for e in client.get(f"/api/tenants/{mine.id}/audit-events", headers=mine.auth).json()]
    assert events[:2] == ["admin:oidc_client:jwks_refresh_failed", "admin:oidc_client:jwks_refreshed"]


def _authorize(container: Any, client_id: str, scope: str, **extra: str) -> AuthRequest:
    _verifier, challenge = pkce()
    params = authorize_params(type("P", (), {"client_id": client_id, "redirect_uri": REDIRECT_URI})(), challenge,
                              scope=scope, **extra)
    found = container.oidc.authorize("GET", "http://127.0.0.1:8000/oidc/authorize", list(params.items()), None)
    assert isinstance(found, AuthRequest), found
    return found


def test_oidc_requests_are_cut_to_the_allowed_attributes_and_raised_to_the_floor(
        client: TestClient, container: Any, mine: TenantSetup) -> None:
    created = container.admin.create_oidc_client(
        container.admin.command_line(), mine.id, name="Portal", redirect_uris=(REDIRECT_URI,),
        allowed_attributes=("email", "family_name"))
    client_id = created.client.client_id
    asked = _authorize(container, client_id, "openid profile email address")
    assert sorted(asked.attribute_keys) == ["email", "family_name"] and asked.min_level is TrustLevel.BASIC

    admin = container.admin
    admin.update_oidc_client(admin.command_line(), mine.id, client_id, allowed_methods=("eid",))
    eid_only = _authorize(container, client_id, "openid email")
    assert eid_only.min_level is TrustLevel.HIGH and eid_only.level_essential
    admin.update_oidc_client(admin.command_line(), mine.id, client_id, allowed_methods=("passkey", "totp"),
                             min_trust_level=3)
    assert _authorize(container, client_id, "openid", acr_values="STORK-QAA-Level-1").min_level is \
        TrustLevel.SUBSTANTIAL
    admin.update_oidc_client(admin.command_line(), mine.id, client_id, allowed_methods=("password", "totp"),
                             min_trust_level=1, allowed_attributes=None)
    relaxed = _authorize(container, client_id, "openid profile")
    assert relaxed.min_level is TrustLevel.BASIC and "given_name" in relaxed.attribute_keys


def test_saml_requests_are_cut_to_the_allowed_attributes_and_raised_to_the_floor(
        client: TestClient, container: Any, settings: Settings, mine: TenantSetup) -> None:
    sp = container.admin.add_saml_sp(container.admin.command_line(), mine.id, metadata_xml=sp_metadata_with_keys(
        signing=request_signing_key()[1], encryption=sp_encryption_key()[1]))
    path = f"/api/tenants/{mine.id}/saml-sps/{sp.id}"
    changed = client.patch(path, headers=mine.auth, json={"allowed_attributes": ["given_name", "family_name"],
                                                          "allowed_methods": ["eid"], "name": "Portal (SAML)"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["allowed_methods"], changed.json()["name"]) == (["eid"], "Portal (SAML)")
    problem(client.patch(path, headers=mine.auth, json={"allowed_attributes": ["pseudonym"]}), 400,
            "service.attributes_invalid")

    sso = settings.base_url.rstrip("/") + "/saml/sso"
    xml = authn_request_xml(request_id="_" + secrets.token_hex(12), issue_instant=datetime.now(UTC),
                            destination=sso)
    asked = container.saml.authorize(binding="post", params=post_params(sign_enveloped(xml)), raw_query=None,
                                     sso_url=sso)
    assert isinstance(asked, AuthRequest), asked
    assert sorted(asked.attribute_keys) == ["family_name", "given_name"]  # of every master data asked for
    assert asked.min_level is TrustLevel.HIGH and asked.level_essential and asked.service_name == "Portal (SAML)"
