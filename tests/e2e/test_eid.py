"""Registering with the ID card in Chromium against the real server and its eID simulator: a wrong PIN first
(a clear message, nothing changed), then ERIKA MUSTERMANN with the right PIN → an account at level 4 with the
card's data. Every page passes axe-core, in German and English; a run without JavaScript shows none is needed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from servicekonto.domain.trust import TrustLevel
from servicekonto.web.session_context import SESSION_COOKIE
from tests.e2e.test_second_factor import server_services
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e

LOCALES = {"de": "de-DE", "en": "en-GB"}
TEXT = {
    "de": {"start": "AusweisApp starten", "identify": "Ausweisen", "create": "Konto anlegen",
           "again": "Noch einmal versuchen"},
    "en": {"start": "Start the AusweisApp", "identify": "Identify", "create": "Create account",
           "again": "Try again"},
}


def checked(page: Page, step: str) -> None:
    if getattr(page, "_axe", True):
        assert_accessible(page, context=step)


def present_card(page: Page, lang: str, *, identity: str, pin: str) -> None:
    expect(page.locator('[data-message-id="eid.simulator"]')).to_be_visible()
    checked(page, "simulator client page")
    page.locator(f"input[name=identity][value={identity}]").check()
    page.get_by_label("PIN", exact=True).fill(pin)
    page.get_by_role("button", name=TEXT[lang]["identify"]).click()


@pytest.mark.parametrize(("lang", "javascript"), [("de", True), ("en", True), ("de", False)],
                         ids=["de", "en", "de-without-javascript"])
def test_register_with_erika_gives_level_4(new_page: PageFactory, live_server: LiveServer, lang: str,
                                           javascript: bool) -> None:
    page = new_page(locale=LOCALES[lang], java_script_enabled=javascript)
    page._axe = javascript  # type: ignore[attr-defined]
    t = TEXT[lang]

    page.goto(live_server.url("/registrieren/ausweis"))
    checked(page, "eID start page")
    page.get_by_role("button", name=t["start"]).click()
    present_card(page, lang, identity="erika", pin="000000")
    expect(page.locator('[data-message-id="eid.wrong_pin"]')).to_be_visible()
    checked(page, "eID failure page")

    page.get_by_role("link", name=t["again"]).click()
    page.get_by_role("button", name=t["start"]).click()
    present_card(page, lang, identity="erika", pin="123456")
    expect(page.get_by_text("MUSTERMANN", exact=True)).to_be_visible()
    checked(page, "card data page")
    page.locator("#f-accept_terms").check()
    page.get_by_role("button", name=t["create"]).click()
    page.wait_for_url(live_server.url("/konto"))

    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    with server_services(live_server) as services:
        session = services.sessions.load(cookie)
        assert session is not None and session.trust_level is TrustLevel.HIGH and session.methods == ["eid"]
        values = {a.key: (a.value, a.source.value)
                  for a in services.account_repository.attributes(session.account_id)}
        services.account_repository.delete(session.account_id)  # the card goes with it: the next run registers
    assert values["given_name"] == ("ERIKA", "eid") and values["birth_name"] == ("GABLER", "eid")
