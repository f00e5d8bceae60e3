"""SAML test material made on the spot: self-signed certificates (cryptography) and SP metadata that follow
BundID's rules unless a test asks to break one. No keys are checked in."""

from __future__ import annotations

import base64
import importlib.util
import zlib
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from servicekonto.domain.saml_sp import SamlServiceProvider
from servicekonto.protocols.saml.sp_metadata import read_sp_metadata

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


# --- keys that tests keep, for the Response: the IdP signs with one, the SP decrypts with another ---------------

PSS = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@cache
def key_pair(name: str, bits: int = 3072) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An RSA key and its self-signed certificate (CN `name`), the same for every test of a session."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    return key, cert


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def sp_metadata_with_keys(*, signing: x509.Certificate, encryption: x509.Certificate,
                          encryption_methods: tuple[str, ...] = (), signing_methods: tuple[str, ...] = ()) -> bytes:
    """Metadata of the test portal with the given certificates and declared algorithms (none: nothing declared)."""
    extensions = ""
    if signing_methods:
        extensions = ("<md:Extensions>"
                      + "".join(f'<alg:SigningMethod Algorithm="{m}"/>' for m in signing_methods)
                      + "</md:Extensions>")
    return sp_metadata(keys=key_descriptor(signing, "signing") + key_descriptor(encryption, "encryption",
                                                                                   encryption_methods),
                       extensions=extensions)


@cache
def protocol_schema() -> etree.XMLSchema | None:
    """SAML 2.0 protocol and assertion with XML Signature, XML Encryption 1.0 and 1.1 (for xenc11:MGF), or None
    without pysaml2."""
    folder = schema_folder()
    if folder is None:
        return None
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas(folder))
    imports = {"urn:oasis:names:tc:SAML:2.0:protocol": "saml-schema-protocol-2.0.xsd",
               "urn:oasis:names:tc:SAML:2.0:assertion": "saml-schema-assertion-2.0.xsd",
               "http://www.w3.org/2009/xmlenc11#": "xenc-schema-11.xsd"}
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x-servicekonto-tests">'
        + "".join(f'<xs:import namespace="{ns}" schemaLocation="{(folder / name).as_uri()}"/>'
                  for ns, name in imports.items())
        + "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), parser))


# -- AuthnRequests -----------------------------------------------------------------------------------------------
# What a portal sends: AuthnRequests built here (lxml text + signxml for the enveloped signature, cryptography for
# the Redirect binding's query signature), signed with the portal's own request-signing key.

SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
AKDB_NS = "https://www.akdb.de/request/2018/09"
CLASSIC_UI_NS = "https://www.akdb.de/request/2018/09/classic-ui/v1"
SSO_URL = "https://id.example.de/saml/sso"
ACS_2 = "https://portal.example.de/saml/acs-2"
REQUEST_TIME = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
_QUERY_HASHES = {RSA_SHA256: hashes.SHA256, RSA_SHA512: hashes.SHA512, PSS: hashes.SHA256, ECDSA_SHA256: hashes.SHA256,
                 RSA_SHA1: hashes.SHA1}


@cache
def ec_key_pair(name: str, bits: int = 256) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP384R1() if bits == 384 else ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    return key, cert


def request_signing_key(kind: str = "rsa") -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The test portal's key for signing AuthnRequests ("other" is a second RSA key the portal never registers)."""
    if kind == "ec":
        return ec_key_pair("portal request signing ec")
    return key_pair("portal request signing" + (" other" if kind == "other" else ""), 2048)


def authn_sp(entity_id: str = ENTITY_ID, *, signed_requests: bool = False,
             signing: tuple[x509.Certificate, ...] | None = None,
             endpoints: str | None = None) -> SamlServiceProvider:
    """The test portal as registered from its metadata (through the real metadata reader)."""
    certificates = signing if signing is not None else (request_signing_key()[1],)
    keys = "".join(key_descriptor(cert, "signing") for cert in certificates) + key_descriptor(
        certificate("rsa", 3072), "encryption")
    if endpoints is None:
        endpoints = (acs(index=1, default=True) + acs("https://portal.example.de/saml/acs-redirect", REDIRECT, 2)
                     + acs(ACS_2, POST, 3))
    signed = f'AuthnRequestsSigned="{str(signed_requests).lower()}"'
    metadata = read_sp_metadata(sp_metadata(entity_id, sp_attributes=signed, keys=keys, endpoints=endpoints),
                                test_system=False)
    return SamlServiceProvider.registered(metadata, id="sp-" + entity_id, tenant_id="tenant-1",
                                          created_at=REQUEST_TIME)


def saml_time(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def authn_context(*references: str, comparison: str | None = "minimum") -> str:
    compare = f' Comparison="{comparison}"' if comparison is not None else ""
    return (f"<samlp:RequestedAuthnContext{compare}>"
            + "".join(f"<saml:AuthnContextClassRef>{ref}</saml:AuthnContextClassRef>" for ref in references)
            + "</samlp:RequestedAuthnContext>")


def authn_request_xml(*, request_id: str = "_4f2a9c1e8b7d", issuer: str = ENTITY_ID,
                      issue_instant: datetime = REQUEST_TIME, destination: str | None = SSO_URL,
                      acs_url: str | None = ACS, acs_index: int | None = None, protocol_binding: str | None = POST,
                      force_authn: str | None = None, is_passive: str | None = None, version: str = "2.0",
                      extensions: str = "", requested_context: str = "", extra_attributes: str = "",
                      extra_children: str = "", root_tag: str = "samlp:AuthnRequest") -> bytes:
    """An AuthnRequest in schema order (Issuer, Extensions, NameIDPolicy, RequestedAuthnContext); each
    keyword replaces one part, None leaves an optional attribute out."""
    optional = {"Destination": destination, "AssertionConsumerServiceURL": acs_url,
                "AssertionConsumerServiceIndex": None if acs_index is None else str(acs_index),
                "ProtocolBinding": protocol_binding, "ForceAuthn": force_authn, "IsPassive": is_passive}
    attributes = "".join(f' {name}="{value}"' for name, value in optional.items() if value is not None)
    return (
        f'<{root_tag} xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}" ID="{request_id}" Version="{version}" '
        f'IssueInstant="{saml_time(issue_instant)}"{attributes}{extra_attributes}>'
        f"<saml:Issuer>{issuer}</saml:Issuer>"
        + (f"<samlp:Extensions>{extensions}</samlp:Extensions>" if extensions else "")
        + '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/>'
        + requested_context + extra_children + f"</{root_tag}>"
    ).encode()


def akdb_extension(*, version: str | None = "2", methods: tuple[tuple[str, str | None], ...] | None = None,
                   allowed_methods: tuple[str, ...] | None = None,
                   attributes: tuple[tuple[str, str | None], ...] | None = (
                       ("urn:oid:1.3.6.1.4.1.25484.494450.3", "true"), ("urn:oid:2.5.4.42", None)),
                   display: dict[str, str] | None = None, status_detail: str | None = None) -> str:
    """`akdb:AuthenticationRequest` (BundID §9): methods as (name, Enabled or None), attributes as
    (Name, RequiredAttribute or None), display as classic-ui element name → text (put in CDATA)."""
    parts = []
    if methods is not None:
        parts.append("<akdb:AuthnMethods>" + "".join(
            f"<akdb:{name}>" + (f"<akdb:Enabled>{enabled}</akdb:Enabled>" if enabled is not None else "")
            + f"</akdb:{name}>" for name, enabled in methods) + "</akdb:AuthnMethods>")
    if allowed_methods is not None:
        parts.append("<akdb:AllowedMethods>" + "".join(f"<akdb:AuthnMethod>{m}</akdb:AuthnMethod>"
                                                      for m in allowed_methods) + "</akdb:AllowedMethods>")
    if attributes is not None:
        parts.append("<akdb:RequestedAttributes>" + "".join(
            f'<akdb:RequestedAttribute Name="{name}"'
            + (f' RequiredAttribute="{required}"' if required is not None else "") + "/>"
            for name, required in attributes) + "</akdb:RequestedAttributes>")
    if display is not None:
        parts.append(f'<akdb:DisplayInformation><classic-ui:Version xmlns:classic-ui="{CLASSIC_UI_NS}">'
                     + "".join(f"<classic-ui:{name}><![CDATA[{text}]]></classic-ui:{name}>"
                               for name, text in display.items())
                     + "</classic-ui:Version></akdb:DisplayInformation>")
    head = f'<akdb:AuthenticationRequest xmlns:akdb="{AKDB_NS}"'
    head += f' Version="{version}"' if version is not None else ""
    head += f' EnableStatusDetail="{status_detail}"' if status_detail is not None else ""
    return head + ">" + "".join(parts) + "</akdb:AuthenticationRequest>"


def sign_enveloped(xml: bytes, *, key: tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate]
                   | None = None, algorithm: str = RSA_SHA256) -> bytes:
    """An enveloped XML signature over the root (Reference to its ID, exclusive c14n, SHA-256), placed right
    after the Issuer as saml-schema-protocol-2.0 orders it; KeyInfo carries the certificate."""
    from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

    private_key, cert = key or request_signing_key()
    root = etree.fromstring(xml)
    placeholder = etree.Element(f"{{{DS_NS}}}Signature", Id="placeholder")
    issuer = root.find(f"{{{SAML_NS}}}Issuer")
    if issuer is not None:
        issuer.addnext(placeholder)
    else:
        root.insert(0, placeholder)
    class Signer(XMLSigner):  # type: ignore[misc]
        def check_deprecated_methods(self) -> None:  # a legacy portal may still sign with SHA-1
            if algorithm != RSA_SHA1:
                super().check_deprecated_methods()

    signer = Signer(signature_algorithm=SignatureMethod(algorithm), digest_algorithm=DigestAlgorithm.SHA256,
                    c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed = signer.sign(root, key=private_key, cert=[cert], id_attribute="ID")
    return etree.tostring(signed)


def post_params(xml: bytes, relay_state: str | None = None) -> dict[str, str]:
    params = {"SAMLRequest": base64.b64encode(xml).decode()}
    if relay_state is not None:
        params["RelayState"] = relay_state
    return params


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def sign_octets(octets: bytes, algorithm: str,
                key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    hash_type = _QUERY_HASHES[algorithm]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(octets, ec.ECDSA(hash_type))
    if algorithm == PSS:
        return key.sign(octets, padding.PSS(mgf=padding.MGF1(hash_type), salt_length=padding.PSS.DIGEST_LENGTH),
                        hash_type)
    return key.sign(octets, padding.PKCS1v15(), hash_type)


def redirect_query(xml: bytes, *, relay_state: str | None = None, sign: bool = True, algorithm: str = RSA_SHA256,
                   key: tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
                   deflated: bytes | None = None) -> str:
    """The query string of an HTTP-Redirect request (SAML bindings §3.4.4.1), signed over its own octets."""
    encoded = base64.b64encode(deflate(xml) if deflated is None else deflated).decode()
    parts = ["SAMLRequest=" + quote(encoded, safe="")]
    if relay_state is not None:
        parts.append("RelayState=" + quote(relay_state, safe=""))
    if sign:
        parts.append("SigAlg=" + quote(algorithm, safe=""))
        signature = sign_octets("&".join(parts).encode(), algorithm, (key or request_signing_key())[0])
        parts.append("Signature=" + quote(base64.b64encode(signature).decode(), safe=""))
    return "&".join(parts)


def query_params(raw_query: str) -> dict[str, str]:
    """What a web framework makes of the query string (the last value of a repeated name wins)."""
    return dict(parse_qsl(raw_query, keep_blank_values=True))


# BundID's example requests (Schnittstellenbeschreibung 10.2.0.0, §10.1), as printed there, unsigned.
BUNDID_EXAMPLE_SP = "https://samltool2-ewg.pre.buergerserviceportal.de"
BUNDID_EXAMPLE_ACS = "https://samltool2-ewg.pre.buergerserviceportal.de/saml/SSO"
BUNDID_EXAMPLE_SSO = "https://id.bayernportal.de/idp/profile/SAML2/POST/SSO"
_BUNDID_EXAMPLE_DISPLAY = """
      <akdb:DisplayInformation>
        <classic-ui:Version
          xmlns:classic-ui="https://www.akdb.de/request/2018/09/classic-ui/v1">
          <classic-ui:Purpose>
            <![CDATA[Dieses Feld wird fachlich in der Schnittstelle akzeptiert, jedoch aktuell
nicht verwendet. Das ist aber zu Dokumentationszwecken weiterhin vorhanden. Von einer Verwendung wird aber abgeraten.]]>
          </classic-ui:Purpose>
          <classic-ui:OrganizationDisplayName>
            <![CDATA[Der Name des Onlinedienstes kann hier gesetzt werden]]>
          </classic-ui:OrganizationDisplayName>
          <classic-ui:Lang>
            de oder en oder run oder uk (Abhängig der Sprachen des NKs)
          </classic-ui:Lang>
          <classic-ui:BackURL>
            <![CDATA[https://www.example.com/eine-url-zurueck?auch-mit=parametern]]>
          </classic-ui:BackURL>
          <classic-ui:OnlineServiceId>
            <![CDATA[Eine Onlinedienst-ID (fachliche Verwendung noch offen - also aktuell noch
nicht relevant)]]>
          </classic-ui:OnlineServiceId>
        </classic-ui:Version>
      </akdb:DisplayInformation>"""
_BUNDID_EXAMPLE_CONTEXT = """
  <saml2p:RequestedAuthnContext
    Comparison="minimum">
    <saml2:AuthnContextClassRef
      xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">
      STORK-QAA-Level-1
    </saml2:AuthnContextClassRef>
  </saml2p:RequestedAuthnContext>
</saml2p:AuthnRequest>"""


def _bundid_example_head(request_id: str, issue_instant: str) -> str:
    return f"""<saml2p:AuthnRequest
  xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol"
  AssertionConsumerServiceURL="https://samltool2-ewg.pre.buergerserviceportal.de/saml/SSO"
  Destination="https://id.bayernportal.de/idp/profile/SAML2/POST/SSO"
  ForceAuthn="true"
  ID="{request_id}"
  IsPassive="false"
  IssueInstant="{issue_instant}"
  ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
  Version="2.0">
  <saml2:Issuer
    xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">
    https://samltool2-ewg.pre.buergerserviceportal.de
  </saml2:Issuer>
  <saml2p:Extensions>"""


BUNDID_EXAMPLE_V1_TIME = datetime(2023, 8, 4, 14, 3, 8, 74000, tzinfo=UTC)
BUNDID_EXAMPLE_V1 = (_bundid_example_head("79c01d07-5c07-46d8-ba7a-4f96e6a1f6e3", "2023-08-04T14:03:08.074Z") + """
    <akdb:AuthenticationRequest
      xmlns:akdb="https://www.akdb.de/request/2018/09"
      Version="1">
      <akdb:AllowedMethods>
        <akdb:AuthnMethod>
          eID
        </akdb:AuthnMethod>
        <akdb:AuthnMethod>
          eIDAS
        </akdb:AuthnMethod>
        <akdb:AuthnMethod>
          Benutzername
        </akdb:AuthnMethod>
      </akdb:AllowedMethods>
      <akdb:RequestedAttributes>
        <akdb:RequestedAttribute
          Name="urn:oid:2.5.4.18"
        />
        <akdb:RequestedAttribute
          Name="urn:oid:1.3.6.1.4.1.25484.494450.3"
        />
      </akdb:RequestedAttributes>""" + _BUNDID_EXAMPLE_DISPLAY + """
    </akdb:AuthenticationRequest>
  </saml2p:Extensions>""" + _BUNDID_EXAMPLE_CONTEXT).encode()

_BUNDID_V2_METHODS = "".join(f"""
        <akdb:{name}>
          <akdb:Enabled>
            true
          </akdb:Enabled>
        </akdb:{name}>""" for name in ("Authega", "Benutzername", "Diia", "eID", "eIDAS", "Elster", "FINK"))
BUNDID_EXAMPLE_V2_ATTRIBUTES = (
    ("urn:oid:1.3.6.1.4.1.33592.1.3.5", False), ("urn:oid:1.3.6.1.4.1.25484.494450.3", True),
    ("urn:oid:1.3.6.1.5.5.7.9.2", False), ("urn:oid:2.5.4.16", False), ("urn:oid:1.2.40.0.10.2.1.1.149", False),
    ("urn:oid:2.5.4.17", False), ("urn:oid:1.2.40.0.10.2.1.1.225599", False),
    ("urn:oid:1.2.40.0.10.2.1.1.225566", False), ("urn:oid:1.2.40.0.10.2.1.1.225577", False),
    ("urn:oid:2.5.4.18", True), ("urn:oid:0.9.2342.19200300.100.1.40", False), ("urn:oid:2.5.4.7", False),
    ("urn:oid:1.2.40.0.10.2.1.1.261.94", False), ("urn:oid:2.5.4.42", False), ("urn:oid:2.5.4.4", False),
    ("urn:oid:1.2.40.0.10.2.1.1.55", False), ("urn:oid:0.9.2342.19200300.100.1.3", False),
)
_BUNDID_V2_ATTRIBUTE_XML = "".join(f"""
        <akdb:RequestedAttribute
          Name="{name}"
          RequiredAttribute="{str(required).lower()}"
        />""" for name, required in BUNDID_EXAMPLE_V2_ATTRIBUTES)
BUNDID_EXAMPLE_V2_TIME = datetime(2023, 8, 4, 14, 5, 0, 353000, tzinfo=UTC)
BUNDID_EXAMPLE_V2 = (_bundid_example_head("64e1f1b9-acf9-4076-b727-2833cd01200f", "2023-08-04T14:05:00.353Z") + """
    <akdb:AuthenticationRequest
       xmlns:akdb="https://www.akdb.de/request/2018/09"
       EnableStatusDetail="true"
       Version="2">
      <akdb:AuthnMethods>""" + _BUNDID_V2_METHODS + """
      </akdb:AuthnMethods>
      <akdb:RequestedAttributes>""" + _BUNDID_V2_ATTRIBUTE_XML + """
      </akdb:RequestedAttributes>""" + _BUNDID_EXAMPLE_DISPLAY + """
    </akdb:AuthenticationRequest>
  </saml2p:Extensions>""" + _BUNDID_EXAMPLE_CONTEXT).encode()


# -- LogoutRequests ----------------------------------------------------------------------------------------------

SLO_URL = "https://id.example.de/saml/slo"
PORTAL_SLO = "https://portal.example.de/saml/slo"


def logout_request_xml(*, request_id: str = "_9c1e4f2a8b7d", issuer: str = ENTITY_ID,
                       issue_instant: datetime = REQUEST_TIME, destination: str | None = SLO_URL,
                       name_id: str | None = "_name-id", session_indexes: tuple[str, ...] = (),
                       not_on_or_after: datetime | None = None, version: str = "2.0",
                       root_tag: str = "samlp:LogoutRequest", identifier: str | None = None) -> bytes:
    """A LogoutRequest in schema order (Issuer, [Signature], NameID, SessionIndex*); `identifier` replaces the
    NameID element entirely (e.g. an EncryptedID, or nothing at all with "")."""
    optional = {"Destination": destination,
                "NotOnOrAfter": saml_time(not_on_or_after) if not_on_or_after is not None else None}
    attributes = "".join(f' {name}="{value}"' for name, value in optional.items() if value is not None)
    if identifier is None:
        identifier = ("" if name_id is None else
                      '<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" '
                      f'SPNameQualifier="{issuer}">{name_id}</saml:NameID>')
    return (
        f'<{root_tag} xmlns:samlp="{SAMLP_NS}" xmlns:saml="{SAML_NS}" ID="{request_id}" Version="{version}" '
        f'IssueInstant="{saml_time(issue_instant)}"{attributes}>'
        f"<saml:Issuer>{issuer}</saml:Issuer>{identifier}"
        + "".join(f"<samlp:SessionIndex>{index}</samlp:SessionIndex>" for index in session_indexes)
        + f"</{root_tag}>"
    ).encode()


def slo_endpoints(*bindings: str, location: str = PORTAL_SLO) -> str:
    """SingleLogoutService elements (before the ACS, as SSODescriptorType orders them) and the default ACS."""
    return "".join(f'<md:SingleLogoutService Binding="{b}" Location="{location}"/>' for b in bindings) + acs(
        index=1, default=True)


def read_redirect_message(url: str, parameter: str = "SAMLResponse") -> tuple[etree._Element, dict[str, str]]:
    """The message of an HTTP-Redirect binding URL (inflated, parsed) and the query's parameters."""
    query = query_params(url.split("?", 1)[1])
    xml = zlib.decompress(base64.b64decode(query[parameter]), -15)
    return etree.fromstring(xml), query
