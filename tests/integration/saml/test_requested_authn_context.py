"""RequestedAuthnContext through HTTP (SAML core §3.3.2.2.1; BundID §5.1 supports "minimum" only): a context no
login here can meet — a class we do not know, "exact" at a level no method reaches, "better" than "hoch" — is
answered at the portal's ACS with Responder/NoAuthnContext, never read as the lowest level."""

from __future__ import annotations

import base64
import html
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree
from starlette.testclient import TestClient

from servicekonto.domain.auth_request import AuthRequest, AuthResult
from servicekonto.domain.trust import TrustLevel
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, login, register_and_verify
from tests.support.saml import (
    ACS,
    SAMLP_NS,
    authn_context,
    authn_request_xml,
    post_params,
    request_signing_key,
    sign_enveloped,
    sp_metadata,
    sp_metadata_with_keys,
)
from tests.unit.test_saml_response import decrypt, sp_encryption_key

RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


def send(client: TestClient, settings: Settings, context: str, request_id: str) -> Any:
    xml = authn_request_xml(request_id=request_id, issue_instant=datetime.now(UTC), requested_context=context,
                            destination=settings.base_url.rstrip("/") + "/saml/sso")
    return client.post("/saml/sso", data=post_params(xml, "rs-3"), follow_redirects=False)


def status_at_acs(page: Any, request_id: str) -> tuple[str | None, str | None]:
    assert page.status_code == 200, (page.status_code, page.text[:300])
    action = re.search(r'<form[^>]+action="([^"]+)"', page.text)
    value = re.search(r'name="SAMLResponse" value="([^"]+)"', page.text)
    assert action and value and html.unescape(action.group(1)) == ACS
    assert 'name="RelayState" value="rs-3"' in page.text
    response = etree.fromstring(base64.b64decode(html.unescape(value.group(1))))
    assert response.get("InResponseTo") == request_id
    code = response.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
    assert code is not None
    sub = code.find(f"{{{SAMLP_NS}}}StatusCode")
    return code.get("Value"), sub.get("Value") if sub is not None else None


@pytest.fixture
def portal(container: Any) -> None:
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id,
                           sp_metadata(sp_attributes='AuthnRequestsSigned="false"'))


@pytest.mark.usefixtures("portal")
@pytest.mark.parametrize("context", [
    authn_context("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", comparison="exact"),
    authn_context("urn:example:unknown", comparison="minimum"),
    authn_context("STORK-QAA-Level-4", comparison="better"),
])
def test_a_context_nobody_can_meet_is_answered_with_no_authn_context_before_any_login(
        client: TestClient, settings: Settings, context: str) -> None:
    request_id = "_" + secrets.token_hex(12)
    assert status_at_acs(send(client, settings, context, request_id), request_id) == (RESPONDER, NO_AUTHN_CONTEXT)


@pytest.mark.usefixtures("portal")
def test_exact_is_a_requirement_not_the_lowest_level(client: TestClient, settings: Settings) -> None:
    """Logged in with a password (Basisregistrierung): "exact" Level-3 is not met and not read as Level-1
    (the citizen has no way to reach it and cancels); "exact" Level-1 is."""
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)
    request_id = "_" + secrets.token_hex(12)
    page = send(client, settings, authn_context("STORK-QAA-Level-3", comparison="exact"), request_id)
    # Level 3 needs a passkey bound to the ID card: the page explains; cancelling answers NoAuthnContext.
    while page.status_code == 303 and page.headers["location"].startswith("/"):
        page = client.get(page.headers["location"], follow_redirects=False)
    action, token = form_action(page.text, "/anmeldung/")
    page = client.post(action, data={"decision": "cancel", "csrf_token": token}, follow_redirects=False)
    assert status_at_acs(page, request_id) == (RESPONDER, NO_AUTHN_CONTEXT)

    request_id = "_" + secrets.token_hex(12)
    first = send(client, settings, authn_context("STORK-QAA-Level-1", comparison="exact"), request_id)
    consent = client.get(first.headers["location"], follow_redirects=False).text
    action, token = form_action(consent, "/anmeldung/")
    answer = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
    assert status_at_acs(answer, request_id) == (SUCCESS, None)


@pytest.mark.parametrize(("context", "reached", "stated"), [
    (authn_context("STORK-QAA-Level-1", "STORK-QAA-Level-2", comparison="exact"), TrustLevel.SUBSTANTIAL,
     "STORK-QAA-Level-2"),
    (authn_context("STORK-QAA-Level-1", comparison=None), TrustLevel.LOW, "STORK-QAA-Level-1"),
    (authn_context("STORK-QAA-Level-2", comparison="maximum"), TrustLevel.HIGH, "STORK-QAA-Level-2"),
    (authn_context("STORK-QAA-Level-1", comparison="minimum"), TrustLevel.SUBSTANTIAL, "STORK-QAA-Level-3"),
])
def test_the_answer_states_the_level_the_comparison_allows(settings: Settings, container: Any, context: str,
                                                           reached: TrustLevel, stated: str) -> None:
    """A stronger login proves every weaker level: under exact and maximum the answer names the highest
    allowed level reached; the login session is remembered for Single Logout with the NameID it got."""
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id, sp_metadata_with_keys(
        signing=request_signing_key()[1], encryption=sp_encryption_key()[1]))
    idp = container.saml
    xml = authn_request_xml(request_id="_" + secrets.token_hex(12), issue_instant=datetime.now(UTC),
                            requested_context=context, destination=settings.base_url.rstrip("/") + "/saml/sso")
    auth_request = idp.authorize(binding="post", params=post_params(sign_enveloped(xml)), raw_query=None,
                                 sso_url=settings.base_url.rstrip("/") + "/saml/sso")
    assert isinstance(auth_request, AuthRequest), auth_request
    result = AuthResult(account_id="account-1", subject="p" * 43, trust_level=reached, methods=("password", "totp"),
                        auth_time=int(datetime.now(UTC).timestamp()), attributes=(), session_id="session-1")

    page = idp.finish(auth_request, result, session_hash=idp.session_hash("session-1"))

    value = re.search(r'name="SAMLResponse" value="([^"]+)"', page.body)
    assert value is not None
    assertion = etree.fromstring(decrypt(base64.b64decode(html.unescape(value.group(1))), sp_encryption_key()[0]))
    ns = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
    class_ref = "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"
    assert assertion.findtext(class_ref, namespaces=ns) == stated
    [entry] = idp.participants(idp.session_hash("session-1"))
    assert entry["name_id"] == assertion.findtext("saml:Subject/saml:NameID", namespaces=ns)
    assert entry["session_index"] == assertion.find("saml:AuthnStatement", ns).get("SessionIndex")
