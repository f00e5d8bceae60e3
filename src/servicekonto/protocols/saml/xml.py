"""Namespaces and the one hardened XML parser every SAML input goes through: no DTD, no entities, no
network, no huge trees; a document with a DOCTYPE is refused outright (XXE, billion laughs)."""

from __future__ import annotations

from lxml import etree

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
ALG = "urn:oasis:names:tc:SAML:metadata:algsupport"  # SAML V2.0 Metadata Profile for Algorithm Support
XML_NS = "http://www.w3.org/XML/1998/namespace"
NS = {"md": MD, "saml": SAML, "ds": DS, "alg": ALG}


class UnsafeXml(ValueError):
    """The document is not well-formed, or carries what we never parse (a DOCTYPE)."""


def hardened_parser() -> etree.XMLParser:
    """A new parser per document (lxml parsers keep state; sharing one between threads is not safe)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True, collect_ids=False)


def parse(data: bytes) -> etree._Element:
    """The root element, or UnsafeXml. A DOCTYPE is refused before parsing when it is visible in the bytes,
    and after parsing in any encoding (the parser neither loads nor expands it)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXml("a DOCTYPE is not allowed (no DTDs, no entities)")
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {str(exc)[:200]}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml("a DOCTYPE is not allowed (no DTDs, no entities)")
    return root
