"""GET /saml/metadata: the IdP's metadata, signed with the SAML signing key (RSASSA-PSS), valid against the
OASIS schema, served as the same bytes until the keys change."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from signxml import SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature
from starlette.testclient import TestClient

from servicekonto.domain.keys import KeyPurpose
from tests.support.saml import metadata_schema

BASE = "http://127.0.0.1:8000"
NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#",
      "alg": "urn:oasis:names:tc:SAML:metadata:algsupport"}
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
PSS = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"


def _base64(pem: str) -> str:
    return "".join(pem.strip().splitlines()[1:-1])


def _verified(body: bytes, certificate: str) -> etree._Element:
    config = SignatureConfiguration(signature_methods=frozenset({SignatureMethod.SHA256_RSA_MGF1}))
    result = XMLVerifier().verify(body, x509_cert=certificate, expect_config=config)
    return result.signed_xml  # what the signature covers, not what the bytes claim


def test_metadata_are_signed_and_describe_the_idp(client: TestClient, container: Any) -> None:
    response = client.get("/saml/metadata")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/samlmetadata+xml"
    assert response.headers["cache-control"] == "public, max-age=60"
    published = container.keys.certificates(KeyPurpose.SAML_SIGNING)
    root = _verified(response.content, published[0])

    assert root.tag == "{urn:oasis:names:tc:SAML:2.0:metadata}EntityDescriptor"
    assert root.get("entityID") == f"{BASE}/saml/metadata"
    document = etree.fromstring(response.content)
    assert etree.QName(document[0]).localname == "Signature"  # first child, as the schema requires
    assert document.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == PSS
    idp = root.find("md:IDPSSODescriptor", NS)
    assert idp.get("WantAuthnRequestsSigned") == "true"
    assert idp.get("protocolSupportEnumeration") == "urn:oasis:names:tc:SAML:2.0:protocol"
    assert [(e.get("Binding"), e.get("Location")) for e in idp.findall("md:SingleSignOnService", NS)] == [
        (REDIRECT, f"{BASE}/saml/sso"), (POST, f"{BASE}/saml/sso")]
    assert [(e.get("Binding"), e.get("Location")) for e in idp.findall("md:SingleLogoutService", NS)] == [
        (REDIRECT, f"{BASE}/saml/slo"), (POST, f"{BASE}/saml/slo")]
    assert [e.text for e in idp.findall("md:NameIDFormat", NS)] == [
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"]
    descriptors = idp.findall("md:KeyDescriptor", NS)
    assert [d.get("use") for d in descriptors] == ["signing"]
    assert descriptors[0].findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) == _base64(published[0])
    assert [e.get("Algorithm") for e in root.findall("md:Extensions/alg:SigningMethod", NS)] == [
        PSS, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert [e.get("Algorithm") for e in root.findall("md:Extensions/alg:DigestMethod", NS)] == [
        "http://www.w3.org/2001/04/xmlenc#sha256"]
    assert root.findtext("md:Organization/md:OrganizationDisplayName", namespaces=NS) == "Servicekonto"
    assert root.find("md:ContactPerson", NS).get("contactType") == "technical"

    assert client.get("/saml/metadata").content == response.content  # built once per key set


def test_metadata_are_valid_against_the_saml_metadata_schema(client: TestClient) -> None:
    schema = metadata_schema()
    if schema is None:
        pytest.skip("pysaml2 (which ships the OASIS schemas) is not installed")
    schema.assertValid(etree.fromstring(client.get("/saml/metadata").content))


def test_a_rotation_publishes_both_keys_and_signs_with_the_new_one(client: TestClient, container: Any) -> None:
    before = client.get("/saml/metadata").content
    container.keys.rotate()
    after = client.get("/saml/metadata").content

    assert after != before
    new, old = container.keys.certificates(KeyPurpose.SAML_SIGNING)
    root = _verified(after, new)
    certificates = root.findall("md:IDPSSODescriptor/md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                                NS)
    assert [c.text for c in certificates] == [_base64(new), _base64(old)]
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(after, x509_cert=old)


def test_a_tampered_document_does_not_verify(client: TestClient, container: Any) -> None:
    body = client.get("/saml/metadata").content.replace(b"/saml/sso", b"/evil/sso", 1)
    with pytest.raises(InvalidDigest):
        _verified(body, container.keys.certificates(KeyPurpose.SAML_SIGNING)[0])
