"""Organisation accounts in Chromium against the real server (issue #10's "Done when"): a citizen registered
with the ID card (level 4) creates an organisation, invites a member by mail, the member logs in with a
password, follows the link from the mail and accepts, and the admin sees the member with its role. The
operator verifies the organisation, the tenant defines a role for its portal, the admin gives it to the
member; the member logs in to that portal acting for the organisation, and the portal receives both
pseudonyms and the roles. Removed, the member can no longer act for it. Every page passes axe-core, in German
and English.

ERIKA's card can belong to one account only: the founder's account goes at the end (test_eid.py's helper)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.test_eid import LOCALES, TEXT, card_released_afterwards, level_one_citizen, present_card
from tests.e2e.test_second_factor import PASSWORD, server_services
from tests.e2e.test_second_factor import TEXT as LOGIN_TEXT
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.server import LiveServer
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

FORM_TEXT = {
    "de": {"create": "Organisation anlegen", "name": "Name der Organisation", "legal_form": "Rechtsform",
           "street": "Straße und Hausnummer", "postcode": "Postleitzahl", "city": "Ort",
           "email": "E-Mail-Adresse für Rückfragen", "invite_email": "E-Mail-Adresse", "send": "Einladung senden",
           "accept": "Einladung annehmen"},
    "en": {"create": "Create an organisation", "name": "Name of the organisation", "legal_form": "Legal form",
           "street": "Street and house number", "postcode": "Postcode", "city": "City",
           "email": "Contact e-mail address", "invite_email": "E-mail address", "send": "Send invitation",
           "accept": "Accept the invitation"},
}


CONSOLE_TEXT = {
    "de": {"verify": "Als geprüft markieren", "service": "Dienst", "role_name": "Name der Rolle",
           "define": "Rolle festlegen"},
    "en": {"verify": "Mark as verified", "service": "Service", "role_name": "Role name",
           "define": "Define the role"},
}


def register_with_card(page: Page, server: LiveServer, lang: str) -> str:
    """Register with ERIKA MUSTERMANN's card (level 4, as test_eid.py does); the new username."""
    page.goto(server.url("/registrieren/ausweis"))
    page.get_by_role("button", name=TEXT[lang]["start"]).click()
    present_card(page, lang, identity="erika", pin="123456")
    page.locator("#f-accept_terms").check()
    page.get_by_role("button", name=TEXT[lang]["create"]).click()
    page.wait_for_url(server.url("/konto"))
    from servicekonto.web.session_context import SESSION_COOKIE

    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    with server_services(server) as services:
        session = services.sessions.load(cookie)
        assert session is not None and session.account is not None
        return session.account.username


@pytest.mark.parametrize("lang", ["de", "en"])
def test_create_invite_accept_and_the_admin_sees_the_member(
        new_page: PageFactory, live_server: LiveServer, smtp_sink: SmtpSink, lang: str) -> None:
    t = FORM_TEXT[lang]
    admin = new_page(locale=LOCALES[lang])
    founder = register_with_card(admin, live_server, lang)
    with card_released_afterwards(live_server, founder):
        admin.goto(live_server.url("/konto/organisationen"))
        assert_accessible(admin, context="organisations list")
        admin.get_by_role("link", name=t["create"]).click()
        assert_accessible(admin, context="create form")
        name = f"Muster {lang.upper()} GmbH"
        admin.get_by_label(t["name"]).fill(name)
        admin.get_by_label(t["legal_form"]).fill("GmbH")
        admin.get_by_label(t["street"]).fill("Heidestraße 17")
        admin.get_by_label(t["postcode"]).fill("51147")
        admin.get_by_label(t["city"]).fill("Köln")
        admin.get_by_label(t["email"]).fill("info@muster.example")
        admin.locator("main form button[type=submit]").click()
        expect(admin.locator('[data-message-id="notice.organisation.created"]')).to_be_visible()
        expect(admin.get_by_role("heading", level=1)).to_have_text(name)
        assert_accessible(admin, context="organisation page (admin)")

        member = level_one_citizen(live_server, smtp_sink)
        address = f"erika.{member.removeprefix('erika')}@example.de"
        admin.get_by_label(t["invite_email"], exact=True).fill(address)
        admin.get_by_role("button", name=t["send"]).click()
        expect(admin.locator('[data-message-id="notice.organisation.invited"]')).to_be_visible()
        mail = smtp_sink.wait_for(lambda m: address in str(m.get("To", "")).lower()
                                  and "/konto/organisationen/einladung/" in str(m.get_body(
                                      preferencelist=("plain",)).get_content()))
        link = re.search(r"https?://\S+/konto/organisationen/einladung/\S+",
                         mail.get_body(preferencelist=("plain",)).get_content())
        assert link

        invitee = new_page(locale=LOCALES[lang])
        invitee.goto(link.group(0))  # not logged in: the login page, and back here afterwards
        invitee.get_by_label(LOGIN_TEXT[lang]["identifier"]).fill(member)
        invitee.get_by_label(LOGIN_TEXT[lang]["password"], exact=True).fill(PASSWORD)
        invitee.locator("main form button[type=submit]").click()
        invitee.wait_for_url(re.compile(r".*/konto/organisationen/einladung/.*"))
        assert_accessible(invitee, context="invitation page")
        invitee.get_by_role("button", name=t["accept"]).click()
        expect(invitee.locator('[data-message-id="notice.organisation.joined"]')).to_be_visible()
        assert_accessible(invitee, context="organisation page (member)")

        admin.reload()
        expect(admin.locator(f'[data-testid="member"][data-member="{member}"][data-role="member"]')).to_be_visible()
        assert_accessible(admin, context="organisation page with the new member")
        organisation_url = admin.url.split("?")[0]
        portal = console_and_roles(admin, live_server, lang, founder, organisation_url)
        give_the_role(admin, lang, member, portal[2])
        acting_for_the_organisation(invitee, live_server, portal, name, lang)

        # Removed, the member can no longer act for it: an organisation-only login finds none.
        admin.goto(organisation_url)
        admin.locator(f'[data-testid="member"][data-member="{member}"]').get_by_role(
            "button", name=PORTAL_TEXT[lang]["remove"]).click()
        expect(admin.locator(f'[data-testid="member"][data-member="{member}"]')).to_have_count(0)
        authorize(invitee, live_server, portal, claims=json.dumps({"userinfo": {"organisation": {"essential": True}}}))
        expect(invitee.locator('[data-message-id="acting_for.no_organisation"]')).to_be_visible()
        assert_accessible(invitee, context="organisation-only login without an organisation")


def console_and_roles(admin: Page, server: LiveServer, lang: str, founder: str,
                      organisation_url: str) -> tuple[str, str, str]:
    """The founder, made operator and tenant admin: verifies the organisation with a note and defines a role
    for a portal registered for organisation logins; the portal's (client id, secret, name)."""
    t = CONSOLE_TEXT[lang]
    organisation_id = organisation_url.rstrip("/").rsplit("/", 1)[1]
    with server_services(server) as services:
        tenant = services.tenants.ensure("Musterstadt")
        created = services.oidc_clients.create(tenant_id=tenant.id, name=f"Gewerbeportal {secrets.token_hex(3)}",
                                               redirect_uris=(PORTAL,), scopes=("openid", "organisation"))
        portal = created.client
        services.admin.grant(founder, operator=True)
        services.admin.grant(founder, tenant_id=tenant.id)
    admin.goto(server.url("/verwaltung/organisationen"))
    assert_accessible(admin, context="console: organisations")
    row = admin.locator(f'[data-testid="organisation"][data-organisation="{organisation_id}"]')
    row.get_by_role("textbox").fill("Handelsregisterauszug HRB 12345 gesehen")
    row.get_by_role("button", name=t["verify"]).click()
    expect(admin.locator('[data-message-id="notice.console.verified"]')).to_be_visible()

    admin.goto(server.url(f"/verwaltung/mandanten/{tenant.id}/dienstrollen"))
    assert_accessible(admin, context="console: service roles")
    admin.get_by_label(t["service"], exact=True).select_option(portal.client_id)
    admin.get_by_label(t["role_name"]).fill("antragsteller")
    admin.locator("#f-label").fill("Antragsteller")
    admin.get_by_role("button", name=t["define"]).click()
    expect(admin.locator('[data-message-id="notice.console.role_added"]')).to_be_visible()

    admin.goto(organisation_url)
    expect(admin.locator('[data-testid="organisation-source"][data-verified="yes"]')).to_be_visible()
    assert_accessible(admin, context="organisation page with service roles")
    assert created.secret is not None
    return portal.client_id, created.secret, portal.name


PORTAL = "http://127.0.0.1:9/callback"  # answered by the browser itself (page.route): no portal runs
PORTAL_TEXT = {
    "de": {"save_roles": "Rollen speichern", "continue": "Weiter", "allow": "Übermittlung erlauben",
           "remove": "Entfernen"},
    "en": {"save_roles": "Save roles", "continue": "Continue", "allow": "Allow transfer", "remove": "Remove"},
}


def give_the_role(admin: Page, lang: str, member: str, portal_name: str) -> None:
    """The admin gives the member the portal's role (every service with roles is listed: this portal's)."""
    def role() -> Any:
        return admin.locator(f'[data-testid="member"][data-member="{member}"]').get_by_role(
            "group", name=re.compile(re.escape(portal_name))).get_by_label("Antragsteller")

    role().check()
    admin.locator(f'[data-testid="member"][data-member="{member}"]').get_by_role(
        "button", name=PORTAL_TEXT[lang]["save_roles"]).click()
    expect(role()).to_be_checked()


def authorize(page: Page, server: LiveServer, portal: tuple[str, str, str], **extra: str) -> str:
    """Send the browser to the authorization endpoint as the portal would; the PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page.goto(server.url("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": portal[0], "redirect_uri": PORTAL, "scope": "openid organisation",
        "state": "s-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256", **extra})))
    return verifier


def acting_for_the_organisation(member: Page, server: LiveServer, portal: tuple[str, str, str], name: str,
                                lang: str) -> None:
    """The member logs in to the portal acting for the organisation: the portal gets the person's pseudonym
    (`sub`), the organisation's (`organisation.id`), its data and the member's roles for this portal."""
    callbacks: list[str] = []

    def answer(route: Route) -> None:
        callbacks.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Portal</title>")

    member.route(re.compile(r"^http://127\.0\.0\.1:9/"), answer)
    verifier = authorize(member, server, portal)
    assert_accessible(member, context="acting for: the choice")
    member.get_by_label(re.compile(re.escape(name))).check()
    member.get_by_role("button", name=PORTAL_TEXT[lang]["continue"]).click()
    expect(member.locator('[data-message-id="consent.acting_for"]')).to_contain_text(name)
    assert_accessible(member, context="consent acting for an organisation")
    member.get_by_role("button", name=PORTAL_TEXT[lang]["allow"]).click()
    expect(member).to_have_url(re.compile(r"^http://127\.0\.0\.1:9/callback\?code="))
    code = parse_qs(urlsplit(callbacks[-1]).query)["code"][0]
    tokens = _post(server, "/oidc/token", portal, {"grant_type": "authorization_code", "code": code,
                                                     "redirect_uri": PORTAL, "code_verifier": verifier})
    request = urllib.request.Request(server.url("/oidc/userinfo"),  # noqa: S310 - our own test server
                                     headers={"Authorization": f"Bearer {tokens['access_token']}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own test server
        claims = json.loads(response.read())
    organisation = claims["organisation"]
    assert len(claims["sub"]) == 43 and len(organisation["id"]) == 43 and organisation["id"] != claims["sub"]
    assert organisation["name"] == name and organisation["verified"] is True
    assert organisation["roles"] == ["member", "antragsteller"]  # its organisation role, then this portal's


def _post(server: LiveServer, path: str, portal: tuple[str, str, str], form: dict[str, str]) -> dict[str, Any]:
    basic = base64.b64encode(f"{portal[0]}:{portal[1]}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - our own test server over http
        server.url(path), data=urlencode(form).encode(), method="POST",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own test server
        return dict(json.loads(answer.read()))
