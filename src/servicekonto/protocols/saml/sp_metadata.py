"""Reading an SP's metadata (SAML V2.0 Metadata) and holding it to BundID's rules (egov-interfaces.md §1.2).

Each rule fails with `SpMetadataInvalid` and a detail that names the rule; docs/integration/saml.md lists
them. Whether the metadata are signed is not checked: they come from the operator, who vouches for them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from servicekonto.domain.saml_sp import (
    BINDING_HTTP_POST,
    LOOPBACK_HOSTS,
    MAX_METADATA_BYTES,
    MIN_EC_BITS,
    MIN_RSA_BITS,
    SAML2_PROTOCOL,
    AssertionConsumerService,
    Endpoint,
    SpMetadata,
    SpMetadataInvalid,
    SpMetadataUnavailable,
    check_endpoint_location,
    check_entity_id,
    display_name,
)
from servicekonto.protocols.fetch import non_public_reason
from servicekonto.protocols.saml.xml import MD, NS, XML_NS, UnsafeXml, parse

FETCH_TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 3
_TRUE = {"true", "1"}
_BOOLEANS = {"true", "1", "false", "0"}


def read_sp_metadata(xml: bytes, *, test_system: bool) -> SpMetadata:
    """Parse `xml` with the hardened parser and check every rule; the first broken one is reported."""
    if len(xml) > MAX_METADATA_BYTES:
        raise too_large(MAX_METADATA_BYTES)
    try:
        root = parse(xml)
    except UnsafeXml as exc:
        raise SpMetadataInvalid(str(exc)) from None
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        raise SpMetadataInvalid("the root element must be md:EntityDescriptor, not md:EntitiesDescriptor "
                                "(register each service provider on its own)")
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise SpMetadataInvalid(f"the root element must be md:EntityDescriptor "
                                f"(namespace {MD}), found {_name(root)}")
    entity_id = check_entity_id(root.get("entityID") or "", test_system=test_system)
    if root.get("validUntil") is not None:
        raise SpMetadataInvalid("the EntityDescriptor must not carry validUntil")
    if root.get("ID") is not None:
        raise SpMetadataInvalid("the EntityDescriptor must not carry an ID attribute")
    sp = _sp_descriptor(root)
    acs = _assertion_consumer_services(sp, test_system=test_system)
    slo = tuple(_endpoint(element, "SingleLogoutService", test_system=test_system)
                for element in sp.findall("md:SingleLogoutService", NS))
    signing, encryption, encryption_methods = _key_descriptors(sp)
    extensions = [*root.findall("md:Extensions", NS), *sp.findall("md:Extensions", NS)]
    return SpMetadata(
        entity_id=entity_id,
        name=display_name(_organisation_name(root, sp), entity_id),
        acs=acs,
        slo=slo,
        signing_certificates=signing,
        encryption_certificates=encryption,
        encryption_methods=encryption_methods,
        signing_methods=_algorithms(extensions, "alg:SigningMethod"),
        digest_methods=_algorithms(extensions, "alg:DigestMethod"),
        want_assertions_signed=_boolean(sp, "WantAssertionsSigned"),
        authn_requests_signed=_boolean(sp, "AuthnRequestsSigned"),
        metadata_xml=_text(xml, root),
    )


def too_large(limit: int) -> SpMetadataInvalid:
    return SpMetadataInvalid(f"the metadata are larger than {limit} bytes"
                             + (f" ({limit // 1024 // 1024} MiB)" if limit % (1024 * 1024) == 0 else ""))


def _name(element: etree._Element) -> str:
    qname = etree.QName(element)
    return f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname


def _text(xml: bytes, root: etree._Element) -> str:
    encoding = root.getroottree().docinfo.encoding or "utf-8"
    try:
        return xml.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        raise SpMetadataInvalid(f"the metadata are not readable as {encoding}") from None


def _sp_descriptor(root: etree._Element) -> etree._Element:
    found = [sp for sp in root.findall("md:SPSSODescriptor", NS)
             if SAML2_PROTOCOL in (sp.get("protocolSupportEnumeration") or "").split()]
    if not found:
        raise SpMetadataInvalid(f"an md:SPSSODescriptor with protocolSupportEnumeration {SAML2_PROTOCOL!r} "
                                "is required")
    if len(found) > 1:
        raise SpMetadataInvalid("only one md:SPSSODescriptor for SAML 2.0 is allowed")
    sp = found[0]
    if sp.get("validUntil") is not None:
        raise SpMetadataInvalid("the SPSSODescriptor must not carry validUntil")
    return sp


def _boolean(element: etree._Element, attribute: str) -> bool:
    value = (element.get(attribute) or "false").strip()
    if value not in _BOOLEANS:
        raise SpMetadataInvalid(f"{attribute}={value!r} is not a boolean (true, false, 1, 0)")
    return value in _TRUE


def _endpoint(element: etree._Element, kind: str, *, test_system: bool) -> Endpoint:
    binding = (element.get("Binding") or "").strip()
    location = (element.get("Location") or "").strip()
    if not binding or not location:
        raise SpMetadataInvalid(f"every {kind} needs Binding and Location")
    check_endpoint_location(location, element=kind, test_system=test_system)
    response_location = (element.get("ResponseLocation") or "").strip() or None
    if response_location:
        check_endpoint_location(response_location, element=kind, test_system=test_system)
    return Endpoint(binding=binding, location=location, response_location=response_location)


def _assertion_consumer_services(sp: etree._Element, *, test_system: bool) -> tuple[AssertionConsumerService, ...]:
    found = []
    for element in sp.findall("md:AssertionConsumerService", NS):
        endpoint = _endpoint(element, "AssertionConsumerService", test_system=test_system)
        index_text = (element.get("index") or "").strip()
        if not index_text.isdigit() or int(index_text) > 65535:
            raise SpMetadataInvalid(f"AssertionConsumerService {endpoint.location!r} needs an index from 0 to 65535")
        found.append(AssertionConsumerService(binding=endpoint.binding, location=endpoint.location,
                                              index=int(index_text), is_default=_boolean(element, "isDefault")))
    if not any(acs.binding == BINDING_HTTP_POST for acs in found):
        raise SpMetadataInvalid(f"at least one AssertionConsumerService with Binding {BINDING_HTTP_POST!r} "
                                "is required")
    indices = [acs.index for acs in found]
    if len(set(indices)) != len(indices):
        raise SpMetadataInvalid("two AssertionConsumerService elements share an index")
    return tuple(found)


def _key_descriptors(sp: etree._Element) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Signing and encryption certificates (PEM) and the declared encryption methods. A KeyDescriptor
    without `use` serves both (SAML metadata §2.4.1.1); an EC key there serves signing only, as we
    encrypt to RSA keys (RSA-OAEP key transport)."""
    signing: list[str] = []
    encryption: list[str] = []
    methods: list[str] = []
    for number, descriptor in enumerate(sp.findall("md:KeyDescriptor", NS), start=1):
        use = descriptor.get("use")
        if use not in {None, "signing", "encryption"}:
            raise SpMetadataInvalid(f"KeyDescriptor {number}: use={use!r} is neither signing nor encryption")
        elements = descriptor.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
        if not elements:
            raise SpMetadataInvalid(f"KeyDescriptor {number} has no ds:X509Certificate (keys are exchanged as "
                                    "certificates)")
        for element in elements:
            certificate = _certificate(element.text or "", number)
            is_rsa = isinstance(certificate.public_key(), rsa.RSAPublicKey)
            pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
            if use in {None, "signing"} and pem not in signing:
                signing.append(pem)
            if use == "encryption" and not is_rsa:
                raise SpMetadataInvalid(f"KeyDescriptor {number}: an encryption certificate must hold an RSA key")
            if use in {None, "encryption"} and is_rsa and pem not in encryption:
                encryption.append(pem)
        if use in {None, "encryption"}:
            methods.extend(_algorithms([descriptor], "md:EncryptionMethod"))
    if not signing:
        raise SpMetadataInvalid('a signing certificate is required (md:KeyDescriptor use="signing")')
    if not encryption:
        raise SpMetadataInvalid('an encryption certificate is required (md:KeyDescriptor use="encryption")')
    return tuple(signing), tuple(encryption), tuple(dict.fromkeys(methods))


def _certificate(text: str, number: int) -> x509.Certificate:
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        certificate = x509.load_der_x509_certificate(der)
        key = certificate.public_key()
    except (binascii.Error, ValueError):
        raise SpMetadataInvalid(f"KeyDescriptor {number}: the certificate is not a valid X.509 certificate") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise SpMetadataInvalid(f"KeyDescriptor {number}: the RSA key has {key.key_size} bits; at least "
                                    f"{MIN_RSA_BITS} are required")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.key_size < MIN_EC_BITS:
            raise SpMetadataInvalid(f"KeyDescriptor {number}: the EC key has {key.key_size} bits; at least "
                                    f"{MIN_EC_BITS} are required")
    else:
        raise SpMetadataInvalid(f"KeyDescriptor {number}: the certificate must hold an RSA or EC key")
    return certificate


def _algorithms(parents: Iterable[etree._Element], path: str) -> tuple[str, ...]:
    found = [(element.get("Algorithm") or "").strip() for parent in parents for element in parent.findall(path, NS)]
    return tuple(dict.fromkeys(algorithm for algorithm in found if algorithm))


def _organisation_name(root: etree._Element, sp: etree._Element) -> str | None:
    """OrganizationDisplayName in German, else English, else the first (entity's before the SP role's)."""
    names: dict[str, str] = {}
    for organisation in (*root.findall("md:Organization", NS), *sp.findall("md:Organization", NS)):
        for element in organisation.findall("md:OrganizationDisplayName", NS):
            names.setdefault((element.get(f"{{{XML_NS}}}lang") or "").lower()[:2], element.text or "")
    for language in ("de", "en"):
        if names.get(language, "").strip():
            return names[language]
    return next((name for name in names.values() if name.strip()), None)


def is_url(value: str) -> bool:
    return value.lower().startswith(("https://", "http://"))


def check_metadata_url(url: str, *, test_system: bool) -> str:
    parts = urlsplit(url)
    loopback = (parts.hostname or "").lower() in LOOPBACK_HOSTS
    if parts.hostname and (parts.scheme == "https" or (parts.scheme == "http" and loopback and test_system)):
        return url
    raise SpMetadataInvalid(f"the metadata URL {url!r} must be an https URL"
                            + (" (or http on 127.0.0.1/localhost)" if test_system else ""))


def fetch_sp_metadata(url: str, *, test_system: bool, timeout: float = FETCH_TIMEOUT_SECONDS,
                      max_bytes: int = MAX_METADATA_BYTES) -> bytes:
    """GET the metadata from the SP's URL: https only (each redirect too), bounded in time and size."""
    check_metadata_url(url, test_system=test_system)

    def _check_request(request: httpx2.Request) -> None:
        check_metadata_url(str(request.url), test_system=test_system)
        reason = non_public_reason(str(request.url), test_system=test_system)  # SSRF: public hosts only
        if reason is not None:
            raise SpMetadataInvalid(f"metadata URL: {reason}")

    try:
        with (httpx2.Client(timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                           event_hooks={"request": [_check_request]}) as client,
              client.stream("GET", url, headers={"accept": "application/samlmetadata+xml, application/xml"}) as resp):
            if resp.status_code != 200:
                raise SpMetadataUnavailable(f"{url} answered HTTP {resp.status_code}")
            body = bytearray()
            for chunk in resp.iter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise too_large(max_bytes)
            return bytes(body)
    except httpx2.HTTPError as exc:
        raise SpMetadataUnavailable(f"{url}: {type(exc).__name__} {str(exc)[:200]}".strip()) from None
