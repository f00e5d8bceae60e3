"""OpenID Connect interop with Authlib's client (the library the demo portal uses; its browser run is
tests/e2e/test_demo_portal.py): the same library calls a portal's backend makes — authorization URL with
PKCE, code exchange, ID token validation with Authlib's own claims class, userinfo, refresh, revocation and
introspection — with the pages walked by a plain HTTP client, as a browser without JavaScript would."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.interop.harness import (
    Citizen,
    Portal,
    RegisteredClient,
    create_citizen,
    register_client,
    servicekonto_json,
)
from tests.support.postgres import fresh_postgres_database
from tests.support.server import LiveServer, running_server

pytestmark = pytest.mark.e2e

FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _form(html: str, prefix: str) -> tuple[str, str]:
    for action, body in FORM.findall(html):
        if action.startswith(prefix):
            token = CSRF.search(body)
            assert token
            return action.replace("&amp;", "&"), token.group(1)
    raise AssertionError(f"no form posting to {prefix}")


def walk_pages(server: LiveServer, url: str, citizen: Citizen, redirect_uri: str) -> str:
    """Login and consent through the real pages; the URL the provider sends the browser back to."""
    with httpx2.Client(base_url=server.base_url, trust_env=False) as browser:
        response = browser.get(url)
        for _ in range(6):
            location = response.headers.get("location", "")
            if location.startswith(redirect_uri):
                return location
            if response.status_code in (302, 303):
                response = browser.get(location)
            elif 'name="password"' in response.text:
                action, token = _form(response.text, "/anmelden")
                response = browser.post(action, data={"identifier": citizen.username, "password": citizen.password,
                                                      "csrf_token": token})
            elif 'name="decision"' in response.text:
                action, token = _form(response.text, "/anmeldung/")
                response = browser.post(action, data={"decision": "allow", "csrf_token": token})
            else:
                raise AssertionError(f"stuck at {response.status_code}")
    raise AssertionError("no way back to the portal")


def test_authlib_client_code_flow_refresh_revoke(live_server: LiveServer, portal: Portal, citizen: Citizen,
                                                 oidc_client: Callable[..., RegisteredClient]) -> None:
    registered = oidc_client(name="Authlib-Portal", scopes=("openid", "profile", "email"))
    code_flow_refresh_revoke(live_server, portal, citizen, registered)


def test_authlib_client_on_postgresql_and_redis(tmp_path: Path, redis_url: str, redis_prefix: str,
                                                portal: Portal) -> None:
    """The same calls against a server on PostgreSQL and Redis, where userinfo, introspection and the
    refresh grant answer on the event loop (asyncpg and the loop's Redis protocol)."""
    with fresh_postgres_database("sk_interop") as database_url, running_server(
            tmp_path, name="servicekonto-postgresql", extra_env={
                "SERVICEKONTO_DATABASE_URL": database_url, "SERVICEKONTO_REDIS_URL": redis_url,
                "SERVICEKONTO_REDIS_PREFIX": redis_prefix}) as server:
        tenant = str(servicekonto_json(server, "tenant", "create", "--name", "Interop Musterstadt")["id"])
        registered = register_client(server, tenant_id=tenant, name="Authlib-Portal", portal=portal,
                                     scopes=("openid", "profile", "email"))
        for _ in range(2):  # the second round runs with the client in the server's cache: the loop paths
            code_flow_refresh_revoke(server, portal, create_citizen(server), registered)


def code_flow_refresh_revoke(live_server: LiveServer, portal: Portal, citizen: Citizen,
                             registered: RegisteredClient) -> None:
    meta: dict[str, Any] = httpx2.get(f"{live_server.base_url}/.well-known/openid-configuration",
                                      trust_env=False).json()
    nonce, verifier = generate_token(20), generate_token(48)
    with OAuth2Client(registered.client_id, registered.client_secret, scope="openid profile email",
                      redirect_uri=portal.redirect_uri, code_challenge_method="S256", trust_env=False) as client:
        url, state = client.create_authorization_url(meta["authorization_endpoint"], nonce=nonce,
                                                     code_verifier=verifier)
        callback = walk_pages(live_server, url, citizen, portal.redirect_uri)
        token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier,
                                   state=state)
        keys = KeySet.import_key_set(httpx2.get(meta["jwks_uri"], trust_env=False).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=meta["id_token_signing_alg_values_supported"])
        claims = CodeIDToken(decoded.claims, decoded.header,
                             options={"iss": {"values": [meta["issuer"]]}},
                             params={"nonce": nonce, "client_id": registered.client_id,
                                     "access_token": token["access_token"]})
        claims.validate()  # iss, aud, exp, iat, nonce, at_hash: Authlib's checks
        info = client.get(meta["userinfo_endpoint"]).json()
        assert info["sub"] == claims["sub"] and info["given_name"] == citizen.given_name
        refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        live = client.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
        assert live["active"] is True and live["sub"] == claims["sub"]
        assert client.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"],
                                   token_type_hint="refresh_token").status_code == 200
        dead = client.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
        assert dead == {"active": False}  # the grant ended with its refresh token
