"""What a client can register beyond the defaults: RS256/PS256 ID tokens, signed userinfo, opaque access
tokens, private_key_jwt, back-channel logout."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import register_and_verify, submit
from tests.integration.oidc.helpers import ISSUER, code_flow, register_portal, token_request, verify


def citizen(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox")


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_signed_id_tokens_per_client(client: TestClient, settings: Settings, container: Any, alg: str) -> None:
    citizen(client, settings)
    portal = register_portal(container, id_token_signed_response_alg=alg)
    claims = verify(client, code_flow(client, portal)["id_token"])
    assert claims["_header"]["alg"] == alg


def test_signed_userinfo_and_opaque_access_tokens(client: TestClient, settings: Settings, container: Any) -> None:
    citizen(client, settings)
    portal = register_portal(container, userinfo_signed_response_alg="ES256", access_token_format="opaque")
    tokens = code_flow(client, portal)
    assert tokens["access_token"].count(".") == 0
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.headers["content-type"].startswith("application/jwt")
    signed = verify(client, info.text)
    assert signed["iss"] == ISSUER and signed["aud"] == portal.client_id and signed["email"] == "erika@example.de"
    auth = (portal.client_id, portal.client_secret)
    assert client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth).json()["active"]


def test_private_key_jwt_client_authentication(client: TestClient, container: Any) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "portal-key-1"}, private=True)
    public = json.dumps(KeySet([key]).as_dict(private=False))
    tenant = container.tenants.ensure("Musterstadt")
    created = container.oidc_clients.create(tenant_id=tenant.id, name="Fachverfahren", jwks=public,
                                            grant_types=("client_credentials",),
                                            token_endpoint_auth_method="private_key_jwt")
    client_id = created.client.client_id

    def assertion(audience: str = f"{ISSUER}/oidc/token", jti: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
                  "jti": jti or str(uuid.uuid4())}
        return jwt.encode({"alg": "ES256", "kid": "portal-key-1"}, claims, key)

    form = {"grant_type": "client_credentials", "client_assertion_type":
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    answer = client.post("/oidc/token", data={**form, "client_assertion": assertion()})
    assert answer.status_code == 200, answer.text
    replay_jti = str(uuid.uuid4())
    assert client.post("/oidc/token", data={**form, "client_assertion": assertion(jti=replay_jti)}).status_code == 200
    replayed = client.post("/oidc/token", data={**form, "client_assertion": assertion(jti=replay_jti)})
    assert replayed.status_code in (400, 401) and replayed.json()["error"] == "invalid_client"
    elsewhere = client.post("/oidc/token", data={**form, "client_assertion": assertion("https://other.example")})
    assert elsewhere.json()["error"] == "invalid_client"


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, list[str]]] = []  # noqa: RUF012 - the test reads what arrived

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        type(self).received.append(parse_qs(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def logout_receiver() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/backchannel", _Receiver.received
    server.shutdown()
    server.server_close()


def test_backchannel_logout_token_reaches_the_client(client: TestClient, settings: Settings, container: Any,
                                                     logout_receiver: tuple[str, list[Any]]) -> None:
    uri, received = logout_receiver
    citizen(client, settings)
    portal = register_portal(container, backchannel_logout_uri=uri)
    tokens = code_flow(client, portal)
    sid = verify(client, tokens["id_token"])["sid"]
    submit(client, "/konto", {}, action_prefix="/abmelden")
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received, "no logout token arrived"
    logout = verify(client, received[0]["logout_token"][0])
    assert logout["_header"]["typ"] == "logout+jwt" and logout["aud"] == portal.client_id
    assert logout["sid"] == sid and "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
    assert "nonce" not in logout
    refresh = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400
