"""The administration console in Chromium against the real server: a tenant admin sets up an authenticator
app (the console needs trust level 2), logs in with password and code, registers an OpenID Connect client
in the console (the secret is shown once), and a test client then logs a citizen in through that client —
the authorization code flow in the browser, the code exchanged here with the secret. Every console page on
the way passes axe-core."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.test_second_factor import server_services
from tests.support.axe import assert_accessible
from tests.support.browser import PageFactory
from tests.support.server import LiveServer
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

PASSWORD = "Heidestr17Köln!"
PORTAL = "http://127.0.0.1:9/callback"  # answered by the browser itself (page.route): no portal runs


def tenant_admin(server: LiveServer, smtp_sink: SmtpSink) -> tuple[str, str, str]:
    """A confirmed citizen who administers a new tenant: (username, tenant id, tenant name)."""
    suffix = secrets.token_hex(4)
    username, email, name = f"admin{suffix}", f"admin.{suffix}@example.de", f"Stadt Musterstadt {suffix}"
    with server_services(server) as services:
        services.accounts.register(username=username, email=email, password=PASSWORD, password_repeat=PASSWORD,
                                   accepted_terms=True, locale="de")
        text = smtp_sink.wait_for_mail_to(email).get_body(preferencelist=("plain",)).get_content()
        token = re.search(r"token=([\w-]+)", text)
        assert token
        services.accounts.verify(token.group(1))
        tenant = services.tenants.create(name)
        assert services.admin is not None
        services.admin.grant(username, tenant_id=tenant.id)
    return username, tenant.id, name


def log_in(page: Page, server: LiveServer, username: str, code: str | None = None) -> None:
    page.goto(server.url("/anmelden"))
    page.get_by_label("Benutzername oder E-Mail-Adresse").fill(username)
    page.get_by_label("Passwort", exact=True).fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    if code is not None:
        page.get_by_label("Code aus der Authenticator-App").fill(code)
        page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/konto$"))


def set_up_totp(page: Page, server: LiveServer) -> str:
    page.goto(server.url("/konto/zwei-faktor/einrichten"))
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code aus der Authenticator-App").fill(pyotp.TOTP(secret).now())
    page.get_by_label("Ihr Passwort zur Bestätigung").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator('[data-message-id="second_factor.recovery_codes_shown"]')).to_be_visible()
    return secret


def exchange(server: LiveServer, client_id: str, secret: str, code: str, verifier: str) -> dict[str, Any]:
    body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": PORTAL,
                      "code_verifier": verifier}).encode()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - our own test server over http
        server.url("/oidc/token"), data=body, method="POST",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own test server
        return dict(json.loads(answer.read()))


def test_a_tenant_admin_registers_a_client_and_a_portal_logs_in_through_it(
        new_page: PageFactory, live_server: LiveServer, smtp_sink: SmtpSink) -> None:
    page = new_page(locale="de-DE")
    username, tenant_id, tenant_name = tenant_admin(live_server, smtp_sink)

    # A password alone is not enough for the console.
    log_in(page, live_server, username)
    page.goto(live_server.url("/verwaltung"))
    expect(page.locator('[data-message-id="admin.trust_level_too_low"]')).to_be_visible()
    assert_accessible(page, context="second factor needed")
    secret = set_up_totp(page, live_server)
    page.goto(live_server.url("/konto"))
    page.get_by_role("button", name="Abmelden").click()
    expect(page.locator('[data-message-id="notice.logged_out"]')).to_be_visible()
    log_in(page, live_server, username, code=pyotp.TOTP(secret).at(time.time() + 30))

    page.goto(live_server.url("/verwaltung"))
    expect(page.get_by_role("heading", name="Verwaltung", level=1)).to_be_visible()
    assert_accessible(page, context="console overview")
    page.get_by_role("link", name=tenant_name).click()
    expect(page.get_by_role("heading", name=tenant_name, level=1)).to_be_visible()
    assert_accessible(page, context="tenant page")

    page.get_by_role("link", name="OpenID-Connect-Client registrieren").click()
    assert_accessible(page, context="new client form")
    page.get_by_label("Anzeigename").fill("Bürgerportal Musterstadt")
    page.get_by_label("Redirect-URIs").fill("not a uri")
    page.get_by_role("button", name="Client registrieren").click()
    expect(page.locator('[data-message-id="oidc_client.invalid"]').first).to_be_visible()
    assert_accessible(page, context="new client form with an error")
    page.get_by_label("Redirect-URIs").fill(PORTAL)
    page.get_by_role("button", name="Client registrieren").click()
    client_id = page.locator("#client-id").inner_text()
    client_secret = page.locator("#client-secret").inner_text()
    assert client_id and len(client_secret) >= 40
    assert_accessible(page, context="client credentials shown once")
    page.goto(live_server.url(f"/verwaltung/mandanten/{tenant_id}"))
    expect(page.get_by_role("cell", name=client_id, exact=True)).to_be_visible()
    assert client_secret not in page.content()
    expect(page.get_by_text("admin:oidc_client:created")).to_be_visible()

    # The new client: a citizen (here the admin's own account) logs in through it.
    callbacks: list[str] = []

    def portal(route: Route) -> None:
        callbacks.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Portal</title>")

    page.route(re.compile(r"^http://127\.0\.0\.1:9/"), portal)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page.goto(live_server.url("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": PORTAL, "scope": "openid email",
        "state": "s-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256"})))
    page.locator("button[name=decision][value=allow]").click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:9/callback\?code="))
    answer = {k: v[0] for k, v in parse_qs(urlsplit(callbacks[-1]).query).items()}
    assert answer["state"] == "s-1"
    tokens = exchange(live_server, client_id, client_secret, answer["code"], verifier)
    assert tokens["token_type"] == "Bearer" and tokens["id_token"].count(".") == 2
    claims = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
    assert claims["aud"] == client_id and claims["nonce"] == "n-1"

    # The login shows in the tenant's statistics (table and SVG chart), in German and in English.
    page.goto(live_server.url(f"/verwaltung/mandanten/{tenant_id}/statistik"))
    expect(page.locator("figure svg[role=img] rect")).to_have_count(1)
    assert_accessible(page, context="statistics")
    page.goto(live_server.url(f"/sprache/en?next=/verwaltung/mandanten/{tenant_id}"))
    expect(page.get_by_role("heading", name="OpenID Connect clients")).to_be_visible()
    assert_accessible(page, context="tenant page in English")

    # The client's settings (still in English): restrict it to the e-mail address and the ID card.
    page.goto(live_server.url(f"/verwaltung/mandanten/{tenant_id}/oidc-clients/{client_id}/einstellungen"))
    assert_accessible(page, context="client settings")
    page.get_by_label("Only the methods ticked below").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator('[data-message-id="service.methods_invalid"]').first).to_be_visible()
    assert_accessible(page, context="client settings with an error")
    page.get_by_label("Only the attributes ticked below").check()
    page.get_by_label("E-mail address email", exact=True).check()
    page.get_by_label("ID card eid", exact=True).check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator('[data-message-id="notice.console.service_updated"]')).to_be_visible()
    with server_services(live_server) as services:
        registered = services.oidc_clients.registration(client_id)
    assert registered is not None
    assert (registered.allowed_attributes, registered.allowed_methods) == (("email",), ("eid",))
