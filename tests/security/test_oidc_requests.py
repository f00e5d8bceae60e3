"""Hostile and broken OpenID Connect requests: nothing is redirected to an unverified URI, codes and tokens
work once, for their client only, and within their lifetime; unmet requirements are reported to the portal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from servicekonto.app import build_container, create_app
from servicekonto.core.clock import FixedClock
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from tests.conftest import make_settings
from tests.integration.accounts.helpers import form_action, login, register_and_verify
from tests.integration.oidc.helpers import (
    REDIRECT_URI,
    authorize_params,
    code_flow,
    follow_to_portal,
    pkce,
    register_portal,
    token_request,
    verify,
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))


@pytest.fixture
def timed(database: Database, tmp_path: Path, clock: FixedClock) -> Iterator[tuple[TestClient, Any, Settings]]:
    """The database store follows the test clock (Redis counts real time)."""
    settings = make_settings(tmp_path, database_url=database.url)
    container = build_container(settings, clock=clock)
    with TestClient(create_app(settings, container=container), base_url="http://127.0.0.1:8000",
                    raise_server_exceptions=False) as client:
        yield client, container, settings
    container.close()


def citizen(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox")


def callback_of(response: Any) -> dict[str, str]:
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_unregistered_redirect_uri_is_shown_not_followed(client: TestClient, container: Any) -> None:
    portal = register_portal(container)
    _, challenge = pkce()
    params = authorize_params(portal, challenge, redirect_uri="https://attacker.example/cb")
    response = client.get("/oidc/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers
    assert 'data-message-id="oidc.invalid_request"' in response.text
    unknown = client.get("/oidc/authorize", params={**params, "client_id": "unknown",
                                                    "redirect_uri": REDIRECT_URI}, follow_redirects=False)
    assert unknown.status_code == 400 and 'data-message-id="oidc.invalid_client"' in unknown.text


def test_other_errors_go_back_to_the_client_with_state_and_issuer(client: TestClient, container: Any) -> None:
    portal = register_portal(container)
    _, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, response_type="token"),
                          follow_redirects=False)
    answer = callback_of(response)
    assert answer["error"] == "unsupported_response_type" and answer["state"] == "state-1"


def test_public_clients_must_use_pkce(client: TestClient, container: Any) -> None:
    portal = register_portal(container, public=True)
    params = {k: v for k, v in authorize_params(portal, "x").items() if not k.startswith("code_challenge")}
    answer = callback_of(client.get("/oidc/authorize", params=params, follow_redirects=False))
    assert answer["error"] == "invalid_request"
    plain = authorize_params(portal, "a" * 43, code_challenge_method="plain")
    assert callback_of(client.get("/oidc/authorize", params=plain, follow_redirects=False))["error"] == (
        "invalid_request")


def test_prompt_none_without_session_is_login_required(client: TestClient, container: Any) -> None:
    portal = register_portal(container)
    _, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, prompt="none"),
                          follow_redirects=False)
    assert callback_of(response)["error"] == "login_required"


def test_prompt_none_needing_consent_is_consent_required(client: TestClient, settings: Settings,
                                                          container: Any) -> None:
    citizen(client, settings)
    login(client)
    portal = register_portal(container)
    _, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, prompt="none"),
                          follow_redirects=False)
    assert callback_of(response)["error"] == "consent_required"


def test_consent_is_remembered_and_prompt_none_then_succeeds(client: TestClient, settings: Settings,
                                                             container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    code_flow(client, portal)
    _, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, prompt="none"),
                          follow_redirects=False)
    assert "code" in callback_of(response)


def test_refused_consent_is_access_denied(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    _, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge), follow_redirects=False)
    answer = follow_to_portal(client, response, consent="deny")
    assert answer["error"] == "access_denied" and "code" not in answer


def test_essential_acr_nobody_can_reach_is_reported(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    _, challenge = pkce()
    # "substanziell" needs a passkey bound to an eID identity; this citizen has none: the page explains how
    # to get one, and cancelling tells the portal its requirement was not met.
    login(client)
    claims = '{"id_token": {"acr": {"essential": true, "values": ["http://eidas.europa.eu/LoA/substantial"]}}}'
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=claims),
                          follow_redirects=False)
    for _ in range(6):
        if response.status_code != 303 or not response.headers["location"].startswith("/"):
            break
        response = client.get(response.headers["location"], follow_redirects=False)
    action, token = form_action(response.text, "/anmeldung/")
    cancelled = client.post(action, data={"decision": "cancel", "csrf_token": token}, follow_redirects=False)
    answer = follow_to_portal(client, cancelled)
    assert answer["error"] == "unmet_authentication_requirements"


def test_voluntary_acr_is_answered_with_the_level_reached(client: TestClient, settings: Settings,
                                                          container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    tokens = code_flow(client, portal, acr_values="http://eidas.europa.eu/LoA/substantial")
    assert verify(client, tokens["id_token"])["acr"] == "STORK-QAA-Level-1"


def test_pkce_mismatch_and_wrong_secret_fail(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    _, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge), follow_redirects=False)
    code = follow_to_portal(client, response)["code"]
    other_verifier, _ = pkce()
    mismatch = token_request(client, portal, {"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": REDIRECT_URI, "code_verifier": other_verifier})
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_grant"
    portal.client_secret = "wrong-secret"
    wrong = token_request(client, portal, {"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": REDIRECT_URI, "code_verifier": other_verifier})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_a_token_of_one_client_is_useless_to_another(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    owner = register_portal(container, name="Eigentümer")
    thief = register_portal(container, name="Dieb")
    tokens = code_flow(client, owner)
    stolen = token_request(client, thief, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert client.post("/oidc/introspect", data={"token": tokens["access_token"]},
                       auth=(thief.client_id, thief.client_secret)).json() == {"active": False}
    still = token_request(client, owner, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert still.status_code == 200  # the thief's attempt did not burn the owner's token


def test_code_expires_after_sixty_seconds(timed: tuple[TestClient, Any, Settings], clock: FixedClock) -> None:
    client, container, settings = timed
    citizen(client, settings)
    portal = register_portal(container)
    verifier, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge), follow_redirects=False)
    code = follow_to_portal(client, response)["code"]
    clock.advance(61)
    late = token_request(client, portal, {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_prompt_login_and_max_age_ask_for_a_new_login(timed: tuple[TestClient, Any, Settings],
                                                      clock: FixedClock) -> None:
    client, container, settings = timed
    citizen(client, settings)
    portal = register_portal(container)
    code_flow(client, portal)
    clock.advance(120)
    _, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, max_age="60"),
                          follow_redirects=False)
    assert response.headers["location"].startswith("/anmelden?") and "erneut=1" in response.headers["location"]
    assert 'name="password"' in client.get(response.headers["location"]).text  # the form, though logged in
    again = client.get("/oidc/authorize", params=authorize_params(portal, challenge, prompt="login"),
                       follow_redirects=False)
    assert "code" in follow_to_portal(client, again)


def test_logout_ends_the_portals_refresh_tokens(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    tokens = code_flow(client, portal)
    response = client.get("/oidc/logout", params={"id_token_hint": tokens["id_token"], "state": "s",
                                                  "post_logout_redirect_uri": "http://127.0.0.1:9/"},
                          follow_redirects=False)
    assert response.headers["location"] == "http://127.0.0.1:9/?state=s"
    refresh = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400
    assert client.get("/konto", follow_redirects=False).status_code == 303


def test_logout_without_hint_asks_first(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    login(client)
    page = client.get("/oidc/logout", follow_redirects=False)
    assert page.status_code == 200 and 'action="/oidc/logout"' in page.text
    assert client.get("/konto", follow_redirects=False).status_code == 200
    foreign = client.get("/oidc/logout", params={"post_logout_redirect_uri": "https://attacker.example/"},
                         follow_redirects=False)
    assert foreign.status_code == 200 and "attacker.example" not in foreign.headers.get("location", "")


def test_pushed_authorization_request(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    verifier, challenge = pkce()
    pushed = client.post("/oidc/par", data=authorize_params(portal, challenge),
                         auth=(portal.client_id, portal.client_secret))
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    response = client.get("/oidc/authorize", params={"client_id": portal.client_id, "request_uri": request_uri},
                          follow_redirects=False)
    code = follow_to_portal(client, response)["code"]
    answer = token_request(client, portal, {"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert answer.status_code == 200
    reuse = client.get("/oidc/authorize", params={"client_id": portal.client_id, "request_uri": request_uri},
                       follow_redirects=False)
    assert reuse.status_code == 400  # single use


def test_token_endpoint_rejects_garbage(client: TestClient, container: Any) -> None:
    portal = register_portal(container)
    auth = (portal.client_id, portal.client_secret)
    assert client.post("/oidc/token", content=b"{}", headers={"content-type": "application/json"},
                       auth=auth).status_code == 400
    assert client.post("/oidc/token", data={"grant_type": "password"}, auth=auth).json()["error"] in {
        "unsupported_grant_type", "unauthorized_client"}
    assert client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x" * 5000},
                       auth=auth).status_code == 400
    assert client.get("/oidc/userinfo", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_logout_hint_of_another_session_asks_first(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    tokens = code_flow(client, portal)
    client.cookies.clear()
    login(client)  # another session: the hint names the first one
    page = client.get("/oidc/logout", params={"id_token_hint": tokens["id_token"],
                                              "post_logout_redirect_uri": "http://127.0.0.1:9/"},
                      follow_redirects=False)
    assert page.status_code == 200 and 'action="/oidc/logout"' in page.text
    assert "form-action 'self' http://127.0.0.1:9" in page.headers["content-security-policy"]
    assert client.get("/konto", follow_redirects=False).status_code == 200
