"""SAML test material made on the spot: self-signed certificates (cryptography) and SP metadata that follow
BundID's rules unless a test asks to break one. No keys are checked in."""

from __future__ import annotations

import base64
import importlib.util
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
ENTITY_ID = "https://portal.example.de/saml/metadata"
ACS = "https://portal.example.de/saml/acs"


@cache
def certificate(kind: str = "rsa", bits: int = 2048) -> x509.Certificate:
    """A self-signed certificate for an RSA key of `bits` or an EC key (`bits` 256 or 384)."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        key = ec.generate_private_key(ec.SECP384R1() if bits == 384 else ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"portal.example.de {kind}{bits}")])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def key_descriptor(cert: x509.Certificate, use: str | None, methods: tuple[str, ...] = ()) -> str:
    use_attribute = f' use="{use}"' if use else ""
    encryption = "".join(f'<md:EncryptionMethod Algorithm="{m}"/>' for m in methods)
    return (f"<md:KeyDescriptor{use_attribute}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64(cert)}"
            f"</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{encryption}</md:KeyDescriptor>")


def acs(location: str = ACS, binding: str = POST, index: int = 0, default: bool | None = None) -> str:
    is_default = "" if default is None else f' isDefault="{str(default).lower()}"'
    return f'<md:AssertionConsumerService Binding="{binding}" Location="{location}" index="{index}"{is_default}/>'


def sp_metadata(entity_id: str = ENTITY_ID, *, root_attributes: str = "", root_tag: str = "md:EntityDescriptor",
                sp_attributes: str = 'AuthnRequestsSigned="true" WantAssertionsSigned="true"',
                protocol: str = "urn:oasis:names:tc:SAML:2.0:protocol", keys: str | None = None,
                endpoints: str | None = None, extensions: str = "",
                organisation: str = '<md:Organization><md:OrganizationName xml:lang="de">Stadt Musterstadt'
                                    '</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Musterstadt '
                                    'portal</md:OrganizationDisplayName><md:OrganizationDisplayName xml:lang="de">'
                                    'Bürgerportal  Musterstadt</md:OrganizationDisplayName><md:OrganizationURL '
                                    'xml:lang="de">https://portal.example.de/</md:OrganizationURL></md:Organization>',
                prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    """Valid metadata of a portal; each keyword replaces one part, so a test breaks exactly one rule."""
    if keys is None:
        keys = key_descriptor(certificate("rsa", 2048), "signing") + key_descriptor(
            certificate("rsa", 3072), "encryption",
            ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "http://www.w3.org/2009/xmlenc11#rsa-oaep"))
    if endpoints is None:
        endpoints = (f'<md:SingleLogoutService Binding="{REDIRECT}" Location="https://portal.example.de/saml/slo"/>'
                     + acs(index=1, default=True) + acs("https://portal.example.de/saml/acs-redirect", REDIRECT, 2))
    return (
        f'{prolog}<{root_tag} xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:alg="urn:oasis:names:tc:SAML:metadata:algsupport" '
        f'entityID="{entity_id}"{root_attributes}>'
        f"{extensions}"
        f'<md:SPSSODescriptor {sp_attributes} protocolSupportEnumeration="{protocol}">'
        f"{keys}{endpoints}</md:SPSSODescriptor>{organisation}</{root_tag}>"
    ).encode()


ALG_EXTENSIONS = (
    "<md:Extensions>"
    '<alg:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
    '<alg:SigningMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<alg:SigningMethod Algorithm="http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"/>'
    "</md:Extensions>"
)


# The OASIS schemas as pysaml2 ships them; their remote imports map to the files beside them.
_REMOTE_SCHEMAS = {
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": "xmldsig-core-schema.xsd",
    "http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd": "xenc-schema.xsd",
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
}


def schema_folder() -> Path | None:
    spec = importlib.util.find_spec("saml2")  # without importing pysaml2 itself
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"
    return folder if (folder / "saml-schema-metadata-2.0.xsd").exists() else None


class _LocalSchemas(etree.Resolver):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        name = _REMOTE_SCHEMAS.get(system_url or "") or Path(system_url or "").name
        if name and (self._folder / name).exists():
            return self.resolve_filename(str(self._folder / name), context)
        return None


@cache
def metadata_schema() -> etree.XMLSchema | None:
    """SAML 2.0 metadata together with the Metadata Profile for Algorithm Support, or None without pysaml2."""
    folder = schema_folder()
    if folder is None:
        return None
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas(folder))
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x-servicekonto-tests">'
        f'<xs:import namespace="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'schemaLocation="{(folder / "saml-schema-metadata-2.0.xsd").as_uri()}"/>'
        f'<xs:import namespace="urn:oasis:names:tc:SAML:metadata:algsupport" '
        f'schemaLocation="{(folder / "sstc-saml-metadata-algsupport-v1.0.xsd").as_uri()}"/>'
        "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), parser))
