"""Authenticator apps (TOTP) and recovery codes over HTTP, on SQLite and PostgreSQL: setting up, the login's
second step with a code computed here, wrong and replayed codes, recovery codes that work once, CSRF, the
database holding nothing in the clear, and the step-up a portal's request for level 2 asks for."""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from lxml import etree
from sqlalchemy import select
from starlette.testclient import TestClient

from servicekonto.app import Container, build_container, create_app
from servicekonto.core.clock import FixedClock
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from servicekonto.web.session_context import SESSION_COOKIE
from tests.conftest import make_settings
from tests.integration.accounts.helpers import PASSWORD, form_action, login, register_and_verify, submit
from tests.integration.oidc.helpers import (
    REDIRECT_URI,
    authorize_params,
    pkce,
    register_portal,
    token_request,
    verify,
)
from tests.support.outbox import mails, template_of
from tests.support.saml import (
    authn_context,
    authn_request_xml,
    post_params,
    request_signing_key,
    sign_enveloped,
    sp_metadata_with_keys,
)
from tests.unit.test_saml_response import decrypt, sp_encryption_key

SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7 ]+)<')
CODES = re.compile(r"<li><code>([0-9A-Z]{5}-[0-9A-Z]{5})</code></li>")
STEP = "/anmelden/zweiter-faktor"


@dataclass
class Browser:
    client: TestClient
    container: Container
    clock: FixedClock
    settings: Settings

    @property
    def outbox(self) -> Path:
        return self.settings.data_dir / "outbox"

    def code(self, secret: str, *, later: int = 0) -> str:
        """The app's code `later` seconds from now (the test's clock is the server's clock)."""
        return pyotp.TOTP(secret).at(self.clock.timestamp() + later)

    def templates(self) -> list[str]:
        return [template_of(m) for m in mails(self.outbox, to="erika@example.de")]


@pytest.fixture
def browser(database: Database, tmp_path: Path) -> Iterator[Browser]:
    """SQLite and PostgreSQL, with a clock the test moves (TOTP time steps, throttle locks)."""
    clock = FixedClock(datetime(2026, 11, 28, 9, 0, 5, tzinfo=UTC))
    settings = make_settings(tmp_path, database_url=database.url)
    container = build_container(settings, clock=clock)
    with TestClient(create_app(settings, container=container), base_url="http://127.0.0.1:8000",
                    raise_server_exceptions=False) as client:
        yield Browser(client, container, clock, settings)
    container.close()


def logged_in(browser: Browser) -> Browser:
    register_and_verify(browser.client, browser.outbox)
    assert login(browser.client).status_code == 303
    return browser


def set_up_totp(browser: Browser, *, return_to: str = "") -> tuple[str, list[str]]:
    """Scan (read the key off the page), type the current code and the password; the codes page follows."""
    path = "/konto/zwei-faktor/einrichten" + (f"?return_to={return_to}" if return_to else "")
    page = browser.client.get(path)
    assert page.status_code == 200 and 'role="img"' in page.text and "<svg" in page.text
    match = SECRET.search(page.text)
    assert match
    secret = match.group(1).replace(" ", "")
    action, token = form_action(page.text, "/konto/zwei-faktor/einrichten")
    shown = browser.client.post(action, data={"code": browser.code(secret), "password": PASSWORD,
                                              "csrf_token": token})
    assert shown.status_code == 200, shown.text
    codes = CODES.findall(shown.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def log_out(browser: Browser) -> None:
    submit(browser.client, "/konto", {}, action_prefix="/abmelden")


def second_step(browser: Browser, field: str, value: str, *, recovery: bool = False) -> Any:
    """Password first, then the code page."""
    first = login(browser.client)
    assert first.status_code == 303 and first.headers["location"].startswith(STEP + "?flow=")
    assert SESSION_COOKIE not in first.headers.get("set-cookie", "")  # no session after the password alone
    location = first.headers["location"] + ("&art=wiederherstellungscode" if recovery else "")
    return submit(browser.client, location, {field: value}, action_prefix=STEP)


def session_level(browser: Browser) -> str:
    overview = browser.client.get("/konto")
    assert overview.status_code == 200
    found = re.search(r"<dt>[^<]+</dt><dd>([^<]+)</dd>\s*</dl>", overview.text)
    assert found
    return found.group(1)


# -- setting up -------------------------------------------------------------------------------------------------

def test_setup_needs_a_current_code_and_the_password(browser: Browser) -> None:
    logged_in(browser)
    page = browser.client.get("/konto/zwei-faktor/einrichten")
    secret = SECRET.search(page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert browser.client.get("/konto/zwei-faktor/einrichten").text.count(secret[:4]) >= 1  # same key on reload
    wrong_code = submit(browser.client, "/konto/zwei-faktor/einrichten", {"code": "000000", "password": PASSWORD})
    if browser.code(secret) == "000000":  # pragma: no cover - one in a million
        pytest.skip("the current code happens to be 000000")
    assert wrong_code.status_code == 400 and 'data-message-id="second_factor.code_invalid"' in wrong_code.text
    wrong_password = submit(browser.client, "/konto/zwei-faktor/einrichten",
                            {"code": browser.code(secret), "password": "not-my-password"})
    assert wrong_password.status_code == 400
    assert 'data-message-id="login.credentials_invalid"' in wrong_password.text
    status = browser.client.get("/konto/zwei-faktor")
    assert 'data-message-id="second_factor.status.off"' in status.text  # nothing changed
    assert "totp_enabled" not in browser.templates()


def test_setup_stores_the_secret_sealed_and_the_codes_hashed(browser: Browser) -> None:
    logged_in(browser)
    secret, codes = set_up_totp(browser)
    assert 'data-message-id="second_factor.status.on"' in browser.client.get("/konto/zwei-faktor").text
    assert "totp_enabled" in browser.templates()
    database = Database(browser.settings.effective_database_url)
    with database.sessions() as session:
        factor = session.execute(select(models.SecondFactor)).scalar_one()
        stored = session.execute(select(models.RecoveryCode.code_hash)).scalars().all()
        events = session.execute(select(models.AuditEntry.event)).scalars().all()
    database.dispose()
    assert secret.encode() not in factor.sealed_secret and factor.kind == "totp"
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & set(stored)
    assert "account:totp:enabled" in events and "account:recovery_codes:generated" in events


# -- the login's second step ------------------------------------------------------------------------------------

def test_login_with_a_totp_code_computed_in_the_test(browser: Browser) -> None:
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    browser.clock.advance(30)  # the next time step: the setup's code is used up
    done = second_step(browser, "code", browser.code(secret))
    assert done.status_code == 303 and done.headers["location"] == "/konto"
    assert SESSION_COOKIE in done.headers["set-cookie"]
    with_english = browser.client.get("/konto", headers={"accept-language": "en"})
    assert with_english.status_code == 200
    assert session_level(browser) in {"niedrig", "low"}


def test_a_login_without_a_second_factor_stays_at_level_one(browser: Browser) -> None:
    logged_in(browser)
    assert session_level(browser) in {"Basisregistrierung", "basic registration"}


def test_wrong_and_replayed_codes_are_refused(browser: Browser) -> None:
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    browser.clock.advance(30)
    code = browser.code(secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = second_step(browser, "code", wrong)
    assert refused.status_code == 400 and 'data-message-id="second_factor.code_invalid"' in refused.text
    assert browser.client.get("/konto", follow_redirects=False).status_code == 303  # not logged in
    first = second_step(browser, "code", code)
    assert first.status_code == 303
    log_out(browser)
    replayed = second_step(browser, "code", code)  # the same code, still within its 30 seconds
    assert replayed.status_code == 400 and 'data-message-id="second_factor.code_invalid"' in replayed.text
    earlier = second_step(browser, "code", browser.code(secret, later=-30))  # an older step is no better
    assert earlier.status_code == 400
    browser.clock.advance(30)
    assert second_step(browser, "code", browser.code(secret)).status_code == 303


def test_codes_one_step_off_are_accepted_two_are_not(browser: Browser) -> None:
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    browser.clock.advance(90)
    assert second_step(browser, "code", browser.code(secret, later=60)).status_code == 400
    assert second_step(browser, "code", browser.code(secret, later=30)).status_code == 303


def test_the_code_step_is_throttled(browser: Browser) -> None:
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    browser.clock.advance(30)
    wrong = f"{(int(browser.code(secret)) + 1) % 1_000_000:06d}"
    first = login(browser.client)
    location = first.headers["location"]
    statuses = [submit(browser.client, location, {"code": wrong}, action_prefix=STEP).status_code for _ in range(5)]
    assert statuses == [400] * 5
    assert "second_factor_locked" in browser.templates()  # whoever typed them had the password
    locked = submit(browser.client, location, {"code": browser.code(secret)}, action_prefix=STEP)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0  # even the right code waits
    browser.clock.advance(61)
    assert submit(browser.client, location, {"code": browser.code(secret)}, action_prefix=STEP).status_code == 303


def test_malformed_codes_get_a_clear_message(browser: Browser) -> None:
    logged_in(browser)
    set_up_totp(browser)
    log_out(browser)
    for bad in ("", "12345", "abcdef", "１２３４５６"):
        refused = second_step(browser, "code", bad)
        assert refused.status_code == 400 and 'data-message-id="second_factor.code_invalid"' in refused.text


def test_an_expired_setup_says_so(browser: Browser) -> None:
    logged_in(browser)
    page = browser.client.get("/konto/zwei-faktor/einrichten")
    secret = SECRET.search(page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    browser.clock.advance(16 * 60)  # the key shown was never confirmed and is gone
    action, token = form_action(page.text, "/konto/zwei-faktor/einrichten")
    stale = browser.client.post(action, data={"code": browser.code(secret), "password": PASSWORD,
                                              "csrf_token": token})
    assert stale.status_code == 400 and 'data-message-id="second_factor.setup_expired"' in stale.text
    assert secret not in stale.text.replace(" ", "")  # a new key to scan


def test_second_step_without_a_flow_goes_back_to_the_login(browser: Browser) -> None:
    page = browser.client.get(STEP + "?flow=made-up", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/anmelden")


# -- recovery codes ---------------------------------------------------------------------------------------------

def test_a_recovery_code_works_once_and_never_again(browser: Browser) -> None:
    logged_in(browser)
    _secret, codes = set_up_totp(browser)
    log_out(browser)
    used = second_step(browser, "recovery_code", codes[3].lower(), recovery=True)  # case does not matter
    assert used.status_code == 303 and used.headers["location"] == "/konto"
    assert session_level(browser) in {"niedrig", "low"}
    assert "recovery_code_used" in browser.templates()
    assert "9" in browser.client.get("/konto/zwei-faktor").text  # nine left
    log_out(browser)
    again = second_step(browser, "recovery_code", codes[3], recovery=True)
    assert again.status_code == 400
    assert 'data-message-id="second_factor.recovery_code_invalid"' in again.text
    assert second_step(browser, "recovery_code", codes[4], recovery=True).status_code == 303


def test_new_recovery_codes_replace_the_old_ones(browser: Browser) -> None:
    logged_in(browser)
    _secret, old_codes = set_up_totp(browser)
    refused = submit(browser.client, "/konto/zwei-faktor/wiederherstellungscodes", {"password": "wrong-password"})
    assert refused.status_code == 400
    shown = submit(browser.client, "/konto/zwei-faktor/wiederherstellungscodes", {"password": PASSWORD})
    new_codes = CODES.findall(shown.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    log_out(browser)
    assert second_step(browser, "recovery_code", old_codes[0], recovery=True).status_code == 400
    assert second_step(browser, "recovery_code", new_codes[0], recovery=True).status_code == 303


# -- removing, deleting, CSRF -----------------------------------------------------------------------------------

def test_removing_the_app_needs_the_password(browser: Browser) -> None:
    logged_in(browser)
    _secret, _codes = set_up_totp(browser)
    refused = submit(browser.client, "/konto/zwei-faktor/entfernen", {"password": "wrong-password"})
    assert refused.status_code == 400
    assert 'data-message-id="second_factor.status.on"' in browser.client.get("/konto/zwei-faktor").text
    removed = submit(browser.client, "/konto/zwei-faktor/entfernen", {"password": PASSWORD})
    assert removed.status_code == 303 and "totp_removed" in removed.headers["location"]
    assert "totp_disabled" in browser.templates()
    log_out(browser)
    assert login(browser.client).headers["location"] == "/konto"  # the password alone again


def test_deleting_the_account_deletes_its_second_factor(browser: Browser) -> None:
    logged_in(browser)
    set_up_totp(browser)
    flow_page = browser.client.get("/konto/loeschen")
    action, token = form_action(flow_page.text, "/konto/loeschen")
    deleted = browser.client.post(action, data={"password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert deleted.status_code == 303
    database = Database(browser.settings.effective_database_url)
    with database.sessions() as session:
        assert session.execute(select(models.SecondFactor)).first() is None
        assert session.execute(select(models.RecoveryCode)).first() is None
    database.dispose()


@pytest.mark.parametrize("path", ["/konto/zwei-faktor/einrichten", "/konto/zwei-faktor/wiederherstellungscodes",
                                  "/konto/zwei-faktor/entfernen"])
def test_account_forms_refuse_posts_without_csrf_token(browser: Browser, path: str) -> None:
    logged_in(browser)
    set_up_totp(browser)
    forged = browser.client.post(path, data={"password": PASSWORD, "code": "123456"})
    assert forged.status_code == 403
    assert 'data-message-id="second_factor.status.on"' in browser.client.get("/konto/zwei-faktor").text


def test_code_step_refuses_posts_without_csrf_token(browser: Browser) -> None:
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    browser.clock.advance(30)
    location = login(browser.client).headers["location"]
    forged = browser.client.post(location, data={"code": browser.code(secret)}, follow_redirects=False)
    assert forged.status_code == 403


# -- step-up inside an OIDC login -------------------------------------------------------------------------------

def walk(browser: Browser, response: Any, *, secret: str | None = None) -> Any:
    """Follow redirects and agree to the transfer, entering a code when the second step asks."""
    client = browser.client
    for _ in range(10):
        location = response.headers.get("location", "")
        if location.startswith(REDIRECT_URI):
            return response
        if response.status_code in (302, 303):
            response = client.get(location, follow_redirects=False)
            continue
        if response.status_code == 200 and 'name="code"' in response.text and secret:
            action, token = form_action(response.text, STEP)
            response = client.post(action, data={"code": browser.code(secret), "csrf_token": token},
                                   follow_redirects=False)
            continue
        if response.status_code == 200 and 'name="decision" value="allow"' in response.text:
            action, token = form_action(response.text, "/anmeldung/")
            response = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
            continue
        return response
    raise AssertionError("too many steps")


def callback(response: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def test_oidc_login_for_level_two_asks_password_then_code(browser: Browser) -> None:
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    portal = register_portal(browser.container)
    verifier, challenge = pkce()
    browser.clock.advance(30)
    first = browser.client.get("/oidc/authorize", params=authorize_params(
        portal, challenge, acr_values="STORK-QAA-Level-2"), follow_redirects=False)
    at_login = walk(browser, first)
    assert at_login.status_code == 200 and 'name="password"' in at_login.text
    action, token = form_action(at_login.text, "/anmelden")
    after_password = browser.client.post(action, data={"identifier": "erika", "password": PASSWORD,
                                                       "csrf_token": token}, follow_redirects=False)
    assert after_password.headers["location"].startswith(STEP)
    answer = walk(browser, after_password, secret=secret)
    code = callback(answer)["code"]
    tokens = token_request(browser.client, portal, {"grant_type": "authorization_code", "code": code,
                                                    "redirect_uri": portal.redirect_uri, "code_verifier": verifier})
    claims = verify(browser.client, tokens.json()["id_token"])
    assert claims["acr"] == "STORK-QAA-Level-2" and claims["amr"] == ["pwd", "otp", "mfa"]


def test_a_level_two_session_is_not_asked_again(browser: Browser) -> None:
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    browser.clock.advance(30)
    assert second_step(browser, "code", browser.code(secret)).status_code == 303
    portal = register_portal(browser.container)
    _verifier, challenge = pkce()
    first = browser.client.get("/oidc/authorize", params=authorize_params(
        portal, challenge, acr_values="STORK-QAA-Level-2"), follow_redirects=False)
    answer = walk(browser, first)
    assert answer.headers["location"].startswith(REDIRECT_URI) and "code" in callback(answer)


def test_essential_level_two_without_a_second_factor_explains_and_can_be_cancelled(browser: Browser) -> None:
    logged_in(browser)
    portal = register_portal(browser.container)
    _verifier, challenge = pkce()
    claims = '{"id_token": {"acr": {"essential": true, "values": ["STORK-QAA-Level-2"]}}}'
    first = browser.client.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=claims),
                               follow_redirects=False)
    page = walk(browser, first)
    assert page.status_code == 200 and 'data-message-id="step_up.second_factor_missing"' in page.text
    assert "/konto/zwei-faktor/einrichten?return_to=" in page.text
    action, token = form_action(page.text, "/anmeldung/")
    cancelled = browser.client.post(action, data={"decision": "cancel", "csrf_token": token},
                                    follow_redirects=False)
    assert callback(cancelled)["error"] == "unmet_authentication_requirements"


def test_essential_level_two_set_up_on_the_way_then_continues(browser: Browser) -> None:
    logged_in(browser)
    portal = register_portal(browser.container)
    verifier, challenge = pkce()
    claims = '{"id_token": {"acr": {"essential": true, "values": ["STORK-QAA-Level-2"]}}}'
    first = browser.client.get("/oidc/authorize", params=authorize_params(portal, challenge, claims=claims),
                               follow_redirects=False)
    page = walk(browser, first)
    request_path = re.search(r'action="(/anmeldung/[^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    _secret, _codes = set_up_totp(browser, return_to=request_path)
    answer = walk(browser, browser.client.get(request_path, follow_redirects=False))
    tokens = token_request(browser.client, portal, {"grant_type": "authorization_code",
                                                    "code": callback(answer)["code"],
                                                    "redirect_uri": portal.redirect_uri, "code_verifier": verifier})
    claims_out = verify(browser.client, tokens.json()["id_token"])
    assert claims_out["acr"] == "STORK-QAA-Level-2" and "mfa" in claims_out["amr"]


def test_level_one_session_with_an_app_is_asked_for_the_code(browser: Browser) -> None:
    """A session from before the app was set up (level 1) meets a portal asking for level 2."""
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    # Another browser of the same citizen still has its level-1 session from before the setup.
    old_session = browser.container.sessions.create(
        browser.container.account_repository.find_by_login("erika"),  # type: ignore[arg-type]
        level=TrustLevel.BASIC, methods=["pwd"])
    browser.client.cookies.set(SESSION_COOKIE, old_session.id, domain="127.0.0.1")
    portal = register_portal(browser.container)
    verifier, challenge = pkce()
    browser.clock.advance(30)
    first = browser.client.get("/oidc/authorize", params=authorize_params(
        portal, challenge, acr_values="STORK-QAA-Level-2"), follow_redirects=False)
    page = walk(browser, first)
    assert page.status_code == 200 and 'name="code"' in page.text  # the second step, not the password
    answer = walk(browser, page, secret=secret)
    tokens = token_request(browser.client, portal, {"grant_type": "authorization_code",
                                                    "code": callback(answer)["code"],
                                                    "redirect_uri": portal.redirect_uri, "code_verifier": verifier})
    claims = verify(browser.client, tokens.json()["id_token"])
    assert claims["acr"] == "STORK-QAA-Level-2" and claims["amr"] == ["pwd", "otp", "mfa"]
    assert browser.client.cookies.get(SESSION_COOKIE, domain="127.0.0.1") != old_session.id  # renewed


# -- step-up inside a SAML login --------------------------------------------------------------------------------

def test_saml_request_for_level_two_steps_up_and_states_mfa(browser: Browser) -> None:
    """RequestedAuthnContext minimum STORK-QAA-Level-2 (BundID §5.1): the second step, then an assertion at
    level 2 whose mfa attribute is true."""
    logged_in(browser)
    secret, _codes = set_up_totp(browser)
    log_out(browser)
    assert login(browser.client).status_code == 303  # password right, second step abandoned: no session
    browser.container.saml_sps.add(browser.container.tenants.ensure("Musterstadt").id, sp_metadata_with_keys(
        signing=request_signing_key()[1], encryption=sp_encryption_key()[1]))
    sso = browser.settings.base_url.rstrip("/") + "/saml/sso"
    browser.clock.advance(30)
    xml = authn_request_xml(request_id="_" + secrets.token_hex(12), issue_instant=browser.clock.now(),
                            requested_context=authn_context("STORK-QAA-Level-2"), destination=sso)
    first = browser.client.post("/saml/sso", data=post_params(sign_enveloped(xml), "rs-1"), follow_redirects=False)
    at_login = walk(browser, first)
    action, token = form_action(at_login.text, "/anmelden")
    after_password = browser.client.post(action, data={"identifier": "erika", "password": PASSWORD,
                                                       "csrf_token": token}, follow_redirects=False)
    assert after_password.headers["location"].startswith(STEP)
    page = walk(browser, after_password, secret=secret)
    value = re.search(r'name="SAMLResponse" value="([^"]+)"', page.text)
    assert value, page.text[:500]
    assertion = etree.fromstring(decrypt(base64.b64decode(html.unescape(value.group(1))), sp_encryption_key()[0]))
    ns = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
    class_ref = "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"
    assert assertion.findtext(class_ref, namespaces=ns) == "STORK-QAA-Level-2"
    mfa = assertion.find("saml:AttributeStatement/saml:Attribute[@Name='urn:oid:1.3.6.1.4.1.25484.494450.7']", ns)
    assert mfa is not None and mfa.findtext("saml:AttributeValue", namespaces=ns) == "true"


def test_the_codes_page_after_setup_binds_its_forms_to_the_new_session(browser: Browser) -> None:
    """The page that shows the recovery codes comes with the renewed session: its logout form works."""
    logged_in(browser)
    page = browser.client.get("/konto/zwei-faktor/einrichten")
    secret = SECRET.search(page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    action, token = form_action(page.text, "/konto/zwei-faktor/einrichten")
    shown = browser.client.post(action, data={"code": browser.code(secret), "password": PASSWORD,
                                              "csrf_token": token})
    logout_action, logout_token = form_action(shown.text, "/abmelden")
    out = browser.client.post(logout_action, data={"csrf_token": logout_token}, follow_redirects=False)
    assert out.status_code == 303, out.text[:300]
    assert browser.client.get("/konto", follow_redirects=False).status_code == 303
