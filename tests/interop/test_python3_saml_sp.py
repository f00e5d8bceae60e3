"""SAML interop with OneLogin's python3-saml as the service provider (an independent SP toolkit, with its own
keys and libxmlsec1 through the python `xmlsec` binding): a signed AuthnRequest over HTTP-Redirect (the toolkit
signs the query) and HTTP-POST (the toolkit's AuthnRequest, signed with the toolkit's `add_sign`), login and
consent through the real pages, and the Response validated by `process_response` — signature, decryption,
audience, destination, InResponseTo and time — then NameID, AuthnContextClassRef, attribute names and bPK2
checked on what the toolkit hands the portal. Single Logout: the toolkit's signed LogoutRequest (HTTP-Redirect,
the only binding python3-saml speaks for SLO) and our LogoutResponse validated by `process_slo` — query signature,
Destination, InResponseTo and status."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from starlette.testclient import TestClient

from servicekonto.settings import Settings
from tests.integration.accounts.helpers import login, register_and_verify, submit
from tests.interop.test_pysaml2_sp import login_through_pages, saml_response_of
from tests.support.saml import PSS, key_pair, private_key_pem

RSA_SHA256 = OneLogin_Saml2_Constants.RSA_SHA256
SHA256 = OneLogin_Saml2_Constants.SHA256
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
BPK2 = "urn:oid:1.3.6.1.4.1.25484.494450.3"
GIVEN_NAME = "urn:oid:2.5.4.42"
PORT = 9
MD = "urn:oasis:names:tc:SAML:2.0:metadata"


def sp_settings(idp_metadata: bytes, host: str = "127.0.0.1", *, slo: bool = False,
                want_messages_signed: bool = False) -> OneLogin_Saml2_Settings:
    """python3-saml's settings for an SP on a loopback host (a test system accepts http with a port there),
    with a key of its own for signing and encryption, and the IdP taken from our metadata; with `slo` a
    SingleLogoutService (HTTP-Redirect) and signed LogoutRequests."""
    key, cert = key_pair(f"python3-saml-{host}")
    base = f"http://{host}:{PORT}"
    idp = OneLogin_Saml2_IdPMetadataParser.parse(
        idp_metadata, required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT)
    config: dict[str, Any] = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": f"{base}/saml/metadata",
            "assertionConsumerService": {"url": f"{base}/saml/acs",
                                         "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST},
            "NameIDFormat": TRANSIENT,
            "x509cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "privateKey": private_key_pem(key).decode(),
            **({"singleLogoutService": {"url": f"{base}/saml/slo",
                                        "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT}} if slo else {}),
        },
        "security": {
            "authnRequestsSigned": True, "wantAssertionsSigned": True, "wantAssertionsEncrypted": True,
            "wantMessagesSigned": want_messages_signed, "wantNameIdEncrypted": False, "signMetadata": False,
            "logoutRequestSigned": slo,
            "signatureAlgorithm": RSA_SHA256, "digestAlgorithm": SHA256,
            "requestedAuthnContext": ["STORK-QAA-Level-1"], "requestedAuthnContextComparison": "minimum",
            "rejectDeprecatedAlgorithm": True,
        },
        "idp": idp["idp"],
    }
    return OneLogin_Saml2_Settings(config, sp_validation_only=False)


def registered_metadata(settings: OneLogin_Saml2_Settings, signing_methods: tuple[str, ...]) -> bytes:
    """The toolkit's own SP metadata, made to follow BundID's rules (no validUntil, cacheDuration or ID) and
    declaring the signing methods the SP can verify (SAML V2.0 Metadata Profile for Algorithm Support)."""
    root = etree.fromstring(settings.get_sp_metadata())
    for attribute in ("validUntil", "ID", "cacheDuration"):
        root.attrib.pop(attribute, None)
    if signing_methods:
        extensions = root.find(f"{{{MD}}}Extensions")
        if extensions is None:
            extensions = etree.Element(f"{{{MD}}}Extensions")
            root.insert(0, extensions)
        for method in signing_methods:
            element = etree.SubElement(extensions, "{urn:oasis:names:tc:SAML:metadata:algsupport}SigningMethod")
            element.set("Algorithm", method)
    return etree.tostring(root)


def acs_request(host: str, post_data: dict[str, str] | None = None) -> dict[str, Any]:
    """What a web framework hands python3-saml about the request at the SP's ACS."""
    return {"https": "off", "http_host": f"{host}:{PORT}", "script_name": "/saml/acs",
            "get_data": {}, "post_data": post_data or {}}


def start_login(client: TestClient, settings: OneLogin_Saml2_Settings, host: str, binding: str) -> tuple[str, Any]:
    """The SP's signed AuthnRequest sent to our SSO endpoint; its ID and our first answer."""
    if binding == "redirect":
        auth = OneLogin_Saml2_Auth(acs_request(host), settings)
        location = auth.login(return_to="/antrag")
        request_id = auth.get_last_request_id()
        parts = urlsplit(location)
        assert {"SAMLRequest", "RelayState", "SigAlg", "Signature"} <= set(parse_qs(parts.query))
        return request_id, client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    # python3-saml has no HTTP-POST binding for requests; its AuthnRequest, signed with its own add_sign.
    authn_request = OneLogin_Saml2_Authn_Request(settings)
    sp = settings.get_sp_data()
    signed = OneLogin_Saml2_Utils.add_sign(authn_request.get_xml(), sp["privateKey"], sp["x509cert"],
                                           sign_algorithm=RSA_SHA256, digest_algorithm=SHA256)
    xml = signed if isinstance(signed, bytes) else signed.encode()
    data = {"SAMLRequest": base64.b64encode(xml).decode(), "RelayState": "/antrag"}
    return authn_request.get_id(), client.post("/saml/sso", data=data, follow_redirects=False)


def respond(client: TestClient, settings: OneLogin_Saml2_Settings, host: str = "127.0.0.1",
            binding: str = "redirect") -> tuple[str, str]:
    """One SP-initiated login through our pages; the request's ID and the SAMLResponse for the ACS."""
    request_id, first = start_login(client, settings, host, binding)
    page = login_through_pages(client, first)
    action, saml_response = saml_response_of(page)
    assert action == f"http://{host}:{PORT}/saml/acs"
    assert 'name="RelayState" value="/antrag"' in page
    return request_id, saml_response


def process(settings: OneLogin_Saml2_Settings, host: str, saml_response: str, request_id: str) -> Any:
    """The toolkit at the ACS: `process_response` validates and decrypts; its Auth afterwards."""
    auth = OneLogin_Saml2_Auth(acs_request(host, {"SAMLResponse": saml_response, "RelayState": "/antrag"}),
                               settings)
    auth.process_response(request_id=request_id)
    return auth


def sign_in(client: TestClient, settings: OneLogin_Saml2_Settings, host: str = "127.0.0.1",
            binding: str = "redirect") -> Any:
    """One login the toolkit accepted."""
    request_id, saml_response = respond(client, settings, host, binding)
    auth = process(settings, host, saml_response, request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
    return auth


@pytest.fixture
def citizen(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    login(client)
    submit(client, "/konto/stammdaten", {"given_name": "Erika", "family_name": "Mustermann"})


@pytest.mark.usefixtures("citizen")
@pytest.mark.parametrize("binding", ["redirect", "post"])
@pytest.mark.parametrize("signing_methods", [(RSA_SHA256,), ()], ids=["rsa-sha256", "pss"])
def test_python3_saml_sp_logs_in(client: TestClient, container: Any, binding: str,
                                 signing_methods: tuple[str, ...]) -> None:
    settings = sp_settings(client.get("/saml/metadata").content)
    tenant = container.tenants.ensure("Musterstadt")
    container.saml_sps.add(tenant.id, registered_metadata(settings, signing_methods))
    auth = sign_in(client, settings, binding=binding)
    algorithm = signature_method(auth)
    assert algorithm == (RSA_SHA256 if signing_methods else PSS)
    assert auth.get_nameid_format() == TRANSIENT
    assert auth.get_last_authn_contexts() == ["STORK-QAA-Level-1"]
    attributes = auth.get_attributes()
    assert attributes[GIVEN_NAME] == ["Erika"]
    assert len(attributes[BPK2]) == 1 and len(attributes[BPK2][0]) == 43


@pytest.mark.usefixtures("citizen")
def test_python3_saml_bpk2_is_per_sp_host(client: TestClient, container: Any) -> None:
    """bPK2 stays the same for one SP and differs for an SP on another host (its pseudonym sector); the
    transient NameID differs from login to login."""
    idp_metadata = client.get("/saml/metadata").content
    tenant = container.tenants.ensure("Musterstadt")
    here, there = sp_settings(idp_metadata, "127.0.0.1"), sp_settings(idp_metadata, "localhost")
    for sp in (here, there):
        container.saml_sps.add(tenant.id, registered_metadata(sp, (RSA_SHA256,)))
    first = sign_in(client, here)
    again = sign_in(client, here, binding="post")
    elsewhere = sign_in(client, there, host="localhost")
    assert first.get_attributes()[BPK2] == again.get_attributes()[BPK2]
    assert elsewhere.get_attributes()[BPK2] != first.get_attributes()[BPK2]
    assert len(elsewhere.get_attributes()[BPK2][0]) == 43
    assert first.get_nameid() != again.get_nameid()


@pytest.mark.usefixtures("citizen")
def test_python3_saml_checks_what_it_accepts(client: TestClient, container: Any) -> None:
    """The toolkit really checks: the same Response fails for another request ID, at another ACS, or against
    another IdP certificate, and passes as sent."""
    idp_metadata = client.get("/saml/metadata").content
    settings = sp_settings(idp_metadata)
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id, registered_metadata(settings, ()))
    request_id, saml_response = respond(client, settings)
    refusals = {"does not match the ID of the AuthNRequest": process(settings, "127.0.0.1", saml_response,
                                                                     "_another-request"),
                "The response was received at http://localhost:9/saml/acs": process(settings, "localhost",
                                                                                   saml_response, request_id)}
    stranger = sp_settings(idp_metadata)
    stranger.get_idp_data()["x509cert"] = stranger.get_sp_data()["x509cert"]  # the SP's own, not the IdP's
    stranger.get_idp_data().pop("x509certMulti", None)
    refusals["Signature validation failed"] = process(stranger, "127.0.0.1", saml_response, request_id)
    for reason, auth in refusals.items():
        assert auth.get_errors() == ["invalid_response"] and not auth.is_authenticated()
        assert reason in auth.get_last_error_reason()
    assert process(settings, "127.0.0.1", saml_response, request_id).get_errors() == []


def signature_method(auth: Any) -> str:
    """The algorithm that signed the assertion python3-saml accepted (it decrypted the assertion in place)."""
    document = auth.get_last_response_xml(pretty_print_if_possible=False)
    root = etree.fromstring(document.encode() if isinstance(document, str) else document)
    method = root.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureMethod")
    assert method is not None
    return str(method.get("Algorithm"))


@pytest.mark.usefixtures("citizen")
def test_python3_saml_sp_logs_out(client: TestClient, container: Any) -> None:
    """`auth.logout()` with the NameID and SessionIndex of the login; our signed Redirect answer passes
    `process_slo` with signed messages required, and fails it once tampered with."""
    idp_metadata = client.get("/saml/metadata").content
    settings = sp_settings(idp_metadata, slo=True)
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id, registered_metadata(settings, (RSA_SHA256,)))
    auth = sign_in(client, settings)
    assert auth.get_session_index()
    location = auth.logout(return_to="/abgemeldet", name_id=auth.get_nameid(), session_index=auth.get_session_index(),
                           name_id_format=auth.get_nameid_format(), spnq=auth.get_nameid_spnq())
    request_id = auth.get_last_request_id()
    parts = urlsplit(location)
    response = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    assert client.get("/konto", follow_redirects=False).status_code != 200  # our session ended
    answer = urlsplit(response.headers["location"])
    assert f"{answer.scheme}://{answer.netloc}{answer.path}" == f"http://127.0.0.1:{PORT}/saml/slo"
    get_data = {name: values[0] for name, values in parse_qs(answer.query).items()}
    assert get_data["RelayState"] == "/abgemeldet"

    def process_slo(data: dict[str, str]) -> Any:
        strict = sp_settings(idp_metadata, slo=True, want_messages_signed=True)
        sp = OneLogin_Saml2_Auth({"https": "off", "http_host": f"127.0.0.1:{PORT}", "script_name": "/saml/slo",
                                  "get_data": data, "post_data": {}}, strict)
        sp.process_slo(keep_local_session=True, request_id=request_id)
        return sp

    accepted = process_slo(get_data)
    assert accepted.get_errors() == [], accepted.get_last_error_reason()
    refused = process_slo({**get_data, "RelayState": "/woanders"})
    assert "invalid_logout_response_signature" in refused.get_errors(), refused.get_last_error_reason()
