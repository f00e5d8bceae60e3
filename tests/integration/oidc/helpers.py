"""A portal as the tests play it: register a client, send the browser to /oidc/authorize, log in and
consent through the pages, exchange the code. Tokens are checked with joserfc against our JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from tests.integration.accounts.helpers import form_action, login

REDIRECT_URI = "http://127.0.0.1:9/callback"
PASSWORD_OF_ERIKA = "Heidestr17Köln!"  # the accounts helpers' default citizen
ISSUER = "http://127.0.0.1:8000"


@dataclass
class Portal:
    client_id: str
    client_secret: str | None
    redirect_uri: str = REDIRECT_URI


def register_portal(container: Any, *, name: str = "Bürgerportal Musterstadt", public: bool = False,
                    **options: Any) -> Portal:
    tenant = container.tenants.ensure("Musterstadt")
    created = container.oidc_clients.create(tenant_id=tenant.id, name=name, redirect_uris=(REDIRECT_URI,),
                                            post_logout_redirect_uris=("http://127.0.0.1:9/",), public=public,
                                            **options)
    return Portal(created.client.client_id, created.secret)


def basic_auth(client_id: str, secret: str | None) -> Headers:
    """The Authorization header of client_secret_basic, as the provider's methods take headers."""
    return Headers({"authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()})


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(portal: Portal, challenge: str, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": portal.client_id, "redirect_uri": portal.redirect_uri,
            "scope": "openid profile email address", "state": "state-1", "nonce": "nonce-1",
            "code_challenge": challenge, "code_challenge_method": "S256", **extra}


def follow_to_portal(client: TestClient, response: Any, *, consent: str | None = "allow",
                     password_login: bool = True) -> dict[str, str]:
    """Walk the pages (login when asked, consent when asked) until the redirect to the portal."""
    for _ in range(8):
        location = response.headers.get("location", "")
        if location.startswith(REDIRECT_URI):
            return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if response.status_code in (302, 303):
            if location.startswith("/anmelden") and password_login:
                page = client.get(location)
                action, token = form_action(page.text, "/anmelden")
                response = client.post(action, data={"identifier": "erika", "password": PASSWORD_OF_ERIKA,
                                                     "csrf_token": token}, follow_redirects=False)
                continue
            response = client.get(location, follow_redirects=False)
            continue
        if response.status_code == 200 and 'name="decision"' in response.text and consent:
            action, token = form_action(response.text, "/anmeldung/")
            response = client.post(action, data={"decision": consent, "csrf_token": token}, follow_redirects=False)
            continue
        raise AssertionError(f"stuck at {response.status_code}: {response.text[:500]}")
    raise AssertionError("too many steps")


def token_request(client: TestClient, portal: Portal, data: dict[str, str]) -> Any:
    auth = (portal.client_id, portal.client_secret) if portal.client_secret else None
    if auth is None:
        data = {**data, "client_id": portal.client_id}
    return client.post("/oidc/token", data=data, auth=auth)


def code_flow(client: TestClient, portal: Portal, **extra: str) -> dict[str, Any]:
    verifier, challenge = pkce()
    response = client.get("/oidc/authorize", params=authorize_params(portal, challenge, **extra),
                          follow_redirects=False)
    callback = follow_to_portal(client, response)
    assert callback["state"] == "state-1" and callback["iss"] == ISSUER, callback
    answer = token_request(client, portal, {"grant_type": "authorization_code", "code": callback["code"],
                                            "redirect_uri": portal.redirect_uri, "code_verifier": verifier})
    assert answer.status_code == 200, answer.text
    return dict(answer.json(), code=callback["code"], verifier=verifier)


def verify(client: TestClient, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get("/jwks").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256", "RS256", "PS256"])
    return dict(decoded.claims) | {"_header": decoded.header}


def with_session(client: TestClient) -> TestClient:
    assert login(client).status_code == 303
    return client


def as_json(response: Any) -> Any:
    return json.loads(response.text)
