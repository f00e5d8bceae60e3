"""SP-initiated Single Logout through HTTP (SAML profiles §4.4): a portal that got a login sends a signed
LogoutRequest for the NameID it received, over HTTP-Redirect or HTTP-POST; the citizen's session here ends (the
cookie too) and the portal gets a signed LogoutResponse (Success, InResponseTo) at its SingleLogoutService —
a signed query for Redirect, a signed XML document on the POST page otherwise. A request for a principal this
browser's session does not hold is answered Success as well and ends nothing."""

from __future__ import annotations

import base64
import html
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree
from signxml import SignatureConfiguration, SignatureMethod, XMLVerifier
from starlette.testclient import TestClient

from servicekonto.domain.keys import KeyPurpose
from servicekonto.protocols.saml import redirect_binding
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, login, register_and_verify
from tests.support.saml import (
    ENTITY_ID,
    PORTAL_SLO,
    POST,
    REDIRECT,
    RSA_SHA256,
    SAMLP_NS,
    authn_request_xml,
    certificate,
    key_descriptor,
    logout_request_xml,
    post_params,
    read_redirect_message,
    redirect_query,
    request_signing_key,
    sign_enveloped,
    slo_endpoints,
    sp_metadata,
)

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
PARTIAL = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
OTHER_ENTITY_ID = "https://other.example.de/saml/metadata"


def register_portal(container: Any, *bindings: str, entity_id: str = ENTITY_ID,
                    signing_methods: tuple[str, ...] = (RSA_SHA256,)) -> None:
    keys = key_descriptor(request_signing_key()[1], "signing") + key_descriptor(certificate("rsa", 3072),
                                                                                "encryption")
    extensions = ("<md:Extensions>" + "".join(f'<alg:SigningMethod Algorithm="{m}"/>' for m in signing_methods)
                  + "</md:Extensions>") if signing_methods else ""
    location = entity_id.replace("/saml/metadata", "/saml/slo")
    tenant = container.tenants.ensure("Musterstadt")
    container.saml_sps.add(tenant.id, sp_metadata(entity_id, keys=keys, extensions=extensions,
                                                  endpoints=slo_endpoints(*bindings, location=location).replace(
                                                      "https://portal.example.de/saml/acs",
                                                      entity_id.replace("/saml/metadata", "/saml/acs"))))


def citizen(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)


def saml_login(client: TestClient, settings: Settings, container: Any, issuer: str = ENTITY_ID) -> dict[str, str]:
    """One login at the portal through the consent page; what the IdP remembered for it (NameID, SessionIndex)."""
    xml = authn_request_xml(request_id="_" + secrets.token_hex(12), issuer=issuer,
                            acs_url=issuer.replace("/saml/metadata", "/saml/acs"), issue_instant=datetime.now(UTC),
                            destination=settings.base_url.rstrip("/") + "/saml/sso")
    response = client.post("/saml/sso", data=post_params(sign_enveloped(xml)), follow_redirects=False)
    assert response.status_code == 303, re.findall(r"<dd[^>]*>(.*?)</dd>", response.text)
    page = client.get(response.headers["location"], follow_redirects=False).text
    action, token = form_action(page, "/anmeldung/")
    answer = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
    assert 'name="SAMLResponse"' in answer.text, answer.text[:300]
    idp = container.saml
    entries = idp.participants(idp.session_hash(client.cookies.get("sk_session")))
    return next(entry for entry in reversed(entries) if entry["sp"] == issuer)


def slo_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/saml/slo"


def new_logout(settings: Settings, **kwargs: Any) -> bytes:
    kwargs.setdefault("request_id", "_" + secrets.token_hex(12))
    return logout_request_xml(issue_instant=datetime.now(UTC), destination=slo_url(settings), **kwargs)


def logged_in(client: TestClient) -> bool:
    return client.get("/konto", follow_redirects=False).status_code == 200


def idp_certificate(container: Any) -> str:
    return str(container.keys.certificates(KeyPurpose.SAML_SIGNING)[0])


def verified_redirect_answer(response: Any, container: Any) -> tuple[etree._Element, dict[str, str]]:
    """The LogoutResponse of a Redirect answer, its query signature verified with our published certificate."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(PORTAL_SLO + "?"), location
    query = redirect_binding.parse_query(location.split("?", 1)[1], message="SAMLResponse")
    redirect_binding.verify_query_signature(query, [idp_certificate(container)])
    return read_redirect_message(location)


def assert_success(message: etree._Element, in_response_to: str, *, partial: bool = False) -> None:
    assert message.tag == f"{{{SAMLP_NS}}}LogoutResponse"
    assert message.get("InResponseTo") == in_response_to and message.get("Destination") == PORTAL_SLO
    status = message.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
    assert status is not None and status.get("Value") == SUCCESS
    sub = status.find(f"{{{SAMLP_NS}}}StatusCode")
    assert (sub.get("Value") if sub is not None else None) == (PARTIAL if partial else None)


def test_a_redirect_logout_ends_the_session_and_answers_with_a_signed_query(
        client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container, REDIRECT, POST)
    citizen(client, settings)
    entry = saml_login(client, settings, container)
    request_id = "_" + secrets.token_hex(12)
    xml = new_logout(settings, request_id=request_id, name_id=entry["name_id"],
                     session_indexes=(entry["session_index"],))

    response = client.get("/saml/slo?" + redirect_query(xml, relay_state="back-7"), follow_redirects=False)

    message, query = verified_redirect_answer(response, container)
    assert_success(message, request_id)
    assert query["RelayState"] == "back-7" and query["SigAlg"] == RSA_SHA256
    assert response.headers["cache-control"] == "no-store"
    assert "sk_session=" in response.headers.get("set-cookie", "")  # the cookie is cleared
    assert not logged_in(client)


def test_a_post_logout_continues_with_the_cookie_and_answers_on_a_signed_post_page(
        client: TestClient, settings: Settings, container: Any) -> None:
    """The portal's SingleLogoutService speaks POST only: the answer is a signed XML document on our POST page."""
    register_portal(container, POST, signing_methods=())
    citizen(client, settings)
    entry = saml_login(client, settings, container)
    request_id = "_" + secrets.token_hex(12)
    xml = sign_enveloped(new_logout(settings, request_id=request_id, name_id=entry["name_id"]))

    first = client.post("/saml/slo", data=post_params(xml, "rs-9"), follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/saml/slo/"), first.text[:300]
    assert logged_in(client)  # nothing ends before the GET that carries the SameSite=Lax cookie
    page = client.get(first.headers["location"], follow_redirects=False)

    assert page.status_code == 200, page.text[:300]
    action = re.search(r'<form[^>]+action="([^"]+)"', page.text)
    value = re.search(r'name="SAMLResponse" value="([^"]+)"', page.text)
    assert action and value and html.unescape(action.group(1)) == PORTAL_SLO
    assert 'name="RelayState" value="rs-9"' in page.text
    assert "form-action 'self' https://portal.example.de" in page.headers["content-security-policy"]
    document = base64.b64decode(html.unescape(value.group(1)))
    config = SignatureConfiguration(signature_methods=frozenset({SignatureMethod.SHA256_RSA_MGF1}))
    signed = XMLVerifier().verify(document, x509_cert=idp_certificate(container), expect_config=config).signed_xml
    assert_success(signed, request_id)
    assert not logged_in(client)
    again = client.get(first.headers["location"], follow_redirects=False)  # the token is single-use
    assert again.status_code == 410 and 'data-message-id="saml.logout.expired"' in again.text


@pytest.mark.parametrize("case", ["unknown name id", "other session index", "no session"])
def test_a_logout_for_a_principal_this_session_does_not_hold_is_success_and_ends_nothing(
        client: TestClient, settings: Settings, container: Any, case: str) -> None:
    register_portal(container, REDIRECT)
    citizen(client, settings)
    entry = saml_login(client, settings, container)
    name_id, indexes = entry["name_id"], (entry["session_index"],)
    if case == "unknown name id":
        name_id = "_not-ours"
    elif case == "other session index":
        indexes = ("_another-session",)
    else:
        client.cookies.clear()
    request_id = "_" + secrets.token_hex(12)
    xml = new_logout(settings, request_id=request_id, name_id=name_id, session_indexes=indexes)

    response = client.get("/saml/slo?" + redirect_query(xml), follow_redirects=False)

    message, _query = verified_redirect_answer(response, container)
    assert_success(message, request_id)
    assert "sk_session=" not in response.headers.get("set-cookie", "")
    if case != "no session":
        assert logged_in(client)


def test_other_saml_portals_of_the_session_make_it_a_partial_logout(
        client: TestClient, settings: Settings, container: Any) -> None:
    """We do not propagate logout to other SAML SPs (docs/integration/saml.md): the answer says so."""
    register_portal(container, REDIRECT)
    register_portal(container, REDIRECT, entity_id=OTHER_ENTITY_ID)
    citizen(client, settings)
    entry = saml_login(client, settings, container)
    saml_login(client, settings, container, issuer=OTHER_ENTITY_ID)
    request_id = "_" + secrets.token_hex(12)
    xml = new_logout(settings, request_id=request_id, name_id=entry["name_id"])

    response = client.get("/saml/slo?" + redirect_query(xml), follow_redirects=False)

    message, _query = verified_redirect_answer(response, container)
    assert_success(message, request_id, partial=True)
    assert not logged_in(client)
