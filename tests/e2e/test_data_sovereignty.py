"""Issue #8 in Chromium: a citizen logs in to the demo portal over OpenID Connect and to a SAML SP, then finds
both transfers in the history with the right attribute lists; withdrawing the OIDC consent makes the next
login ask again and the old refresh token fail; ending another session from the sessions page logs that
browser out. Every new page passes axe-core in German and English."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.test_demo_portal import LOCALES, PASSWORD, Citizen, create_citizen, log_in_and_decide, portal
from tests.e2e.test_saml_pages import acs_server, saml_portal
from tests.interop.harness import servicekonto_json
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.saml import POST, akdb_extension, authn_request_xml, key_pair, redirect_query
from tests.support.server import LiveServer
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e
__all__ = ["acs_server", "portal", "saml_portal"]  # fixtures

NEW_PAGES = ("/konto/datenuebermittlungen", "/konto/einwilligungen", "/konto/sitzungen", "/konto/export")
CALLBACK = "http://127.0.0.1:9/callback"  # never reached: the browser's request is intercepted
OIDC_KEYS = "given_name family_name birthdate street_address postal_code locality email"
SAML_NAMES = (("urn:oid:2.5.4.42", None), ("urn:oid:2.5.4.4", None), ("urn:oid:2.5.4.17", None))


def log_in(page: Page, live_server: LiveServer, citizen: Citizen) -> None:
    page.goto(live_server.url("/anmelden"))
    page.locator("input[name=identifier]").fill(citizen.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/konto"))


def saml_login(page: Page, live_server: LiveServer, entity_id: str, acs_url: str) -> None:
    """Logged in at Servicekonto already: straight to the consent page, then to the SP."""
    xml = authn_request_xml(request_id="_" + secrets.token_hex(16), issuer=entity_id,
                            issue_instant=datetime.now(UTC),
                            destination=live_server.url("/saml/sso"), acs_url=acs_url, protocol_binding=POST,
                            extensions=akdb_extension(attributes=SAML_NAMES))
    page.goto(live_server.url("/saml/sso?" + redirect_query(xml, relay_state="r", key=key_pair("e2e-sp-signing"))))
    expect(page).to_have_url(re.compile(r"/anmeldung/"))
    page.locator("button[name=decision][value=allow]").click()
    expect(page.get_by_role("heading", name="Angemeldet")).to_be_visible()


def token_request(live_server: LiveServer, client: dict[str, Any], data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    body = urllib.parse.urlencode(data).encode()
    credentials = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(live_server.url("/oidc/token"), data=body, method="POST", headers={  # noqa: S310
        "Authorization": f"Basic {credentials}", "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test's own server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def oidc_login(page: Page, live_server: LiveServer, client: dict[str, Any], *, expect_consent: bool) -> str:
    """The authorization code flow in the browser; the code from the intercepted redirect."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    arrived: list[str] = []

    def capture(route: Route) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html",
                      body='<!doctype html><html lang="de"><title>Portal</title><h1>Portal</h1></html>')

    page.route(CALLBACK + "*", capture)
    params = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": CALLBACK,
              "scope": "openid profile", "state": "s", "nonce": "n", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    page.goto(live_server.url("/oidc/authorize?" + urllib.parse.urlencode(params)))
    if expect_consent:
        expect(page).to_have_url(re.compile(r"/anmeldung/"))
        page.locator("button[name=decision][value=allow]").click()
    expect(page.get_by_role("heading", name="Portal")).to_be_visible()
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(arrived[-1]).query)["code"][0]
    status, tokens = token_request(live_server, client, {"grant_type": "authorization_code", "code": code,
                                                          "redirect_uri": CALLBACK, "code_verifier": verifier})
    assert status == 200, tokens
    return str(tokens["refresh_token"])


def test_history_consents_and_sessions(new_page: PageFactory, live_server: LiveServer, portal: LiveServer,
                                       smtp_sink: SmtpSink, acs_server: Any, saml_portal: str) -> None:
    citizen = create_citizen(live_server, smtp_sink)
    page = new_page()
    page.goto(portal.url("/"))
    log_in_and_decide(page, citizen, "de", "allow")
    expect(page).to_have_url(portal.url("/antrag"))
    saml_login(page, live_server, saml_portal, f"{acs_server.base_url}/saml/acs")

    page.goto(live_server.url("/konto/datenuebermittlungen"))
    rows = page.locator("[data-testid=transfer]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-service", saml_portal)  # newest first
    assert set((rows.nth(0).get_attribute("data-attributes") or "").split()) == {
        "given_name", "family_name", "postal_code"}
    assert set((rows.nth(1).get_attribute("data-attributes") or "").split()) == set(OIDC_KEYS.split())
    expect(rows.nth(1)).to_contain_text("Bürgerportal Musterstadt")
    expect(rows.nth(1)).to_contain_text("Postleitzahl")
    expect(page.locator("main")).not_to_contain_text(citizen.master_data["postal_code"])  # names, never values
    page.get_by_label("Online-Dienst").select_option(label="Bürgerportal Musterstadt")
    page.get_by_role("button", name="Anzeigen").click()
    expect(rows).to_have_count(1)

    tenant = servicekonto_json(live_server, "tenant", "create", "--name", f"e2e {secrets.token_hex(3)}")
    client = servicekonto_json(live_server, "oidc-client", "create", "--tenant", str(tenant["id"]), "--name",
                               "Refresh-Portal", "--redirect-uri", CALLBACK)
    refresh_token = oidc_login(page, live_server, client, expect_consent=True)
    page.goto(live_server.url("/konto/einwilligungen"))
    consent = page.locator(f"[data-testid=consent][data-service='{client['client_id']}']")
    consent.get_by_role("button").click()
    expect(page.locator("[data-message-id='notice.consent_withdrawn']")).to_be_visible()
    expect(consent).to_have_count(0)
    status, answer = token_request(live_server, client, {"grant_type": "refresh_token",
                                                         "refresh_token": refresh_token})
    assert status == 400 and answer["error"] == "invalid_grant"
    oidc_login(page, live_server, client, expect_consent=True)  # asked again

    other = new_page()
    log_in(other, live_server, citizen)
    page.goto(live_server.url("/konto/sitzungen"))
    sessions = page.locator("[data-testid=session]")
    expect(sessions).to_have_count(2)
    page.locator("[data-testid=session]:not([data-current]) button").click()
    expect(page.locator("[data-message-id='notice.session_ended']")).to_be_visible()
    expect(sessions).to_have_count(1)
    other.goto(live_server.url("/konto"))
    expect(other).to_have_url(re.compile(r"/anmelden"))
    page.goto(live_server.url("/konto"))
    expect(page).to_have_url(re.compile(r"/konto$"))


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_new_pages_are_accessible(new_page: PageFactory, live_server: LiveServer, portal: LiveServer,
                                      smtp_sink: SmtpSink, lang: str) -> None:
    citizen = create_citizen(live_server, smtp_sink)
    page = new_page(locale=LOCALES[lang])
    page.goto(portal.url("/"))
    log_in_and_decide(page, citizen, lang, "allow")
    expect(page).to_have_url(portal.url("/antrag"))
    log_in(new_page(locale=LOCALES[lang]), live_server, citizen)  # a second session to list
    for path in NEW_PAGES:
        page.goto(live_server.url(path))
        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert_accessible(page, context=f"{path} ({lang})")
    page.goto(live_server.url("/konto/datenuebermittlungen?von=2030-01-02&bis=2030-01-01"))
    assert_accessible(page, context=f"transfers with an error ({lang})")
    download = page.request.get(live_server.url("/konto/export.json"))
    assert download.ok and download.json()["tables"]["accounts"][0]["username"] == citizen.username
