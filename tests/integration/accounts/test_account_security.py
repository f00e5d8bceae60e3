"""The security promises of the accounts issue, asserted on codes and on the database."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from servicekonto.app import build_container, create_app
from servicekonto.core.clock import FixedClock
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from servicekonto.web.session_context import SESSION_COOKIE
from tests.conftest import make_settings
from tests.integration.accounts.helpers import (
    PASSWORD,
    confirm_link,
    form_action,
    login,
    path_of,
    register,
    register_and_verify,
    submit,
)
from tests.support.outbox import last_link, mails, template_of


def outbox(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))


@pytest.fixture
def timed_settings(database: Database, tmp_path: Path) -> Settings:
    """SQLite and PostgreSQL with the database store, whose TTLs follow the test clock (Redis counts real
    time, so time travel is tested where the clock can be moved)."""
    return make_settings(tmp_path, database_url=database.url)


@pytest.fixture
def timed_client(timed_settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    container = build_container(timed_settings, clock=clock)
    with TestClient(create_app(timed_settings, container=container), base_url="http://127.0.0.1:8000",
                    raise_server_exceptions=False) as test_client:
        yield test_client
    container.close()


def logged_in(client: TestClient, settings: Settings) -> TestClient:
    register_and_verify(client, outbox(settings))
    assert login(client).status_code == 303
    return client


# -- enumeration ----------------------------------------------------------------------------------------------

def test_login_answers_alike_for_unknown_users_and_wrong_passwords(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, outbox(settings))
    unknown = login(client, "nobody", PASSWORD)
    wrong = login(client, "erika", "wrong-password-123")
    assert unknown.status_code == wrong.status_code == 400
    for response in (unknown, wrong):
        assert 'data-message-id="login.credentials_invalid"' in response.text


def test_reset_request_answers_alike(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, outbox(settings))
    known = submit(client, "/passwort-vergessen", {"identifier": "erika"})
    unknown = submit(client, "/passwort-vergessen", {"identifier": "nobody@example.de"})
    assert known.status_code == unknown.status_code == 200
    for response in (known, unknown):
        assert 'data-message-id="recovery.mail_sent"' in response.text
    assert [template_of(m) for m in mails(outbox(settings), to="erika@example.de")][-1] == "password_reset"


# -- brute force ----------------------------------------------------------------------------------------------

def test_back_off_locks_then_lets_the_owner_back_in(timed_client: TestClient, timed_settings: Settings,
                                                     clock: FixedClock) -> None:
    client = timed_client
    register_and_verify(client, outbox(timed_settings))
    for _ in range(4):
        assert login(client, "erika", "wrong-password-123").status_code == 400
    locked = login(client, "erika", "wrong-password-123")
    assert locked.status_code == 400  # the fifth failure itself still says "wrong"
    blocked = login(client, "erika", PASSWORD)
    assert blocked.status_code == 429
    assert 'data-message-id="login.locked"' in blocked.text and int(blocked.headers["retry-after"]) <= 60
    assert template_of(mails(outbox(timed_settings), to="erika@example.de")[-1]) == "account_locked"
    clock.advance(61)
    assert login(client, "erika", PASSWORD).status_code == 303


def test_lock_never_exceeds_the_cap(settings: Settings) -> None:
    from servicekonto.services.throttle import ThrottlePolicy

    policy = ThrottlePolicy()
    assert [policy.lock_seconds(n, 5) for n in (4, 5, 6, 7, 8, 9, 10, 50)] == [0, 60, 120, 240, 480, 900, 900, 900]


def test_password_reset_lifts_the_lock(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, outbox(settings))
    for _ in range(6):
        login(client, "erika", "wrong-password-123")
    assert login(client, "erika", PASSWORD).status_code == 429
    submit(client, "/passwort-vergessen", {"identifier": "erika"})
    link = last_link(outbox(settings), to="erika@example.de", containing="/passwort-zuruecksetzen")
    page = client.get(path_of(link))
    action, token = form_action(page.text, "/passwort-zuruecksetzen")
    reset_token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    new = "Neues Passwort für Erika 2026"
    done = client.post(action, data={"csrf_token": token, "token": reset_token, "password": new,
                                     "password_repeat": new}, follow_redirects=False)
    assert done.headers["location"] == "/anmelden?hinweis=password_reset"
    assert login(client, "erika", new).status_code == 303


# -- tokens -------------------------------------------------------------------------------------------------------

def test_verification_link_is_single_use(client: TestClient, settings: Settings) -> None:
    register(client)
    link = last_link(outbox(settings), to="erika@example.de", containing="/registrieren/bestaetigen")
    assert confirm_link(client, link, "/registrieren/bestaetigen").status_code == 303
    again = client.get(path_of(link))
    assert again.status_code == 400 and 'data-message-id="token.invalid"' in again.text


def test_verification_link_expires_after_24_hours(timed_client: TestClient, timed_settings: Settings,
                                                  clock: FixedClock) -> None:
    register(timed_client)
    link = last_link(outbox(timed_settings), to="erika@example.de", containing="/registrieren/bestaetigen")
    clock.advance(24 * 3600 + 1)
    assert timed_client.get(path_of(link)).status_code == 400


def test_reset_link_is_single_use_and_expires_after_an_hour(timed_client: TestClient, timed_settings: Settings,
                                                            clock: FixedClock) -> None:
    register_and_verify(timed_client, outbox(timed_settings))
    submit(timed_client, "/passwort-vergessen", {"identifier": "erika"})
    link = last_link(outbox(timed_settings), to="erika@example.de", containing="/passwort-zuruecksetzen")
    assert timed_client.get(path_of(link)).status_code == 200
    clock.advance(3601)
    assert timed_client.get(path_of(link)).status_code == 400


def test_tampered_tokens_are_refused(client: TestClient) -> None:
    for token in ("", "x", "A" * 43, "../../etc/passwd", "A" * 5000):
        assert client.get("/registrieren/bestaetigen", params={"token": token}).status_code == 400
        assert client.get("/passwort-zuruecksetzen", params={"token": token}).status_code == 400


# -- sessions -----------------------------------------------------------------------------------------------------

def test_login_issues_a_new_session_id(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, outbox(settings))
    client.cookies.set(SESSION_COOKIE, "attacker-chosen-session-id-1234567890")
    response = login(client)
    issued = response.cookies.get(SESSION_COOKIE)
    assert issued and issued != "attacker-chosen-session-id-1234567890"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http here


def test_session_idle_and_absolute_timeouts(timed_client: TestClient, timed_settings: Settings,
                                           clock: FixedClock) -> None:
    client = logged_in(timed_client, timed_settings)
    assert client.get("/konto").status_code == 200
    clock.advance(59 * 60)
    assert client.get("/konto").status_code == 200  # activity resets the idle timer
    clock.advance(61 * 60)
    assert client.get("/konto", follow_redirects=False).status_code == 303  # idle for more than 60 min
    assert login(client).status_code == 303
    for _ in range(14):  # active every 55 minutes, yet after 12 hours it ends
        clock.advance(55 * 60)
        last = client.get("/konto", follow_redirects=False)
    assert last.status_code == 303 and last.headers["location"].startswith("/anmelden")


def test_logout_ends_the_session(client: TestClient, settings: Settings) -> None:
    logged_in(client, settings)
    session_id = client.cookies.get(SESSION_COOKIE)
    response = submit(client, "/konto", {}, action_prefix="/abmelden")
    assert response.headers["location"] == "/?hinweis=logged_out"
    client.cookies.set(SESSION_COOKIE, session_id or "")
    assert client.get("/konto", follow_redirects=False).status_code == 303


def test_password_change_ends_other_sessions_and_keeps_this_one(client: TestClient, settings: Settings) -> None:
    logged_in(client, settings)
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")
    assert login(other).status_code == 303
    new = "Ein ganz neues Passwort 2026"
    response = submit(client, "/konto/passwort", {"current_password": PASSWORD, "new_password": new,
                                                  "new_password_repeat": new})
    assert response.headers["location"] == "/konto?hinweis=password_changed"
    assert client.get("/konto").status_code == 200
    assert other.get("/konto", follow_redirects=False).status_code == 303
    assert template_of(mails(outbox(settings), to="erika@example.de")[-1]) == "password_changed"


def test_wrong_current_password_changes_nothing(client: TestClient, settings: Settings) -> None:
    logged_in(client, settings)
    response = submit(client, "/konto/passwort", {"current_password": "wrong-password-123",
                                                  "new_password": "Ein ganz neues Passwort 2026",
                                                  "new_password_repeat": "Ein ganz neues Passwort 2026"})
    assert response.status_code == 400
    client.cookies.clear()
    assert login(client).status_code == 303


# -- CSRF -----------------------------------------------------------------------------------------------------------

FORMS = ["/registrieren", "/anmelden", "/passwort-vergessen", "/konto/stammdaten", "/konto/passwort",
         "/konto/e-mail", "/konto/loeschen", "/abmelden", "/registrieren/bestaetigen", "/passwort-zuruecksetzen",
         "/konto/e-mail/bestaetigen", "/registrieren/erneut-senden"]


@pytest.mark.parametrize("path", FORMS)
def test_every_form_refuses_a_missing_or_foreign_csrf_token(client: TestClient, settings: Settings,
                                                            path: str) -> None:
    logged_in(client, settings)
    for token in (None, "forged", "A" * 43):
        data = {"identifier": "erika", "password": PASSWORD} | ({"csrf_token": token} if token else {})
        response = client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, (path, token)
        assert 'data-message-id="error.403"' in response.text or "csrf.failed" in response.text
    assert client.get("/konto").status_code == 200  # still logged in: nothing happened


def test_cross_origin_post_is_refused(client: TestClient, settings: Settings) -> None:
    logged_in(client, settings)
    html = client.get("/konto/loeschen").text
    action, token = form_action(html, "/konto/loeschen")
    response = client.post(action, data={"csrf_token": token, "password": PASSWORD},
                           headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert response.status_code == 403


def test_oversized_forms_are_refused_and_change_nothing(client: TestClient, settings: Settings) -> None:
    """Too many fields, a field too long, a body beyond what the limits allow: 413 with the message, both as
    a browser encodes a form and as multipart."""
    logged_in(client, settings)
    html = client.get("/konto/stammdaten").text
    action, token = form_action(html, "/konto/stammdaten")
    many = {f"field{n}": "x" for n in range(70)}
    for data in ({"given_name": "A" * 5000}, many, {"given_name": "Ä" * 1000}):  # the last: 6,000 bytes as sent
        response = client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 413, len(data)
        assert 'data-message-id="error.413"' in response.text
        assert "Das Formular enthält zu viele Daten." in response.text
    for data in ({"given_name": "A" * 5000}, many):  # multipart
        parts = {name: (None, value) for name, value in {**data, "csrf_token": token}.items()}
        assert client.post(action, files=parts, follow_redirects=False).status_code == 413, len(data)
    huge = b"given_name=" + b"x" * 300_000 + b"&csrf_token=" + token.encode()
    response = client.post(action, content=huge, follow_redirects=False,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert "A" * 100 not in client.get("/konto").text and "Ä" * 100 not in client.get("/konto").text


def test_forms_read_as_a_browser_sends_them(client: TestClient, settings: Settings) -> None:
    """Percent-encoded UTF-8 and `+` for spaces; the last of a repeated name wins; multipart works too."""
    logged_in(client, settings)
    html = client.get("/konto/stammdaten").text
    action, token = form_action(html, "/konto/stammdaten")
    body = ("given_name=Bernd&given_name=J%C3%BCrgen+Hans&family_name=M%C3%BCller&csrf_token="
            + token.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"))
    response = client.post(action, content=body.encode(), follow_redirects=False,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 303
    page = client.get("/konto").text
    assert "Jürgen Hans" in page and "Müller" in page and "Bernd" not in page
    html = client.get("/konto/stammdaten").text
    action, token = form_action(html, "/konto/stammdaten")
    response = client.post(action, files={"given_name": (None, "Jürgen"), "family_name": (None, "Groß"),
                                          "csrf_token": (None, token)}, follow_redirects=False)
    assert response.status_code == 303
    assert "Groß" in client.get("/konto").text


# -- master data and deletion ------------------------------------------------------------------------------------

def test_invalid_master_data_changes_nothing(client: TestClient, settings: Settings) -> None:
    logged_in(client, settings)
    assert submit(client, "/konto/stammdaten", {"given_name": "Erika", "postal_code": "51147"}).status_code == 303
    response = submit(client, "/konto/stammdaten", {"given_name": "Erika Gabriele", "postal_code": "5114"})
    assert response.status_code == 400
    assert 'data-message-id="field.postal_code.invalid"' in response.text
    page = client.get("/konto").text
    assert "51147" in page and "Erika Gabriele" not in page


def test_master_data_is_normalised_and_marked_self_declared(client: TestClient, settings: Settings,
                                                            database_for: Database) -> None:
    logged_in(client, settings)
    submit(client, "/konto/stammdaten", {"given_name": "  erika   Gabriele ", "phone": "0221 123456",
                                         "birthdate": "12.08.1964", "country": "DE", "postal_code": "51147"})
    with database_for.sessions() as session:
        rows = {r.key: r for r in session.scalars(select(models.AccountAttribute))}
    assert rows["phone"].value == "+49221123456" and rows["birthdate"].value == "1964-08-12"
    assert rows["given_name"].value == "erika Gabriele"
    assert {r.source for r in rows.values()} == {"self_declared"} and {r.trust_level for r in rows.values()} == {1}


def test_deletion_removes_personal_data(client: TestClient, settings: Settings, database_for: Database) -> None:
    logged_in(client, settings)
    submit(client, "/konto/stammdaten", {"given_name": "Erika", "family_name": "Mustermann"})
    with database_for.sessions() as session:
        account_id = session.scalar(select(models.Account.id))
    wrong = submit(client, "/konto/loeschen", {"password": "wrong-password-123"}, action_prefix="/konto/loeschen")
    assert wrong.status_code == 400
    response = submit(client, "/konto/loeschen", {"password": PASSWORD}, action_prefix="/konto/loeschen")
    assert response.headers["location"] == "/?hinweis=deleted"
    with database_for.sessions() as session:
        assert session.scalar(select(models.Account)) is None
        assert session.scalar(select(models.AccountAttribute)) is None
        audit = list(session.scalars(select(models.AuditEntry).where(models.AuditEntry.account_id == account_id)))
    assert "account:account:deleted" in {a.event for a in audit}
    for entry in audit:
        assert "erika" not in entry.details.lower() and "mustermann" not in entry.details.lower()
    assert template_of(mails(outbox(settings), to="erika@example.de")[-1]) == "account_deleted"
    assert client.get("/konto", follow_redirects=False).status_code == 303
    assert login(client).status_code == 400
    assert isinstance(account_id, uuid.UUID)


def test_email_change_takes_effect_only_after_confirmation(client: TestClient, settings: Settings) -> None:
    logged_in(client, settings)
    submit(client, "/konto/e-mail", {"new_email": "erika.neu@example.de"})
    assert template_of(mails(outbox(settings), to="erika@example.de")[-1]) == "email_change_notice"
    assert "erika@example.de" in client.get("/konto").text
    link = last_link(outbox(settings), to="erika.neu@example.de", containing="/konto/e-mail/bestaetigen")
    assert confirm_link(client, link, "/konto/e-mail/bestaetigen").status_code == 303
    assert "erika.neu@example.de" in client.get("/konto").text
    client.cookies.clear()
    assert login(client, "erika.neu@example.de").status_code == 303


def test_security_page_lists_events_without_values(client: TestClient, settings: Settings) -> None:
    logged_in(client, settings)
    submit(client, "/konto/stammdaten", {"given_name": "Erika", "postal_code": "51147"})
    overview = client.get("/konto").text
    assert 'href="/konto/sicherheit"' in overview and "<time" not in overview
    page = client.get("/konto/sicherheit")
    assert page.status_code == 200 and page.text.count("<time") >= 2
    assert "51147" not in page.text and "Erika" not in page.text
    assert client.get("/konto/sicherheit", follow_redirects=False).status_code == 200
    client.cookies.clear()
    assert client.get("/konto/sicherheit", follow_redirects=False).status_code == 303
