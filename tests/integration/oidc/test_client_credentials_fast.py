"""client_credentials without Authlib (provider.client_credentials_fast): for a cached machine client with a
JWT access token format the answer is the one Authlib's grant gives — the same body, headers, token header
and claims — and every mistake goes to the endpoint, which answers with its error."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from tests.integration.oidc.helpers import basic_auth, verify


def _machine(container: Any, **options: Any) -> Any:
    tenant = container.tenants.ensure("Musterstadt")
    return container.oidc_clients.create(tenant_id=tenant.id, name="Fachverfahren",
                                         grant_types=("client_credentials",), scopes=("openid",), **options)


def test_the_fast_answer_is_authlibs_answer(client: TestClient, container: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    machine = _machine(container)
    client_id, secret = machine.client.client_id, machine.secret
    assert client.post("/oidc/token", data={"grant_type": "client_credentials"},
                       auth=(client_id, secret)).status_code == 200  # now cached
    provider = container.oidc
    uri = "http://127.0.0.1:8000/oidc/token"
    for headers, pairs in [
            (basic_auth(client_id, secret), [("grant_type", "client_credentials")]),
            (basic_auth(client_id, secret), [("grant_type", "client_credentials"), ("scope", "openid profile")]),
            (Headers(), [("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)])]:
        fast = provider.client_credentials_fast(headers, pairs)
        slow = provider.token(uri, headers, pairs)
        assert fast is not None and fast.status == slow.status == 200
        assert sorted(fast.headers) == sorted(slow.headers)
        assert {**fast.body, "access_token": ""} == {**slow.body, "access_token": ""}
        assert list(fast.body) == list(slow.body)
        ours, theirs = verify(client, fast.body["access_token"]), verify(client, slow.body["access_token"])
        assert ours.pop("_header") == theirs.pop("_header")
        assert ours.keys() == theirs.keys() and ours["jti"] != theirs["jti"]
        assert {k: v for k, v in ours.items() if k not in ("jti", "iat", "exp")} == {
            k: v for k, v in theirs.items() if k not in ("jti", "iat", "exp")}
        assert ours["exp"] - ours["iat"] == 600
    header = jwt.decode(fast.body["access_token"], provider._verification_keys()).header
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("took Authlib's path")
    monkeypatch.setattr(provider, "token", refuse)
    answer = client.post("/oidc/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert answer.status_code == 200 and "no-store" in answer.headers["cache-control"]
    assert "no-cache" in answer.headers["pragma"]
    introspected = client.post("/oidc/introspect", data={"token": answer.json()["access_token"]},
                               auth=(client_id, secret)).json()
    assert introspected["active"] is True and introspected["sub"] == client_id


def test_mistakes_go_to_the_endpoint(client: TestClient, container: Any) -> None:
    machine = _machine(container)
    portal = container.oidc_clients.create(tenant_id=machine.client.tenant_id, name="Portal",
                                           redirect_uris=("http://127.0.0.1:9/callback",))
    opaque = _machine(container, access_token_format="opaque")
    for created in (machine, portal, opaque):
        client.post("/oidc/token", data={"grant_type": "client_credentials"},
                    auth=(created.client.client_id, created.secret))  # cache them
    provider = container.oidc
    client_id, secret = machine.client.client_id, machine.secret
    grant = [("grant_type", "client_credentials")]
    assert provider.client_credentials_fast(basic_auth(client_id, "wrong"), grant) is None
    assert provider.client_credentials_fast({"authorization": "Basic !!"}, grant) is None
    assert provider.client_credentials_fast(basic_auth(client_id, secret), [("grant_type", "refresh_token")]) is None
    assert provider.client_credentials_fast(basic_auth(portal.client.client_id, portal.secret), grant) is None
    assert provider.client_credentials_fast(basic_auth(opaque.client.client_id, opaque.secret), grant) is None
    assert provider.client_credentials_fast(basic_auth(client_id, secret),
                                            [*grant, ("client_assertion", "x")]) is None
    wrong = client.post("/oidc/token", data={"grant_type": "client_credentials"}, auth=(client_id, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    posted_wrong = client.post("/oidc/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                    "client_secret": "wrong"})
    assert posted_wrong.json()["error"] == "invalid_client"
    unauthorized = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                               auth=(portal.client.client_id, portal.secret))
    assert unauthorized.status_code == 400 and unauthorized.json()["error"] == "unauthorized_client"


def test_a_machine_token_carries_only_the_scopes_the_client_is_registered_for(client: TestClient,
                                                                            container: Any) -> None:
    """Both paths: a scope the client holds passes, one it does not (here the management API's) is left out
    of the token and of the answer (RFC 6749 §3.3)."""
    machine = _machine(container)
    client_id, secret = machine.client.client_id, machine.secret
    data = {"grant_type": "client_credentials", "scope": "servicekonto:manage openid"}
    for _ in range(2):  # the first request fills the cache (Authlib's path), the second takes the fast one
        answer = client.post("/oidc/token", data=data, auth=(client_id, secret))
        assert answer.status_code == 200 and answer.json()["scope"] == "openid"
        assert verify(client, answer.json()["access_token"])["scope"] == "openid"
    assert container.oidc.token("http://127.0.0.1:8000/oidc/token", basic_auth(client_id, secret),
                                list(data.items())).body["scope"] == "openid"
