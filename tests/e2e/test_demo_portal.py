"""The demo portal Musterstadt against the real server, in Chromium: `servicekonto demo` registers it, then
`python -m servicekonto.demo_portal` serves it. A citizen with master data opens the portal → logs in with
Servicekonto → allows the transfer → finds the application form pre-filled → submits it (first with a
mistake) → sees the confirmation → logs out of the portal and of Servicekonto. Another citizen refuses the
transfer and reads the portal's message. Every portal page on the way passes axe-core, in German and English.
The portal's answers to a provider that is down and to a forged callback are checked in process."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect
from starlette.testclient import TestClient

from servicekonto.app import build_container
from servicekonto.demo_portal.app import create_portal
from servicekonto.settings import load_settings
from tests.e2e.conftest import _RUNNING
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.server import (
    CLEAN_EXIT,
    PROJECT_ROOT,
    LiveServer,
    ServerFailed,
    free_port,
    run_command,
    servicekonto_command,
    wait_until_answering,
)
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

PASSWORD = "Heidestr17Köln!"
MASTER_DATA = {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1964-08-12",
               "street_address": "Heidestraße 17", "postal_code": "51147", "locality": "Köln"}
LOCALES = {"de": "de-DE", "en": "en-GB"}
TEXT = {
    "de": {"login": "Mit Servicekonto anmelden", "submit": "Antrag absenden", "logout": "Abmelden",
           "received": "Antrag eingegangen", "again": "Erneut anmelden"},
    "en": {"login": "Log in with Servicekonto", "submit": "Submit application", "logout": "Log out",
           "received": "Application received", "again": "Log in again"},
}
LABELS = {
    "de": {"given_name": "Vorname", "family_name": "Familienname", "birthdate": "Geburtsdatum (freiwillig)",
           "street_address": "Straße und Hausnummer", "postal_code": "Postleitzahl", "locality": "Ort",
           "email": "E-Mail-Adresse (freiwillig)", "licence_plate": "Amtliches Kennzeichen"},
    "en": {"given_name": "Given name", "family_name": "Family name", "birthdate": "Date of birth (optional)",
           "street_address": "Street and house number", "postal_code": "Postcode", "locality": "City",
           "email": "E-mail address (optional)", "licence_plate": "Registration number"},
}
LINK = re.compile(r"https?://[^\s<>\"]+/registrieren/bestaetigen[^\s<>\"]*")


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def portal(live_server: LiveServer) -> Iterator[LiveServer]:
    """`servicekonto demo` for a portal on a free port, then the portal itself, as `make run` starts them."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    credentials = live_server.data_dir / "demo-portal.json"
    run_command(servicekonto_command("demo", "--json"), {**live_server.env, "DEMO_PORTAL_URL": url})
    assert json.loads(credentials.read_text())["redirect_uri"] == f"{url}/callback"
    assert credentials.stat().st_mode & 0o777 == 0o600
    env = {**live_server.env, "DEMO_PORTAL_ISSUER": live_server.base_url, "DEMO_PORTAL_URL": url,
           "DEMO_PORTAL_CREDENTIALS": str(credentials)}
    log_path = live_server.data_dir / f"demo-portal-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "servicekonto.demo_portal", "--host", "127.0.0.1",
         "--port", str(port)], env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    server = LiveServer(base_url=url, port=port, data_dir=live_server.data_dir, env=env, process=process,
                        log_path=log_path, _log=log)
    try:
        wait_until_answering(server, "/")
    except ServerFailed:
        server.stop()
        raise
    _RUNNING["demo_portal"] = server
    yield server
    del _RUNNING["demo_portal"]
    died_early = not server.alive()
    code = server.stop()
    if died_early or code not in CLEAN_EXIT:
        raise ServerFailed(f"the demo portal exited with {code}\n--- output\n{server.output()[-20_000:]}")


@dataclass(frozen=True)
class Citizen:
    username: str
    email: str
    master_data: dict[str, str]


def create_citizen(server: LiveServer, smtp_sink: SmtpSink) -> Citizen:
    """A citizen at trust level 1 with master data, made through the server's own services on its database
    (configured from exactly the server's environment), the address confirmed through the mail's link."""
    suffix = secrets.token_hex(4)
    username, email = f"erika{suffix}", f"erika.{suffix}@example.de"
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("SERVICEKONTO_")]:
            patch.delenv(name)
        for name, value in server.env.items():
            if name.startswith("SERVICEKONTO_"):
                patch.setenv(name, value)
        services = build_container(load_settings())
    try:
        services.accounts.register(username=username, email=email, password=PASSWORD, password_repeat=PASSWORD,
                                   accepted_terms=True, locale="de")
        link = LINK.search(plain_text(smtp_sink.wait_for_mail_to(email)))
        assert link, "no confirmation link in the mail"
        account = services.accounts.verify(parse_qs(urlsplit(link.group()).query)["token"][0])
        services.accounts.update_master_data(account, MASTER_DATA)
        stored = services.accounts.master_data(account)
    finally:
        services.close()
    return Citizen(username=username, email=email, master_data=stored | {"email": email})


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def log_in_and_decide(page: Page, citizen: Citizen, lang: str, decision: str) -> None:
    """From the portal's start page through Servicekonto's login and consent pages."""
    page.get_by_role("link", name=TEXT[lang]["login"]).click()
    expect(page).to_have_url(re.compile(r"/anmelden"))
    page.locator("input[name=identifier]").fill(citizen.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/anmeldung/"))
    page.locator(f"button[name=decision][value={decision}]").click()


# ------------------------------------------------------------------------------------------------ in Chromium


@pytest.mark.parametrize("lang", ["de", "en"])
def test_citizen_applies_with_prefilled_form_and_logs_out(new_page: PageFactory, live_server: LiveServer,
                                                          portal: LiveServer, smtp_sink: SmtpSink,
                                                          lang: str) -> None:
    citizen = create_citizen(live_server, smtp_sink)
    page = new_page(locale=LOCALES[lang])
    text, label = TEXT[lang], LABELS[lang]

    page.goto(portal.url("/"))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_accessible(page, context="portal start page")
    log_in_and_decide(page, citizen, lang, "allow")

    expect(page).to_have_url(portal.url("/antrag"))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    for name in ("given_name", "family_name", "birthdate", "street_address", "postal_code", "locality", "email"):
        expect(page.get_by_label(label[name], exact=True)).to_have_value(citizen.master_data[name])
    expect(page.get_by_label(label["licence_plate"], exact=True)).to_have_value("")
    assert page.get_by_label(label["given_name"], exact=True).get_attribute("autocomplete") == "given-name"
    assert_accessible(page, context="application form")

    page.get_by_label(label["postal_code"], exact=True).fill("5114")
    page.get_by_role("button", name=text["submit"]).click()
    expect(page.locator(".error-summary li")).to_have_count(2)  # the postcode, and the missing plate
    expect(page.get_by_label(label["licence_plate"], exact=True)).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, context="application form with errors")

    page.get_by_label(label["postal_code"], exact=True).fill(citizen.master_data["postal_code"])
    page.get_by_label(label["licence_plate"], exact=True).fill("mu-s 1234")
    page.get_by_role("button", name=text["submit"]).click()
    expect(page).to_have_url(portal.url("/antrag/eingegangen"))
    expect(page.get_by_role("heading", level=1)).to_have_text(text["received"])
    expect(page.locator(".reference")).to_have_text(re.compile(r"^BPA-\d{4}-\d{6}$"))
    expect(page.locator("main")).to_contain_text("MU-S 1234")
    assert_accessible(page, context="confirmation")

    page.get_by_role("button", name=text["logout"]).click()
    expect(page.locator('[data-message-id="portal.logged_out"]')).to_be_visible()
    expect(page).to_have_url(re.compile(rf"^{re.escape(portal.url('/'))}(\?state=[^&]+)?$"))
    expect(page.get_by_role("link", name=text["login"])).to_be_visible()
    assert_accessible(page, context="logged out")
    page.goto(portal.url("/antrag"))
    expect(page).to_have_url(portal.url("/"))  # the portal's login is gone
    page.goto(live_server.url("/konto"))
    expect(page).to_have_url(re.compile(r"/anmelden"))  # and so is Servicekonto's


@pytest.mark.parametrize("lang", ["de", "en"])
def test_refused_transfer_shows_the_portals_message(new_page: PageFactory, live_server: LiveServer,
                                                    portal: LiveServer, smtp_sink: SmtpSink, lang: str) -> None:
    citizen = create_citizen(live_server, smtp_sink)
    page = new_page(locale=LOCALES[lang])
    page.goto(portal.url("/"))
    log_in_and_decide(page, citizen, lang, "deny")

    expect(page.locator('[data-message-id="portal.refused"]')).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("link", name=TEXT[lang]["again"])).to_be_visible()
    assert_accessible(page, context="transfer refused")
    page.goto(portal.url("/antrag"))
    expect(page).to_have_url(portal.url("/"))  # not logged in


def test_language_switch_is_remembered(new_page: PageFactory, portal: LiveServer) -> None:
    page = new_page(locale="de-DE")
    page.goto(portal.url("/"))
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(portal.url("/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name=TEXT["en"]["login"])).to_be_visible()


# ------------------------------------------------------------------------------------------------ in process


def test_provider_down_and_forged_callbacks_get_a_message_not_a_trace() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    app = create_portal(closed, "client", "secret", "http://testserver")
    with TestClient(app, raise_server_exceptions=False) as client:
        down = client.get("/login", headers={"accept-language": "en"}, follow_redirects=False)
        assert down.status_code == 503
        assert 'data-message-id="portal.unavailable"' in down.text
        assert 'lang="en"' in down.text

        forged = client.get("/callback?code=x&state=y", follow_redirects=False)
        assert forged.status_code == 400
        assert 'data-message-id="portal.failed"' in forged.text
        assert "mismatching_state" in forged.text

        refused = client.get("/callback?error=access_denied&state=y", follow_redirects=False)
        assert refused.status_code == 403
        assert 'data-message-id="portal.refused"' in refused.text

        missing = client.get("/nirgendwo")
        assert missing.status_code == 404
        assert 'data-message-id="portal.not_found"' in missing.text
        assert "Traceback" not in down.text + forged.text + refused.text + missing.text
