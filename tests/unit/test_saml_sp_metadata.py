"""SP metadata are held to BundID's rules (egov-interfaces.md §1.2), each with its own detail, and hostile
XML (DTDs, entities, oversized documents) is refused before it can do harm."""

from __future__ import annotations

import pytest

from servicekonto.domain.saml_sp import (
    MAX_METADATA_BYTES,
    SamlServiceProvider,
    SpMetadataInvalid,
    check_entity_id,
)
from servicekonto.protocols.saml.sp_metadata import check_metadata_url, read_sp_metadata
from tests.support.saml import (
    ACS,
    ALG_EXTENSIONS,
    ENTITY_ID,
    POST,
    REDIRECT,
    acs,
    certificate,
    key_descriptor,
    metadata_schema,
    pem,
    sp_metadata,
)


def refused(xml: bytes, *, test_system: bool = False) -> str:
    with pytest.raises(SpMetadataInvalid) as caught:
        read_sp_metadata(xml, test_system=test_system)
    assert caught.value.code == "saml_sp.invalid"
    return caught.value.detail or ""


def test_valid_metadata_are_read_completely() -> None:
    xml = sp_metadata(extensions=ALG_EXTENSIONS)
    metadata = read_sp_metadata(xml, test_system=False)

    assert metadata.entity_id == ENTITY_ID
    assert metadata.name == "Bürgerportal Musterstadt"  # the German display name, single-spaced
    assert [(a.binding, a.location, a.index, a.is_default) for a in metadata.acs] == [
        (POST, ACS, 1, True), (REDIRECT, "https://portal.example.de/saml/acs-redirect", 2, False)]
    assert [(e.binding, e.location) for e in metadata.slo] == [(REDIRECT, "https://portal.example.de/saml/slo")]
    assert metadata.signing_certificates == (pem(certificate("rsa", 2048)),)
    assert metadata.encryption_certificates == (pem(certificate("rsa", 3072)),)
    assert metadata.encryption_methods == ("http://www.w3.org/2009/xmlenc11#aes256-gcm",
                                           "http://www.w3.org/2009/xmlenc11#rsa-oaep")
    assert metadata.signing_methods == ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                                        "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1")
    assert metadata.digest_methods == ("http://www.w3.org/2001/04/xmlenc#sha256",)
    assert metadata.want_assertions_signed and metadata.authn_requests_signed
    assert metadata.metadata_xml == xml.decode()


def test_the_test_metadata_are_schema_valid() -> None:
    schema = metadata_schema()
    if schema is None:
        pytest.skip("pysaml2 (which ships the OASIS schemas) is not installed")
    from lxml import etree

    schema.assertValid(etree.fromstring(sp_metadata(extensions=ALG_EXTENSIONS)))


def test_a_key_descriptor_without_use_serves_signing_and_encryption() -> None:
    metadata = read_sp_metadata(sp_metadata(keys=key_descriptor(certificate("rsa", 2048), None)), test_system=False)
    assert metadata.signing_certificates == metadata.encryption_certificates == (pem(certificate("rsa", 2048)),)


def test_an_ec_signing_key_is_accepted() -> None:
    keys = key_descriptor(certificate("ec", 256), "signing") + key_descriptor(certificate("rsa", 2048), "encryption")
    metadata = read_sp_metadata(sp_metadata(keys=keys), test_system=False)
    assert metadata.signing_certificates == (pem(certificate("ec", 256)),)


def test_without_organisation_the_name_is_the_entity_id_host() -> None:
    assert read_sp_metadata(sp_metadata(organisation=""), test_system=False).name == "portal.example.de"


def test_defaults_when_nothing_is_declared() -> None:
    metadata = read_sp_metadata(sp_metadata(sp_attributes=""), test_system=False)
    assert not metadata.want_assertions_signed and not metadata.authn_requests_signed
    assert metadata.signing_methods == metadata.digest_methods == ()


@pytest.mark.parametrize(("change", "detail"), [
    ({"root_tag": "md:EntitiesDescriptor"}, "not md:EntitiesDescriptor"),
    ({"entity_id": "http://portal.example.de/saml"}, "must be an https URL"),
    ({"entity_id": "https://portal.example.de:8443/saml"}, "must not name a port"),
    ({"entity_id": "https://portal.example.de:443/saml"}, "must not name a port"),
    ({"entity_id": "urn:example:portal"}, "must be an https URL with a host"),
    ({"entity_id": ""}, "needs an entityID"),
    ({"root_attributes": ' validUntil="2030-01-01T00:00:00Z"'}, "must not carry validUntil"),
    ({"root_attributes": ' ID="_abc"'}, "must not carry an ID attribute"),
    ({"sp_attributes": 'validUntil="2030-01-01T00:00:00Z"'}, "SPSSODescriptor must not carry validUntil"),
    ({"protocol": "urn:oasis:names:tc:SAML:1.1:protocol"}, "protocolSupportEnumeration"),
    ({"endpoints": acs(binding=REDIRECT)}, "at least one AssertionConsumerService with Binding"),
    ({"endpoints": acs("http://portal.example.de/acs")}, "must be an https URL"),
    ({"endpoints": acs("http://127.0.0.1:8001/acs")}, "must be an https URL"),
    ({"endpoints": acs() + acs("https://portal.example.de/acs2")}, "share an index"),
    ({"endpoints": '<md:AssertionConsumerService Binding="' + POST + '" Location="' + ACS + '"/>'},
     "needs an index"),
    ({"endpoints": acs() + '<md:SingleLogoutService Binding="' + POST + '" Location="http://portal.example.de/slo"/>'},
     "SingleLogoutService location"),
    ({"keys": key_descriptor(certificate("rsa", 2048), "encryption")}, "a signing certificate is required"),
    ({"keys": key_descriptor(certificate("rsa", 2048), "signing")}, "an encryption certificate is required"),
    ({"keys": key_descriptor(certificate("rsa", 1024), None)}, "at least 2048"),
    ({"keys": key_descriptor(certificate("ec", 256), "signing") + key_descriptor(certificate("ec", 256), "encryption")},
     "must hold an RSA key"),
    ({"keys": '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA=='
              "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"}, "not a valid X.509"),
    ({"keys": '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>k</ds:KeyName></ds:KeyInfo>'
              "</md:KeyDescriptor>"}, "has no ds:X509Certificate"),
    ({"keys": key_descriptor(certificate("rsa", 2048), "both")}, "neither signing nor encryption"),
    ({"sp_attributes": 'WantAssertionsSigned="yes"'}, "is not a boolean"),
])
def test_each_rule_is_refused_with_its_own_detail(change: dict[str, str], detail: str) -> None:
    assert detail in refused(sp_metadata(**change))


def test_a_root_in_another_namespace_is_refused() -> None:
    xml = sp_metadata().replace(b'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"', b'xmlns:md="urn:example"')
    assert "root element must be md:EntityDescriptor" in refused(xml)


def test_a_test_system_accepts_loopback_sps_and_nothing_else() -> None:
    local = sp_metadata("http://127.0.0.1:8001/saml/metadata", endpoints=acs("http://127.0.0.1:8001/acs"))
    assert read_sp_metadata(local, test_system=True).entity_id == "http://127.0.0.1:8001/saml/metadata"
    assert read_sp_metadata(sp_metadata("https://localhost:8443/sp", endpoints=acs("http://localhost:8443/acs")),
                            test_system=True).name == "Bürgerportal Musterstadt"
    assert "must be an https URL" in refused(local)  # production: never
    assert "must not name a port" in refused(sp_metadata("https://portal.example.de:8443/sp"), test_system=True)
    assert "must be an https URL" in refused(sp_metadata(endpoints=acs("http://portal.example.de/acs")),
                                             test_system=True)


def test_entity_id_rules_directly() -> None:
    assert check_entity_id("https://portal.example.de/saml", test_system=False) == "https://portal.example.de/saml"
    for bad in ("https://portal.example.de:/saml", "https://user@portal.example.de/saml", " https://portal.example.de",
                "https://portal.example.de:99999/saml", "https://" + "a" * 1030):
        with pytest.raises(SpMetadataInvalid):
            check_entity_id(bad, test_system=False)


def test_metadata_urls_are_https_or_loopback_in_a_test_system() -> None:
    assert check_metadata_url("https://portal.example.de/md", test_system=False)
    assert check_metadata_url("http://127.0.0.1:9/md", test_system=True)
    for url, test_system in (("http://portal.example.de/md", True), ("http://127.0.0.1:9/md", False),
                             ("file:///etc/passwd", True), ("ftp://portal.example.de/md", False)):
        with pytest.raises(SpMetadataInvalid):
            check_metadata_url(url, test_system=test_system)


def test_registered_sp_knows_its_sector_and_default_acs() -> None:
    from datetime import UTC, datetime

    metadata = read_sp_metadata(sp_metadata(endpoints=acs(index=3) + acs(ACS + "2", index=1)), test_system=False)
    sp = SamlServiceProvider.registered(metadata, id="1", tenant_id="t", created_at=datetime.now(UTC))
    assert sp.sector == "portal.example.de"
    assert sp.default_acs is not None and sp.default_acs.location == ACS + "2"  # no default marked: lowest index


# Hostile XML: refused with the clear DOCTYPE message, nothing fetched or expanded.

XXE = (b'<?xml version="1.0"?><!DOCTYPE md:EntityDescriptor [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&x;"/>')
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                  b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
                  b"<r>&d;</r>")
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>'


@pytest.mark.parametrize("xml", [XXE, BILLION_LAUGHS, EXTERNAL_DTD,
                                 BILLION_LAUGHS.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
                                 .encode("utf-16")])
def test_doctype_and_entities_are_refused(xml: bytes) -> None:
    assert "DOCTYPE is not allowed" in refused(xml)


def test_oversized_metadata_are_refused_before_parsing() -> None:
    xml = sp_metadata(extensions="<md:Extensions>" + " " * MAX_METADATA_BYTES + "</md:Extensions>")
    assert "larger than 1048576 bytes (1 MiB)" in refused(xml)


@pytest.mark.parametrize("xml", [b"", b"not xml", b"<md:EntityDescriptor", b"\xff\xfe\x00<"])
def test_garbage_is_not_well_formed(xml: bytes) -> None:
    assert "not well-formed XML" in refused(xml)
