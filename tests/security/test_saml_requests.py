"""Hostile and broken SAML AuthnRequests at the HTTP level (`GET /saml/sso` with the Redirect binding's raw query,
`POST /saml/sso` with the POST binding): each is refused on our own error page (400, the `SamlRequestInvalid`
code as `data-message-id`), never with a 5xx, and nothing is redirected or posted anywhere. What is accepted is
read as BundID reads it: the AKDB extension only when signed, ForceAuthn asks for a new login, and a required
attribute the account cannot deliver ends in a `RequestDenied` Response at the portal's ACS."""

from __future__ import annotations

import base64
import html
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from lxml import etree
from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, login, register_and_verify
from tests.support.saml import (
    ACS,
    DS_NS,
    ENTITY_ID,
    SAMLP_NS,
    acs,
    akdb_extension,
    authn_request_xml,
    certificate,
    deflate,
    key_descriptor,
    logout_request_xml,
    post_params,
    redirect_query,
    request_signing_key,
    sign_enveloped,
    sp_metadata,
)

GIVEN_NAME = "urn:oid:2.5.4.42"
DOCUMENT_TYPE = "urn:oid:1.2.40.0.10.2.1.1.552255"  # outside the default set, and without a label of its own
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
MAX_FORM_BYTES = 512 * 1024


# -- the portal and its requests ----------------------------------------------------------------------------------

def register_portal(container: Any, *, signed_requests: bool = False) -> None:
    """The test portal (tests.support.saml.ENTITY_ID, ACS at tests.support.saml.ACS) with its request-signing
    certificate, registered through the real metadata reader."""
    tenant = container.tenants.ensure("Musterstadt")
    keys = key_descriptor(request_signing_key()[1], "signing") + key_descriptor(certificate("rsa", 3072),
                                                                                "encryption")
    signed = f'AuthnRequestsSigned="{str(signed_requests).lower()}" WantAssertionsSigned="true"'
    container.saml_sps.add(tenant.id, sp_metadata(sp_attributes=signed, keys=keys))


def new_request(settings: Settings, **kwargs: Any) -> bytes:
    """An AuthnRequest issued now, addressed to our SSO endpoint, with a fresh ID."""
    kwargs.setdefault("request_id", "_" + secrets.token_hex(12))
    return authn_request_xml(issue_instant=datetime.now(UTC),
                             destination=settings.base_url.rstrip("/") + "/saml/sso", **kwargs)


def post(client: TestClient, xml: bytes, relay_state: str | None = None) -> Any:
    return client.post("/saml/sso", data=post_params(xml, relay_state), follow_redirects=False)


def get(client: TestClient, raw_query: str) -> Any:
    return client.get("/saml/sso?" + raw_query, follow_redirects=False)


def unsigned_redirect(xml: bytes) -> str:
    return redirect_query(xml, sign=False)


def assert_refused(response: Any, code: str) -> None:
    """Our error page with the code, 400; no redirect, no Response, no form to another site."""
    assert response.status_code == 400, (response.status_code, response.text[:500])
    assert "location" not in response.headers
    assert f'data-message-id="oidc.{code}"' in response.text, re.findall(r'data-message-id="[^"]*"', response.text)
    assert 'name="SAMLResponse"' not in response.text
    assert not re.search(r'<form[^>]+action="(?!/)', response.text)  # no form leads off this site
    assert "form-action 'self'" in response.headers.get("content-security-policy", "form-action 'self'")


def citizen(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)


def consent_page(client: TestClient, response: Any) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    location = response.headers["location"]
    assert location.startswith("/anmeldung/"), location
    page = client.get(location, follow_redirects=False)
    assert page.status_code == 200 and 'name="decision"' in page.text, page.text[:500]
    return str(page.text)


def saml_response_of(page: str) -> tuple[str, etree._Element]:
    action = re.search(r'<form[^>]+action="([^"]+)"', page)
    value = re.search(r'name="SAMLResponse" value="([^"]+)"', page)
    assert action and value, page[:400]
    return html.unescape(action.group(1)), etree.fromstring(base64.b64decode(html.unescape(value.group(1))))


# -- hostile XML ------------------------------------------------------------------------------------------------

def _billion_laughs() -> bytes:
    entities = "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                       for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE samlp:AuthnRequest [<!ENTITY lol "lol">{entities}]>'
            f'<samlp:AuthnRequest xmlns:samlp="{SAMLP_NS}" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            f'ID="_lol" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>&lol9;</saml:Issuer>'
            "</samlp:AuthnRequest>").encode()


def _xxe(settings: Settings) -> bytes:
    """A well-formed request of a registered portal whose Issuer would be the server's /etc/passwd."""
    xml = new_request(settings, issuer="&xxe;").decode()
    return ('<?xml version="1.0"?><!DOCTYPE samlp:AuthnRequest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            + xml).encode()


def _xxe_parameter_entity(settings: Settings) -> bytes:
    return (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>'
            + new_request(settings))


def _utf16_doctype(settings: Settings) -> bytes:
    """The DOCTYPE invisible to a byte search for `<!DOCTYPE`: the document is UTF-16."""
    xml = new_request(settings, issuer="&x;").decode()
    return ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE samlp:AuthnRequest [<!ENTITY x "'
            + ENTITY_ID + '">]>' + xml).encode("utf-16")


HOSTILE: dict[str, Callable[[Settings], bytes]] = {
    "xxe": _xxe,
    "xxe parameter entity": _xxe_parameter_entity,
    "billion laughs": lambda settings: _billion_laughs(),
    "utf-16 doctype": _utf16_doctype,
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_hostile_xml_is_refused(client: TestClient, settings: Settings, container: Any, name: str,
                                binding: str) -> None:
    register_portal(container)
    xml = HOSTILE[name](settings)
    response = post(client, xml) if binding == "post" else get(client, unsigned_redirect(xml))
    assert_refused(response, "saml.request.malformed")
    assert "root:" not in response.text and "lollol" not in response.text


# -- signature wrapping -----------------------------------------------------------------------------------------

def _signed(settings: Settings) -> etree._Element:
    """A signed V2 request of the portal, asking nothing special."""
    return etree.fromstring(sign_enveloped(new_request(settings, extensions=akdb_extension(), force_authn="false")))


def _evil(settings: Settings, request_id: str | None = None) -> etree._Element:
    """What the attacker wants read: ForceAuthn off, another relay, a different ID (or the signed one's)."""
    kwargs = {"request_id": request_id} if request_id else {}
    return etree.fromstring(new_request(settings, extensions=akdb_extension(
        attributes=((GIVEN_NAME, "true"), (DOCUMENT_TYPE, "true"))), is_passive="true", **kwargs))


def _signature(root: etree._Element) -> etree._Element:
    signature = root.find(f"{{{DS_NS}}}Signature")
    assert signature is not None
    return signature


def _extensions(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{SAMLP_NS}}}Extensions")
    assert found is not None
    return found


def wrapped_with_the_signature_moved_up(settings: Settings) -> bytes:
    original, evil = _signed(settings), _evil(settings)
    signature = _signature(original)
    original.remove(signature)
    evil.insert(1, signature)
    _extensions(evil).append(original)
    return bytes(etree.tostring(evil))


def wrapped_with_the_signature_left_inside(settings: Settings) -> bytes:
    evil = _evil(settings)
    _extensions(evil).append(_signed(settings))
    return bytes(etree.tostring(evil))


def evil_root_with_the_signed_id(settings: Settings) -> bytes:
    original = _signed(settings)
    evil = _evil(settings, original.get("ID"))
    signature = _signature(original)
    original.remove(signature)
    evil.insert(1, signature)
    _extensions(evil).append(original)
    return bytes(etree.tostring(evil))


def signed_request_beside_the_evil_one(settings: Settings) -> bytes:
    original, evil = _signed(settings), _evil(settings)
    signature = _signature(original)
    original.remove(signature)
    evil.insert(1, signature)
    evil.append(original)
    return bytes(etree.tostring(evil))


WRAPPING = [wrapped_with_the_signature_moved_up, wrapped_with_the_signature_left_inside,
            evil_root_with_the_signed_id, signed_request_beside_the_evil_one]


@pytest.mark.parametrize("attack", WRAPPING, ids=lambda attack: attack.__name__)
@pytest.mark.parametrize("signed_requests", [True, False], ids=["portal-signs", "portal-may-sign"])
def test_signature_wrapping_is_refused(client: TestClient, settings: Settings, container: Any,
                                       attack: Callable[[Settings], bytes], signed_requests: bool) -> None:
    register_portal(container, signed_requests=signed_requests)
    citizen(client, settings)
    assert post(client, bytes(etree.tostring(_signed(settings)))).status_code == 303  # the unwrapped one is fine
    assert_refused(post(client, attack(settings)), "saml.request.signature_invalid")
    assert_refused(get(client, unsigned_redirect(attack(settings))), "saml.request.signature_invalid")


# -- signatures, portals, endpoints, replays ----------------------------------------------------------------------

def test_a_tampered_redirect_signature_is_refused(client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container, signed_requests=True)
    query = redirect_query(new_request(settings), relay_state="rs-1")
    relay_changed = query.replace("RelayState=rs-1", "RelayState=rs-2")
    assert relay_changed != query
    assert_refused(get(client, relay_changed), "saml.request.signature_invalid")
    head, signature = query.rsplit("Signature=", 1)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert_refused(get(client, head + "Signature=" + flipped), "saml.request.signature_invalid")
    other_key = redirect_query(new_request(settings), relay_state="rs-1", key=request_signing_key("other"))
    assert_refused(get(client, other_key), "saml.request.signature_invalid")
    stripped = query.split("&SigAlg=")[0]  # the portal signs every request: an unsigned one is refused
    assert_refused(get(client, stripped), "saml.request.unsigned")
    assert get(client, redirect_query(new_request(settings), relay_state="rs-1")).status_code == 303  # intact


def test_a_changed_post_request_is_refused(client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container, signed_requests=True)
    signed = sign_enveloped(new_request(settings, force_authn="false"))
    changed = signed.replace(b'ForceAuthn="false"', b'ForceAuthn="true" ')
    assert changed != signed
    assert_refused(post(client, changed), "saml.request.signature_invalid")


def test_an_unknown_issuer_is_refused(client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container)
    xml = new_request(settings, issuer="https://attacker.example/saml/metadata",
                      acs_url="https://attacker.example/acs")
    for response in (post(client, xml), get(client, unsigned_redirect(xml))):
        assert_refused(response, "saml.request.unknown_sp")
        assert "attacker.example/acs" not in response.text


@pytest.mark.parametrize("acs_url", ["https://attacker.example/saml/acs", "https://portal.example.de/saml/acs/x",
                                     "https://portal.example.de/saml/acs-redirect"])
def test_an_acs_url_not_in_the_metadata_is_refused(client: TestClient, settings: Settings, container: Any,
                                                   acs_url: str) -> None:
    """…including the portal's own Redirect-binding endpoint: we answer by HTTP-POST only."""
    register_portal(container)
    citizen(client, settings)
    xml = new_request(settings, acs_url=acs_url)
    for response in (post(client, xml), get(client, unsigned_redirect(new_request(settings, acs_url=acs_url)))):
        assert_refused(response, "saml.request.acs_not_registered")
        assert "attacker.example" not in response.headers.get("content-security-policy", "")


def test_an_acs_index_not_in_the_metadata_is_refused(client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container)
    assert_refused(post(client, new_request(settings, acs_url=None, acs_index=7)), "saml.request.acs_not_registered")


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_a_request_id_is_used_once(client: TestClient, settings: Settings, container: Any, binding: str) -> None:
    register_portal(container)
    xml = new_request(settings)

    def send() -> Any:
        return post(client, xml) if binding == "post" else get(client, unsigned_redirect(xml))

    first = send()
    assert first.status_code == 303 and first.headers["location"].startswith("/anmelden?"), first.text[:300]
    assert_refused(send(), "saml.request.replayed")


def test_a_signed_request_replayed_is_refused(client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container, signed_requests=True)
    query = redirect_query(new_request(settings))
    assert get(client, query).status_code == 303
    assert_refused(get(client, query), "saml.request.replayed")


def test_a_refused_request_does_not_use_up_its_id(client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container)
    assert_refused(post(client, new_request(settings, request_id="_same", acs_url="https://attacker.example/a")),
                   "saml.request.acs_not_registered")
    assert post(client, new_request(settings, request_id="_same")).status_code == 303


# -- transport ----------------------------------------------------------------------------------------------------

def test_an_oversized_post_body_is_refused(client: TestClient, container: Any) -> None:
    register_portal(container)
    body = b"SAMLRequest=" + b"A" * (MAX_FORM_BYTES + 1)
    response = client.post("/saml/sso", content=body, follow_redirects=False,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert_refused(response, "saml.request.too_large")


def test_an_oversized_request_under_the_form_limit_is_refused(client: TestClient, settings: Settings,
                                                              container: Any) -> None:
    register_portal(container)
    big = new_request(settings, extra_children="<!--" + "x" * (300 * 1024) + "-->")
    assert_refused(post(client, big), "saml.request.too_large")


def test_a_deflate_bomb_is_refused(client: TestClient, container: Any) -> None:
    register_portal(container)
    bomb = deflate(b"<a>" + b" " * (16 * 1024 * 1024) + b"</a>")
    response = get(client, "SAMLRequest=" + quote(base64.b64encode(bomb).decode(), safe=""))
    assert_refused(response, "saml.request.too_large")


@pytest.mark.parametrize("value", ["%%%not-base64%%%", "QUJD\x00REVG", "A", "====", ""])
def test_garbage_base64_is_refused(client: TestClient, container: Any, value: str) -> None:
    register_portal(container)
    assert_refused(client.post("/saml/sso", data={"SAMLRequest": value}, follow_redirects=False),
                   "saml.request.malformed")
    assert_refused(get(client, "SAMLRequest=" + quote(value, safe="")), "saml.request.malformed")


def test_what_is_not_a_request_is_refused(client: TestClient, container: Any) -> None:
    register_portal(container)
    not_deflated = base64.b64encode(b"<samlp:AuthnRequest/>").decode()
    assert_refused(get(client, "SAMLRequest=" + quote(not_deflated, safe="")), "saml.request.malformed")
    assert_refused(client.get("/saml/sso", follow_redirects=False), "saml.request.malformed")
    assert_refused(client.post("/saml/sso", data={"RelayState": "x"}, follow_redirects=False),
                   "saml.request.malformed")
    not_xml = base64.b64encode(b"\xff\xfe not xml at all").decode()
    assert_refused(client.post("/saml/sso", data={"SAMLRequest": not_xml}, follow_redirects=False),
                   "saml.request.malformed")
    broken_form = client.post("/saml/sso", content=b"\x00\xff" * 100, follow_redirects=False,
                              headers={"content-type": "multipart/form-data; boundary=x"})
    assert_refused(broken_form, "saml.request.malformed")  # the POST binding is form-encoded, never multipart


# -- what is accepted ------------------------------------------------------------------------------------------

def test_an_unsigned_request_is_read_but_its_akdb_extension_ignored(client: TestClient, settings: Settings,
                                                                    container: Any) -> None:
    """BundID §9: the extension of an unsigned request is not evaluated; the default attributes are asked
    for (master data and e-mail), not the requested document type, and the portal's own name is shown."""
    register_portal(container)
    citizen(client, settings)
    extension = akdb_extension(attributes=((DOCUMENT_TYPE, "true"),),
                               display={"OrganizationDisplayName": "Gefälschter Dienstname"})
    page = consent_page(client, post(client, new_request(settings, extensions=extension)))
    assert "document_type" not in page and "Gefälschter Dienstname" not in page
    assert "erika@example.de" in page  # the e-mail address, one of the default attributes
    with_defaults = consent_page(client, post(client, new_request(settings)))
    strip = re.compile(r"anmeldung(?:/|%2F)[A-Za-z0-9_-]+|name=\"csrf_token\" value=\"[^\"]*\"")
    assert strip.sub("", page) == strip.sub("", with_defaults)  # exactly what no extension asks for
    signed = consent_page(client, post(client, sign_enveloped(new_request(settings, extensions=extension))))
    assert "document_type" in signed and "Gefälschter Dienstname" in signed  # the same extension, signed: read


def test_force_authn_while_logged_in_shows_the_login_page_again(client: TestClient, settings: Settings,
                                                                container: Any) -> None:
    register_portal(container)
    citizen(client, settings)
    assert consent_page(client, post(client, new_request(settings)))  # logged in: straight to consent
    response = post(client, new_request(settings, force_authn="true"))
    assert response.status_code == 303, response.text[:300]
    location = response.headers["location"]
    assert location.startswith("/anmelden?") and "erneut=1" in location, location
    page = client.get(location, follow_redirects=False)
    assert page.status_code == 200 and 'name="password"' in page.text


def test_a_signed_v2_request_names_the_service_and_a_missing_required_attribute_is_request_denied(
        client: TestClient, settings: Settings, container: Any) -> None:
    """OrganizationDisplayName of a signed V2 request is the service's name on the consent page; the given
    name is required but the account holds none, so the portal gets Responder/RequestDenied at its ACS."""
    register_portal(container, signed_requests=True)
    citizen(client, settings)
    request_id = "_" + secrets.token_hex(12)
    extension = akdb_extension(attributes=((GIVEN_NAME, "true"),),
                               display={"OrganizationDisplayName": "Anwohnerparkausweis Musterstadt"})
    xml = sign_enveloped(new_request(settings, request_id=request_id, extensions=extension))
    page = consent_page(client, post(client, xml, relay_state="rs-7"))
    assert "Anwohnerparkausweis Musterstadt" in page
    action, token = form_action(page, "/anmeldung/")
    answer = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 200, (answer.status_code, answer.text[:400])
    acs_url, response = saml_response_of(answer.text)
    assert acs_url == ACS
    assert 'name="RelayState" value="rs-7"' in answer.text
    assert response.tag == f"{{{SAMLP_NS}}}Response" and response.get("InResponseTo") == request_id
    status = response.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
    assert status is not None and status.get("Value") == STATUS_RESPONDER
    sub_status = status.find(f"{{{SAMLP_NS}}}StatusCode")
    assert sub_status is not None and sub_status.get("Value") == STATUS_REQUEST_DENIED
    assert not [e for e in response.iter() if isinstance(e.tag, str) and e.tag.endswith("Assertion")]


# -- Single Logout ------------------------------------------------------------------------------------------------
# A LogoutRequest must be signed (SAML profiles §4.4.4.1) by a registered portal, addressed to our SLO endpoint,
# fresh and new; anything else is refused on our page (the code as `data-message-id`), the session stays, and
# nothing goes to the portal.

def new_logout(settings: Settings, **kwargs: Any) -> bytes:
    kwargs.setdefault("request_id", "_" + secrets.token_hex(12))
    kwargs.setdefault("issue_instant", datetime.now(UTC))
    kwargs.setdefault("destination", settings.base_url.rstrip("/") + "/saml/slo")
    return logout_request_xml(**kwargs)


def assert_logout_refused(client: TestClient, response: Any, code: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert "location" not in response.headers
    assert f'data-message-id="{code}"' in response.text, re.findall(r'data-message-id="[^"]*"', response.text)
    assert 'name="SAMLResponse"' not in response.text
    assert client.get("/konto", follow_redirects=False).status_code == 200  # still logged in


def logout_post(client: TestClient, xml: bytes) -> Any:
    return client.post("/saml/slo", data=post_params(xml), follow_redirects=False)


def logout_get(client: TestClient, raw_query: str) -> Any:
    return client.get("/saml/slo?" + raw_query, follow_redirects=False)


def test_an_unsigned_logout_request_is_refused(client: TestClient, settings: Settings, container: Any) -> None:
    """…even from a portal whose AuthnRequests may be unsigned: a logout is never accepted unsigned."""
    register_portal(container, signed_requests=False)
    citizen(client, settings)
    assert_logout_refused(client, logout_post(client, new_logout(settings)), "saml.logout.unsigned")
    assert_logout_refused(client, logout_get(client, redirect_query(new_logout(settings), sign=False)),
                          "saml.logout.unsigned")


def test_a_logout_request_of_an_unknown_or_impersonated_portal_is_refused(client: TestClient, settings: Settings,
                                                                         container: Any) -> None:
    register_portal(container)
    citizen(client, settings)
    stranger = new_logout(settings, issuer="https://attacker.example/saml/metadata")
    assert_logout_refused(client, logout_get(client, redirect_query(stranger)), "saml.logout.unknown_sp")
    assert_logout_refused(client, logout_post(client, sign_enveloped(stranger)), "saml.logout.unknown_sp")
    other_key = request_signing_key("other")
    assert_logout_refused(client, logout_get(client, redirect_query(new_logout(settings), key=other_key)),
                          "saml.logout.signature_invalid")
    assert_logout_refused(client, logout_post(client, sign_enveloped(new_logout(settings), key=other_key)),
                          "saml.logout.signature_invalid")


def test_a_tampered_logout_request_is_refused(client: TestClient, settings: Settings, container: Any) -> None:
    register_portal(container)
    citizen(client, settings)
    signed = sign_enveloped(new_logout(settings, name_id="_mine"))
    assert_logout_refused(client, logout_post(client, signed.replace(b"_mine", b"_your")),
                          "saml.logout.signature_invalid")
    query = redirect_query(new_logout(settings), relay_state="rs-1")
    assert_logout_refused(client, logout_get(client, query.replace("RelayState=rs-1", "RelayState=rs-2")),
                          "saml.logout.signature_invalid")
    original = etree.fromstring(sign_enveloped(new_logout(settings)))
    evil = etree.fromstring(new_logout(settings, name_id="_evil"))
    signature = _signature(original)
    original.remove(signature)
    evil.insert(1, signature)
    evil.append(original)  # the signed request beside the one that would be read
    assert_logout_refused(client, logout_post(client, etree.tostring(evil)), "saml.logout.signature_invalid")


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_a_logout_request_is_used_once(client: TestClient, settings: Settings, container: Any, binding: str) -> None:
    register_portal(container)
    citizen(client, settings)
    xml = new_logout(settings, name_id="_not-this-session")  # answered Success, the session stays

    def send() -> Any:
        return logout_post(client, sign_enveloped(xml)) if binding == "post" else logout_get(client,
                                                                                            redirect_query(xml))

    first = send()
    assert first.status_code == 303, first.text[:300]
    if binding == "post":
        assert client.get(first.headers["location"], follow_redirects=False).status_code == 303
    assert_logout_refused(client, send(), "saml.logout.replayed")


@pytest.mark.parametrize(("change", "code"), [
    ({"destination": "https://other-idp.example/saml/slo"}, "saml.logout.wrong_destination"),
    ({"destination": None}, "saml.logout.wrong_destination"),
    ({"issue_instant": datetime(2020, 1, 1, tzinfo=UTC)}, "saml.logout.expired"),
    ({"not_on_or_after": datetime(2020, 1, 1, tzinfo=UTC)}, "saml.logout.expired"),
    ({"identifier": ""}, "saml.logout.malformed"),
    ({"root_tag": "samlp:AuthnRequest"}, "saml.logout.malformed"),
])
def test_a_logout_request_breaking_a_rule_is_refused(client: TestClient, settings: Settings, container: Any,
                                                     change: dict[str, Any], code: str) -> None:
    register_portal(container)
    citizen(client, settings)
    xml = new_logout(settings, **change)
    assert_logout_refused(client, logout_get(client, redirect_query(xml)), code)


def test_hostile_or_broken_logout_requests_are_refused(client: TestClient, settings: Settings,
                                                       container: Any) -> None:
    register_portal(container)
    citizen(client, settings)
    xxe = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           + new_logout(settings, name_id="&xxe;").decode()).encode()
    assert_logout_refused(client, logout_post(client, xxe), "saml.logout.malformed")
    assert_logout_refused(client, logout_get(client, redirect_query(xxe, sign=False)), "saml.logout.malformed")
    bomb = deflate(b"<a>" + b" " * (16 * 1024 * 1024) + b"</a>")
    assert_logout_refused(client, logout_get(client, "SAMLRequest=" + quote(base64.b64encode(bomb).decode(), safe="")),
                          "saml.logout.too_large")
    assert_logout_refused(client, client.get("/saml/slo", follow_redirects=False), "saml.logout.malformed")
    assert_logout_refused(client, client.post("/saml/slo", content=b"x", follow_redirects=False,
                                              headers={"content-type": "text/plain"}), "saml.logout.malformed")
    assert_logout_refused(client, client.get("/saml/slo/not-a-token", follow_redirects=False),
                          "saml.logout.expired", 410)


def test_a_portal_without_single_logout_service_is_refused(client: TestClient, settings: Settings,
                                                           container: Any) -> None:
    tenant = container.tenants.ensure("Musterstadt")
    keys = key_descriptor(request_signing_key()[1], "signing") + key_descriptor(certificate("rsa", 3072),
                                                                                "encryption")
    container.saml_sps.add(tenant.id, sp_metadata(keys=keys, endpoints=acs(index=1, default=True)))
    citizen(client, settings)
    assert_logout_refused(client, logout_get(client, redirect_query(new_logout(settings))), "saml.logout.no_endpoint")
