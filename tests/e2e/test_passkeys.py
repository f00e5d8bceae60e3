"""Passkeys in Chromium with a virtual authenticator (the DevTools WebAuthn domain: CTAP2, internal transport,
resident keys, user verification): log in with the password, add a passkey in the account settings, log out,
log in with the passkey alone; then the passkey as the second step after the password, and removal. Every new
page passes axe-core in German and English.

WebAuthn needs a secure context and an RP ID that is a domain: an IP address such as 127.0.0.1 is refused by
Chromium, so this module runs its own server whose BASE_URL names `localhost` (a secure context over http)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from servicekonto.app import build_container
from servicekonto.settings import load_settings
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.server import (
    PROJECT_ROOT,
    LiveServer,
    free_port,
    random_secret,
    run_command,
    serve_command,
    server_environment,
    servicekonto_command,
    wait_until_answering,
)
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

PASSWORD = "Heidestr17Köln!"
LOCALES = {"de": "de-DE", "en": "en-GB"}
TEXT = {
    "de": {"identifier": "Benutzername oder E-Mail-Adresse", "password": "Passwort", "log_in": "Anmelden",
           "passkeys": "Passkeys", "name": "Name des Passkeys", "add": "Passkey hinzufügen",
           "passkey_login": "Mit einem Passkey anmelden", "use": "Passkey verwenden", "logout": "Abmelden",
           "remove": "Entfernen", "remove_confirm": "Passkey entfernen"},
    "en": {"identifier": "Username or e-mail address", "password": "Password", "log_in": "Log in",
           "passkeys": "Passkeys", "name": "Name of the passkey", "add": "Add passkey",
           "passkey_login": "Log in with a passkey", "use": "Use a passkey", "logout": "Log out",
           "remove": "Remove", "remove_confirm": "Remove the passkey"},
}


@pytest.fixture(scope="module")
def localhost_server(tmp_path_factory: pytest.TempPathFactory, smtp_sink: SmtpSink) -> Iterator[LiveServer]:
    """`servicekonto serve` with BASE_URL http://localhost:PORT (tests/support/server.py names 127.0.0.1)."""
    data_dir = tmp_path_factory.mktemp("passkey-server")
    port = free_port()
    env = server_environment(data_dir, f"http://localhost:{port}", secret_key=random_secret(),
                             extra={"SERVICEKONTO_SMTP_URL": smtp_sink.url})
    run_command(servicekonto_command("migrate"), env)
    log_path = data_dir / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(serve_command(port), env=env, cwd=PROJECT_ROOT, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = LiveServer(base_url=f"http://localhost:{port}", port=port, data_dir=data_dir, env=env,
                        process=process, log_path=log_path, _log=log)
    try:
        wait_until_answering(server)
        yield server
    finally:
        server.stop()


def confirmed_citizen(server: LiveServer, smtp_sink: SmtpSink) -> str:
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
        text = smtp_sink.wait_for_mail_to(email).get_body(preferencelist=("plain",)).get_content()
        token = re.search(r"token=([\w-]+)", text)
        assert token
        services.accounts.verify(token.group(1))
    finally:
        services.close()
    return username


def virtual_authenticator(page: Page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})


def password_login(page: Page, server: LiveServer, lang: str, username: str) -> None:
    page.goto(server.url("/anmelden"))
    page.get_by_label(TEXT[lang]["identifier"]).fill(username)
    page.get_by_label(TEXT[lang]["password"], exact=True).fill(PASSWORD)
    page.get_by_role("button", name=TEXT[lang]["log_in"], exact=True).last.click()


def log_out(page: Page, lang: str) -> None:
    page.get_by_role("button", name=TEXT[lang]["logout"]).click()
    expect(page.locator('[data-message-id="notice.logged_out"]')).to_be_visible()


@pytest.mark.parametrize("lang", ["de", "en"])
def test_register_a_passkey_then_log_in_with_it_alone(new_page: PageFactory, localhost_server: LiveServer,
                                                      smtp_sink: SmtpSink, lang: str) -> None:
    page = new_page(locale=LOCALES[lang])
    virtual_authenticator(page)
    t = TEXT[lang]
    username = confirmed_citizen(localhost_server, smtp_sink)
    password_login(page, localhost_server, lang, username)
    expect(page).to_have_url(re.compile(r"/konto$"))

    page.goto(localhost_server.url("/konto/passkeys"))
    expect(page.locator('[data-message-id="passkeys.none"]')).to_be_visible()
    expect(page.locator("[data-passkey-needs-script]")).to_be_hidden()  # the script runs
    assert_accessible(page, context="passkeys page")
    page.get_by_label(t["name"]).fill("Chromium")
    page.get_by_role("button", name=t["add"]).click()
    expect(page.locator('[data-message-id="notice.passkey_added"]')).to_be_visible()
    expect(page.get_by_role("cell", name="Chromium", exact=True)).to_be_visible()
    assert_accessible(page, context="passkeys page with a passkey")

    # Conditional UI: the login page offers the passkey in the username field's autofill; the virtual
    # authenticator picks it at once, so the page logs in by itself.
    log_out(page, lang)
    page.goto(localhost_server.url("/anmelden"))
    expect(page).to_have_url(re.compile(r"/konto$"))
    expect(page.get_by_role("button", name=t["logout"])).to_be_visible()

    # The button, in a browser without autofill for passkeys.
    log_out(page, lang)
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = undefined;")
    page.goto(localhost_server.url("/anmelden"))
    assert page.get_by_label(t["identifier"]).get_attribute("autocomplete") == "username webauthn"
    assert_accessible(page, context="login page with passkey button")
    page.get_by_role("button", name=t["passkey_login"]).click()
    expect(page).to_have_url(re.compile(r"/konto$"))
    expect(page.get_by_role("button", name=t["logout"])).to_be_visible()

    # The password now leads to the passkey as the second step.
    log_out(page, lang)
    password_login(page, localhost_server, lang, username)
    expect(page).to_have_url(re.compile(r"/anmelden/passkey-bestaetigen\?flow="))
    assert_accessible(page, context="passkey second step")
    page.get_by_role("button", name=t["use"]).click()
    expect(page).to_have_url(re.compile(r"/konto$"))

    # Removal (a fresh login: no password asked).
    page.goto(localhost_server.url("/konto/passkeys"))
    page.get_by_role("link", name=re.compile(t["remove"])).click()
    assert_accessible(page, context="remove passkey page")
    page.get_by_role("button", name=t["remove_confirm"]).click()
    expect(page.locator('[data-message-id="notice.passkey_removed"]')).to_be_visible()
    expect(page.locator('[data-message-id="passkeys.none"]')).to_be_visible()


def test_passkey_pages_explain_without_javascript(new_page: PageFactory, localhost_server: LiveServer,
                                                  smtp_sink: SmtpSink) -> None:
    page = new_page(locale=LOCALES["de"], java_script_enabled=False)
    username = confirmed_citizen(localhost_server, smtp_sink)
    page.goto(localhost_server.url("/anmelden"))
    expect(page.locator("[data-passkey-needs-script]")).to_be_visible()
    expect(page.get_by_role("button", name=TEXT["de"]["passkey_login"])).to_be_hidden()
    password_login(page, localhost_server, "de", username)  # the password login stays
    expect(page).to_have_url(re.compile(r"/konto$"))
    page.goto(localhost_server.url("/konto/passkeys"))
    expect(page.locator("[data-passkey-needs-script]")).to_be_visible()


def test_static_script_is_served() -> None:
    script = Path(PROJECT_ROOT / "src/servicekonto/web/static/passkeys.js").read_text()
    assert "navigator.credentials.create" in script and "navigator.credentials.get" in script
