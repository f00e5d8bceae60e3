"""Temporary identification (issue #6): a portal's OIDC or SAML request answered by reading the ID card once,
without an account — the data arrives, no pseudonym does, and nothing stays in the database but an audit record
without personal data. Also the provenance the card gives a login (SAML AssertionProvedBy and the card's
pseudonym, OIDC `amr` and `verified_claims` evidence), and the SAML step-up of a level-1 session to level 4.
Everything through the simulator's client page over real HTTP."""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from lxml import etree
from sqlalchemy import func, select

from servicekonto.domain.audit import AuditEvent
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from servicekonto.web.session_context import SESSION_COOKIE
from tests.integration.eid.live import Live, identify, live_app, message_ids, path_of, post_form
from tests.integration.oidc.helpers import authorize_params, pkce, register_portal
from tests.support.saml import (
    ACS,
    SAML_NS,
    akdb_extension,
    authn_context,
    authn_request_xml,
    post_params,
    request_signing_key,
    sign_enveloped,
    sp_metadata_with_keys,
)
from tests.unit.test_saml_response import decrypt, sp_encryption_key

NS = {"saml": SAML_NS}
BPK2 = "urn:oid:1.3.6.1.4.1.25484.494450.3"
PROVED_BY = "urn:oid:1.3.6.1.4.1.25484.494450.2"
CARD_PSEUDONYM = "urn:oid:1.2.40.0.10.2.1.1.226699"
SURNAME = "urn:oid:2.5.4.4"
GIVEN_NAME = "urn:oid:2.5.4.42"


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    with live_app(settings) as running:
        yield running


def _count(database: Database, table: type[models.Base]) -> int:
    with database.sessions() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def _nothing_stored(live: Live) -> None:
    database = live.container.database
    for table in (models.Account, models.AccountAttribute, models.EidCard, models.Consent, models.OidcGrant,
                  models.OidcRefreshToken):
        assert _count(database, table) == 0, table.__tablename__


def _audit_of_temporary_release(live: Live) -> dict[str, Any]:
    with live.container.database.sessions() as session:
        rows = session.execute(select(models.AuditEntry).where(
            models.AuditEntry.event == AuditEvent.DATA_RELEASED.value)).scalars().all()
    [row] = rows
    assert row.account_id is None
    details: dict[str, Any] = json.loads(row.details)
    assert "MUSTERMANN" not in row.details and "1964" not in row.details
    return details


def _to_login_page(browser: httpx2.Client, response: httpx2.Response) -> httpx2.Response:
    for _ in range(6):
        location = response.headers.get("location", "")
        if location.startswith("/anmelden?"):
            return browser.get(location)
        response = browser.get(location)
    raise AssertionError("no login page")


def _temporary_link(page: httpx2.Response) -> str:
    found = re.search(r'href="(/ausweisen/einmalig\?[^"]+)"', page.text)
    assert found, "the login page offers no temporary identification"
    return html.unescape(found.group(1))


def _identify_once(browser: httpx2.Client, login_page: httpx2.Response) -> httpx2.Response:
    """From the login page: identify once, look at the data, send it; the receipt page."""
    back = identify(browser, _temporary_link(login_page))
    release = back.headers.get("location", "")
    assert back.status_code == 303 and release.startswith("/ausweisen/einmalig/freigabe?id="), back.text[:300]
    shown = browser.get(release)
    assert "MUSTERMANN" in shown.text
    receipt = post_form(browser, release, {"decision": "send"}, action_prefix="/ausweisen/einmalig/freigabe")
    assert receipt.status_code == 200 and "eid.temporary_sent" in message_ids(receipt.text), receipt.text[:500]
    assert "MUSTERMANN" in receipt.text
    assert SESSION_COOKIE not in browser.cookies
    return receipt


# -- OpenID Connect ------------------------------------------------------------------------------------------

def test_temporary_identification_through_oidc_returns_the_data_without_pseudonym_and_stores_nothing(
        live: Live) -> None:
    portal = register_portal(live.container)
    verifier, challenge = pkce()
    with live.browser() as browser:
        start = browser.get("/oidc/authorize", params=authorize_params(portal, challenge))
        receipt = _identify_once(browser, _to_login_page(browser, start))
        link = re.search(r'<a class="button" href="([^"]+)"', receipt.text)
        assert link is not None
        callback = parse_qs(urlsplit(html.unescape(link.group(1))).query)
        assert callback["state"] == ["state-1"]
        tokens = browser.post("/oidc/token", auth=(portal.client_id, portal.client_secret or ""), data={
            "grant_type": "authorization_code", "code": callback["code"][0], "redirect_uri": portal.redirect_uri,
            "code_verifier": verifier}).json()
        keys = KeySet.import_key_set(browser.get("/jwks").json())
        id_token = jwt.decode(tokens["id_token"], keys, algorithms=["ES256", "RS256", "PS256"]).claims
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        userinfo = browser.get("/oidc/userinfo", headers=bearer).json()
        again = browser.get("/oidc/userinfo", headers=bearer).json()

    assert "refresh_token" not in tokens
    assert id_token["sub"].startswith("temporary-") and id_token["sub"] == userinfo["sub"]
    assert id_token["acr"] == "STORK-QAA-Level-4" and id_token["amr"] == ["hwk"]
    assert userinfo["family_name"] == "MUSTERMANN" and userinfo["birthdate"] == "1964-08-12"
    verification = userinfo["verified_claims"]["verification"]
    assert verification["assurance_level"] == "high"
    assert verification["evidence"] == [{"type": "document", "check_details": [{"check_method": "vcrypt"}]}]
    assert userinfo["verified_claims"]["claims"]["address"]["locality"] == "KÖLN"
    assert again == {"sub": userinfo["sub"]}  # the values were handed over once and are gone
    _nothing_stored(live)
    assert _audit_of_temporary_release(live)["temporary"] == "true"


def test_the_temporary_sub_is_new_for_every_identification(live: Live) -> None:
    portal = register_portal(live.container)
    subjects = set()
    for _ in range(2):
        verifier, challenge = pkce()
        with live.browser() as browser:
            receipt = _identify_once(browser, _to_login_page(
                browser, browser.get("/oidc/authorize", params=authorize_params(portal, challenge))))
            link = re.search(r'<a class="button" href="([^"]+)"', receipt.text)
            assert link is not None
            code = parse_qs(urlsplit(html.unescape(link.group(1))).query)["code"][0]
            tokens = browser.post("/oidc/token", auth=(portal.client_id, portal.client_secret or ""), data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": portal.redirect_uri,
                "code_verifier": verifier}).json()
            subjects.add(browser.get("/oidc/userinfo", headers={
                "Authorization": f"Bearer {tokens['access_token']}"}).json()["sub"])
    assert len(subjects) == 2


def test_cancelling_a_temporary_identification_answers_access_denied(live: Live) -> None:
    portal = register_portal(live.container)
    _verifier, challenge = pkce()
    with live.browser() as browser:
        login_page = _to_login_page(browser, browser.get("/oidc/authorize",
                                                         params=authorize_params(portal, challenge)))
        back = identify(browser, _temporary_link(login_page))
        answer = post_form(browser, back.headers["location"], {"decision": "cancel"},
                           action_prefix="/ausweisen/einmalig/freigabe")
    assert answer.status_code == 303
    assert parse_qs(urlsplit(answer.headers["location"]).query)["error"] == ["access_denied"]
    _nothing_stored(live)


# -- SAML ----------------------------------------------------------------------------------------------------

def _saml_portal(live: Live) -> None:
    live.container.saml_sps.add(live.container.tenants.ensure("Musterstadt").id, sp_metadata_with_keys(
        signing=request_signing_key()[1], encryption=sp_encryption_key()[1]))


def _saml_request(live: Live, browser: httpx2.Client, *, attributes: tuple[tuple[str, str | None], ...] | None,
                  context: str = "") -> httpx2.Response:
    extensions = akdb_extension(attributes=attributes) if attributes is not None else ""
    xml = authn_request_xml(request_id="_" + secrets.token_hex(12), issue_instant=datetime.now(UTC),
                            destination=live.base_url + "/saml/sso", extensions=extensions,
                            requested_context=context)
    return browser.post("/saml/sso", data=post_params(sign_enveloped(xml), "rs-1"))


def _assertion(page_html: str) -> etree._Element:
    value = re.search(r'name="SAMLResponse" value="([^"]+)"', page_html)
    assert value is not None, page_html[:500]
    return etree.fromstring(decrypt(base64.b64decode(html.unescape(value.group(1))), sp_encryption_key()[0]))


def _attributes(assertion: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for attribute in assertion.iterfind(".//saml:Attribute", NS):
        found.setdefault(attribute.get("Name"), []).extend(
            v.text or "" for v in attribute.iterfind("saml:AttributeValue", NS))
    return found


def test_temporary_identification_through_saml_returns_the_data_without_bpk2_and_stores_nothing(
        live: Live) -> None:
    _saml_portal(live)
    with live.browser() as browser:
        start = _saml_request(live, browser, attributes=((SURNAME, "true"), (GIVEN_NAME, None), (PROVED_BY, None)))
        receipt = _identify_once(browser, _to_login_page(browser, start))
    action = re.search(r'<form method="post" action="([^"]+)"', receipt.text)
    assert action is not None and html.unescape(action.group(1)) == ACS
    assert 'name="RelayState" value="rs-1"' in receipt.text
    assertion = _assertion(receipt.text)
    attributes = _attributes(assertion)
    assert attributes[SURNAME] == ["MUSTERMANN"] and attributes[GIVEN_NAME] == ["ERIKA"]
    assert attributes[PROVED_BY] == ["eID"]
    assert BPK2 not in attributes and CARD_PSEUDONYM not in attributes
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id is not None and name_id.get("Format") == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    class_ref = assertion.findtext("saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef",
                                   namespaces=NS)
    assert class_ref == "STORK-QAA-Level-4"
    _nothing_stored(live)
    assert _audit_of_temporary_release(live)["service"].startswith("https://portal.example.de")


def test_a_saml_request_for_bpk2_offers_no_temporary_identification(live: Live) -> None:
    _saml_portal(live)
    with live.browser() as browser:
        login_page = _to_login_page(browser, _saml_request(live, browser, attributes=((BPK2, "true"),)))
    assert "/ausweisen/einmalig" not in login_page.text


# -- provenance and step-up with an account ------------------------------------------------------------------

def _register_with_card(live: Live, browser: httpx2.Client) -> None:
    back = identify(browser, "/registrieren/ausweis")
    done = post_form(browser, back.headers["location"], {"accept_terms": "yes"},
                     action_prefix="/registrieren/ausweis/daten")
    assert done.status_code == 303


def _through_consent(browser: httpx2.Client, response: httpx2.Response) -> httpx2.Response:
    for _ in range(8):
        if response.status_code == 200 and "SAMLResponse" in response.text:
            return response
        if response.status_code == 200 and 'name="decision"' in response.text:
            response = post_form(browser, path_of(str(response.request.url)), {"decision": "allow"},
                                 action_prefix="/anmeldung/")
            continue
        response = browser.get(response.headers["location"])
    raise AssertionError(f"stuck at {response.status_code}")


def test_a_saml_login_with_the_card_sends_assertion_proved_by_eid_and_the_card_pseudonym(live: Live) -> None:
    _saml_portal(live)
    wanted = ((SURNAME, None), (PROVED_BY, None), (CARD_PSEUDONYM, None), (BPK2, None))
    with live.browser() as browser:
        _register_with_card(live, browser)
        first = _attributes(_assertion(_through_consent(browser, _saml_request(live, browser,
                                                                               attributes=wanted)).text))
        second = _attributes(_assertion(_through_consent(browser, _saml_request(live, browser,
                                                                                attributes=wanted)).text))
    assert first[PROVED_BY] == ["eID"] and first[SURNAME] == ["MUSTERMANN"]
    [card_pseudonym] = first[CARD_PSEUDONYM]
    assert len(card_pseudonym) == 43 and second[CARD_PSEUDONYM] == [card_pseudonym]
    assert card_pseudonym != first[BPK2][0]
    from servicekonto.eid.simulator.identities import BY_KEY
    assert BY_KEY["erika"].data.restricted_id.lower() not in card_pseudonym.lower()


def test_an_oidc_login_with_the_card_has_amr_hwk_and_verified_claims_with_evidence(live: Live) -> None:
    portal = register_portal(live.container)
    verifier, challenge = pkce()
    with live.browser() as browser:
        _register_with_card(live, browser)
        response = browser.get("/oidc/authorize", params=authorize_params(portal, challenge))
        for _ in range(8):
            location = response.headers.get("location", "")
            if location.startswith(portal.redirect_uri):
                break
            if response.status_code == 200 and 'name="decision"' in response.text:
                response = post_form(browser, path_of(str(response.request.url)), {"decision": "allow"},
                                     action_prefix="/anmeldung/")
                continue
            response = browser.get(location)
        code = parse_qs(urlsplit(location).query)["code"][0]
        tokens = browser.post("/oidc/token", auth=(portal.client_id, portal.client_secret or ""), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": portal.redirect_uri,
            "code_verifier": verifier}).json()
        keys = KeySet.import_key_set(browser.get("/jwks").json())
        id_token = jwt.decode(tokens["id_token"], keys, algorithms=["ES256", "RS256", "PS256"]).claims
        userinfo = browser.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert id_token["amr"] == ["hwk"] and id_token["acr"] == "STORK-QAA-Level-4"
    assert not id_token["sub"].startswith("temporary-")
    evidence = userinfo["verified_claims"]["verification"]["evidence"]
    assert evidence[0]["check_details"] == [{"check_method": "vcrypt"}]
    assert userinfo["verified_claims"]["claims"]["family_name"] == "MUSTERMANN"


def test_an_essential_level_4_saml_request_steps_a_level_1_session_up_with_the_card(live: Live) -> None:
    from tests.integration.eid.test_eid_flows import _password_citizen

    _saml_portal(live)
    with live.browser() as browser:
        _password_citizen(live, browser)
        response = _saml_request(live, browser, attributes=((SURNAME, None), (PROVED_BY, None)),
                                 context=authn_context("STORK-QAA-Level-4"))
        for _ in range(6):
            location = response.headers.get("location", "")
            if location.startswith("/konto/vertrauensniveau"):
                break
            response = browser.get(location)
        assert location.startswith("/konto/vertrauensniveau?return_to=%2Fanmeldung%2F"), location
        back = identify(browser, location)
        confirm = back.headers["location"]
        answer = post_form(browser, confirm, {"decision": "confirm"}, action_prefix="/konto/vertrauensniveau")
        page = _through_consent(browser, answer)
    assertion = _assertion(page.text)
    class_ref = assertion.findtext("saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef",
                                   namespaces=NS)
    assert class_ref == "STORK-QAA-Level-4"
    attributes = _attributes(assertion)
    assert attributes[PROVED_BY] == ["eID"] and attributes[SURNAME] == ["MUSTERMANN"]


def test_data_the_card_cannot_give_but_the_portal_requires_is_not_sent(live: Live) -> None:
    _saml_portal(live)
    with live.browser() as browser:
        login_page = _to_login_page(browser, _saml_request(live, browser, attributes=(
            (SURNAME, None), (CARD_PSEUDONYM, "true"))))
        back = identify(browser, _temporary_link(login_page))
        shown = browser.get(back.headers["location"])
        assert "eid.temporary_required_missing" in message_ids(shown.text)
        assert 'value="send"' not in shown.text
        answer = post_form(browser, back.headers["location"], {"decision": "send"},
                           action_prefix="/ausweisen/einmalig/freigabe")
    assert "SAMLResponse" in answer.text and "eid.temporary_sent" not in message_ids(answer.text)
    _nothing_stored(live)
