"""Registration, confirmation and login through the pages."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import PASSWORD, confirm_link, login, register, register_and_verify
from tests.support.outbox import last_link, mails, template_of


def outbox(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def test_register_confirm_and_log_in(client: TestClient, settings: Settings) -> None:
    response = register(client)
    assert response.status_code == 303 and response.headers["location"].startswith("/registrieren/gesendet")
    assert [template_of(m) for m in mails(outbox(settings))] == ["verify_email"]
    assert login(client).status_code == 400  # not usable before confirmation
    link = last_link(outbox(settings), to="erika@example.de", containing="/registrieren/bestaetigen")
    assert confirm_link(client, link, "/registrieren/bestaetigen").headers["location"] == "/anmelden?hinweis=verified"
    response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/konto"
    page = client.get("/konto")
    assert page.status_code == 200 and "erika@example.de" in page.text


def test_same_answer_for_taken_username_and_email(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, outbox(settings))
    fresh = register(client, username="max", email="max@example.de")
    taken_email = register(client, username="erika2", email="erika@example.de")
    taken_name = register(client, username="Erika", email="other@example.de")
    for response in (taken_email, taken_name):
        assert response.status_code == fresh.status_code
        assert response.headers["location"].split("?")[0] == fresh.headers["location"].split("?")[0]
    assert template_of(mails(outbox(settings), to="erika@example.de")[-1]) == "already_registered"
    assert template_of(mails(outbox(settings), to="other@example.de")[-1]) == "username_taken"


def test_weak_password_is_refused_with_a_message(client: TestClient, settings: Settings) -> None:
    response = register(client, password="passwort123")
    assert response.status_code == 400
    assert 'data-message-id="password.common"' in response.text
    assert "passwort123" not in response.text
    assert mails(outbox(settings)) == []


def test_password_of_exactly_ten_characters_is_enough(client: TestClient) -> None:
    assert register(client, password="Kq8#vNz2Lp").status_code == 303
    assert PASSWORD


def test_empty_registration_shows_every_message_at_once(client: TestClient, settings: Settings) -> None:
    response = register(client, username="", email="not-an-address", password="short")
    assert response.status_code == 400
    for field in ("username", "email", "password"):
        assert f'id="e-{field}"' in response.text
    assert 'data-message-id="password.too_short"' in response.text
    assert 'id="e-accept_terms"' not in response.text  # the helper ticks the box
    assert mails(outbox(settings)) == []
