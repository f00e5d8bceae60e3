"""Issue #8, consents: listed per service with attributes and date; withdrawing one makes the next login
ask again, ends the client's refresh tokens for this account and sends a back-channel logout where
registered. A SAML service's consent is just removed."""

from __future__ import annotations

import time
from typing import Any

from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, submit
from tests.integration.data.test_transfers import citizen, saml_login
from tests.integration.oidc.helpers import (
    authorize_params,
    code_flow,
    pkce,
    register_portal,
    token_request,
    verify,
)
from tests.integration.oidc.test_client_options import logout_receiver  # noqa: F401 - fixture
from tests.support.saml import ENTITY_ID

CONSENTS = "/konto/einwilligungen"


def withdraw(client: TestClient, service_id: str) -> Any:
    _action, token = form_action(client.get("/konto").text, "/abmelden")  # the session's CSRF token
    return client.post("/konto/einwilligungen/widerrufen", data={"service_id": service_id, "csrf_token": token},
                       follow_redirects=False)


def test_withdrawing_an_oidc_consent_asks_again_ends_refresh_tokens_and_tells_the_client(
        client: TestClient, settings: Settings, container: Any, logout_receiver: tuple[str, list[Any]]) -> None:  # noqa: F811
    uri, received = logout_receiver
    citizen(client, settings)
    portal = register_portal(container, backchannel_logout_uri=uri)
    other = register_portal(container, name="Anderes Portal")
    tokens = code_flow(client, portal)
    other_tokens = code_flow(client, other)
    page = client.get(CONSENTS).text
    assert page.count('data-testid="consent"') == 2 and "Bürgerportal Musterstadt" in page
    assert "Postleitzahl" in page

    answer = withdraw(client, portal.client_id)
    assert answer.status_code == 303 and answer.headers["location"].endswith("hinweis=consent_withdrawn")
    page = client.get(answer.headers["location"]).text
    assert 'data-message-id="notice.consent_withdrawn"' in page and page.count('data-testid="consent"') == 1

    refresh = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    still = token_request(client, other, {"grant_type": "refresh_token",
                                          "refresh_token": other_tokens["refresh_token"]})
    assert still.status_code == 200  # another client's grant is untouched
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received, "no logout token arrived"
    logout = verify(client, received[0]["logout_token"][0])
    assert logout["aud"] == portal.client_id and logout["sub"] == verify(client, tokens["id_token"])["sub"]

    _verifier, challenge = pkce()
    again = client.get("/oidc/authorize", params=authorize_params(portal, challenge), follow_redirects=False)
    assert again.status_code == 303
    assert 'name="decision"' in client.get(again.headers["location"], follow_redirects=False).text  # asked again
    assert "Einwilligung zu einer Datenübermittlung widerrufen" in \
        client.get("/konto/sicherheit").text


def test_withdrawing_a_saml_consent_removes_it(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    saml_login(client, settings, container)
    assert f'data-service="{ENTITY_ID}"' in client.get(CONSENTS).text
    assert withdraw(client, ENTITY_ID).status_code == 303
    assert 'data-testid="consent"' not in client.get(CONSENTS).text
    assert withdraw(client, ENTITY_ID).headers["location"].endswith("hinweis=consent_missing")


def test_withdrawal_needs_csrf_and_a_login(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    code_flow(client, register_portal(container))
    refused = client.post("/konto/einwilligungen/widerrufen", data={"service_id": "x"}, follow_redirects=False)
    assert refused.status_code == 403
    submit(client, "/konto", {}, action_prefix="/abmelden")
    assert client.get(CONSENTS, follow_redirects=False).headers["location"].startswith("/anmelden")
