"""Introspection from the ephemeral store alone (provider.introspection_fast): every way a grant ends leaves a
note there, so its access tokens, JWT and opaque, answer `{"active": false}` at once — from the fast path on
PostgreSQL + Redis (neither the database nor the thread path asked), from the usual paths elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from servicekonto.persistence.organisations import SqlOrganisationRepository
from servicekonto.protocols.oidc.authlib_server import Client, Subject
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import PASSWORD, register_and_verify, submit
from tests.integration.data.test_consents import withdraw
from tests.integration.oidc.helpers import Portal, code_flow, follow_to_portal, register_portal, token_request
from tests.integration.oidc.test_acting_for import SCOPES, choose, erika, organisation, start, to_chooser, userinfo

ENDINGS = ["refresh_token_revoked", "refresh_token_reused", "code_replayed", "logout", "consent_withdrawn",
           "account_deleted"]


def _only_the_fast_path(container: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("asked the database or the thread path")
    monkeypatch.setattr(container.oidc, "endpoint", refuse)
    monkeypatch.setattr(container.oidc._loop_grants, "get_on_loop", refuse)


def _introspect(client: TestClient, portal: Portal, token: str) -> Any:
    answer = client.post("/oidc/introspect", data={"token": token, "token_type_hint": "access_token"},
                         auth=(portal.client_id, portal.client_secret))
    assert answer.status_code == 200 and "no-store" in answer.headers["cache-control"]
    return answer.json()


def _end_grant(client: TestClient, portal: Portal, tokens: dict[str, Any], ending: str) -> list[str]:
    """End the grant of `tokens` one way; the access tokens of the grant that must now be inactive."""
    access = [tokens["access_token"]]
    if ending == "refresh_token_revoked":
        assert client.post("/oidc/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                           auth=(portal.client_id, portal.client_secret)).status_code == 200
    elif ending == "refresh_token_reused":
        refreshed = token_request(client, portal, {"grant_type": "refresh_token",
                                                   "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        access.append(refreshed.json()["access_token"])
        again = token_request(client, portal, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    elif ending == "code_replayed":
        replay = token_request(client, portal, {
            "grant_type": "authorization_code", "code": tokens["code"], "redirect_uri": portal.redirect_uri,
            "code_verifier": tokens["verifier"]})
        assert replay.status_code == 400
    elif ending == "logout":
        ended = client.get("/oidc/logout", params={"id_token_hint": tokens["id_token"]}, follow_redirects=False)
        assert ended.status_code == 303
    elif ending == "consent_withdrawn":
        assert withdraw(client, portal.client_id).status_code == 303
    else:
        deleted = submit(client, "/konto/loeschen", {"password": PASSWORD}, action_prefix="/konto/loeschen")
        assert deleted.headers["location"] == "/?hinweis=deleted"
    return access


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
@pytest.mark.parametrize("ending", ENDINGS)
def test_every_way_a_grant_ends_makes_its_access_tokens_inactive(
        client: TestClient, settings: Settings, container: Any, monkeypatch: pytest.MonkeyPatch,
        token_format: str, ending: str) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format=token_format)
    tokens = code_flow(client, portal)
    on_loop = settings.redis_url is not None and container.database.dialect == "postgresql"
    with monkeypatch.context() as patched:
        if on_loop:
            _only_the_fast_path(container, patched)
        live = _introspect(client, portal, tokens["access_token"])
    assert live["active"] is True and live["client_id"] == portal.client_id and live["token_type"] == "Bearer"
    assert live["exp"] - live["iat"] == 600 and live["iss"] == "http://127.0.0.1:8000"

    ended = _end_grant(client, portal, tokens, ending)

    for token in ended:
        assert _introspect(client, portal, token) == {"active": False}
        with monkeypatch.context() as patched:
            if on_loop:
                _only_the_fast_path(container, patched)
            assert _introspect(client, portal, token) == {"active": False}


def test_the_fast_path_keeps_the_endpoints_answers_for_mistakes(client: TestClient, settings: Settings,
                                                                container: Any) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container)
    other = register_portal(container, name="Anderes Portal")
    tokens = code_flow(client, portal)
    code_flow(client, other)  # caches the other client too
    token = tokens["access_token"]
    wrong = client.post("/oidc/introspect", data={"token": token}, auth=(portal.client_id, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    posted_wrong = client.post("/oidc/introspect", data={"token": token, "client_id": portal.client_id,
                                                         "client_secret": "wrong"})
    assert posted_wrong.status_code in (400, 401) and posted_wrong.json()["error"] == "invalid_client"
    assert client.post("/oidc/introspect", data={"token": token},
                       auth=(other.client_id, other.client_secret)).json() == {"active": False}
    posted = client.post("/oidc/introspect", data={"token": token, "client_id": portal.client_id,
                                                   "client_secret": portal.client_secret}).json()
    basic = client.post("/oidc/introspect", data={"token": token}, auth=(portal.client_id, portal.client_secret))
    assert posted["active"] is True and posted == basic.json()
    missing = client.post("/oidc/introspect", data={}, auth=(portal.client_id, portal.client_secret))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    unsupported = client.post("/oidc/introspect", data={"token": token, "token_type_hint": "id_token"},
                              auth=(portal.client_id, portal.client_secret))
    assert unsupported.json()["error"] == "unsupported_token_type"


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
def test_an_access_token_never_outlives_its_grant(client: TestClient, container: Any, token_format: str) -> None:
    """The fast path has no grant row to compare with: a refreshed access token ends with its grant."""
    portal = register_portal(container, access_token_format=token_format)
    model = container.oidc_clients.get(portal.client_id)
    now = int(container.oidc.clock.timestamp())
    subject = Subject(account_id="00000000-0000-0000-0000-000000000001", subject="s", acr="x", amr=("pwd",),
                      auth_time=now, claims=(), grant_id="g", expires_at=now + 30)
    token = container.oidc.generate_token(grant_type="refresh_token", user=subject, scope="openid",
                                          client=Client(model, container.oidc_clients.check_secret))
    assert 29 <= token["expires_in"] <= 30
    claims = container.oidc.access_token_claims(token["access_token"])
    assert claims is not None and claims["exp"] <= now + 30


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
def test_a_grant_acting_for_an_organisation_takes_the_usual_path_and_ends_with_it(
        client: TestClient, settings: Settings, container: Any, monkeypatch: pytest.MonkeyPatch,
        token_format: str) -> None:
    """Deleting an organisation takes its grants with it (ON DELETE CASCADE), which leaves no note: the fast
    path declines such tokens, and the usual path finds the grant gone."""
    account_id = erika(client, settings, container)
    portal = register_portal(container, scopes=SCOPES, access_token_format=token_format)
    org = organisation(container, account_id)
    response, verifier = start(client, portal, scope="openid email organisation")
    callback = follow_to_portal(client, choose(client, to_chooser(client, response), org.id))
    _body, tokens = userinfo(client, portal, callback, verifier)
    live = _introspect(client, portal, tokens["access_token"])
    assert live["active"] is True
    if settings.redis_url is not None and container.database.dialect == "postgresql":
        calls: list[Any] = []
        original = container.oidc._loop_grants.get_on_loop

        async def counted(grant_id: str) -> Any:
            calls.append(grant_id)
            return await original(grant_id)
        monkeypatch.setattr(container.oidc._loop_grants, "get_on_loop", counted)
        assert _introspect(client, portal, tokens["access_token"])["active"] is True
        assert calls  # the usual path read the grant
    assert SqlOrganisationRepository(container.database).delete(org.id)
    assert _introspect(client, portal, tokens["access_token"]) == {"active": False}


def test_an_opaque_token_is_read_after_redis_forgot_the_script(client: TestClient, settings: Settings,
                                                                container: Any) -> None:
    if settings.redis_url is None:
        pytest.skip("the script runs on Redis only")
    register_and_verify(client, settings.data_dir / "outbox")
    portal = register_portal(container, access_token_format="opaque")
    tokens = code_flow(client, portal)
    redis.Redis.from_url(settings.redis_url).script_flush()
    assert _introspect(client, portal, tokens["access_token"])["active"] is True
    assert _introspect(client, portal, tokens["access_token"])["active"] is True
