"""The IdP's own metadata at `/saml/metadata` (SAML V2.0 Metadata; DESIGN.md §4): everything an SP needs,
signed with the SAML signing key. Built once per key set and served as bytes; a rotation (new or dropped
certificates) builds it anew.
"""

from __future__ import annotations

import hashlib
import threading

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

from servicekonto.core.errors import ConfigurationError
from servicekonto.domain.attributes import CATALOGUE
from servicekonto.domain.keys import KeyPurpose
from servicekonto.domain.saml_sp import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, SAML2_PROTOCOL
from servicekonto.protocols.saml.xml import ALG, DS, MD, SAML, XML_NS
from servicekonto.services.keys import KeyService, PrivateKey

CONTENT_TYPE = "application/samlmetadata+xml"
PATHS = {"metadata": "/saml/metadata", "sso": "/saml/sso", "slo": "/saml/slo"}
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
ATTRNAME_FORMAT_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
# BSI TR-03116-4 direction (egov-interfaces.md §1.8, §8.7): RSASSA-PSS first, rsa-sha256 for SPs that lack it.
RSA_PSS_SHA256 = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNING_METHODS = (RSA_PSS_SHA256, RSA_SHA256)
DIGEST_METHODS = (SHA256,)
MIN_KEY_SIZE = "2048"
EXCLUSIVE_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0


def _md(tag: str) -> str:
    return f"{{{MD}}}{tag}"


def _pem_body(pem: str) -> str:
    """The base64 of a PEM certificate, as ds:X509Certificate carries it."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return "".join(certificate.public_bytes(serialization.Encoding.PEM).decode().splitlines()[1:-1])


def _certificate_of(private_key: PrivateKey, certificates: tuple[str, ...]) -> str | None:
    """The published certificate of `private_key`, so the signature's KeyInfo names the key that signed."""
    public = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    for pem in certificates:
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        if key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == public:
            return pem
    return None


class IdpMetadata:
    """The signed EntityDescriptor of this IdP. `body()` is cheap while the key set stays the same."""

    def __init__(self, *, keys: KeyService, base_url: str, site_name: str,
                 signature_method: str = RSA_PSS_SHA256) -> None:
        self._keys = keys
        self._base = base_url.rstrip("/")
        self._site_name = site_name
        self._signature_method = SignatureMethod(signature_method)
        self._lock = threading.Lock()
        self._cached: tuple[tuple[str, ...], bytes] | None = None

    @property
    def entity_id(self) -> str:
        return f"{self._base}{PATHS['metadata']}"

    @property
    def cache_seconds(self) -> int:
        return self._keys.cache_seconds

    def body(self) -> bytes:
        certificates = tuple(self._keys.certificates(KeyPurpose.SAML_SIGNING))
        cached = self._cached
        if cached is not None and cached[0] == certificates:
            return cached[1]
        with self._lock:
            cached = self._cached
            if cached is None or cached[0] != certificates:
                cached = self._build(certificates)
                self._cached = cached
            return cached[1]

    def _build(self, certificates: tuple[str, ...]) -> tuple[tuple[str, ...], bytes]:
        _kid, private_key = self._keys.signing_key(KeyPurpose.SAML_SIGNING)
        signing_certificate = _certificate_of(private_key, certificates)
        if signing_certificate is None:  # rotated between the two reads: the key set is new, read it again
            certificates = tuple(self._keys.certificates(KeyPurpose.SAML_SIGNING))
            signing_certificate = _certificate_of(private_key, certificates)
        if signing_certificate is None:
            raise ConfigurationError("the active SAML signing key has no published certificate")
        root = self._unsigned(certificates)
        signer = XMLSigner(signature_algorithm=self._signature_method, digest_algorithm=DigestAlgorithm.SHA256,
                           c14n_algorithm=EXCLUSIVE_C14N)
        signed = signer.sign(root, key=private_key, cert=[signing_certificate], id_attribute="ID")
        return certificates, bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))

    def _unsigned(self, certificates: tuple[str, ...]) -> etree._Element:
        """In schema order; the ds:Signature placeholder first (saml-schema-metadata-2.0: EntityDescriptorType).
        The ID names the key set, so the signature's reference (SAML core §5.4.2) is stable between builds."""
        key_set = hashlib.sha256("".join(certificates).encode()).hexdigest()[:40]
        root = etree.Element(_md("EntityDescriptor"), nsmap={"md": MD, "ds": DS, "alg": ALG, "saml": SAML},
                             entityID=self.entity_id, ID=f"_{key_set}")
        etree.SubElement(root, f"{{{DS}}}Signature", Id="placeholder")
        extensions = etree.SubElement(root, _md("Extensions"))
        for algorithm in DIGEST_METHODS:
            etree.SubElement(extensions, f"{{{ALG}}}DigestMethod", Algorithm=algorithm)
        for algorithm in SIGNING_METHODS:
            etree.SubElement(extensions, f"{{{ALG}}}SigningMethod", Algorithm=algorithm, MinKeySize=MIN_KEY_SIZE)

        idp = etree.SubElement(root, _md("IDPSSODescriptor"), WantAuthnRequestsSigned="true",
                               protocolSupportEnumeration=SAML2_PROTOCOL)
        for pem in certificates:
            descriptor = etree.SubElement(idp, _md("KeyDescriptor"), use="signing")
            data = etree.SubElement(etree.SubElement(descriptor, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
            etree.SubElement(data, f"{{{DS}}}X509Certificate").text = _pem_body(pem)
        for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):  # SSODescriptorType: before NameIDFormat
            etree.SubElement(idp, _md("SingleLogoutService"), Binding=binding, Location=f"{self._base}{PATHS['slo']}")
        etree.SubElement(idp, _md("NameIDFormat")).text = NAMEID_TRANSIENT
        for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
            etree.SubElement(idp, _md("SingleSignOnService"), Binding=binding, Location=f"{self._base}{PATHS['sso']}")
        for definition in CATALOGUE:
            if definition.saml_name:
                attribute = etree.SubElement(idp, f"{{{SAML}}}Attribute", Name=definition.saml_name,
                                             NameFormat=ATTRNAME_FORMAT_URI)
                if definition.saml_friendly_name:
                    attribute.set("FriendlyName", definition.saml_friendly_name)

        organisation = etree.SubElement(root, _md("Organization"))
        for tag, text in (("OrganizationName", self._site_name), ("OrganizationDisplayName", self._site_name),
                          ("OrganizationURL", f"{self._base}/")):
            for language in ("de", "en"):
                etree.SubElement(organisation, _md(tag), {f"{{{XML_NS}}}lang": language}).text = text
        contact = etree.SubElement(root, _md("ContactPerson"), contactType="technical")
        etree.SubElement(contact, _md("Company")).text = self._site_name
        return root
