"""Issue #8, sessions and devices: the account's live sessions with a reduced device label, approximate
times and method; ending another one logs that browser out (and its OIDC grants), this browser stays."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from servicekonto.domain.privacy import device_label
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, login, submit
from tests.integration.data.test_transfers import citizen
from tests.integration.oidc.helpers import code_flow, register_portal, token_request

SESSIONS = "/konto/sitzungen"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1")


@pytest.fixture
def phone(client: TestClient) -> Iterator[TestClient]:
    with TestClient(client.app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False,
                    headers={"user-agent": SAFARI_IPHONE}) as other:
        yield other


def handles(page: str) -> list[str]:
    return re.findall(r'name="handle" value="([^"]+)"', page)


def end(client: TestClient, data: dict[str, str]) -> Any:
    _action, token = form_action(client.get("/konto").text, "/abmelden")
    return client.post("/konto/sitzungen/beenden", data={**data, "csrf_token": token}, follow_redirects=False)


@pytest.mark.parametrize(("agent", "label"), [
    (FIREFOX, "Firefox / Linux"), (SAFARI_IPHONE, "Safari / iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 Edg/126.0.0.0", "Edge / Windows"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
     "Chrome / Android"),
    ("curl/8.5.0", "? / ?"), (None, "? / ?"),
])
def test_the_device_label_keeps_only_browser_and_system(agent: str | None, label: str) -> None:
    assert device_label(agent) == label


def test_ending_another_session_logs_that_browser_out(client: TestClient, phone: TestClient, settings: Settings,
                                                      container: Any) -> None:
    client.headers["user-agent"] = FIREFOX
    citizen(client, settings)
    assert login(phone).status_code == 303
    portal = register_portal(container)
    phone_tokens = code_flow(phone, portal)

    page = client.get(SESSIONS).text
    assert page.count('data-testid="session"') == 2
    assert "Firefox / Linux" in page and "Safari / iOS" in page and FIREFOX not in page
    assert 'data-current="true"' in page and "dieser Browser" in page
    [other] = handles(page)

    answer = end(client, {"handle": other})
    assert answer.headers["location"].endswith("hinweis=session_ended")
    assert phone.get("/konto", follow_redirects=False).headers["location"].startswith("/anmelden")
    assert client.get("/konto").status_code == 200  # this browser stays
    assert client.get(SESSIONS).text.count('data-testid="session"') == 1
    refresh = token_request(phone, portal, {"grant_type": "refresh_token",
                                            "refresh_token": phone_tokens["refresh_token"]})
    assert refresh.status_code == 400  # that login's grants ended with it
    assert end(client, {"handle": other}).headers["location"].endswith("hinweis=session_missing")


def test_ending_every_other_session_and_never_a_foreign_one(client: TestClient, phone: TestClient,
                                                            settings: Settings) -> None:
    citizen(client, settings)
    assert login(phone).status_code == 303
    with TestClient(client.app, base_url="http://127.0.0.1:8000") as third:
        assert login(third).status_code == 303
        assert client.get(SESSIONS).text.count('data-testid="session"') == 3
        assert end(client, {"scope": "others"}).headers["location"].endswith("hinweis=sessions_ended")
        for browser in (phone, third):
            assert browser.get("/konto", follow_redirects=False).status_code == 303
    assert client.get(SESSIONS).text.count('data-testid="session"') == 1

    from tests.integration.accounts.helpers import register_and_verify
    with TestClient(client.app, base_url="http://127.0.0.1:8000") as stranger:
        register_and_verify(stranger, settings.data_dir / "outbox", username="max", email="max@example.de")
        login(stranger, "max")
        assert login(phone).status_code == 303
        [erikas_phone] = handles(client.get(SESSIONS).text)
        assert end(stranger, {"handle": erikas_phone}).headers["location"].endswith("hinweis=session_missing")
        assert phone.get("/konto").status_code == 200


def test_a_password_change_drops_the_other_sessions_from_the_list(client: TestClient, phone: TestClient,
                                                                  settings: Settings) -> None:
    citizen(client, settings)
    assert login(phone).status_code == 303
    page = client.get("/konto/passwort").text
    action, token = form_action(page, "/konto/passwort")
    new = "Neues-Passwort-2026!"
    assert client.post(action, data={"current_password": "Heidestr17Köln!", "new_password": new,
                                     "new_password_repeat": new, "csrf_token": token},
                       follow_redirects=False).status_code == 303
    page = client.get(SESSIONS).text
    assert page.count('data-testid="session"') == 1 and 'data-current="true"' in page


def test_a_new_device_sends_a_mail_only_when_asked_for(client: TestClient, phone: TestClient, settings: Settings,
                                                       database_for: Any) -> None:
    from servicekonto.persistence import models
    from tests.support.outbox import mails, template_of, text_of

    outbox = settings.data_dir / "outbox"
    citizen(client, settings)  # the first login: this browser is known now, no mail
    assert login(phone).status_code == 303  # a new device, but the notice is off (the default)
    assert "new_device" not in [template_of(m) for m in mails(outbox, to="erika@example.de")]
    page = client.get(SESSIONS).text
    assert page.count('data-testid="device"') == 2 and 'name="device_notice"' in page and " checked" not in page

    _action, token = form_action(page, "/konto/sitzungen/benachrichtigung")
    switched = client.post("/konto/sitzungen/benachrichtigung", data={"device_notice": "on", "csrf_token": token},
                           follow_redirects=False)
    assert switched.headers["location"].endswith("hinweis=device_notice_on")
    submit(phone, "/konto", {}, action_prefix="/abmelden")
    assert login(phone).status_code == 303  # known already: no mail
    assert "new_device" not in [template_of(m) for m in mails(outbox, to="erika@example.de")]
    with TestClient(client.app, base_url="http://127.0.0.1:8000", headers={"user-agent": FIREFOX}) as laptop:
        assert login(laptop).status_code == 303
    notices = [m for m in mails(outbox, to="erika@example.de") if template_of(m) == "new_device"]
    assert len(notices) == 1 and "Firefox / Linux" in text_of(notices[0])
    with database_for.autocommit_engine.connect() as connection:
        stored = [tuple(r) for r in connection.execute(models.KnownDevice.__table__.select()).all()]
    assert len(stored) == 3 and not any(FIREFOX in str(r) for r in stored)
    assert all(len(r[1]) == 43 for r in stored)  # a keyed hash, never the cookie
