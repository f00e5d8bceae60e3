"""Userinfo and introspection answered on the event loop (async PostgreSQL and Redis reads, no worker thread):
the same answers as the thread path, revocation included; SQLite and a loop without the server's lifespan keep
the thread path."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import register_and_verify
from tests.integration.oidc.helpers import basic_auth, code_flow, register_portal, token_request


def _thread_path_fails(container: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread path's entry points raise: an answer must have come from the event loop."""
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("took the thread path")
    monkeypatch.setattr(container.oidc, "userinfo", refuse)
    monkeypatch.setattr(container.oidc, "endpoint", refuse)


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_userinfo_and_introspection_answer_on_the_loop_until_revoked(
        client: TestClient, settings: Settings, container: Any, monkeypatch: pytest.MonkeyPatch,
        token_format: str) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format=token_format)
    tokens = code_flow(client, portal)
    on_loop = settings.redis_url is not None and container.database.dialect == "postgresql"
    auth = (portal.client_id, portal.client_secret)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    if on_loop:
        _thread_path_fails(container, monkeypatch)
    info = client.get("/oidc/userinfo", headers=bearer)
    assert info.status_code == 200 and info.json()["email"] == "erika@example.de"
    live = client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth).json()
    assert live["active"] is True and live["client_id"] == portal.client_id and live["token_type"] == "Bearer"
    wrong = client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=(portal.client_id, "x"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    again = client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth).json()
    assert again == live  # a JWT verified before is remembered: the same answer
    monkeypatch.undo()
    token = tokens["access_token"]
    tampered = token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB")
    assert client.post("/oidc/introspect", data={"token": tampered}, auth=auth).json() == {"active": False}
    assert client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    assert client.post("/oidc/revoke", data={"token": tokens["access_token"]}, auth=auth).status_code == 200
    assert client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth).json() == {
        "active": False}  # an unknown token may still be a refresh token: the thread path looks at both
    if on_loop:
        _thread_path_fails(container, monkeypatch)
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 401


def test_a_revoked_grant_ends_its_access_tokens_on_the_loop(client: TestClient, settings: Settings,
                                                            container: Any) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format="opaque")
    tokens = code_flow(client, portal)
    auth = (portal.client_id, portal.client_secret)
    assert client.post("/oidc/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                       auth=auth).status_code == 200
    assert client.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth).json() == {
        "active": False}
    assert client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
                      ).status_code == 401


def test_another_clients_token_is_inactive_and_refresh_tokens_still_introspect(
        client: TestClient, settings: Settings, container: Any) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format="opaque")
    other = register_portal(container, name="Anderes Portal")
    tokens = code_flow(client, portal)
    code_flow(client, other)  # caches the other client too
    assert client.post("/oidc/introspect", data={"token": tokens["access_token"]},
                       auth=(other.client_id, other.client_secret)).json() == {"active": False}
    refresh = client.post("/oidc/introspect", data={"token": tokens["refresh_token"]},
                          auth=(portal.client_id, portal.client_secret)).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"


def test_without_the_lifespan_the_thread_path_answers(client: TestClient, settings: Settings,
                                                      container: Any) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format="opaque")
    tokens = code_flow(client, portal)
    fresh_loop = TestClient(client.app, base_url="http://127.0.0.1:8000")  # a new loop per request, no lifespan
    info = fresh_loop.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json()["email"] == "erika@example.de"
    answer = fresh_loop.post("/oidc/introspect", data={"token": tokens["access_token"]},
                             auth=(portal.client_id, portal.client_secret))
    assert answer.json()["active"] is True
    assert token_request(client, portal, {"grant_type": "refresh_token",
                                          "refresh_token": tokens["refresh_token"]}).status_code == 200


@pytest.mark.parametrize("endpoint", ["userinfo", "introspection"])
def test_a_stale_key_set_is_renewed_by_the_thread_path_and_the_loop_answers_again(
        client: TestClient, settings: Settings, container: Any, monkeypatch: pytest.MonkeyPatch,
        endpoint: str) -> None:
    """The loop paths wait for a fresh key snapshot; an opaque token's answer reads no keys, so the thread
    path renews the snapshot, or every request after the key cache period would stay on the thread path."""
    _on_loop_only(settings, container)
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format="opaque")
    tokens = code_flow(client, portal)

    def ask() -> Any:
        if endpoint == "userinfo":
            return client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        return client.post("/oidc/introspect", data={"token": tokens["access_token"]},
                           auth=(portal.client_id, portal.client_secret))

    container.keys._snapshot = dataclasses.replace(container.keys._snapshot, fresh_until=0.0)  # the period passed
    assert container.keys.fresh_jwks() is None
    assert ask().status_code == 200  # the thread path
    assert container.keys.fresh_jwks() is not None
    _thread_path_fails(container, monkeypatch)
    assert ask().status_code == 200


def _on_loop_only(settings: Settings, container: Any) -> None:
    if settings.redis_url is None or container.database.dialect != "postgresql":
        pytest.skip("the loop paths need PostgreSQL and Redis")


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_a_refresh_on_the_loop_answers_as_authlibs_grant_and_rotates(
        client: TestClient, settings: Settings, container: Any, monkeypatch: pytest.MonkeyPatch,
        token_format: str) -> None:
    _on_loop_only(settings, container)
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format=token_format)
    first, second = code_flow(client, portal), code_flow(client, portal)
    provider = container.oidc
    uri, pairs = "http://127.0.0.1:8000/oidc/token", [("grant_type", "refresh_token")]
    headers = basic_auth(portal.client_id, portal.client_secret)
    slow = provider.token(uri, headers, [*pairs, ("refresh_token", first["refresh_token"])])
    fast = client.portal.call(provider.refresh_on_loop, headers, [*pairs, ("refresh_token", second["refresh_token"])])
    assert fast is not None and fast.status == slow.status == 200
    assert sorted(fast.headers) == sorted(slow.headers)
    assert list(fast.body) == list(slow.body)
    assert {**fast.body, "access_token": "", "refresh_token": ""} == {
        **slow.body, "access_token": "", "refresh_token": ""}
    assert fast.body["refresh_token"] not in (slow.body["refresh_token"], second["refresh_token"])

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("took Authlib's path")
    monkeypatch.setattr(provider, "token", refuse)
    again = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": fast.body["refresh_token"]})
    assert again.status_code == 200 and again.json()["refresh_token"] != fast.body["refresh_token"]
    bearer = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert client.get("/oidc/userinfo", headers=bearer).json()["email"] == "erika@example.de"
    monkeypatch.undo()
    # The rotated-out token presented again: the thread path finds the reuse and ends the grant.
    reused = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": fast.body["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 401
    assert client.post("/oidc/introspect", data={"token": again.json()["access_token"]},
                       auth=(portal.client_id, portal.client_secret)).json() == {"active": False}


def test_what_the_loop_does_not_refresh_goes_to_authlibs_grant(client: TestClient, settings: Settings,
                                                               container: Any) -> None:
    _on_loop_only(settings, container)
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format="opaque")
    public = register_portal(container, name="Öffentliche App", public=True)
    tokens, public_tokens = code_flow(client, portal), code_flow(client, public)
    provider = container.oidc
    basic = basic_auth(portal.client_id, portal.client_secret)
    refresh = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"])]
    for headers, pairs in [
            (basic, [*refresh, ("scope", "openid")]),  # a narrowed scope
            (basic_auth(portal.client_id, "wrong"), refresh),
            (Headers(), [("grant_type", "refresh_token"), ("refresh_token", public_tokens["refresh_token"]),
                  ("client_id", public.client_id)]),  # a public client
            (basic, [("grant_type", "refresh_token"),  # another client's token
                     ("refresh_token", public_tokens["refresh_token"])]),
            (basic, [("grant_type", "refresh_token"), ("refresh_token", "unknown")])]:
        assert client.portal.call(provider.refresh_on_loop, headers, pairs) is None
    narrowed = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                              "scope": "openid"})
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "openid"
    assert token_request(client, public, {"grant_type": "refresh_token",
                                          "refresh_token": public_tokens["refresh_token"]}).status_code == 200


def test_two_refreshes_with_one_token_on_the_loop_issue_once(client: TestClient, settings: Settings,
                                                             container: Any) -> None:
    _on_loop_only(settings, container)
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format="opaque")
    tokens = code_flow(client, portal)
    provider = container.oidc
    headers = basic_auth(portal.client_id, portal.client_secret)
    pairs = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"])]

    async def both() -> list[Any]:
        return list(await asyncio.gather(provider.refresh_on_loop(headers, pairs),
                                         provider.refresh_on_loop(headers, pairs)))

    answers = client.portal.call(both)
    assert sum(answer is not None for answer in answers) == 1  # the other goes to the thread path: reuse
    loser = token_request(client, portal, dict(pairs))
    assert loser.status_code == 400 and loser.json()["error"] == "invalid_grant"
