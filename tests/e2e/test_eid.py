"""The ID card in Chromium against the real server and its eID simulator (issue #6's "Done when"): register
(a wrong PIN first, then ERIKA MUSTERMANN → level 4); upgrade a level-1 account (the differing name confirmed,
the fields then read-only from the card); temporary identification through OIDC and SAML (data and no
pseudonym, no row left); cancel and wrong PIN (clear messages, nothing changed); a portal's level-4 request
stepping a level-1 session up with the card. Every page passes axe-core, in German and English; a run
without JavaScript shows none is needed.

ERIKA's card can belong to one account only: a test that binds it deletes its account at the end."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from servicekonto.domain.trust import TrustLevel
from servicekonto.web.session_context import SESSION_COOKIE
from tests.e2e import test_saml_pages
from tests.e2e.test_saml_pages import _AcsServer as AcsServer
from tests.e2e.test_saml_pages import login_url as saml_login_url
from tests.e2e.test_second_factor import log_in, server_services
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.saml import SAML_NS as SAML
from tests.support.saml import key_pair
from tests.support.server import LiveServer
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e
acs_server = test_saml_pages.acs_server  # the SAML pages' fixtures: a test portal and its ACS recorder
saml_portal = test_saml_pages.saml_portal

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


TEMPORARY_TEXT = {
    "de": {"once": "Einmalig mit dem Ausweis identifizieren, ohne Konto", "send": "Daten senden",
           "continue": "Weiter zu"},
    "en": {"once": "Identify once with your ID card, without an account", "send": "Send data",
           "continue": "Continue to"},
}


@pytest.mark.parametrize(("lang", "javascript"), [("de", True), ("en", True), ("de", False)],
                         ids=["de", "en", "de-without-javascript"])
def test_temporary_identification_through_oidc_sends_the_card_data_once_and_keeps_nothing(
        new_page: PageFactory, live_server: LiveServer, lang: str, javascript: bool) -> None:
    """A portal's OIDC request answered without an account: the login page's "identify once" choice, the card
    in the simulator, the data shown before it is sent, a receipt, and the code at the portal — no account,
    no card, no consent, no grant in the database."""
    import re
    import secrets
    from urllib.parse import parse_qs, urlencode, urlsplit

    from playwright.sync_api import Route

    from servicekonto.persistence import models

    page = new_page(locale=LOCALES[lang], java_script_enabled=javascript)
    page._axe = javascript  # type: ignore[attr-defined]
    t, once = TEXT[lang], TEMPORARY_TEXT[lang]
    portal_url = "http://127.0.0.1:9/callback"
    with server_services(live_server) as services:
        tenant = services.tenants.ensure("Musterstadt")
        client = services.oidc_clients.create(tenant_id=tenant.id, name=f"Portal {secrets.token_hex(3)}",
                                              redirect_uris=(portal_url,), post_logout_redirect_uris=(),
                                              public=True)
        before = {table: _count(services, table) for table in (models.Account, models.EidCard, models.Consent,
                                                               models.OidcGrant)}
    answers: list[str] = []

    def portal(route: Route) -> None:
        answers.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Portal</title>")

    page.route(re.compile(r"^http://127\.0\.0\.1:9/"), portal)
    page.goto(live_server.url("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": client.client.client_id, "redirect_uri": portal_url,
        "scope": "openid profile address", "state": "s", "code_challenge_method": "S256",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"})))
    checked(page, "login page with the temporary choice")
    page.get_by_role("link", name=once["once"]).click()
    checked(page, "temporary identification start page")
    page.get_by_role("button", name=t["start"]).click()
    present_card(page, lang, identity="erika", pin="123456")
    expect(page.get_by_text("MUSTERMANN", exact=True)).to_be_visible()
    checked(page, "temporary identification: data before sending")
    page.get_by_role("button", name=once["send"]).click()
    expect(page.locator('[data-message-id="eid.temporary_sent"]')).to_be_visible()
    expect(page.get_by_text("MUSTERMANN", exact=True)).to_be_visible()
    checked(page, "temporary identification receipt")
    page.get_by_role("link", name=once["continue"]).click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:9/callback"))

    assert answers and "code" in parse_qs(urlsplit(answers[-1]).query)
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    with server_services(live_server) as services:
        after = {table: _count(services, table) for table in before}
    assert after == before


def _count(services, table) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    with services.database.sessions() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


# -- upgrade, step-up, failures, SAML -------------------------------------------------------------------------

UPGRADE_TEXT = {
    "de": {"upgrade": "Vertrauensniveau mit dem Ausweis hochstufen", "take_over": "Daten übernehmen",
           "confirm_name": "Ja, den Namen aus meinem Ausweis verwenden.", "basic": "Basisregistrierung",
           "high": "hoch", "cancel": "Abbrechen"},
    "en": {"upgrade": "Raise your trust level with your ID card", "take_over": "Take over the data",
           "confirm_name": "Yes, use the name from my ID card.", "basic": "basic registration", "high": "high",
           "cancel": "Cancel"},
}
PKCE_VERIFIER = "servicekonto-e2e-eid-step-up-verifier-0123456789"
PKCE_CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(PKCE_VERIFIER.encode()).digest()).rstrip(b"=").decode()
PORTAL = "http://127.0.0.1:9/callback"  # answered by the browser itself (page.route): no portal runs
BPK2 = "urn:oid:1.3.6.1.4.1.25484.494450.3"  # the pseudonym attribute (BundID §6.2)


def level_one_citizen(server: LiveServer, smtp_sink: SmtpSink, **master_data: str) -> str:
    """A citizen registered with password and confirmed e-mail (level 1), with self-declared master data;
    the username."""
    import re
    import secrets

    from tests.e2e.test_second_factor import PASSWORD

    suffix = secrets.token_hex(4)
    username, email = f"erika{suffix}", f"erika.{suffix}@example.de"
    with server_services(server) as services:
        services.accounts.register(username=username, email=email, password=PASSWORD, password_repeat=PASSWORD,
                                   accepted_terms=True, locale="de")
        text = smtp_sink.wait_for_mail_to(email).get_body(preferencelist=("plain",)).get_content()
        token = re.search(r"token=([\w-]+)", text)
        assert token
        account = services.accounts.verify(token.group(1))
        if master_data:
            services.accounts.update_master_data(account, master_data)
    return username


@contextmanager
def card_released_afterwards(server: LiveServer, username: str) -> Iterator[None]:
    """ERIKA's card can belong to one account only: whatever happens, the test's account goes at the end, and
    with it the card's binding, so the next test can use the card again."""
    try:
        yield
    finally:
        with server_services(server) as services:
            account = services.account_repository.find_by_login(username)
            if account is not None:
                services.account_repository.delete(account.id)


def session_of(page: Page, server: LiveServer):  # type: ignore[no-untyped-def]
    cookie = next((c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE), None)
    assert cookie is not None, "no session"
    with server_services(server) as services:
        return services.sessions.load(cookie)


def counts(server: LiveServer) -> dict[str, int]:
    from servicekonto.persistence import models

    with server_services(server) as services:
        return {table.__tablename__: _count(services, table)
                for table in (models.Account, models.EidCard, models.Consent, models.OidcGrant)}


@pytest.mark.parametrize("lang", ["de", "en"])
def test_upgrade_a_level_one_account_with_the_card(new_page: PageFactory, live_server: LiveServer,
                                                   smtp_sink: SmtpSink, lang: str) -> None:
    """"Vertrauensniveau hochstufen": the card's data replaces the self-declared fields (a differing name is
    shown and must be confirmed), which are then read-only with source eID; the session is at level 4."""
    page = new_page(locale=LOCALES[lang])
    t, u = TEXT[lang], UPGRADE_TEXT[lang]
    username = level_one_citizen(live_server, smtp_sink, given_name="Erika", family_name="Musterfrau",
                                 locality="Bonn")
    with card_released_afterwards(live_server, username):
        log_in(page, live_server, lang, username)
        page.wait_for_url(live_server.url("/konto"))
        expect(page.locator("dl.facts dd").last).to_have_text(u["basic"])
        checked(page, "account overview at level 1")
        page.get_by_role("link", name=u["upgrade"]).click()
        checked(page, "upgrade start page")
        page.get_by_role("button", name=t["start"]).click()
        present_card(page, lang, identity="erika", pin="123456")

        expect(page.locator('[data-message-id="eid.name_differs"]')).to_contain_text("ERIKA MUSTERMANN")
        expect(page.locator('[data-message-id="eid.name_differs"]')).to_contain_text("Erika Musterfrau")
        checked(page, "upgrade confirmation with a differing name")
        page.get_by_role("button", name=u["take_over"]).click()
        expect(page.locator('[data-message-id="eid.name_not_confirmed"]').first).to_be_visible()
        checked(page, "upgrade confirmation: name not confirmed")
        page.get_by_label(u["confirm_name"]).check()
        page.get_by_role("button", name=u["take_over"]).click()
        page.wait_for_url(live_server.url("/konto"))

        expect(page.locator("dl.facts dd").last).to_have_text(u["high"])
        checked(page, "account overview at level 4")
        page.goto(live_server.url("/konto/stammdaten"))
        expect(page.locator('[data-message-id="master_data.from_card"]')).to_be_visible()
        for field, value in (("given_name", "ERIKA"), ("family_name", "MUSTERMANN"), ("locality", "KÖLN")):
            expect(page.locator(f"#f-{field}")).to_have_value(value)
            expect(page.locator(f"#f-{field}")).to_have_attribute("readonly", "")
        checked(page, "master data from the card")

        session = session_of(page, live_server)
        assert session is not None and session.trust_level is TrustLevel.HIGH
        assert session.methods == ["pwd", "eid"]
        with server_services(live_server) as services:
            values = {a.key: (a.value, a.source.value) for a in services.account_repository.attributes(
                session.account_id)}
        assert values["family_name"] == ("MUSTERMANN", "eid") and values["locality"] == ("KÖLN", "eid")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_cancel_and_wrong_pin_when_registering_change_nothing(new_page: PageFactory, live_server: LiveServer,
                                                             lang: str) -> None:
    page = new_page(locale=LOCALES[lang])
    t, u = TEXT[lang], UPGRADE_TEXT[lang]
    before = counts(live_server)

    page.goto(live_server.url("/registrieren/ausweis"))
    page.get_by_role("button", name=t["start"]).click()
    expect(page.locator('[data-message-id="eid.simulator"]')).to_be_visible()
    page.get_by_role("button", name=u["cancel"], exact=True).click()
    expect(page.locator('[data-message-id="eid.cancelled"]')).to_be_visible()
    checked(page, "eID cancelled")

    page.get_by_role("link", name=t["again"]).click()
    page.get_by_role("button", name=t["start"]).click()
    present_card(page, lang, identity="erika", pin="999999")
    expect(page.locator('[data-message-id="eid.wrong_pin"]')).to_be_visible()
    checked(page, "eID wrong PIN")

    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    assert counts(live_server) == before


@pytest.mark.parametrize("lang", ["de", "en"])
def test_cancel_and_wrong_pin_when_upgrading_leave_the_account_at_level_1(
        new_page: PageFactory, live_server: LiveServer, smtp_sink: SmtpSink, lang: str) -> None:
    page = new_page(locale=LOCALES[lang])
    t, u = TEXT[lang], UPGRADE_TEXT[lang]
    username = level_one_citizen(live_server, smtp_sink, given_name="Erika", family_name="Musterfrau")
    with card_released_afterwards(live_server, username):
        log_in(page, live_server, lang, username)
        page.wait_for_url(live_server.url("/konto"))
        before = counts(live_server)
        for identity, pin, code in (("erika", "", "eid.cancelled"), ("erika", "000000", "eid.wrong_pin")):
            page.goto(live_server.url("/konto/vertrauensniveau"))
            page.get_by_role("button", name=t["start"]).click()
            if code == "eid.cancelled":
                expect(page.locator('[data-message-id="eid.simulator"]')).to_be_visible()
                page.get_by_role("button", name=u["cancel"], exact=True).click()
            else:
                present_card(page, lang, identity=identity, pin=pin)
            expect(page.locator(f'[data-message-id="{code}"]')).to_be_visible()
            checked(page, f"upgrade failed: {code}")
        page.goto(live_server.url("/konto"))
        expect(page.locator("dl.facts dd").last).to_have_text(u["basic"])
        session = session_of(page, live_server)
        assert session is not None and session.trust_level is TrustLevel.BASIC and session.methods == ["pwd"]
        with server_services(live_server) as services:
            sources = {a.key: a.source.value for a in services.account_repository.attributes(session.account_id)}
            assert not services.eid.has_card(session.account_id)
        assert sources == {"given_name": "self_declared", "family_name": "self_declared"}
        assert counts(live_server) == before


@pytest.mark.parametrize(("lang", "acr"), [("de", "STORK-QAA-Level-4"), ("en", "http://eidas.europa.eu/LoA/high")])
def test_a_level_4_request_from_a_level_1_session_steps_up_with_the_card(
        new_page: PageFactory, live_server: LiveServer, smtp_sink: SmtpSink, lang: str, acr: str) -> None:
    """Logged in with the password (level 1), a portal asks for level 4 (an essential acr claim): the card,
    then the consent, then the portal — whose ID token says level 4 in the vocabulary it asked in."""
    import re
    from urllib.parse import parse_qs, urlencode, urlsplit

    from playwright.sync_api import Route

    from tests.e2e.test_second_factor import citizen_and_portal

    page = new_page(locale=LOCALES[lang])
    t, u = TEXT[lang], UPGRADE_TEXT[lang]
    username, client_id = citizen_and_portal(live_server, smtp_sink)
    answers: list[str] = []

    def portal(route: Route) -> None:
        answers.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Portal</title>")

    page.route(re.compile(r"^http://127\.0\.0\.1:9/"), portal)
    with card_released_afterwards(live_server, username):
        log_in(page, live_server, lang, username)
        page.wait_for_url(live_server.url("/konto"))
        claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [acr]}}})
        page.goto(live_server.url("/oidc/authorize?" + urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": PORTAL, "scope": "openid profile",
            "state": "s", "code_challenge": PKCE_CHALLENGE, "code_challenge_method": "S256", "claims": claims})))
        expect(page).to_have_url(re.compile(r"/konto/vertrauensniveau\?return_to="))
        checked(page, "step-up: the card is needed")
        page.get_by_role("button", name=t["start"]).click()
        present_card(page, lang, identity="erika", pin="123456")
        checked(page, "step-up: the card's data")
        page.get_by_role("button", name=u["take_over"]).click()
        expect(page).to_have_url(re.compile(r"/anmeldung/"))
        checked(page, "step-up: consent")
        page.locator("button[name=decision][value=allow]").click()
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:9/callback\?code="))

        code = parse_qs(urlsplit(answers[-1]).query)["code"][0]
        claims_of_token = id_token_claims(live_server, client_id, code)
        assert claims_of_token["acr"] == acr
        assert "hwk" in claims_of_token["amr"]
        session = session_of(page, live_server)
        assert session is not None and session.trust_level is TrustLevel.HIGH


def id_token_claims(server: LiveServer, client_id: str, code: str) -> dict[str, Any]:
    """The code exchanged at the token endpoint as the portal would (public client, PKCE); the ID token's
    payload (its signature is the OIDC tests' business)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": PORTAL,
                      "client_id": client_id, "code_verifier": PKCE_VERIFIER}).encode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(server.url("/oidc/token"), data=body)  # noqa: S310 - the server's http URL
    try:
        with opener.open(request, timeout=10) as response:
            id_token = json.loads(response.read())["id_token"]
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"token endpoint: {exc.code} {exc.read().decode()}") from exc
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


@pytest.mark.parametrize("lang", ["de", "en"])
def test_temporary_identification_through_saml_sends_data_without_pseudonym_and_keeps_nothing(
        new_page: PageFactory, live_server: LiveServer, acs_server: AcsServer, saml_portal: str,
        lang: str) -> None:
    """A portal's SAML request answered without an account: the card's data reaches the ACS in an encrypted
    assertion without the pseudonym (bPK2); no account, card, consent or grant row, no session."""
    import re
    import secrets

    from lxml import etree

    from tests.unit.test_saml_response import decrypt

    page = new_page(locale=LOCALES[lang])
    t, once = TEXT[lang], TEMPORARY_TEXT[lang]
    before = counts(live_server)
    request_id = "_" + secrets.token_hex(16)
    acs_url = f"{acs_server.base_url}/saml/acs"
    page.goto(saml_login_url(live_server, saml_portal, acs_url, request_id))
    expect(page).to_have_url(re.compile(r"/anmelden"))
    checked(page, "SAML login page with the temporary choice")
    page.get_by_role("link", name=once["once"]).click()
    checked(page, "temporary identification start page (SAML)")
    page.get_by_role("button", name=t["start"]).click()
    present_card(page, lang, identity="erika", pin="123456")
    expect(page.get_by_text("MUSTERMANN", exact=True)).to_be_visible()
    checked(page, "temporary identification (SAML): data before sending")
    page.get_by_role("button", name=once["send"]).click()
    expect(page.locator('[data-message-id="eid.temporary_sent"]')).to_be_visible()
    checked(page, "temporary identification receipt (SAML)")
    assert acs_server.posts() == []  # nothing goes to the portal before the citizen continues
    page.get_by_role("button", name=re.compile("^" + once["continue"])).click()
    expect(page.get_by_role("heading", name="Angemeldet")).to_be_visible()

    [(path, fields)] = acs_server.posts()
    assert path == "/saml/acs" and fields["RelayState"] == "antrag-7"
    response = base64.b64decode(fields["SAMLResponse"])
    assert etree.fromstring(response).get("InResponseTo") == request_id
    assertion = etree.fromstring(decrypt(response, key_pair("e2e-sp-enc")[0]))
    attributes = {a.get("Name"): [v.text for v in a] for a in assertion.iter(f"{{{SAML}}}Attribute")}
    assert attributes["urn:oid:2.5.4.42"] == ["ERIKA"] and attributes["urn:oid:2.5.4.4"] == ["MUSTERMANN"]
    assert BPK2 not in attributes
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    assert counts(live_server) == before
