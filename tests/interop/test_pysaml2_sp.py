"""SAML interop with pysaml2 as the service provider (an independent SP library, with its own keys and
Debian's xmlsec1 for its crypto): a signed AuthnRequest over HTTP-Redirect and HTTP-POST, login and consent
through the real pages, and the Response verified and decrypted by pysaml2 — NameID, audience,
AuthnContextClassRef, attribute names and bPK2 checked on what the library hands the portal. Then Single Logout:
pysaml2 sends its signed LogoutRequest for the NameID and SessionIndex it received, over HTTP-Redirect or
HTTP-POST, and parses our LogoutResponse — its XML signature checked by xmlsec1, or the Redirect binding's query
signature by pysaml2's own `verify_redirect_signature` — and logs the citizen out locally."""

from __future__ import annotations

import base64
import html
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.sigver import SignatureError, verify_redirect_signature
from starlette.testclient import TestClient

from servicekonto.domain.keys import KeyPurpose
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, login, register_and_verify, submit
from tests.support.saml import key_pair, private_key_pem

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="pysaml2 needs xmlsec1")

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
BPK2 = "urn:oid:1.3.6.1.4.1.25484.494450.3"
GIVEN_NAME = "urn:oid:2.5.4.42"


def portal(tmp_path: Path, idp_metadata: bytes, host: str = "127.0.0.1", port: int = 9,
           slo_bindings: tuple[str, ...] = ()) -> Saml2Client:
    """A pysaml2 SP on a loopback host (a test system accepts http there), with a signing and an encryption
    key of its own, and a SingleLogoutService for each of `slo_bindings`."""
    sign_key, sign_cert = key_pair(f"sp-signing-{host}")
    enc_key, enc_cert = key_pair(f"sp-encryption-{host}")
    files = {}
    for name, key, cert in (("sign", sign_key, sign_cert), ("enc", enc_key, enc_cert)):
        (tmp_path / f"{name}-{host}.key").write_bytes(private_key_pem(key))
        (tmp_path / f"{name}-{host}.crt").write_bytes(cert.public_bytes(serialization_pem()))
        files[name] = (str(tmp_path / f"{name}-{host}.key"), str(tmp_path / f"{name}-{host}.crt"))
    (tmp_path / "idp.xml").write_bytes(idp_metadata)
    base = f"http://{host}:{port}"
    config = SPConfig()
    config.load({
        "entityid": f"{base}/saml/metadata",
        "xmlsec_binary": shutil.which("xmlsec1"),
        "key_file": files["sign"][0], "cert_file": files["sign"][1],
        "encryption_keypairs": [{"key_file": files["enc"][0], "cert_file": files["enc"][1]}],
        "metadata": {"local": [str(tmp_path / "idp.xml")]},
        "signing_algorithm": RSA_SHA256,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(f"{base}/saml/acs", BINDING_HTTP_POST)],
                          "single_logout_service": [(f"{base}/saml/slo", b) for b in slo_bindings]},
            "authn_requests_signed": True, "logout_requests_signed": True, "want_assertions_signed": True,
            "want_response_signed": False,
            "allow_unsolicited": False, "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        }},
        "allow_unknown_attributes": True,
    })
    return Saml2Client(config)


def serialization_pem() -> Any:
    from cryptography.hazmat.primitives import serialization
    return serialization.Encoding.PEM


def sp_metadata_of(client: Saml2Client) -> bytes:
    """pysaml2's own metadata, declaring rsa-sha256 (xmlsec1 1.2.37 cannot verify RSASSA-PSS) — an SP
    states what it can process (SAML V2.0 Metadata Profile for Algorithm Support)."""
    xml = str(entity_descriptor(client.config)).encode()
    root = etree.fromstring(xml)
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    extensions = root.find(f"{{{md}}}Extensions")
    if extensions is None:
        extensions = etree.Element(f"{{{md}}}Extensions")
        root.insert(0, extensions)
    method = etree.SubElement(extensions, "{urn:oasis:names:tc:SAML:metadata:algsupport}SigningMethod")
    method.set("Algorithm", RSA_SHA256)
    for attribute in ("validUntil", "ID", "cacheDuration"):
        root.attrib.pop(attribute, None)
    return etree.tostring(root)


def saml_response_of(page: str) -> tuple[str, str]:
    action = re.search(r'<form[^>]+action="([^"]+)"', page)
    value = re.search(r'name="SAMLResponse" value="([^"]+)"', page)
    assert action and value, page[:400]
    return html.unescape(action.group(1)), html.unescape(value.group(1))


def login_through_pages(client: TestClient, response: Any) -> str:
    """Follow redirects, log in, consent; the HTTP-POST binding page at the end."""
    for _ in range(8):
        if response.status_code in (302, 303):
            response = client.get(response.headers["location"], follow_redirects=False)
        elif 'name="SAMLResponse"' in response.text:
            return str(response.text)
        elif 'name="password"' in response.text:
            action, token = form_action(response.text, "/anmelden")
            response = client.post(action, data={"identifier": "erika", "password": "Heidestr17Köln!",
                                                 "csrf_token": token}, follow_redirects=False)
        elif 'name="decision"' in response.text:
            action, token = form_action(response.text, "/anmeldung/")
            response = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
        else:
            raise AssertionError(f"stuck at {response.status_code}: {response.text[:300]}")
    raise AssertionError("no response page")


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_pysaml2_sp_logs_in(client: TestClient, settings: Settings, container: Any, tmp_path: Path,
                            binding: str) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)
    submit(client, "/konto/stammdaten", {"given_name": "Erika", "family_name": "Mustermann"})
    idp_metadata = client.get("/saml/metadata").content
    sp = portal(tmp_path, idp_metadata)
    tenant = container.tenants.ensure("Musterstadt")
    container.saml_sps.add(tenant.id, sp_metadata_of(sp))
    idp_entity = f"{settings.base_url.rstrip('/')}/saml/metadata"
    request_id, info = sp.prepare_for_authenticate(entityid=idp_entity, binding=binding, relay_state="rs-1",
                                                   sign=True, sigalg=RSA_SHA256, digest_alg=
                                                   "http://www.w3.org/2001/04/xmlenc#sha256")
    if binding == BINDING_HTTP_REDIRECT:
        location = dict(info["headers"])["Location"]
        parts = urlsplit(location)
        first = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    else:
        fields = dict(re.findall(r'name="(SAMLRequest|RelayState)" value="([^"]*)"', info["data"]))
        first = client.post("/saml/sso", data={k: html.unescape(v) for k, v in fields.items()},
                            follow_redirects=False)
    page = login_through_pages(client, first)
    action, saml_response = saml_response_of(page)
    assert action == "http://127.0.0.1:9/saml/acs"
    answer = sp.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"})
    assertion = answer.assertion
    assert answer.name_id.format == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert assertion.conditions.audience_restriction[0].audience[0].text == sp.config.entityid
    context = assertion.authn_statement[0].authn_context.authn_context_class_ref.text
    assert context == "STORK-QAA-Level-1"
    names = {attribute.name: [v.text for v in attribute.attribute_value]
             for statement in assertion.attribute_statement for attribute in statement.attribute}
    assert names[GIVEN_NAME] == ["Erika"] and len(names[BPK2][0]) == 43
    assert base64.b64decode(saml_response)  # what the portal received was a base64 Response


def pysaml2_login(client: TestClient, settings: Settings, container: Any, tmp_path: Path,
                  slo_bindings: tuple[str, ...]) -> tuple[Saml2Client, Any]:
    """The citizen logged in at a pysaml2 portal (registered from its own metadata); the portal and the
    AuthnResponse it accepted (which put the citizen into its identity cache)."""
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)
    sp = portal(tmp_path, client.get("/saml/metadata").content, slo_bindings=slo_bindings)
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id, sp_metadata_of(sp))
    request_id, info = sp.prepare_for_authenticate(entityid=f"{settings.base_url.rstrip('/')}/saml/metadata",
                                                   binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=RSA_SHA256,
                                                   digest_alg=SHA256)
    parts = urlsplit(dict(info["headers"])["Location"])
    page = login_through_pages(client, client.get(f"{parts.path}?{parts.query}", follow_redirects=False))
    _action, saml_response = saml_response_of(page)
    return sp, sp.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"})


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_pysaml2_sp_logs_out(client: TestClient, settings: Settings, container: Any, tmp_path: Path,
                             binding: str) -> None:
    """pysaml2's `do_logout` over `binding`; our answer comes back over the same binding (the portal's only
    SingleLogoutService), pysaml2 verifies and parses it, and `handle_logout_response` logs out locally."""
    sp, answer = pysaml2_login(client, settings, container, tmp_path, (binding,))
    assert sp.is_logged_in(answer.name_id)
    idp_entity = f"{settings.base_url.rstrip('/')}/saml/metadata"
    assert answer.assertion.authn_statement[0].session_index  # what pysaml2 sends back in the LogoutRequest

    sent = sp.do_logout(answer.name_id, [idp_entity], reason="", expire=None, sign=True, expected_binding=binding,
                        sign_alg=RSA_SHA256, digest_alg=SHA256)
    _binding, http_info = sent[idp_entity]
    if binding == BINDING_HTTP_REDIRECT:
        parts = urlsplit(dict(http_info["headers"])["Location"])
        assert parts.path == "/saml/slo" and "Signature=" in parts.query
        response = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    else:
        fields = dict(re.findall(r'name="(SAMLRequest|RelayState)" value="([^"]*)"', http_info["data"]))
        first = client.post("/saml/slo", data={k: html.unescape(v) for k, v in fields.items()},
                            follow_redirects=False)
        assert first.status_code == 303, first.text[:300]
        response = client.get(first.headers["location"], follow_redirects=False)
    assert client.get("/konto", follow_redirects=False).status_code != 200  # our session ended

    if binding == BINDING_HTTP_REDIRECT:
        assert response.status_code == 303, response.text[:300]
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == "http://127.0.0.1:9/saml/slo"
        message = {k: v[0] for k, v in parse_qs(location.query).items()}
        pem = container.keys.certificates(KeyPurpose.SAML_SIGNING)[0]
        idp_certificate = "".join(pem.strip().splitlines()[1:-1])  # pysaml2 takes the base64 body
        assert verify_redirect_signature(message, sp.sec.sec_backend, cert=idp_certificate)
        tampered = {**message, "RelayState": "changed"}
        assert not verify_redirect_signature(tampered, sp.sec.sec_backend, cert=idp_certificate)
        logout_response = sp.parse_logout_request_response(message["SAMLResponse"], BINDING_HTTP_REDIRECT)
    else:
        action, value = saml_response_of(response.text)
        assert action == "http://127.0.0.1:9/saml/slo"
        logout_response = sp.parse_logout_request_response(value, BINDING_HTTP_POST)
        document = base64.b64decode(value).decode()
        assert sp.sec.correctly_signed_logout_response(document, must=True)  # xmlsec1, with our metadata's key
        with pytest.raises(SignatureError):
            sp.sec.correctly_signed_logout_response(document.replace("Success", "Requester"), must=True)
    assert logout_response.status_ok()
    assert logout_response.response.issuer.text == idp_entity
    assert sp.handle_logout_response(logout_response)[1] == "200 Ok"
    assert not sp.is_logged_in(answer.name_id)
