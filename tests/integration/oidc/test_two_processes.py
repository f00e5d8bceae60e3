"""No state lives in a process (DESIGN.md §8): one login hops between two `servicekonto serve` processes
that share PostgreSQL and Redis — authorize on one, log in on the other, consent on the first, tokens and
userinfo on the second — as a load balancer without sticky sessions would send it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from tests.integration.accounts.helpers import form_action, register_and_verify
from tests.integration.oidc.helpers import PASSWORD_OF_ERIKA, REDIRECT_URI, pkce
from tests.support.postgres import fresh_postgres_database
from tests.support.server import (
    LiveServer,
    random_secret,
    run_command,
    serve_command,
    servicekonto_command,
    start_server,
)


@pytest.fixture
def two_servers(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    with fresh_postgres_database("sk_two") as database_url:
        shared = {"SERVICEKONTO_DATABASE_URL": database_url, "SERVICEKONTO_REDIS_URL": redis_url,
                  "SERVICEKONTO_REDIS_PREFIX": redis_prefix}
        secret = random_secret()
        first = start_server(tmp_path, serve_command, extra_env=shared, secret_key=secret, name="first")
        try:
            # One public URL for both, as behind a load balancer: the issuer is the same.
            second = start_server(tmp_path, serve_command, migrate=False, secret_key=secret, name="second",
                                  extra_env=shared | {"SERVICEKONTO_BASE_URL": first.base_url})
            try:
                yield first, second
            finally:
                second.stop()
        finally:
            first.stop()


def test_a_login_hops_between_processes(two_servers: tuple[LiveServer, LiveServer], tmp_path: Path) -> None:
    first, second = two_servers
    tenant = json.loads(run_command(servicekonto_command("tenant", "create", "--name", "Musterstadt", "--json"),
                                    first.env))["id"]
    portal = json.loads(run_command(servicekonto_command(
        "oidc-client", "create", "--tenant", tenant, "--name", "Portal", "--redirect-uri", REDIRECT_URI, "--json"),
        first.env))
    with httpx2.Client(trust_env=False) as browser:  # one cookie jar: cookies are per host, not per port
        hop_between(browser, first, second, portal, tmp_path)


def hop_between(browser: httpx2.Client, first: LiveServer, second: LiveServer, portal: dict[str, str],
                tmp_path: Path) -> None:

    class Process:
        def __init__(self, server: LiveServer) -> None:
            self.base = server.base_url

        def get(self, path: str, **kwargs: object) -> httpx2.Response:
            return browser.get(self.base + path, **kwargs)  # type: ignore[arg-type]

        def post(self, path: str, **kwargs: object) -> httpx2.Response:
            return browser.post(self.base + path, **kwargs)  # type: ignore[arg-type]

    one, two = Process(first), Process(second)
    register_and_verify(one, tmp_path / "outbox")  # type: ignore[arg-type]
    verifier, challenge = pkce()
    start = one.get("/oidc/authorize", params={
        "response_type": "code", "client_id": portal["client_id"], "redirect_uri": REDIRECT_URI,
        "scope": "openid email", "state": "s", "nonce": "n", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    login_page = two.get(start.headers["location"])
    action, token = form_action(login_page.text, "/anmelden")
    logged_in = two.post(action, data={"identifier": "erika", "password": PASSWORD_OF_ERIKA, "csrf_token": token})
    consent_page = one.get(logged_in.headers["location"])
    action, token = form_action(consent_page.text, "/anmeldung/")
    back = one.post(action, data={"decision": "allow", "csrf_token": token})
    callback = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}
    assert back.headers["location"].startswith(REDIRECT_URI) and callback["iss"] == first.base_url
    tokens = two.post("/oidc/token", data={"grant_type": "authorization_code", "code": callback["code"],
                                           "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                      auth=(portal["client_id"], portal["client_secret"]))
    assert tokens.status_code == 200, tokens.text
    info = one.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
    assert info.status_code == 200 and info.json()["email"] == "erika@example.de"
    refreshed = one.post("/oidc/token", data={"grant_type": "refresh_token",
                                              "refresh_token": tokens.json()["refresh_token"]},
                         auth=(portal["client_id"], portal["client_secret"]))
    assert refreshed.status_code == 200
