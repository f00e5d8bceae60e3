"""An authenticator app in Chromium against the real server: a portal asks for trust level 2 → the citizen
logs in with the password → the step-up page explains the second factor → set up the app (a wrong code first,
then a code computed here) → recovery codes shown once → continue to the portal. Then a login with a code, a
login with a recovery code that works once and never again, and removing the app. In German and English
every new page passes axe-core; a third run without JavaScript shows none is needed."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pyotp
import pytest
from playwright.sync_api import Page, Route, expect

from servicekonto.app import Container, build_container
from servicekonto.settings import load_settings
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.server import LiveServer
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

PASSWORD = "Heidestr17Köln!"
PORTAL = "http://127.0.0.1:9/callback"  # answered by the browser itself (page.route): no portal runs
LOCALES = {"de": "de-DE", "en": "en-GB"}
TEXT = {
    "de": {"identifier": "Benutzername oder E-Mail-Adresse", "password": "Passwort",
           "code": "Code aus der Authenticator-App", "confirm_password": "Ihr Passwort zur Bestätigung",
           "recovery_code": "Wiederherstellungscode", "set_up": "Authenticator-App einrichten",
           "kept": "Ich habe die Codes aufbewahrt – weiter",
           "lost": "Smartphone verloren? Wiederherstellungscode verwenden", "logout": "Abmelden",
           "remove": "Authenticator-App entfernen"},
    "en": {"identifier": "Username or e-mail address", "password": "Password",
           "code": "Code from the authenticator app", "confirm_password": "Your password, to confirm",
           "recovery_code": "Recovery code", "set_up": "Set up an authenticator app",
           "kept": "I have kept the codes – continue", "lost": "Lost your phone? Use a recovery code",
           "logout": "Log out", "remove": "Remove the authenticator app"},
}


@contextmanager
def server_services(server: LiveServer) -> Iterator[Container]:
    """The server's own services on its database, configured from exactly the server's environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("SERVICEKONTO_")]:
            patch.delenv(name)
        for name, value in server.env.items():
            if name.startswith("SERVICEKONTO_"):
                patch.setenv(name, value)
        services = build_container(load_settings())
    try:
        yield services
    finally:
        services.close()


def citizen_and_portal(server: LiveServer, smtp_sink: SmtpSink) -> tuple[str, str]:
    """A confirmed citizen (username) and a registered OIDC client (client_id)."""
    suffix = secrets.token_hex(4)
    username, email = f"erika{suffix}", f"erika.{suffix}@example.de"
    with server_services(server) as services:
        services.accounts.register(username=username, email=email, password=PASSWORD, password_repeat=PASSWORD,
                                   accepted_terms=True, locale="de")
        text = smtp_sink.wait_for_mail_to(email).get_body(preferencelist=("plain",)).get_content()
        token = re.search(r"token=([\w-]+)", text)
        assert token
        services.accounts.verify(token.group(1))
        tenant = services.tenants.ensure("Musterstadt")
        client = services.oidc_clients.create(tenant_id=tenant.id, name=f"Portal {suffix}", redirect_uris=(PORTAL,),
                                              post_logout_redirect_uris=(), public=True)
    return username, client.client.client_id


def checked(page: Page, step: str) -> None:
    if getattr(page, "_axe", True):
        assert_accessible(page, context=step)


def log_in(page: Page, server: LiveServer, lang: str, username: str) -> None:
    page.goto(server.url("/anmelden"))
    page.get_by_label(TEXT[lang]["identifier"]).fill(username)
    page.get_by_label(TEXT[lang]["password"], exact=True).fill(PASSWORD)
    page.locator("main form button[type=submit]").click()


def log_out(page: Page, lang: str) -> None:
    page.get_by_role("button", name=TEXT[lang]["logout"]).click()
    expect(page.locator('[data-message-id="notice.logged_out"]')).to_be_visible()


@pytest.mark.parametrize(("lang", "javascript"), [("de", True), ("en", True), ("de", False)],
                         ids=["de", "en", "de-without-javascript"])
def test_second_factor_journey(new_page: PageFactory, live_server: LiveServer, smtp_sink: SmtpSink, lang: str,
                               javascript: bool) -> None:
    page = new_page(locale=LOCALES[lang], java_script_enabled=javascript)
    page._axe = javascript  # type: ignore[attr-defined]
    t = TEXT[lang]
    username, client_id = citizen_and_portal(live_server, smtp_sink)
    answers: list[str] = []

    def portal(route: Route) -> None:
        answers.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Portal</title>")

    page.route(re.compile(r"^http://127\.0\.0\.1:9/"), portal)

    # A portal needs level 2; the account has no second factor yet.
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["STORK-QAA-Level-2"]}}})
    page.goto(live_server.url("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": PORTAL, "scope": "openid",
        "state": "s", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256", "claims": claims})))
    page.get_by_label(t["identifier"]).fill(username)
    page.get_by_label(t["password"], exact=True).fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="step_up.second_factor_missing"]')).to_be_visible()
    checked(page, "step-up page")

    page.get_by_role("link", name=t["set_up"]).click()
    expect(page.locator("svg[role=img]")).to_be_visible()
    checked(page, "setup page")
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    right = pyotp.TOTP(secret).now()
    page.get_by_label(t["code"]).fill(f"{(int(right) + 1) % 1_000_000:06d}")
    page.get_by_label(t["confirm_password"]).fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="second_factor.code_invalid"]').first).to_be_visible()
    expect(page.get_by_label(t["code"])).to_have_attribute("aria-invalid", "true")
    checked(page, "setup page with an error")
    page.get_by_label(t["code"]).fill(pyotp.TOTP(secret).now())
    page.get_by_label(t["confirm_password"]).fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="second_factor.recovery_codes_shown"]')).to_be_visible()
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    checked(page, "recovery codes")

    page.get_by_role("link", name=t["kept"]).click()
    page.locator("button[name=decision][value=allow]").click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:9/callback\?code="))
    assert answers and "code=" in answers[-1]

    page.goto(live_server.url("/konto/zwei-faktor"))
    expect(page.locator('[data-message-id="second_factor.status.on"]')).to_be_visible()
    checked(page, "second factor overview")
    log_out(page, lang)

    log_in(page, live_server, lang, username)
    expect(page.get_by_label(t["code"])).to_have_attribute("autocomplete", "one-time-code")
    checked(page, "code step")
    # The setup used up the current time step; a code one step ahead is still accepted (±1 step).
    page.get_by_label(t["code"]).fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/konto$"))
    log_out(page, lang)

    for attempt in range(2):
        log_in(page, live_server, lang, username)
        page.get_by_role("link", name=t["lost"]).click()
        if attempt == 0:
            checked(page, "recovery code step")
        page.get_by_label(t["recovery_code"]).fill(codes[0])
        page.locator("main form button[type=submit]").click()
        if attempt == 0:
            expect(page).to_have_url(re.compile(r"/konto$"))
            log_out(page, lang)
    expect(page.locator('[data-message-id="second_factor.recovery_code_invalid"]').first).to_be_visible()
    checked(page, "recovery code used again")
    page.get_by_label(t["recovery_code"]).fill(codes[1])
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/konto$"))

    page.goto(live_server.url("/konto/zwei-faktor/wiederherstellungscodes"))
    checked(page, "new recovery codes form")
    page.goto(live_server.url("/konto/zwei-faktor/entfernen"))
    checked(page, "removal form")
    page.get_by_label(t["confirm_password"]).fill(PASSWORD)
    page.get_by_role("button", name=t["remove"]).click()
    expect(page.locator('[data-message-id="notice.totp_removed"]')).to_be_visible()
    expect(page.locator('[data-message-id="second_factor.status.off"]')).to_be_visible()
