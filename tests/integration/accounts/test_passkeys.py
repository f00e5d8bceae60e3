"""Passkeys over HTTP on both stacks (SQLite; PostgreSQL with Redis), driven by a software authenticator
(tests/support/webauthn.py) exactly as `static/passkeys.js` drives the browser: post the form with
step=options, answer the options, post the form with the ceremony id and the credential."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from servicekonto.app import Container, build_container, create_app
from servicekonto.core.clock import FixedClock
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from servicekonto.web.session_context import SESSION_COOKIE
from tests.integration.accounts.helpers import PASSWORD, form_action, login, register_and_verify, submit
from tests.integration.oidc.helpers import REDIRECT_URI, authorize_params, pkce, register_portal, token_request, verify
from tests.support.outbox import mails, template_of
from tests.support.webauthn import SoftAuthenticator

ORIGIN = "http://127.0.0.1:8000"
ACCOUNT_PAGE = "/konto/passkeys"
ADD = "/konto/passkeys/hinzufuegen"
LOGIN = "/anmelden/passkey"
CONFIRM = "/anmelden/passkey-bestaetigen"
TOTP_SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7 ]+)<')


@dataclass
class Citizen:
    client: TestClient
    container: Container
    clock: FixedClock
    settings: Settings
    device: SoftAuthenticator

    def templates(self) -> list[str]:
        return [template_of(m) for m in mails(self.settings.data_dir / "outbox", to="erika@example.de")]

    def events(self) -> list[str]:
        database = Database(self.settings.effective_database_url)
        with database.sessions() as session:
            found = list(session.execute(select(models.AuditEntry.event).order_by(models.AuditEntry.id)).scalars())
        database.dispose()
        return found

    def rows(self) -> list[Any]:
        database = Database(self.settings.effective_database_url)
        with database.sessions() as session:
            found = list(session.execute(select(models.Passkey)).scalars())
        database.dispose()
        return found


@pytest.fixture
def citizen(settings: Settings) -> Iterator[Citizen]:
    clock = FixedClock(datetime(2026, 11, 28, 9, 0, 5, tzinfo=UTC))
    container = build_container(settings, clock=clock)
    with TestClient(create_app(settings, container=container), base_url=ORIGIN,
                    raise_server_exceptions=False) as client:
        register_and_verify(client, settings.data_dir / "outbox")
        yield Citizen(client, container, clock, settings, SoftAuthenticator(origin=ORIGIN))
    container.close()


def ceremony(citizen: Citizen, page_html: str, action_prefix: str, fields: dict[str, str] | None = None,
             *, answer: Any = None) -> Any:
    """What passkeys.js does: options, the authenticator, the final post (without following redirects)."""
    action, token = form_action(page_html, action_prefix)
    data = {**(fields or {}), "csrf_token": token}
    options = citizen.client.post(action, data={**data, "step": "options"})
    assert options.status_code == 200, options.text
    body = options.json()
    public_key = body["publicKey"]
    credential = answer(public_key) if answer else (
        citizen.device.create(public_key) if "rp" in public_key else citizen.device.get(public_key))
    return citizen.client.post(action, data={**data, "ceremony": body["ceremony"], "credential": credential},
                               follow_redirects=False)


def add_passkey(citizen: Citizen, name: str = "Mein Telefon", *, new_device: bool = False, **fields: str) -> Any:
    """`new_device`: another authenticator (one device holds one passkey per account: excludeCredentials)."""
    if new_device:
        citizen.device = SoftAuthenticator(origin=ORIGIN)
    page = citizen.client.get(ACCOUNT_PAGE)
    assert page.status_code == 200
    return ceremony(citizen, page.text, ADD, {"name": name, **fields})


def log_out(citizen: Citizen) -> None:
    submit(citizen.client, "/konto", {}, action_prefix="/abmelden")


def passwordless(citizen: Citizen, **kwargs: Any) -> Any:
    return ceremony(citizen, citizen.client.get("/anmelden").text, LOGIN, **kwargs)


def level(citizen: Citizen) -> str:
    overview = citizen.client.get("/konto")
    found = re.search(r"<dt>[^<]+</dt><dd>([^<]+)</dd>\s*</dl>", overview.text)
    assert found
    return found.group(1)


def set_up_totp(citizen: Citizen) -> str:
    page = citizen.client.get("/konto/zwei-faktor/einrichten")
    secret = TOTP_SECRET.search(page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    action, token = form_action(page.text, "/konto/zwei-faktor/einrichten")
    done = citizen.client.post(action, data={"code": pyotp.TOTP(secret).at(citizen.clock.timestamp()),
                                             "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 200
    return secret


def eid_session(citizen: Citizen) -> None:
    """As after a login with the ID card (web/eid_pages.py): level 4, method "eid"."""
    account = citizen.container.account_repository.find_by_login("erika")
    assert account is not None
    session = citizen.container.sessions.create(account, level=TrustLevel.HIGH, methods=["eid"])
    citizen.client.cookies.set(SESSION_COOKIE, session.id, domain="127.0.0.1")


# -- registering --------------------------------------------------------------------------------------------

def test_a_passkey_is_registered_with_a_name_and_the_owner_is_told(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    page = citizen.client.get(ACCOUNT_PAGE)
    assert 'data-message-id="passkeys.none"' in page.text and 'data-passkey="create"' in page.text
    added = add_passkey(citizen, "Mein Telefon")
    assert added.status_code == 303 and added.headers["location"] == f"{ACCOUNT_PAGE}?hinweis=passkey_added"
    listed = citizen.client.get(ACCOUNT_PAGE)
    assert "Mein Telefon" in listed.text and 'data-message-id="passkey.bound.no"' in listed.text
    assert "passkey_added" in citizen.templates()
    assert "account:passkey:added" in citizen.events()
    [row] = citizen.rows()
    assert row.transports == "internal" and row.sign_count == 0 and not row.bound_to_eid
    assert add_passkey(citizen, "Laptop", new_device=True).status_code == 303  # several per account
    assert len(citizen.rows()) == 2


def test_a_registration_with_bad_input_changes_nothing(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    page = citizen.client.get(ACCOUNT_PAGE)
    action, token = form_action(page.text, ADD)
    for name in ("", " ", "x" * 65):
        refused = citizen.client.post(action, data={"name": name, "step": "options", "csrf_token": token})
        assert refused.status_code == 400 and refused.json()["code"] == "passkey.name_invalid"
    wrong_origin = ceremony(citizen, page.text, ADD, {"name": "Telefon"},
                            answer=lambda options: citizen.device.create(options, origin="https://evil.example"))
    assert wrong_origin.status_code == 400 and 'data-message-id="passkey.invalid"' in wrong_origin.text
    no_script = citizen.client.post(action, data={"name": "Telefon", "csrf_token": token})  # no ceremony at all
    assert no_script.status_code == 400 and 'data-message-id="passkey.missing"' in no_script.text
    assert citizen.rows() == [] and "passkey_added" not in citizen.templates()


def test_a_login_that_is_not_fresh_needs_the_password_to_add(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    citizen.clock.advance(11 * 60)
    page = citizen.client.get(ACCOUNT_PAGE)
    assert 'name="password"' in page.text
    action, token = form_action(page.text, ADD)
    refused = citizen.client.post(action, data={"name": "Telefon", "password": "wrong", "step": "options",
                                                "csrf_token": token})
    assert refused.status_code == 400 and refused.json()["code"] == "login.credentials_invalid"
    assert add_passkey(citizen, "Telefon", password=PASSWORD).status_code == 303


# -- logging in -------------------------------------------------------------------------------------------------

def test_log_in_with_the_passkey_alone(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    log_out(citizen)
    page = citizen.client.get("/anmelden")
    assert 'autocomplete="username webauthn"' in page.text and 'data-passkey-conditional' in page.text
    assert '<script src="/static/passkeys.js" defer></script>' in page.text
    done = passwordless(citizen)
    assert done.status_code == 303 and done.headers["location"] == "/konto"
    assert SESSION_COOKIE in done.headers["set-cookie"]
    assert level(citizen) == "niedrig"  # possession and user verification: level 2
    assert "account:passkey:used" in citizen.events()
    assert citizen.rows()[0].sign_count == 1 and citizen.rows()[0].last_used_at is not None


def test_passwordless_login_requires_user_verification(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    log_out(citizen)
    citizen.device.user_verification = False
    refused = passwordless(citizen)
    assert refused.status_code == 400 and 'data-message-id="passkey.invalid"' in refused.text
    assert citizen.client.get("/konto", follow_redirects=False).status_code == 303  # not logged in


def test_a_decreasing_counter_is_refused_and_audited(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    log_out(citizen)
    assert passwordless(citizen, answer=lambda o: citizen.device.get(o, sign_count=5)).status_code == 303
    log_out(citizen)
    cloned = passwordless(citizen, answer=lambda o: citizen.device.get(o, sign_count=3))
    assert cloned.status_code == 400 and 'data-message-id="passkey.counter_regressed"' in cloned.text
    assert "account:passkey:counter_regressed" in citizen.events()
    assert citizen.rows()[0].sign_count == 5  # nothing changed
    assert passwordless(citizen, answer=lambda o: citizen.device.get(o, sign_count=6)).status_code == 303


def test_an_assertion_is_not_accepted_twice(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    log_out(citizen)
    page = citizen.client.get("/anmelden")
    action, token = form_action(page.text, LOGIN)
    body = citizen.client.post(action, data={"step": "options", "csrf_token": token}).json()
    credential = citizen.device.get(body["publicKey"])
    first = citizen.client.post(action, data={"ceremony": body["ceremony"], "credential": credential,
                                              "csrf_token": token}, follow_redirects=False)
    assert first.status_code == 303
    log_out(citizen)
    token = form_action(citizen.client.get("/anmelden").text, LOGIN)[1]
    again = citizen.client.post(action, data={"ceremony": body["ceremony"], "credential": credential,
                                              "csrf_token": token}, follow_redirects=False)
    assert again.status_code == 400 and 'data-message-id="passkey.expired"' in again.text


def test_a_passkey_is_the_second_factor_after_the_password(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    log_out(citizen)
    first = login(citizen.client)
    assert first.status_code == 303 and first.headers["location"].startswith(CONFIRM + "?flow=")
    assert SESSION_COOKIE not in first.headers.get("set-cookie", "")  # no session after the password alone
    page = citizen.client.get(first.headers["location"])
    assert page.status_code == 200 and 'data-passkey="get"' in page.text
    done = ceremony(citizen, page.text, CONFIRM)
    assert done.status_code == 303 and done.headers["location"] == "/konto"
    assert level(citizen) == "niedrig"


# -- removing -----------------------------------------------------------------------------------------------

def test_removal_needs_the_password_unless_the_login_is_fresh(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    add_passkey(citizen, "Laptop", new_device=True)
    first, second = citizen.rows()
    citizen.clock.advance(11 * 60)
    path = f"/konto/passkeys/{first.id}/entfernen"
    refused = submit(citizen.client, path, {"password": "wrong-password"})
    assert refused.status_code == 400 and 'data-message-id="login.credentials_invalid"' in refused.text
    assert len(citizen.rows()) == 2
    removed = submit(citizen.client, path, {"password": PASSWORD})
    assert removed.status_code == 303 and "passkey_removed" in removed.headers["location"]
    assert [r.id for r in citizen.rows()] == [second.id]
    assert "passkey_removed" in citizen.templates() and "account:passkey:removed" in citizen.events()
    log_out(citizen)
    assert passwordless(citizen).status_code == 303  # a fresh login: no password needed to remove
    assert submit(citizen.client, f"/konto/passkeys/{second.id}/entfernen", {}).status_code == 303
    assert citizen.rows() == []
    log_out(citizen)
    assert login(citizen.client).headers["location"] == "/konto"  # the password alone again


def test_another_accounts_passkey_cannot_be_removed(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    [row] = citizen.rows()
    log_out(citizen)
    register_and_verify(citizen.client, citizen.settings.data_dir / "outbox", username="max",
                        email="max@example.de")
    assert login(citizen.client, "max").status_code == 303
    assert citizen.client.get(f"/konto/passkeys/{row.id}/entfernen", follow_redirects=False).status_code == 303
    assert len(citizen.rows()) == 1


# -- CSRF ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [ADD, LOGIN])
def test_ceremony_forms_refuse_posts_without_csrf_token(citizen: Citizen, path: str) -> None:
    assert login(citizen.client).status_code == 303
    for data in ({"step": "options", "name": "x"}, {"ceremony": "x", "credential": "{}", "name": "x"}):
        assert citizen.client.post(path, data=data, follow_redirects=False).status_code == 403
    assert citizen.rows() == []


def test_removal_and_second_step_refuse_posts_without_csrf_token(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    [row] = citizen.rows()
    forged = citizen.client.post(f"/konto/passkeys/{row.id}/entfernen", data={"password": PASSWORD})
    assert forged.status_code == 403 and len(citizen.rows()) == 1
    log_out(citizen)
    location = login(citizen.client).headers["location"]
    assert citizen.client.post(location, data={"step": "options"}).status_code == 403


# -- trust level 3 ------------------------------------------------------------------------------------------

def walk(citizen: Citizen, response: Any, *, totp: str | None = None) -> Any:
    """Follow redirects and agree to the transfer; a code when asked; a bound passkey when asked."""
    client = citizen.client
    for _ in range(12):
        location = response.headers.get("location", "")
        if location.startswith(REDIRECT_URI):
            return response
        if response.status_code in (302, 303):
            response = client.get(location, follow_redirects=False)
            continue
        if response.status_code == 200 and 'name="code"' in response.text and totp:
            action, token = form_action(response.text, "/anmelden/zweiter-faktor")
            response = client.post(action, data={"code": pyotp.TOTP(totp).at(citizen.clock.timestamp()),
                                                 "csrf_token": token}, follow_redirects=False)
            continue
        if response.status_code == 200 and 'data-passkey="get"' in response.text and CONFIRM in response.text:
            response = ceremony(citizen, response.text, CONFIRM)
            continue
        if response.status_code == 200 and 'name="decision" value="allow"' in response.text:
            action, token = form_action(response.text, "/anmeldung/")
            response = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
            continue
        return response
    raise AssertionError("too many steps")


LEVEL_3 = json.dumps({"id_token": {"acr": {"essential": True, "values": ["STORK-QAA-Level-3"]}}})


def id_token_claims(citizen: Citizen, portal: Any, verifier: str, answer: Any) -> dict[str, Any]:
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = token_request(citizen.client, portal, {"grant_type": "authorization_code", "code": code,
                                                    "redirect_uri": portal.redirect_uri, "code_verifier": verifier})
    return verify(citizen.client, tokens.json()["id_token"])  # type: ignore[no-any-return]


def test_a_passkey_registered_in_an_eid_session_is_bound_and_reaches_level_three(citizen: Citizen) -> None:
    eid_session(citizen)
    page = citizen.client.get(ACCOUNT_PAGE)
    assert 'data-message-id="passkeys.binding"' in page.text
    assert ceremony(citizen, page.text, ADD, {"name": "Telefon"}).status_code == 303
    assert citizen.rows()[0].bound_to_eid
    log_out(citizen)
    assert passwordless(citizen).status_code == 303
    assert level(citizen) == "substanziell"
    portal = register_portal(citizen.container)
    verifier, challenge = pkce()
    first = citizen.client.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=LEVEL_3),
                               follow_redirects=False)
    claims = id_token_claims(citizen, portal, verifier, walk(citizen, first))
    assert claims["acr"] == "STORK-QAA-Level-3" and claims["amr"] == ["hwk"]


def test_level_three_steps_up_with_a_bound_passkey_not_with_password_and_totp(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    secret = set_up_totp(citizen)
    log_out(citizen)
    citizen.clock.advance(30)
    portal = register_portal(citizen.container)
    # Password + TOTP (level 2), no bound passkey: level 3 is explained, not granted.
    verifier, challenge = pkce()
    first = citizen.client.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=LEVEL_3),
                               follow_redirects=False)
    at_login = walk(citizen, first)
    action, token = form_action(at_login.text, "/anmelden?")
    after_password = citizen.client.post(action, data={"identifier": "erika", "password": PASSWORD,
                                                       "csrf_token": token}, follow_redirects=False)
    explained = walk(citizen, after_password, totp=secret)
    assert explained.status_code == 200
    assert 'data-message-id="step_up.bound_passkey_missing"' in explained.text
    assert level(citizen) == "niedrig"
    # An unbound passkey does not do it either.
    add_passkey(citizen, "Ungebunden")
    request_path = re.search(r'action="(/anmeldung/[^"]+)"', explained.text).group(1)  # type: ignore[union-attr]
    again = walk(citizen, citizen.client.get(request_path, follow_redirects=False))
    assert 'data-message-id="step_up.bound_passkey_missing"' in again.text
    # A passkey added in an ID-card session is bound; a later level-2 session steps up with it.
    eid_session(citizen)
    assert add_passkey(citizen, "Gebunden", new_device=True).status_code == 303
    log_out(citizen)
    citizen.clock.advance(30)
    verifier, challenge = pkce()
    first = citizen.client.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=LEVEL_3),
                               follow_redirects=False)
    at_login = walk(citizen, first)
    action, token = form_action(at_login.text, "/anmelden?")
    after_password = citizen.client.post(action, data={"identifier": "erika", "password": PASSWORD,
                                                       "csrf_token": token}, follow_redirects=False)
    answer = walk(citizen, after_password)
    claims = id_token_claims(citizen, portal, verifier, answer)
    assert claims["acr"] == "STORK-QAA-Level-3" and claims["amr"] == ["pwd", "hwk", "mfa"]


# -- what a session's level rests on ------------------------------------------------------------------------

def test_removing_the_passkey_a_sessions_level_rests_on_lowers_the_session(citizen: Citizen) -> None:
    """Like removing the authenticator app: the level falls to what the login still proves."""
    eid_session(citizen)
    assert add_passkey(citizen, "Gebunden").status_code == 303
    log_out(citizen)
    assert passwordless(citizen).status_code == 303
    assert level(citizen) == "substanziell"
    assert add_passkey(citizen, "Laptop", new_device=True).status_code == 303  # level 3: not bound
    bound, unbound = sorted(citizen.rows(), key=lambda row: not row.bound_to_eid)
    assert submit(citizen.client, f"/konto/passkeys/{unbound.id}/entfernen", {}).status_code == 303
    assert level(citizen) == "substanziell"  # the level never rested on the unbound one
    removed = submit(citizen.client, f"/konto/passkeys/{bound.id}/entfernen", {})
    assert removed.status_code == 303 and SESSION_COOKIE in removed.headers["set-cookie"]  # a new session id
    assert level(citizen) == "Basisregistrierung"


def test_removing_a_passkey_after_a_step_up_keeps_what_password_and_app_prove(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    set_up_totp(citizen)  # password and a code just now: level 2
    eid_session(citizen)
    assert add_passkey(citizen, "Gebunden").status_code == 303
    account = citizen.container.account_repository.find_by_login("erika")
    assert account is not None
    session = citizen.container.sessions.create(account, level=TrustLevel.SUBSTANTIAL,
                                                methods=["pwd", "totp", "passkey"])
    citizen.client.cookies.set(SESSION_COOKIE, session.id, domain="127.0.0.1")
    [row] = citizen.rows()
    assert submit(citizen.client, f"/konto/passkeys/{row.id}/entfernen", {}).status_code == 303
    assert level(citizen) == "niedrig"


def test_an_id_card_session_keeps_its_level_when_a_passkey_goes(citizen: Citizen) -> None:
    eid_session(citizen)
    assert add_passkey(citizen).status_code == 303
    [row] = citizen.rows()
    removed = submit(citizen.client, f"/konto/passkeys/{row.id}/entfernen", {})
    assert removed.status_code == 303 and SESSION_COOKIE not in removed.headers.get("set-cookie", "")
    assert level(citizen) == "hoch"


# -- throttling ---------------------------------------------------------------------------------------------

def test_failed_passkey_logins_are_throttled_like_wrong_codes(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    log_out(citizen)
    citizen.device.user_verification = False
    for _ in range(5):
        refused = passwordless(citizen)
        assert refused.status_code == 400 and 'data-message-id="passkey.invalid"' in refused.text
    citizen.device.user_verification = True
    locked = passwordless(citizen)  # even the right passkey waits
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert 'data-message-id="login.locked"' in locked.text
    assert citizen.client.get("/konto", follow_redirects=False).status_code == 303  # not logged in
    assert login(citizen.client).headers["location"].startswith(CONFIRM)  # the password has keys of its own
    citizen.clock.advance(61)
    assert passwordless(citizen).status_code == 303


def test_failed_passkey_second_steps_are_throttled(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    add_passkey(citizen)
    log_out(citizen)
    location = login(citizen.client).headers["location"]
    assert location.startswith(CONFIRM)
    for _ in range(5):
        page = citizen.client.get(location)
        refused = ceremony(citizen, page.text, CONFIRM,
                           answer=lambda o: citizen.device.get(o, origin="https://evil.example"))
        assert refused.status_code == 400 and 'data-message-id="passkey.invalid"' in refused.text
    locked = ceremony(citizen, citizen.client.get(location).text, CONFIRM)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert 'data-message-id="login.locked"' in locked.text


# -- the other way round ------------------------------------------------------------------------------------

def test_the_code_step_offers_a_passkey_when_the_account_has_one(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    set_up_totp(citizen)
    log_out(citizen)
    location = login(citizen.client).headers["location"]
    assert location.startswith("/anmelden/zweiter-faktor?flow=")
    assert 'data-message-id="second_factor.use_passkey"' not in citizen.client.get(location).text
    eid_session(citizen)
    add_passkey(citizen)
    log_out(citizen)
    to_passkey = login(citizen.client).headers["location"]
    flow = parse_qs(urlsplit(to_passkey).query)["flow"][0]
    code_page = citizen.client.get(f"/anmelden/zweiter-faktor?flow={flow}")
    assert code_page.status_code == 200 and 'data-message-id="second_factor.use_passkey"' in code_page.text
    assert f'href="{CONFIRM}?flow={flow}"' in code_page.text
    assert ceremony(citizen, citizen.client.get(f"{CONFIRM}?flow={flow}").text, CONFIRM).status_code == 303


def test_the_step_up_page_mentions_passkeys_in_german_and_english(citizen: Citizen) -> None:
    assert login(citizen.client).status_code == 303
    portal = register_portal(citizen.container)
    _verifier, challenge = pkce()
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["STORK-QAA-Level-2"]}}})
    for language, words in (("de", "Passkey verwenden"), ("en", "use a passkey")):
        first = citizen.client.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=claims),
                                   headers={"accept-language": language}, follow_redirects=False)
        page = walk(citizen, first)
        assert 'data-message-id="step_up.second_factor_missing"' in page.text
        assert 'data-message-id="step_up.passkey_instead"' in page.text and words in page.text
        assert f'href="{ACCOUNT_PAGE}"' in page.text
