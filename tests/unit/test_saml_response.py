"""The SAML Response (egov-interfaces.md §1.4–1.8): schema-valid, the Assertion signed and then encrypted with
the algorithms each SP declared, readable by implementations that are not ours — python-xmlsec (libxmlsec1
1.3, as python3-saml uses it) and pysaml2's xmlsec1 backend (Debian's xmlsec1 1.2.37, where installed) — and
carrying BundID's NameID, conditions and attributes."""

from __future__ import annotations

import base64
import json
import shutil
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree
from signxml import SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature

from servicekonto.domain.attributes import BY_KEY
from servicekonto.domain.auth_request import AuthResult, ReleasedAttribute
from servicekonto.domain.saml_sp import SamlServiceProvider
from servicekonto.domain.trust import TrustLevel
from servicekonto.protocols.saml import encryption
from servicekonto.protocols.saml.encryption import (
    AES128_CBC,
    AES128_GCM,
    AES256_CBC,
    AES256_GCM,
    RSA_OAEP,
    RSA_OAEP_MGF1P,
    EncryptionAlgorithms,
    choose_encryption,
)
from servicekonto.protocols.saml.response import (
    build_error_response,
    build_response,
    choose_algorithms,
    choose_signature_method,
    multi_factor,
    post_form,
    proved_by,
)
from servicekonto.protocols.saml.sp_metadata import read_sp_metadata
from tests.support.saml import (
    ACS,
    ENTITY_ID,
    PSS,
    RSA_SHA256,
    key_pair,
    pem,
    private_key_pem,
    protocol_schema,
    sp_metadata_with_keys,
)

IDP = "https://id.servicekonto.example/saml/metadata"
NOW = datetime(2026, 3, 2, 9, 30, 15, tzinfo=UTC)
REQUEST_ID = "_9f1c2d3e4b5a69788796a5b4c3d2e1f0"
SESSION_ID = "browser-session-secret-abcdefghijklmnopqrstuvwxyz"
SUBJECT = "k2jBT0mVwM5K8tqQb0Qh2d7C1cXo3n9Ew4pR6sT8uGt"  # a bPK2: 43 characters, base64url
NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
      "ds": "http://www.w3.org/2000/09/xmldsig#", "xenc": "http://www.w3.org/2001/04/xmlenc#",
      "xenc11": "http://www.w3.org/2009/xmlenc11#", "ec": "http://www.w3.org/2001/10/xml-exc-c14n#",
      "akdb": "https://www.akdb.de/request/2018/09"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
AKDB_TRUST_LEVEL = "{https://www.akdb.de/request/2018/09}TrustLevel"
KOELN_NFD = unicodedata.normalize("NFD", "Köln")  # o + combining diaeresis, as a form might send it

RESULT = AuthResult(
    account_id="0b6f3c1e-1111-4c2b-9a7d-5e2f8d9c0a11",
    subject=SUBJECT,
    trust_level=TrustLevel.HIGH,
    methods=("eid",),
    auth_time=int((NOW - timedelta(seconds=40)).timestamp()),
    attributes=(
        ReleasedAttribute("given_name", "ERIKA", "eid", TrustLevel.HIGH),
        ReleasedAttribute("family_name", "MUSTERMANN", "eid", TrustLevel.HIGH),
        ReleasedAttribute("locality", KOELN_NFD, "self_declared", TrustLevel.BASIC),
        ReleasedAttribute("email", "erika@example.de", "email_verified", TrustLevel.LOW),
    ),
    session_id=SESSION_ID,
)
# AKDB extension Version 2: only these come back, in this order (BundID §9.2); e-mail was released, not asked.
REQUESTED = (("family_name", True), ("given_name", True), ("locality", False), ("trust_level", False),
             ("proved_by", False), ("mfa", False))


# --- the parties ------------------------------------------------------------------------------------------

def idp_key() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return key_pair("id.servicekonto.example saml signing")


def sp_encryption_key() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return key_pair("portal.example.de encryption")


def service_provider(*, encryption_methods: tuple[str, ...] = (),
                     signing_methods: tuple[str, ...] = ()) -> SamlServiceProvider:
    """The test portal registered from its metadata, as the operator would do it."""
    metadata = read_sp_metadata(sp_metadata_with_keys(
        signing=key_pair("portal.example.de signing", 2048)[1], encryption=sp_encryption_key()[1],
        encryption_methods=encryption_methods, signing_methods=signing_methods), test_system=False)
    return SamlServiceProvider.registered(metadata, id="sp-1", tenant_id="tenant-1", created_at=NOW)


def respond(sp: SamlServiceProvider | None = None, *, result: AuthResult = RESULT,
            requested: tuple[tuple[str, bool], ...] = REQUESTED, akdb_version: int | None = 2) -> bytes:
    key, cert = idp_key()
    return build_response(idp_entity_id=IDP, sp=sp or service_provider(), in_response_to=REQUEST_ID, acs_url=ACS,
                          result=result, requested=requested, akdb_version=akdb_version, signing_key=key,
                          signing_certificate_pem=pem(cert), now=NOW)


# Each case: what the SP declared → what it must get.
CASES = {
    "nothing declared": ((), (), EncryptionAlgorithms(AES256_GCM, RSA_OAEP_MGF1P), PSS),
    "xmlenc 1.1 and PSS": ((AES256_GCM, RSA_OAEP), (PSS, RSA_SHA256), EncryptionAlgorithms(AES256_GCM, RSA_OAEP),
                           PSS),
    "aes128-gcm, rsa-sha256 only": ((AES128_GCM,), (RSA_SHA256,), EncryptionAlgorithms(AES128_GCM, RSA_OAEP_MGF1P),
                                    RSA_SHA256),
    "legacy cbc": ((AES256_CBC, RSA_OAEP_MGF1P), (RSA_SHA256,), EncryptionAlgorithms(AES256_CBC, RSA_OAEP_MGF1P),
                   RSA_SHA256),
}


def case_sp(name: str) -> SamlServiceProvider:
    declared_encryption, declared_signing, _, _ = CASES[name]
    return service_provider(encryption_methods=declared_encryption, signing_methods=declared_signing)


# --- our own decryption (cryptography), independent of the module's helpers ----------------------------------

_DIGESTS = {None: hashes.SHA1, "http://www.w3.org/2000/09/xmldsig#sha1": hashes.SHA1,
            "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256}
_MGFS = {None: hashes.SHA1, "http://www.w3.org/2009/xmlenc11#mgf1sha1": hashes.SHA1,
         "http://www.w3.org/2009/xmlenc11#mgf1sha256": hashes.SHA256}


def encrypted_data(response: bytes) -> etree._Element:
    found = etree.fromstring(response).findall("saml:EncryptedAssertion/xenc:EncryptedData", NS)
    assert len(found) == 1
    return found[0]


def _algorithm(element: etree._Element | None) -> str | None:
    return element.get("Algorithm") if element is not None else None


def decrypt(response: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """XML Enc §4.3 by hand: the content key from the inline EncryptedKey, then the content."""
    data = encrypted_data(response)
    encrypted_key = data.find("ds:KeyInfo/xenc:EncryptedKey", NS)
    method = encrypted_key.find("xenc:EncryptionMethod", NS)
    digest = _DIGESTS[_algorithm(method.find("ds:DigestMethod", NS))]
    mgf = _MGFS[_algorithm(method.find("xenc11:MGF", NS))]
    if method.get("Algorithm") == RSA_OAEP_MGF1P:
        assert mgf is hashes.SHA1  # rsa-oaep-mgf1p fixes MGF1 with SHA-1 (XML Enc §5.4.2)
    content_key = key.decrypt(base64.b64decode(encrypted_key.findtext("xenc:CipherData/xenc:CipherValue",
                                                                      namespaces=NS)),
                              padding.OAEP(mgf=padding.MGF1(mgf()), algorithm=digest(), label=None))
    octets = base64.b64decode(data.findtext("xenc:CipherData/xenc:CipherValue", namespaces=NS))
    algorithm = data.find("xenc:EncryptionMethod", NS).get("Algorithm")
    if algorithm in (AES128_GCM, AES256_GCM):
        return AESGCM(content_key).decrypt(octets[:12], octets[12:], None)
    decryptor = Cipher(algorithms.AES(content_key), modes.CBC(octets[:16])).decryptor()
    padded = decryptor.update(octets[16:]) + decryptor.finalize()
    return padded[:-padded[-1]]


def assertion_of(response: bytes) -> etree._Element:
    return etree.fromstring(decrypt(response, sp_encryption_key()[0]))


def verified(assertion: bytes, method: str) -> etree._Element:
    """signxml against the IdP certificate, accepting only `method`; returns what the signature covers."""
    config = SignatureConfiguration(signature_methods=frozenset({SignatureMethod(method)}))
    result = XMLVerifier().verify(assertion, x509_cert=pem(idp_key()[1]), expect_config=config)
    return result.signed_xml


# --- algorithms per SP ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("declared", "expected"), [
    ((), PSS),
    ((RSA_SHA256, PSS), PSS),
    ((RSA_SHA256,), RSA_SHA256),
    (("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",), RSA_SHA256),  # a list without PSS: no PSS
])
def test_the_signature_method_is_pss_unless_the_sp_lists_methods_without_it(declared: tuple[str, ...],
                                                                             expected: str) -> None:
    assert choose_signature_method(declared) == expected


@pytest.mark.parametrize(("declared", "expected"), [
    ((), (AES256_GCM, RSA_OAEP_MGF1P)),
    ((AES256_GCM, RSA_OAEP), (AES256_GCM, RSA_OAEP)),
    ((RSA_OAEP_MGF1P, AES128_CBC, AES256_GCM, RSA_OAEP), (AES256_GCM, RSA_OAEP)),  # strongest, not first
    ((AES128_GCM,), (AES128_GCM, RSA_OAEP_MGF1P)),
    ((RSA_OAEP,), (AES256_GCM, RSA_OAEP)),
    ((AES128_CBC, AES256_CBC), (AES256_CBC, RSA_OAEP_MGF1P)),
    (("http://www.w3.org/2001/04/xmlenc#tripledes-cbc", "http://www.w3.org/2001/04/xmlenc#rsa-1_5"),
     (AES256_GCM, RSA_OAEP_MGF1P)),  # nothing we support (or would use): the default
])
def test_encryption_takes_the_strongest_declared_algorithms(declared: tuple[str, ...],
                                                            expected: tuple[str, str]) -> None:
    assert choose_encryption(declared) == EncryptionAlgorithms(*expected)


@pytest.mark.parametrize("case", CASES)
def test_algorithms_follow_the_sp_metadata(case: str) -> None:
    _, _, expected_encryption, expected_signature = CASES[case]
    chosen = choose_algorithms(case_sp(case))
    assert chosen.encryption == expected_encryption
    assert chosen.signature == expected_signature
    assert chosen.digest == "http://www.w3.org/2001/04/xmlenc#sha256"


@pytest.mark.parametrize("case", CASES)
def test_the_response_says_which_algorithms_it_used(case: str) -> None:
    _, _, expected_encryption, expected_signature = CASES[case]
    response = respond(case_sp(case))
    data = encrypted_data(response)
    assert data.get("Type") == "http://www.w3.org/2001/04/xmlenc#Element"
    assert data.find("xenc:EncryptionMethod", NS).get("Algorithm") == expected_encryption.content
    key_method = data.find("ds:KeyInfo/xenc:EncryptedKey/xenc:EncryptionMethod", NS)
    assert key_method.get("Algorithm") == expected_encryption.key_transport
    digest = key_method.find("ds:DigestMethod", NS).get("Algorithm")
    if expected_encryption.key_transport == RSA_OAEP:
        assert digest == "http://www.w3.org/2001/04/xmlenc#sha256"
        assert key_method.find("xenc11:MGF", NS).get("Algorithm") == "http://www.w3.org/2009/xmlenc11#mgf1sha256"
    else:
        assert digest == "http://www.w3.org/2000/09/xmldsig#sha1"  # what xmlsec1 1.2 and xmlseclibs can do
    signature = assertion_of(response).find("ds:Signature/ds:SignedInfo", NS)
    assert signature.find("ds:SignatureMethod", NS).get("Algorithm") == expected_signature
    assert data.find("ds:KeyInfo/xenc:EncryptedKey", NS) is not None  # inline, where python3-saml looks


# --- schema -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    found = protocol_schema()
    if found is None:
        pytest.skip("pysaml2 (which ships the OASIS schemas) is not installed")
    return found


@pytest.mark.parametrize("case", CASES)
def test_the_response_and_its_assertion_are_schema_valid(case: str, schema: etree.XMLSchema) -> None:
    response = respond(case_sp(case))
    schema.assertValid(etree.fromstring(response))
    schema.assertValid(assertion_of(response))


@pytest.mark.parametrize("version", [2, 1, None])
def test_every_attribute_selection_is_schema_valid(version: int | None, schema: etree.XMLSchema) -> None:
    schema.assertValid(assertion_of(respond(akdb_version=version)))
    bare = replace(RESULT, subject="", attributes=())
    schema.assertValid(assertion_of(respond(result=bare, requested=(), akdb_version=2)))  # no AttributeStatement


def test_error_responses_are_schema_valid(schema: etree.XMLSchema) -> None:
    schema.assertValid(etree.fromstring(error_response(detail=True)))
    schema.assertValid(etree.fromstring(build_error_response(
        idp_entity_id=IDP, in_response_to=REQUEST_ID, acs_url=ACS, status_code="Requester", sub_status=None,
        message=None, now=NOW)))


# --- signature ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "method"), [("nothing declared", PSS), ("legacy cbc", RSA_SHA256)])
def test_signxml_verifies_the_assertion_against_the_idp_certificate(case: str, method: str) -> None:
    plaintext = decrypt(respond(case_sp(case)), sp_encryption_key()[0])
    signed = verified(plaintext, method)

    assertion = etree.fromstring(plaintext)
    assert signed.tag == "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion"
    assert signed.get("ID") == assertion.get("ID")
    assert [etree.QName(child).localname for child in assertion][:3] == ["Issuer", "Signature", "Subject"]
    signed_info = assertion.find("ds:Signature/ds:SignedInfo", NS)
    assert signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm") == NS["ec"]
    reference = signed_info.find("ds:Reference", NS)
    assert reference.get("URI") == f"#{assertion.get('ID')}"
    assert [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", NS)] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature", NS["ec"]]
    assert reference.find("ds:Transforms/ds:Transform/ec:InclusiveNamespaces", NS).get("PrefixList") == "xsd"
    assert reference.find("ds:DigestMethod", NS).get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
    certificate = assertion.findtext("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert base64.b64decode(certificate) == idp_key()[1].public_bytes(serialization.Encoding.DER)


def test_a_changed_attribute_value_breaks_the_signature() -> None:
    plaintext = decrypt(respond(), sp_encryption_key()[0])
    tampered = plaintext.replace(b"MUSTERMANN", b"MUSTERFRAU")
    assert tampered != plaintext
    with pytest.raises((InvalidDigest, InvalidSignature)):
        verified(tampered, PSS)


def test_markup_characters_in_values_arrive_exactly_and_signed() -> None:
    """The Assertion is written as text (xml.py): every value escaped, CR and tabs kept, and what the signature
    covers is what was released."""
    tricky = 'Müller & Söhne <GmbH> "a" \'b\' ]]> x\r\ny\tz'
    result = replace(RESULT, attributes=(ReleasedAttribute("given_name", tricky, "self_declared", TrustLevel.BASIC),))
    signed = verified(decrypt(respond(result=result, requested=(("given_name", True),)), sp_encryption_key()[0]),
                      PSS)
    assert [value for name, _, _, value in attributes(signed) if name == BY_KEY["given_name"].saml_name] == [tricky]


@pytest.mark.parametrize("value", ["\x00", "a\x01b", "\x1f", "\ufffe"])
def test_a_value_xml_cannot_carry_is_refused(value: str) -> None:
    result = replace(RESULT, attributes=(ReleasedAttribute("given_name", value, "self_declared", TrustLevel.BASIC),))
    with pytest.raises(ValueError, match="XML compatible"):
        respond(result=result, requested=(("given_name", True),))


# --- independent implementations -------------------------------------------------------------------------------

def _python_xmlsec() -> Any:
    try:
        import xmlsec  # a dev dependency
    except ImportError:
        pytest.skip("python-xmlsec is not installed (pip install -e '.[dev]')")
    except Exception as exc:  # its import checks that lxml links the same libxml2
        if "mismatch" not in str(exc):
            raise
        pytest.skip(f"python-xmlsec and lxml were built with different libxml2 versions: {exc}")
    return xmlsec


ALL_PAIRS = [EncryptionAlgorithms(content, transport)
             for content in encryption.CONTENT_ALGORITHMS for transport in encryption.KEY_TRANSPORT_ALGORITHMS]


def _pair_id(pair: EncryptionAlgorithms) -> str:
    return f"{pair.content.split('#')[1]}+{pair.key_transport.split('#')[1]}"


@pytest.mark.parametrize("algorithms", ALL_PAIRS, ids=_pair_id)
@pytest.mark.parametrize("method", [PSS, RSA_SHA256], ids=["pss", "rsa-sha256"])
def test_python_xmlsec_decrypts_and_verifies(algorithms: EncryptionAlgorithms, method: str) -> None:
    """libxmlsec1 (1.3 in the python-xmlsec wheel), the way python3-saml decrypts (`decrypt_element`) and
    verifies: a key manager with the SP's private key, then the IdP certificate for the signature."""
    xmlsec = _python_xmlsec()
    sp = service_provider(encryption_methods=(algorithms.content, algorithms.key_transport),
                          signing_methods=(method,))
    root = etree.fromstring(respond(sp))
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(private_key_pem(sp_encryption_key()[0]), xmlsec.KeyFormat.PEM))
    assertion = xmlsec.EncryptionContext(manager).decrypt(root.find("saml:EncryptedAssertion/xenc:EncryptedData",
                                                                    NS))

    assert assertion.tag == "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion"
    assert assertion.getparent().tag == "{urn:oasis:names:tc:SAML:2.0:assertion}EncryptedAssertion"
    xmlsec.tree.add_ids(assertion, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(pem(idp_key()[1]).encode(), xmlsec.KeyFormat.CERT_PEM)
    context.verify(assertion.find("ds:Signature", NS))  # raises xmlsec.VerificationError if not
    assert assertion.findtext("saml:AttributeStatement/saml:Attribute[@FriendlyName='surname']/saml:AttributeValue",
                              namespaces=NS) == "MUSTERMANN"


XMLSEC1 = shutil.which("xmlsec1")


@pytest.fixture
def pysaml2_xmlsec1() -> Any:
    """pysaml2's own crypto backend: the xmlsec1 command line (Debian: 1.2.37) with pysaml2's arguments."""
    if XMLSEC1 is None:
        pytest.skip("the xmlsec1 command line is not installed (apt-get install xmlsec1)")
    from saml2.sigver import CryptoBackendXmlSec1  # only where xmlsec1 exists

    return CryptoBackendXmlSec1(XMLSEC1)


@pytest.mark.parametrize("case", ["nothing declared", "aes128-gcm, rsa-sha256 only", "legacy cbc"])
def test_pysaml2_with_xmlsec1_decrypts_and_verifies_the_interoperable_choices(case: str, pysaml2_xmlsec1: Any,
                                                                               tmp_path: Path) -> None:
    """The default (aes256-gcm + rsa-oaep-mgf1p) and what an SP on xmlsec1 1.2 declares must work there:
    decrypted as pysaml2 decrypts (`sigver.decrypt`), the signature checked as pysaml2 checks it, for the
    rsa-sha256 cases (xmlsec1 1.2 has no RSASSA-PSS, DESIGN.md §5)."""
    key_file = tmp_path / "sp-key.pem"
    key_file.write_bytes(private_key_pem(sp_encryption_key()[0]))
    cert_file = tmp_path / "idp-cert.pem"
    cert_file.write_text(pem(idp_key()[1]))
    sp = case_sp(case)
    response = respond(sp)

    decrypted = pysaml2_xmlsec1.decrypt(response.decode(), str(key_file))

    root = etree.fromstring(decrypted.encode())
    assertion = root.find("saml:EncryptedAssertion/saml:Assertion", NS)
    assert assertion is not None
    assert assertion.findtext("saml:Subject/saml:NameID", namespaces=NS)
    if choose_algorithms(sp).signature == RSA_SHA256:
        assert pysaml2_xmlsec1.validate_signature(decrypted, str(cert_file), "pem",
                                                  "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                                                  assertion.get("ID"))


def test_a_pysaml2_service_provider_accepts_the_response(pysaml2_xmlsec1: Any, tmp_path: Path) -> None:
    """End to end as a pysaml2 SP receives it over HTTP-POST: decryption, assertion signature (rsa-sha256, on
    xmlsec1 1.2), InResponseTo, Recipient, audience and time checks, attribute mapping. pysaml2 wants a signed
    Response by default (`want_response_signed`); we sign the Assertion, as BundID does, so its SPs set it off."""
    from saml2 import BINDING_HTTP_POST  # only where xmlsec1 exists
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    idp_certificate = base64.b64encode(idp_key()[1].public_bytes(serialization.Encoding.DER)).decode()
    (tmp_path / "idp.xml").write_text(
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP}"><md:IDPSSODescriptor '
        f'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing">'
        f"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{idp_certificate}</ds:X509Certificate></ds:X509Data>"
        f'</ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="{BINDING_HTTP_POST}" '
        f'Location="https://id.servicekonto.example/saml/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>')
    (tmp_path / "sp-key.pem").write_bytes(private_key_pem(sp_encryption_key()[0]))
    (tmp_path / "sp-cert.pem").write_text(pem(sp_encryption_key()[1]))
    config = SPConfig()
    config.load({
        "entityid": ENTITY_ID, "xmlsec_binary": pysaml2_xmlsec1.xmlsec,
        "metadata": {"local": [str(tmp_path / "idp.xml")]},
        "key_file": str(tmp_path / "sp-key.pem"), "cert_file": str(tmp_path / "sp-cert.pem"),
        "encryption_keypairs": [{"key_file": str(tmp_path / "sp-key.pem"), "cert_file": str(tmp_path / "sp-cert.pem")}],
        "service": {"sp": {"endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]},
                           "want_assertions_signed": True, "want_response_signed": False}},
    })
    key, cert = idp_key()
    now = datetime.now(UTC)
    response = build_response(idp_entity_id=IDP, sp=case_sp("legacy cbc"), in_response_to=REQUEST_ID, acs_url=ACS,
                              result=replace(RESULT, auth_time=int(now.timestamp())), requested=REQUESTED,
                              akdb_version=2, signing_key=key, signing_certificate_pem=pem(cert), now=now)

    parsed = Saml2Client(config).parse_authn_request_response(base64.b64encode(response).decode(), BINDING_HTTP_POST,
                                                              outstanding={REQUEST_ID: "/"})

    assert parsed.name_id.format == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert parsed.name_id.sp_name_qualifier == ENTITY_ID
    assert parsed.authn_info()[0][0] == "STORK-QAA-Level-4"
    assert parsed.get_identity()["sn"] == ["MUSTERMANN"]  # pysaml2 maps the names it knows (urn:oid:2.5.4.4)
    statement = parsed.assertion.attribute_statement[0]
    assert {a.name for a in statement.attribute} >= {BY_KEY["pseudonym"].saml_name, BY_KEY["mfa"].saml_name}


# --- what the Response says -----------------------------------------------------------------------------------

def test_the_response_is_addressed_to_the_request_and_the_acs() -> None:
    root = etree.fromstring(respond())
    assert root.tag == "{urn:oasis:names:tc:SAML:2.0:protocol}Response"
    assert root.get("Version") == "2.0"
    assert root.get("Destination") == ACS
    assert root.get("InResponseTo") == REQUEST_ID
    assert root.get("IssueInstant") == "2026-03-02T09:30:15Z"
    assert root.get("ID").startswith("_")
    assert root.findtext("saml:Issuer", namespaces=NS) == IDP
    assert [c.get("Value") for c in root.iterfind(".//samlp:StatusCode", NS)] == [
        "urn:oasis:names:tc:SAML:2.0:status:Success"]
    assert root.find("saml:Assertion", NS) is None  # never in the clear
    assert b"ERIKA" not in respond() and SUBJECT.encode() not in respond()


def test_the_assertion_binds_subject_audience_and_time() -> None:
    assertion = assertion_of(respond())
    assert assertion.findtext("saml:Issuer", namespaces=NS) == IDP
    assert assertion.get("IssueInstant") == "2026-03-02T09:30:15Z"

    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id.get("Format") == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert name_id.get("NameQualifier") == IDP
    assert name_id.get("SPNameQualifier") == ENTITY_ID
    assert name_id.text != SUBJECT
    assert name_id.text != assertion_of(respond()).findtext("saml:Subject/saml:NameID", namespaces=NS)  # transient

    confirmation = assertion.find("saml:Subject/saml:SubjectConfirmation", NS)
    assert confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    data = confirmation.find("saml:SubjectConfirmationData", NS)
    assert (data.get("InResponseTo"), data.get("Recipient"), data.get("NotOnOrAfter")) == (
        REQUEST_ID, ACS, "2026-03-02T09:35:15Z")

    conditions = assertion.find("saml:Conditions", NS)
    assert (conditions.get("NotBefore"), conditions.get("NotOnOrAfter")) == (
        "2026-03-02T09:30:15Z", "2026-03-02T09:35:15Z")
    assert [a.text for a in conditions.iterfind("saml:AudienceRestriction/saml:Audience", NS)] == [ENTITY_ID]

    statement = assertion.find("saml:AuthnStatement", NS)
    assert statement.get("AuthnInstant") == "2026-03-02T09:29:35Z"  # the login, not the response
    assert statement.findtext("saml:AuthnContext/saml:AuthnContextClassRef", namespaces=NS) == "STORK-QAA-Level-4"


def test_the_session_index_hides_the_session_and_differs_per_sp() -> None:
    index = assertion_of(respond()).find("saml:AuthnStatement", NS).get("SessionIndex")
    assert index == assertion_of(respond()).find("saml:AuthnStatement", NS).get("SessionIndex")  # stable: SLO
    assert SESSION_ID not in index
    other_metadata = read_sp_metadata(sp_metadata_with_keys(
        signing=key_pair("portal.example.de signing", 2048)[1], encryption=sp_encryption_key()[1]),
        test_system=False)
    other = SamlServiceProvider.registered(replace(other_metadata, entity_id="https://other.example.de/saml"),
                                           id="sp-2", tenant_id="tenant-1", created_at=NOW)
    assert assertion_of(respond(other)).find("saml:AuthnStatement", NS).get("SessionIndex") != index
    without_session = assertion_of(respond(result=replace(RESULT, session_id=None)))
    assert without_session.find("saml:AuthnStatement", NS).get("SessionIndex").startswith("_")


def attributes(assertion: etree._Element) -> list[tuple[str, str | None, str | None, str]]:
    """(Name, FriendlyName, akdb:TrustLevel, value) per saml:Attribute, in document order."""
    found = []
    for element in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        values = element.findall("saml:AttributeValue", NS)
        assert len(values) == 1
        assert element.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
        assert values[0].get(XSI_TYPE) == "xsd:string"
        assert values[0].nsmap.get("xsd") == "http://www.w3.org/2001/XMLSchema"  # the prefix resolves
        found.append((element.get("Name"), element.get("FriendlyName"), element.get(AKDB_TRUST_LEVEL),
                      values[0].text))
    return found


def named(key: str, trust: str | None, value: str) -> tuple[str, str | None, str | None, str]:
    """What the catalogue says the attribute is called — the test spells no URN either."""
    definition = BY_KEY[key]
    assert definition.saml_name
    return (definition.saml_name, definition.saml_friendly_name, trust, value)


def test_version_2_sends_the_pseudonym_and_exactly_what_was_requested_in_order() -> None:
    assert attributes(assertion_of(respond())) == [
        named("pseudonym", "NORMAL", SUBJECT),
        named("family_name", "HOCH", "MUSTERMANN"),
        named("given_name", "HOCH", "ERIKA"),
        named("locality", "UNTERGEORDNET", "Köln"),
        named("trust_level", "NORMAL", "STORK-QAA-Level-4"),
        named("proved_by", "NORMAL", "eID"),
        named("mfa", "NORMAL", "true"),
    ]


def test_bundid_names_reach_the_wire() -> None:
    """The catalogue's spelling is BundID's (egov-interfaces.md §1.5, §1.6) — checked once, here."""
    names = {(name, friendly) for name, friendly, _, _ in attributes(assertion_of(respond()))}
    assert ("urn:oid:1.3.6.1.4.1.25484.494450.3", "bPK2") in names
    assert ("urn:oid:2.5.4.4", "surname") in names
    assert ("urn:oid:1.2.40.0.10.2.1.1.261.94", "EID-CITIZEN-QAA-LEVEL") in names
    assert ("urn:oid:1.3.6.1.4.1.25484.494450.2", "AssertionProvedBy") in names


def test_values_are_sent_in_nfc() -> None:
    values = [value for *_, value in attributes(assertion_of(respond()))]
    assert "Köln" in values and KOELN_NFD not in values
    assert unicodedata.is_normalized("NFC", "Köln")


def test_version_1_or_no_extension_sends_everything_released() -> None:
    for version in (1, None):
        assert attributes(assertion_of(respond(requested=(), akdb_version=version))) == [
            named("pseudonym", "NORMAL", SUBJECT),
            named("given_name", "HOCH", "ERIKA"),
            named("family_name", "HOCH", "MUSTERMANN"),
            named("locality", "UNTERGEORDNET", "Köln"),
            named("email", "NORMAL", "erika@example.de"),
            named("trust_level", "NORMAL", "STORK-QAA-Level-4"),
            named("proved_by", "NORMAL", "eID"),
            named("mfa", "NORMAL", "true"),
            named("version", "NORMAL", "2020.2.1"),
        ]


def test_the_interface_version_is_sent_when_requested() -> None:
    """BundID §6.2 (egov-interfaces.md §1.6): `Version`, the interface's CalVer, as the IdP states it."""
    sent = attributes(assertion_of(respond(requested=(("given_name", True), ("version", False)))))
    assert sent == [named("pseudonym", "NORMAL", SUBJECT), named("given_name", "HOCH", "ERIKA"),
                    named("version", "NORMAL", "2020.2.1")]
    assert ("urn:oid:1.3.6.1.4.1.25484.494450.1", "Version") in {(name, friendly) for name, friendly, *_ in sent}


def test_a_released_value_cannot_pose_as_the_interface_version() -> None:
    forged = replace(RESULT, attributes=(*RESULT.attributes,
                                         ReleasedAttribute("version", "9999.1.1", "self_declared", TrustLevel.BASIC)))
    sent = attributes(assertion_of(respond(result=forged, requested=(("version", False),))))
    assert [value for name, _, _, value in sent if name == BY_KEY["version"].saml_name] == ["2020.2.1"]


def test_version_2_without_technical_requests_sends_the_pseudonym_only_besides_the_data() -> None:
    sent = attributes(assertion_of(respond(requested=(("given_name", True),))))
    assert sent == [named("pseudonym", "NORMAL", SUBJECT), named("given_name", "HOCH", "ERIKA")]


def test_a_temporary_login_carries_no_pseudonym() -> None:
    temporary = replace(RESULT, subject="")
    keys = [name for name, *_ in attributes(assertion_of(respond(result=temporary)))]
    assert BY_KEY["pseudonym"].saml_name not in keys
    assert BY_KEY["given_name"].saml_name in keys


def test_a_released_value_cannot_pose_as_a_technical_attribute() -> None:
    forged = replace(RESULT, attributes=(*RESULT.attributes,
                                         ReleasedAttribute("trust_level", "STORK-QAA-Level-4", "self_declared",
                                                           TrustLevel.BASIC)))
    low = replace(forged, trust_level=TrustLevel.BASIC, methods=("pwd",))
    sent = attributes(assertion_of(respond(result=low)))
    assert [value for name, _, _, value in sent if name == BY_KEY["trust_level"].saml_name] == ["STORK-QAA-Level-1"]


@pytest.mark.parametrize(("methods", "level", "expected_proof", "expected_mfa"), [
    (("pwd",), TrustLevel.BASIC, "Benutzername", False),
    (("pwd", "totp"), TrustLevel.LOW, "Benutzername", True),
    (("passkey",), TrustLevel.SUBSTANTIAL, "Benutzername", True),
    (("eid",), TrustLevel.HIGH, "eID", True),
    (("pwd", "eid"), TrustLevel.HIGH, "eID", True),
    (("elster",), TrustLevel.SUBSTANTIAL, "Elster", True),
])
def test_proof_and_mfa_follow_the_methods(methods: tuple[str, ...], level: TrustLevel, expected_proof: str,
                                          expected_mfa: bool) -> None:
    assert proved_by(methods) == expected_proof
    assert multi_factor(methods, level) is expected_mfa


def test_a_naive_time_is_refused() -> None:
    key, cert = idp_key()
    with pytest.raises(ValueError, match="timezone-aware"):
        build_response(idp_entity_id=IDP, sp=service_provider(), in_response_to=REQUEST_ID, acs_url=ACS,
                       result=RESULT, requested=REQUESTED, akdb_version=2, signing_key=key,
                       signing_certificate_pem=pem(cert), now=NOW.replace(tzinfo=None))


# --- errors ---------------------------------------------------------------------------------------------------

def error_response(*, detail: bool) -> bytes:
    return build_error_response(
        idp_entity_id=IDP, in_response_to=REQUEST_ID, acs_url=ACS, status_code="Responder",
        sub_status="urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
        message="Ein Pflichtattribut fehlt: Geburtsort", now=NOW,
        status_detail=[("IDP_REQUIRED_ATTRIBUTES_MISSING", "Pflichtattribut fehlt: Geburtsort")] if detail else None)


def test_an_error_response_carries_codes_and_message_but_no_assertion() -> None:
    root = etree.fromstring(error_response(detail=False))
    assert (root.get("Destination"), root.get("InResponseTo")) == (ACS, REQUEST_ID)
    assert root.findtext("saml:Issuer", namespaces=NS) == IDP
    top = root.find("samlp:Status/samlp:StatusCode", NS)
    assert top.get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Responder"
    assert [c.get("Value") for c in top.findall("samlp:StatusCode", NS)] == [
        "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"]
    assert root.findtext("samlp:Status/samlp:StatusMessage", namespaces=NS) == "Ein Pflichtattribut fehlt: Geburtsort"
    assert root.find("samlp:Status/samlp:StatusDetail", NS) is None
    assert root.find("saml:EncryptedAssertion", NS) is None and root.find("saml:Assertion", NS) is None


def test_the_bundid_status_detail_is_json_when_asked_for() -> None:
    detail = etree.fromstring(error_response(detail=True)).find("samlp:Status/samlp:StatusDetail/akdb:StatusDetail",
                                                               NS)
    assert json.loads(detail.text) == {"version": "1.0", "errors": [
        {"code": "IDP_REQUIRED_ATTRIBUTES_MISSING", "message": "Pflichtattribut fehlt: Geburtsort"}]}


# --- HTTP-POST binding page -----------------------------------------------------------------------------------

class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in {"meta", "link", "input"}:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self._open and self._open[-1] == tag, f"</{tag}> closes {self._open[-1:]}"
        self._open.pop()

    def handle_data(self, data: str) -> None:
        for tag in self._open:
            self.text[tag] = self.text.get(tag, "") + data

    def first(self, tag: str) -> dict[str, str | None]:
        return next(attrs for name, attrs in self.tags if name == tag)


def page(body: str) -> _Page:
    parsed = _Page()
    parsed.feed(body)
    parsed.close()
    assert not parsed._open, f"unclosed: {parsed._open}"
    return parsed


def test_the_post_form_carries_the_response_and_works_without_javascript() -> None:
    response = respond()
    relay_state = 'state"<&>'
    parsed = page(post_form(ACS, response, relay_state))

    assert parsed.first("html")["lang"] == "de"
    assert parsed.text["title"].strip()
    assert parsed.text["h1"].strip()
    form = parsed.first("form")
    assert (form["method"], form["action"]) == ("post", ACS)
    assert "data-autosubmit" in form
    inputs = {attrs["name"]: attrs for tag, attrs in parsed.tags if tag == "input"}
    assert inputs["SAMLResponse"]["type"] == "hidden"
    assert base64.b64decode(inputs["SAMLResponse"]["value"] or "") == response
    assert inputs["RelayState"]["value"] == relay_state  # escaped in the page, intact after parsing
    assert parsed.first("button")["type"] == "submit"
    assert " ".join(parsed.text["button"].split()) == "Weiter / Continue"
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert scripts == [{"src": "/static/autosubmit.js", "defer": None}]  # no inline script (CSP)
    assert not parsed.text.get("script", "").strip()


def test_the_post_form_leaves_out_an_absent_relay_state() -> None:
    parsed = page(post_form(ACS, b"<samlp:Response/>", None))
    assert [attrs["name"] for tag, attrs in parsed.tags if tag == "input"] == ["SAMLResponse"]


def test_the_autosubmit_script_is_shipped() -> None:
    script = Path(__file__).parents[2] / "src/servicekonto/web/static/autosubmit.js"
    assert "form[data-autosubmit]" in script.read_text()
