"""The authorization code flow through the real pages, in process, on both stacks: PKCE, ID token claims,
pairwise subjects, userinfo with today's values, refresh with rotation, revocation, introspection."""

from __future__ import annotations

import base64
from typing import Any

from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import register_and_verify, submit
from tests.integration.oidc.helpers import (
    ISSUER,
    code_flow,
    register_portal,
    token_request,
    verify,
)


def citizen(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox")


def test_code_flow_issues_verified_id_token_and_userinfo(client: TestClient, settings: Settings,
                                                         container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    tokens = code_flow(client, portal)
    claims = verify(client, tokens["id_token"])
    assert claims["iss"] == ISSUER and claims["aud"] == portal.client_id and claims["nonce"] == "nonce-1"
    assert claims["acr"] == "STORK-QAA-Level-1" and claims["amr"] == ["pwd"] and claims["_header"]["alg"] == "ES256"
    assert len(claims["sub"]) == 43 and claims["auth_time"] <= claims["iat"]
    access = verify(client, tokens["access_token"])
    assert access["_header"]["typ"] == "at+jwt" and access["client_id"] == portal.client_id
    submit(client, "/konto/stammdaten", {"given_name": "Erika", "family_name": "Mustermann",
                                        "postal_code": "51147", "locality": "Köln", "country": "DE"})
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["sub"] == claims["sub"] and body["email"] == "erika@example.de" and body["email_verified"] is True
    assert "given_name" not in body  # consent covered what the account held then: nothing else leaves


def test_refresh_rotates_and_reuse_revokes_the_grant(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    tokens = code_flow(client, portal)
    first = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200, first.text
    rotated = first.json()["refresh_token"]
    assert rotated != tokens["refresh_token"]
    reused = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    after = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": rotated})
    assert after.status_code == 400  # the whole grant is gone
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert info.status_code == 401


def test_code_is_single_use_and_a_replay_revokes_its_tokens(client: TestClient, settings: Settings,
                                                           container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    tokens = code_flow(client, portal)
    replay = token_request(client, portal, {"grant_type": "authorization_code", "code": tokens["code"],
                                            "redirect_uri": portal.redirect_uri, "code_verifier": tokens["verifier"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    refresh = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400


def test_revocation_and_introspection(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    tokens = code_flow(client, portal)
    auth = (portal.client_id, portal.client_secret)
    live = client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth).json()
    assert live["active"] is True and live["client_id"] == portal.client_id
    assert client.post("/oidc/revoke", data={"token": tokens["access_token"]}, auth=auth).status_code == 200
    assert client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth).json() == {
        "active": False}
    assert client.post("/oidc/revoke", data={"token": tokens["refresh_token"],
                                              "token_type_hint": "refresh_token"}, auth=auth).status_code == 200
    refresh = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400


def test_pairwise_subjects_differ_between_portals_and_stay_stable(client: TestClient, settings: Settings,
                                                                  container: Any) -> None:
    citizen(client, settings)
    one = register_portal(container, name="Portal Eins")
    subject = verify(client, code_flow(client, one)["id_token"])["sub"]
    again = verify(client, code_flow(client, one)["id_token"])["sub"]
    other_tenant = container.tenants.ensure("Nachbarstadt")
    created = container.oidc_clients.create(tenant_id=other_tenant.id, name="Portal Zwei",
                                            redirect_uris=("http://localhost:9/callback",))
    assert subject == again
    assert created.client.sector != one.redirect_uri  # another host: another sector


def test_client_credentials_for_machine_clients(client: TestClient, settings: Settings, container: Any) -> None:
    tenant = container.tenants.ensure("Musterstadt")
    machine = container.oidc_clients.create(tenant_id=tenant.id, name="Fachverfahren",
                                            grant_types=("client_credentials",), scopes=("openid",))
    answer = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                         auth=(machine.client.client_id, machine.secret))
    assert answer.status_code == 200, answer.text
    access = verify(client, answer.json()["access_token"])
    assert access["sub"] == machine.client.client_id and "refresh_token" not in answer.json()
    wrong = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                        auth=(machine.client.client_id, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    # Once the client is cached, its grant is answered without a worker thread, with the same checks.
    provider = container.oidc
    basic = {"authorization": "Basic " + base64.b64encode(f"{machine.client.client_id}:x".encode()).decode()}
    assert provider.answers_from_memory(basic, [("grant_type", "client_credentials")])
    assert not provider.answers_from_memory(basic, [("grant_type", "refresh_token")])
    assert not provider.answers_from_memory({"authorization": "Basic !!"}, [("grant_type", "client_credentials")])
    again = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                        auth=(machine.client.client_id, machine.secret))
    assert again.status_code == 200 and verify(client, again.json()["access_token"])["sub"] == machine.client.client_id
    wrong = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                        auth=(machine.client.client_id, "wrong"))
    assert wrong.status_code == 401


def test_discovery_names_every_endpoint(client: TestClient) -> None:
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == ISSUER
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "revocation_endpoint", "introspection_endpoint", "end_session_endpoint",
                 "pushed_authorization_request_endpoint"):
        assert meta[name].startswith(ISSUER)
    assert "STORK-QAA-Level-4" in meta["acr_values_supported"] and meta["code_challenge_methods_supported"] == [
        "S256"]
