"""Namespaces and the one hardened XML parser every SAML input goes through: no DTD, no entities, no
network, no huge trees; a document with a DOCTYPE is refused outright (XXE, billion laughs). Also the escaping
for what we write as text: the Assertion is written as a string and parsed once, about three times cheaper
than building it element by element (bench/saml_sso.py)."""

from __future__ import annotations

import re

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


# Characters XML 1.0 allows (§2.2); lxml refuses the others when a tree is built, so do we.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_PLAIN = re.compile("[&<>\r]|[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # escape or refuse


def text(value: str) -> str:
    """`value` as character data (§2.4): `>` escaped too, so `]]>` cannot appear; CR as a reference, so it
    survives the parser's end-of-line handling (§2.11). ValueError for characters XML cannot carry."""
    if not _NOT_PLAIN.search(value):
        return value
    if _NOT_XML.search(value):
        raise ValueError("All strings must be XML compatible: no NULL bytes or control characters")
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def attribute(value: str) -> str:
    """`value` inside a double-quoted attribute: as `text`, and whitespace as references, which attribute-value
    normalisation (§3.3.3) leaves alone."""
    return text(value).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")


def own(document: str) -> etree._Element:
    """The root of a document we wrote ourselves from escaped values, through the hardened parser all the
    same: a mistake in a template fails here, not at the SP."""
    return etree.fromstring(document.encode(), hardened_parser())
