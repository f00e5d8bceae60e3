"""A citizen's whole journey in Chromium against the real server, with mail through a real SMTP server:
register → confirmation mail → confirm → log in → an invalid postcode is refused and nothing changes → fix
it → change the password → log out → reset the password through the mail → delete the account → the login
fails. In German and English every page on the way passes axe-core (no serious or critical violation); a
third run, in German with JavaScript switched off in the browser, shows the core flows need none (axe
cannot run there: it is itself a script)."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.server import LiveServer
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

LINK = re.compile(r"https?://[^\s<>\"]+")
TEXT = {
    "de": {"register": "Registrieren", "login": "Anmelden", "logout": "Abmelden", "save": "Speichern",
           "confirm": "E-Mail-Adresse bestätigen", "change_password": "Passwort ändern",
           "send_link": "Link senden", "save_password": "Neues Passwort speichern",
           "delete": "Mein Konto endgültig löschen"},
    "en": {"register": "Register", "login": "Log in", "logout": "Log out", "save": "Save",
           "confirm": "Confirm e-mail address", "change_password": "Change password",
           "send_link": "Send link", "save_password": "Save new password",
           "delete": "Delete my account for good"},
}
LABELS = {
    "de": {"username": "Benutzername", "email": "E-Mail-Adresse", "password": "Passwort",
           "repeat": "Passwort wiederholen", "identifier": "Benutzername oder E-Mail-Adresse",
           "postcode": "Postleitzahl", "city": "Ort", "current": "Aktuelles Passwort", "new": "Neues Passwort",
           "new_repeat": "Neues Passwort wiederholen", "confirm_password": "Ihr Passwort zur Bestätigung"},
    "en": {"username": "Username", "email": "E-mail address", "password": "Password",
           "repeat": "Repeat password", "identifier": "Username or e-mail address",
           "postcode": "Postcode", "city": "City", "current": "Current password", "new": "New password",
           "new_repeat": "Repeat new password", "confirm_password": "Your password, to confirm"},
}


def link_in_mail(smtp_sink: SmtpSink, to: str, containing: str, *, after: int = 0) -> str:
    def wanted(message) -> bool:  # type: ignore[no-untyped-def]
        recipients = [str(v).lower() for v in (message.get_all("To") or [])]
        if to.lower() not in recipients or smtp_sink.messages.index(message) < after:
            return False
        return containing in message.get_body(preferencelist=("plain",)).get_content()

    message = smtp_sink.wait_for(wanted)
    text = message.get_body(preferencelist=("plain",)).get_content()
    return next(link for link in LINK.findall(text) if containing in link)


def city(page: Page, lang: str):  # type: ignore[no-untyped-def]
    optional = {"de": "freiwillig", "en": "optional"}[lang]
    return page.get_by_role("textbox", name=f"{LABELS[lang]['city']} ({optional})", exact=True)


def checked(page: Page, step: str) -> None:
    """axe needs script in the page; the run without JavaScript checks function only."""
    if page.context.pages and getattr(page, "_axe", True):
        assert_accessible(page, context=step)


@pytest.mark.parametrize(("lang", "javascript"), [("de", True), ("en", True), ("de", False)],
                         ids=["de", "en", "de-without-javascript"])
def test_citizen_journey(new_page: PageFactory, live_server: LiveServer, smtp_sink: SmtpSink, lang: str,
                         javascript: bool) -> None:
    page = new_page(locale={"de": "de-DE", "en": "en-GB"}[lang], java_script_enabled=javascript)
    page._axe = javascript  # type: ignore[attr-defined]
    t, label = TEXT[lang], LABELS[lang]
    suffix = secrets.token_hex(4)
    username, email = f"erika{suffix}", f"erika.{suffix}@example.de"
    password, new_password = "Heidestr17Köln!", "Ein ganz neues Passwort 2026"
    reset_password = "Zurückgesetzt am Rhein 7"

    page.goto(live_server.url("/"))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.get_by_role("link", name=t["register"]).first.click()
    checked(page, "registration form")
    page.locator("main form button[type=submit]").click()  # empty form: every message at once
    expect(page.locator(".error-summary")).to_be_visible()
    checked(page, "registration form with errors")
    page.get_by_label(label["username"], exact=True).fill(username)
    page.get_by_label(label["email"], exact=True).fill(email)
    page.get_by_label(label["password"], exact=True).fill(password)
    page.get_by_label(label["repeat"], exact=True).fill(password)
    page.locator("#f-accept_terms").check()
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="registration.mail_sent"]')).to_be_visible()
    checked(page, "mail sent")

    page.goto(link_in_mail(smtp_sink, email, "/registrieren/bestaetigen"))
    checked(page, "confirmation page")
    page.get_by_role("button", name=t["confirm"]).click()
    expect(page.locator('[data-message-id="notice.verified"]')).to_be_visible()
    checked(page, "login form")
    page.get_by_label(label["identifier"]).fill(username)
    page.get_by_label(label["password"], exact=True).fill(password)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/konto$"))
    checked(page, "account overview")

    page.goto(live_server.url("/konto/stammdaten"))
    checked(page, "master data form")
    page.get_by_label(label["postcode"]).fill("5114")
    city(page, lang).fill("Köln")
    page.get_by_role("button", name=t["save"]).click()
    expect(page.locator('[data-message-id="field.postal_code.invalid"]').first).to_be_visible()
    expect(page.get_by_label(label["postcode"])).to_have_attribute("aria-invalid", "true")
    checked(page, "master data with an error")
    page.goto(live_server.url("/konto"))
    expect(page.locator("main")).not_to_contain_text("Köln")  # nothing was changed
    page.goto(live_server.url("/konto/stammdaten"))
    page.get_by_label(label["postcode"]).fill("51147")
    city(page, lang).fill("Köln")
    page.get_by_role("button", name=t["save"]).click()
    expect(page.locator('[data-message-id="notice.master_data_saved"]')).to_be_visible()
    page.goto(live_server.url("/konto"))
    expect(page.locator("main")).to_contain_text("51147")

    page.goto(live_server.url("/konto/e-mail"))
    checked(page, "e-mail change form")
    page.goto(live_server.url("/konto/passwort"))
    checked(page, "password change form")
    page.get_by_label(label["current"]).fill(password)
    page.get_by_label(label["new"], exact=True).fill(new_password)
    page.get_by_label(label["new_repeat"]).fill(new_password)
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="notice.password_changed"]')).to_be_visible()
    page.goto(live_server.url("/konto/sicherheit"))
    expect(page.locator("main table tbody tr")).not_to_have_count(0)
    checked(page, "security events")

    page.get_by_role("button", name=t["logout"]).click()
    expect(page.locator('[data-message-id="notice.logged_out"]')).to_be_visible()
    checked(page, "logged out")

    mails_before = len(smtp_sink.messages)
    page.goto(live_server.url("/passwort-vergessen"))
    checked(page, "recovery form")
    page.get_by_label(label["identifier"]).fill(email)
    page.get_by_role("button", name=t["send_link"]).click()
    expect(page.locator('[data-message-id="recovery.mail_sent"]')).to_be_visible()
    page.goto(link_in_mail(smtp_sink, email, "/passwort-zuruecksetzen", after=mails_before))
    checked(page, "reset form")
    page.get_by_label(label["new"], exact=True).fill(reset_password)
    page.get_by_label(label["new_repeat"]).fill(reset_password)
    page.get_by_role("button", name=t["save_password"]).click()
    expect(page.locator('[data-message-id="notice.password_reset"]')).to_be_visible()

    page.get_by_label(label["identifier"]).fill(username)
    page.get_by_label(label["password"], exact=True).fill(new_password)  # the old one no longer works
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="login.credentials_invalid"]').first).to_be_visible()
    checked(page, "login error")
    page.get_by_label(label["password"], exact=True).fill(reset_password)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/konto$"))

    page.goto(live_server.url("/konto/loeschen"))
    checked(page, "deletion form")
    page.get_by_label(label["confirm_password"]).fill(reset_password)
    page.get_by_role("button", name=t["delete"]).click()
    expect(page.locator('[data-message-id="notice.deleted"]')).to_be_visible()
    smtp_sink.wait_for_mail_to(email)

    page.goto(live_server.url("/anmelden"))
    page.get_by_label(label["identifier"]).fill(username)
    page.get_by_label(label["password"], exact=True).fill(reset_password)
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="login.credentials_invalid"]').first).to_be_visible()


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("path", ["/nutzungsbedingungen", "/datenschutz", "/passwort-zuruecksetzen?token=x",
                                  "/registrieren/bestaetigen?token=x", "/konto/e-mail/bestaetigen?token=x"])
def test_other_citizen_pages_are_accessible(new_page: PageFactory, live_server: LiveServer, lang: str,
                                            path: str) -> None:
    page = new_page(locale={"de": "de-DE", "en": "en-GB"}[lang])
    page.goto(live_server.url(path))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    checked(page, path)
