"""The SAML Response in the BundID profile (egov-interfaces.md §1.4–1.8, §8.7–8.9): a `samlp:Response` with one
`saml:EncryptedAssertion`; the Assertion inside is signed (enveloped, exclusive c14n) before it is encrypted
to the SP's certificate. Pure: everything comes in as arguments, bytes go out.

    build_response         Success, with the signed and encrypted Assertion
    build_error_response   an error status (and BundID's JSON status detail when the request asked for it)
    post_form              the HTTP-POST binding page that carries either to the SP's ACS
    choose_algorithms      which signature and encryption algorithms an SP gets (DESIGN.md §5)
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod, SignatureReference, XMLSigner
from signxml.exceptions import InvalidInput

from servicekonto.domain.attributes import BY_KEY, AttributeDefinition
from servicekonto.domain.auth_request import AuthResult
from servicekonto.domain.saml_sp import SAML2_PROTOCOL, SamlServiceProvider
from servicekonto.domain.trust import TrustLevel
from servicekonto.protocols.saml import xml
from servicekonto.protocols.saml.encryption import (
    AES256_CBC,
    AES256_GCM,
    RSA_OAEP,
    RSA_OAEP_MGF1P,
    EncryptionAlgorithms,
    choose_encryption,
    encrypted_data,
)
from servicekonto.protocols.saml.idp_metadata import (
    ATTRNAME_FORMAT_URI,
    EXCLUSIVE_C14N,
    NAMEID_TRANSIENT,
    RSA_PSS_SHA256,
    RSA_SHA256,
)
from servicekonto.protocols.saml.xml import DS, SAML

SAMLP = SAML2_PROTOCOL
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
AKDB = "https://www.akdb.de/request/2018/09"  # BundID §9; also the namespace of akdb:TrustLevel (§6.2.9)
EXC_C14N_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
STATUS_PREFIX = "urn:oasis:names:tc:SAML:2.0:status:"
STATUS_SUCCESS = f"{STATUS_PREFIX}Success"
STATUS_REQUESTER = f"{STATUS_PREFIX}Requester"
STATUS_RESPONDER = f"{STATUS_PREFIX}Responder"
STATUS_REQUEST_DENIED = f"{STATUS_PREFIX}RequestDenied"
STATUS_AUTHN_FAILED = f"{STATUS_PREFIX}AuthnFailed"
STATUS_NO_AUTHN_CONTEXT = f"{STATUS_PREFIX}NoAuthnContext"
STATUS_DETAIL_VERSION = "1.0"  # BundID §9.7: {"version": "1.0", "errors": [{"code": …, "message": …}]}

VALIDITY = timedelta(minutes=5)  # Conditions and SubjectConfirmationData (BundID §10.2)
DIGEST = DigestAlgorithm.SHA256  # the only digest our metadata declare (alg:DigestMethod)
INTERFACE_VERSION = "2020.2.1"  # BundID's `Version` attribute, CalVer (§6.2; egov-interfaces.md §1.6)
# The keys this module computes from the AuthResult itself; a released value under one of them is ignored.
TECHNICAL_KEYS = ("pseudonym", "trust_level", "proved_by", "mfa", "version")
# Keys whose value is a space-separated list, sent as one AttributeValue each: an acting person's roles.
MULTI_VALUED = frozenset({"org_roles"})
# akdb:TrustLevel of what the IdP itself vouches for (pseudonym, level, method): BundID's example response
# marks them NORMAL (§10.2; egov-interfaces.md §1.7).
SYSTEM_TRUST = TrustLevel.LOW
# AssertionProvedBy (BundID §6.2), by our method names, the identifying means first; anything else (password,
# passkey, TOTP) is an account login: "Benutzername".
PROVED_BY = (("eid", "eID"), ("smart_eid", "Smart-eID"), ("eidas", "eIDAS"), ("elster", "Elster"),
             ("fink", "FINK"), ("diia", "Diia"))
PROVED_BY_ACCOUNT = "Benutzername"
# Card or certificate plus PIN in one step: BundID §6.2 "mfa: always true for eID/ELSTER".
ONE_STEP_MULTI_FACTOR = frozenset({"eid", "smart_eid", "elster"})


# --- algorithms ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ResponseAlgorithms:
    signature: str
    digest: str
    encryption: EncryptionAlgorithms


def choose_signature_method(declared: Sequence[str]) -> str:
    """RSASSA-PSS SHA-256 (BSI TR-03116-4 direction, BundID §5.4), unless the SP's metadata list signing methods
    (SAML V2.0 Metadata Profile for Algorithm Support §2.3) and PSS is not among them: then rsa-sha256, which
    every SAML library verifies (xmlsec1 1.2.37 behind pysaml2 cannot verify PSS)."""
    if declared and RSA_PSS_SHA256 not in declared:
        return RSA_SHA256
    return RSA_PSS_SHA256


# The operator's override (`servicekonto saml-sp add --signature-algorithm/--encryption`): stored with the SP in
# place of the algorithms its metadata declare, so `choose_algorithms` picks exactly these.
SIGNATURE_OVERRIDES: dict[str, tuple[str, ...]] = {"rsa-pss-sha256": (RSA_PSS_SHA256,), "rsa-sha256": (RSA_SHA256,)}
ENCRYPTION_OVERRIDES: dict[str, tuple[str, ...]] = {
    "aes256-gcm+rsa-oaep": (AES256_GCM, RSA_OAEP),
    "aes256-cbc+rsa-oaep-mgf1p": (AES256_CBC, RSA_OAEP_MGF1P),
}


def choose_algorithms(sp: SamlServiceProvider) -> ResponseAlgorithms:
    """Per SP from its declared algorithms (DESIGN.md §5); the digest is always SHA-256."""
    return ResponseAlgorithms(signature=choose_signature_method(sp.signing_methods), digest=DIGEST.value,
                              encryption=choose_encryption(sp.encryption_methods))


# --- attributes ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SamlAttribute:
    definition: AttributeDefinition
    value: str
    trust_level: str | None  # akdb:TrustLevel; omitted when unknown (BundID §6.2.9)


def proved_by(methods: Sequence[str]) -> str:
    """AssertionProvedBy (BundID §6.2): the identifying means used, else "Benutzername"."""
    return next((name for method, name in PROVED_BY if method in methods), PROVED_BY_ACCOUNT)


def multi_factor(methods: Sequence[str], level: TrustLevel) -> bool:
    """The `mfa` attribute (BundID §6.2): eID or ELSTER alone, two different methods, or a trust level above
    Basisregistrierung — every higher level needs a second factor (DESIGN.md §2)."""
    return bool(ONE_STEP_MULTI_FACTOR.intersection(methods)) or len(set(methods)) > 1 or level > TrustLevel.BASIC


def technical_values(result: AuthResult) -> dict[str, str]:
    """What the IdP states about the login itself (BundID §6.2); no pseudonym for a temporary login (§5.3)."""
    values = {"trust_level": result.trust_level.stork, "proved_by": proved_by(result.methods),
              "mfa": "true" if multi_factor(result.methods, result.trust_level) else "false",
              "version": INTERFACE_VERSION}
    return {"pseudonym": result.subject, **values} if result.subject else values


def assertion_attributes(result: AuthResult, requested: Sequence[tuple[str, bool]],
                         akdb_version: int | None) -> list[SamlAttribute]:
    """The AttributeStatement's content, in order: the pseudonym (bPK2) always, then with AKDB extension
    Version 2 only what was requested, in the request's order (BundID §9.2: data minimisation); with Version 1
    or no extension every released attribute and the technical ones. Released values come already filtered
    by the release component; keys the catalogue gives no SAML name are left out."""
    technical = technical_values(result)
    released: dict[str, list[tuple[str, TrustLevel]]] = {}
    for attribute in result.attributes:
        if attribute.key not in TECHNICAL_KEYS:
            released.setdefault(attribute.key, []).append((attribute.value, attribute.trust_level))
    if akdb_version is not None and akdb_version >= 2:
        keys = [key for key, _required in requested]
    else:
        keys = [*released, *technical]
    found: list[SamlAttribute] = []
    for key in dict.fromkeys(["pseudonym", *keys]):
        definition = BY_KEY.get(key)
        if definition is None or not definition.saml_name:
            continue
        if key in technical:
            found.append(SamlAttribute(definition, technical[key], SYSTEM_TRUST.attribute_trust_level))
        for value, level in released.get(key, ()):
            found.append(SamlAttribute(definition, value, level.attribute_trust_level))
    return found


# --- the Response -------------------------------------------------------------------------------------------

def build_response(*, idp_entity_id: str, sp: SamlServiceProvider, in_response_to: str, acs_url: str,
                   result: AuthResult, requested: Sequence[tuple[str, bool]], akdb_version: int | None,
                   signing_key: rsa.RSAPrivateKey, signing_certificate_pem: str, now: datetime,
                   name_id: str | None = None) -> bytes:
    """A Success Response to `acs_url` carrying one EncryptedAssertion: the Assertion is signed with
    `signing_key` and then encrypted to the SP's first encryption certificate (BundID §3 step 5, §10.2;
    SAML profiles §4.1.3.5: over HTTP-POST the Assertion must be signed). `name_id` is the transient NameID
    (new when not given); the IdP passes its own to recognise it in a LogoutRequest."""
    if not sp.encryption_certificates:
        raise ValueError(f"the SP {sp.entity_id!r} has no encryption certificate")
    algorithms = choose_algorithms(sp)
    assertion = _assertion(idp_entity_id=idp_entity_id, sp=sp, in_response_to=in_response_to, acs_url=acs_url,
                           result=result, attributes=assertion_attributes(result, requested, akdb_version), now=now,
                           name_id=name_id or new_id())
    signed = sign_assertion(assertion, signing_key=signing_key, certificate_pem=signing_certificate_pem,
                            signature_method=algorithms.signature)
    plaintext = etree.tostring(signed, encoding="UTF-8", xml_declaration=False)
    encrypted = encrypted_data(plaintext, certificate_pem=sp.encryption_certificates[0],
                               algorithms=algorithms.encryption)
    return _success_response(idp_entity_id=idp_entity_id, in_response_to=in_response_to, acs_url=acs_url, now=now,
                             encrypted_assertion=encrypted)


def build_error_response(*, idp_entity_id: str, in_response_to: str, acs_url: str, status_code: str,
                         sub_status: str | None, message: str | None, now: datetime,
                         status_detail: Sequence[tuple[str, str]] | None = None) -> bytes:
    """A Response without Assertion (SAML core §3.2.2.2), e.g. `Responder` / `RequestDenied` for a missing
    required attribute (BundID §9.2.3) or `Requester` / `AuthnFailed` when the citizen cancels. Codes may be
    full URNs or the short names of SAML core §3.2.2.2. `status_detail` — (code, message) pairs, e.g.
    ("IDP_REQUIRED_ATTRIBUTES_MISSING", "…") — is sent as `akdb:StatusDetail` JSON only when given: BundID
    sends it when the request set `EnableStatusDetail="true"` (§9.7)."""
    response = _response(idp_entity_id=idp_entity_id, in_response_to=in_response_to, acs_url=acs_url, now=now)
    status = _status(response, _status_uri(status_code), _status_uri(sub_status) if sub_status else None)
    if message:
        etree.SubElement(status, _samlp("StatusMessage")).text = message
    if status_detail:
        document = {"version": STATUS_DETAIL_VERSION,
                    "errors": [{"code": code, "message": text} for code, text in status_detail]}
        detail = etree.SubElement(status, _samlp("StatusDetail"))
        etree.SubElement(detail, f"{{{AKDB}}}StatusDetail", nsmap={"akdb": AKDB}).text = json.dumps(
            document, ensure_ascii=False, separators=(",", ":"))
    return _serialise(response)


def _success_response(*, idp_entity_id: str, in_response_to: str, acs_url: str, now: datetime,
                      encrypted_assertion: bytes) -> bytes:
    """The Success Response around the serialised EncryptedData, written as text: the bytes `_response` and
    `_serialise` would give, without building a tree only to serialise it (the tests parse and schema-check
    it; the SP parses it)."""
    start = (f"<?xml version='1.0' encoding='UTF-8'?>\n<samlp:Response xmlns:samlp=\"{SAMLP}\" "
             f'xmlns:saml="{SAML}" ID="{new_id()}" Version="2.0" IssueInstant="{instant(now)}" '
             f'Destination="{xml.attribute(acs_url)}" InResponseTo="{xml.attribute(in_response_to)}">'
             f'{_issuer(idp_entity_id)}<samlp:Status><samlp:StatusCode Value="{STATUS_SUCCESS}"/></samlp:Status>'
             "<saml:EncryptedAssertion>")
    return b"".join((start.encode(), encrypted_assertion, b"</saml:EncryptedAssertion></samlp:Response>"))


def _response(*, idp_entity_id: str, in_response_to: str, acs_url: str, now: datetime) -> etree._Element:
    """samlp:Response with Issuer (SAML profiles §4.1.4.2: Format entity or none); the Status follows."""
    response = etree.Element(_samlp("Response"), nsmap={"samlp": SAMLP, "saml": SAML},
                             ID=new_id(), Version="2.0", IssueInstant=instant(now), Destination=acs_url,
                             InResponseTo=in_response_to)
    etree.SubElement(response, _saml("Issuer"), Format=NAMEID_ENTITY).text = idp_entity_id
    return response


def _status(response: etree._Element, code: str, sub_code: str | None = None) -> etree._Element:
    status = etree.SubElement(response, _samlp("Status"))
    top = etree.SubElement(status, _samlp("StatusCode"), Value=code)
    if sub_code:
        etree.SubElement(top, _samlp("StatusCode"), Value=sub_code)
    return status


def _status_uri(code: str) -> str:
    return code if ":" in code else f"{STATUS_PREFIX}{code}"


# --- the Assertion ------------------------------------------------------------------------------------------

def _assertion(*, idp_entity_id: str, sp: SamlServiceProvider, in_response_to: str, acs_url: str,
               result: AuthResult, attributes: Sequence[SamlAttribute], now: datetime,
               name_id: str) -> etree._Element:
    """Children in schema order (saml-schema-assertion-2.0 AssertionType): Issuer, Signature (a placeholder
    that signxml fills), Subject, Conditions, AuthnStatement, AttributeStatement. The Assertion is its own
    root, so every namespace it uses is declared on it and it survives being cut out by the decryptor.
    Written as text from escaped values and parsed once (xml.own): the same tree, a third of the CPU."""
    issued, expires = instant(now), instant(now + VALIDITY)
    parts = [f'<saml:Assertion xmlns:saml="{SAML}" xmlns:ds="{DS}" xmlns:xsi="{XSI}" xmlns:xsd="{XSD}" '
             f'xmlns:akdb="{AKDB}" ID="{new_id()}" Version="2.0" IssueInstant="{issued}">',
             _issuer(idp_entity_id), '<ds:Signature Id="placeholder"/>',
             _subject(idp_entity_id=idp_entity_id, sp_entity_id=sp.entity_id, in_response_to=in_response_to,
                      acs_url=acs_url, expires=expires, name_id=name_id),
             _conditions(sp.entity_id, issued, expires), _authn_statement(result, sp.entity_id)]
    if attributes:  # an AttributeStatement needs at least one Attribute (AttributeStatementType)
        parts += ["<saml:AttributeStatement>", *map(_attribute, attributes), "</saml:AttributeStatement>"]
    parts.append("</saml:Assertion>")
    return xml.own("".join(parts))


def _issuer(entity_id: str) -> str:
    """saml:Issuer, Format entity (SAML profiles §4.1.4.2)."""
    return f'<saml:Issuer Format="{NAMEID_ENTITY}">{xml.text(entity_id)}</saml:Issuer>'


def _subject(*, idp_entity_id: str, sp_entity_id: str, in_response_to: str, acs_url: str, expires: str,
             name_id: str) -> str:
    """A transient NameID, new for every Response (SAML core §8.3.8), qualified by both parties; bearer
    confirmation bound to the request and the ACS (SAML profiles §4.1.4.2; BundID §10.2)."""
    return (f'<saml:Subject><saml:NameID Format="{NAMEID_TRANSIENT}" NameQualifier="{xml.attribute(idp_entity_id)}" '
            f'SPNameQualifier="{xml.attribute(sp_entity_id)}">{xml.text(name_id)}</saml:NameID>'
            f'<saml:SubjectConfirmation Method="{BEARER}"><saml:SubjectConfirmationData '
            f'InResponseTo="{xml.attribute(in_response_to)}" NotOnOrAfter="{expires}" '
            f'Recipient="{xml.attribute(acs_url)}"/></saml:SubjectConfirmation></saml:Subject>')


def _conditions(sp_entity_id: str, issued: str, expires: str) -> str:
    return (f'<saml:Conditions NotBefore="{issued}" NotOnOrAfter="{expires}">'
            f'<saml:AudienceRestriction><saml:Audience>{xml.text(sp_entity_id)}</saml:Audience>'
            f'</saml:AudienceRestriction></saml:Conditions>')


def _authn_statement(result: AuthResult, sp_entity_id: str) -> str:
    """AuthnInstant is the login's time, not the Response's; the class is the achieved STORK level (BundID
    §10.2, whatever vocabulary the request used)."""
    authn_instant = instant(datetime.fromtimestamp(result.auth_time, UTC))
    return (f'<saml:AuthnStatement AuthnInstant="{authn_instant}" '
            f'SessionIndex="{session_index(result.session_id, sp_entity_id)}"><saml:AuthnContext>'
            f'<saml:AuthnContextClassRef>{xml.text(result.trust_level.stork)}</saml:AuthnContextClassRef>'
            f'</saml:AuthnContext></saml:AuthnStatement>')


def _attribute(attribute: SamlAttribute) -> str:
    """Name and FriendlyName from the catalogue, NameFormat uri, one xsd:string value in NFC, and the
    per-attribute akdb:TrustLevel as an attribute in the AKDB namespace (BundID §6, §6.2.9), whose prefix
    the Assertion declares."""
    values = attribute.value.split() if attribute.definition.key in MULTI_VALUED else (attribute.value,)
    return (f"{_attribute_start(attribute.definition.key, attribute.trust_level)}"
            + "".join(f'<saml:AttributeValue xsi:type="xsd:string">{xml.text(unicodedata.normalize("NFC", value))}'
                      "</saml:AttributeValue>" for value in values)
            + "</saml:Attribute>")


@lru_cache(maxsize=512)
def _attribute_start(key: str, trust_level: str | None) -> str:
    """The start tag for a catalogue key at a trust level: the same few hundred strings again and again."""
    definition = BY_KEY[key]
    assert definition.saml_name is not None  # assertion_attributes keeps only named ones
    friendly = (f' FriendlyName="{xml.attribute(definition.saml_friendly_name)}"'
                if definition.saml_friendly_name else "")
    level = f' akdb:TrustLevel="{xml.attribute(trust_level)}"' if trust_level else ""
    return (f'<saml:Attribute Name="{xml.attribute(definition.saml_name)}" NameFormat="{ATTRNAME_FORMAT_URI}"'
            f"{friendly}{level}>")


def session_index(session_id: str | None, sp_entity_id: str) -> str:
    """The login session as this SP sees it: a one-way hash of the session id and the SP, so the browser's
    session secret never leaves, two SPs cannot correlate one session, and Single Logout can compute it
    again. A login without session gets a random one."""
    if session_id is None:
        return new_id()
    digest = hashlib.sha256(f"saml-session-index\0{session_id}\0{sp_entity_id}".encode()).hexdigest()
    return f"_{digest}"


# --- signing ------------------------------------------------------------------------------------------------

class _AssertionSigner(XMLSigner):
    """signxml's XMLSigner for one fresh Assertion, signed in place (signxml 5.2 internals, pinned by the
    tests that verify with signxml, python-xmlsec and xmlsec1):

    - signxml computes an enveloped reference's digest with its InclusiveNamespaces PrefixList but writes
      that list only into the transforms of detached and enveloping signatures; this writes it for enveloped
      ones too, so verifiers canonicalise exactly as we did;
    - signxml serialises and reparses an enveloped input three times (one copy unused) and finds the
      reference by an XPath over every attribute of the document, about a tenth of a signature's CPU. The
      Assertion here is new, its own root and the only reference: the placeholder is taken out, the digest is
      computed over the Assertion itself (what the enveloped-signature transform gives a verifier, XML-DSig
      §6.6.4), and the placeholder goes back in as the signature."""

    def _unpack(self, data: etree._Element, references: list[SignatureReference]
                ) -> tuple[etree._Element, etree._Element, list[etree._Element], list[SignatureReference]]:
        placeholders = data.findall(f"{{{DS}}}Signature[@Id='placeholder']")
        own_reference = f"#{data.get('ID')}"
        if (self.construction_method is not SignatureConstructionMethod.enveloped or len(placeholders) != 1
                or [reference.URI for reference in references] != [own_reference]):
            raise InvalidInput("expected one Assertion with one signature placeholder, referenced by its ID")
        (signature,) = placeholders
        del signature.attrib["Id"]
        self._signature_at = data.index(signature)
        data.remove(signature)
        return signature, data, [data], references

    def _build_sig(self, sig_root: etree._Element, references: list[SignatureReference],
                   c14n_inputs: list[etree._Element], inclusive_ns_prefixes: list[str] | None,
                   exclude_c14n_transform_element: bool = False) -> tuple[etree._Element, etree._Element]:
        built: tuple[etree._Element, etree._Element] = super()._build_sig(
            sig_root, references, c14n_inputs, inclusive_ns_prefixes, exclude_c14n_transform_element)
        c14n_inputs[0].insert(self._signature_at, sig_root)  # the digest is taken: the signature goes back in
        return built

    def _build_transforms_for_reference(self, *, transforms_node: etree._Element, reference: SignatureReference,
                                        exclude_c14n_transform_element: bool = True) -> None:
        super()._build_transforms_for_reference(transforms_node=transforms_node, reference=reference,
                                                exclude_c14n_transform_element=exclude_c14n_transform_element)
        if (self.construction_method is SignatureConstructionMethod.enveloped and reference.inclusive_ns_prefixes
                and not exclude_c14n_transform_element):
            etree.SubElement(transforms_node[-1], f"{{{EXC_C14N_NS}}}InclusiveNamespaces",
                             nsmap={"ec": EXC_C14N_NS}, PrefixList=" ".join(reference.inclusive_ns_prefixes))


def sign_assertion(assertion: etree._Element, *, signing_key: rsa.RSAPrivateKey, certificate_pem: str,
                   signature_method: str) -> etree._Element:
    """Enveloped XML signature over the Assertion's ID (SAML core §5.4): exclusive c14n with `xsd` kept as an
    inclusive prefix (it is used only inside xsi:type values, which exclusive c14n does not see — as
    OpenSAML does), SHA-256 digest, the certificate in KeyInfo/X509Data. Signs in place: `assertion`, as
    `_assertion` built it (its own root, with the placeholder), becomes the signed Assertion and is returned."""
    signer = _AssertionSigner(signature_algorithm=SignatureMethod(signature_method), digest_algorithm=DIGEST,
                              c14n_algorithm=EXCLUSIVE_C14N)
    reference = SignatureReference(URI=f"#{assertion.get('ID')}", inclusive_ns_prefixes=["xsd"])
    signed: etree._Element = signer.sign(assertion, key=signing_key, cert=[certificate_pem], reference_uri=[reference],
                                         id_attribute="ID")
    return signed


# --- HTTP-POST binding --------------------------------------------------------------------------------------

AUTOSUBMIT_SCRIPT = "/static/autosubmit.js"


def post_form(acs_url: str, saml_response: bytes, relay_state: str | None) -> str:
    """The HTTP-POST binding page (SAML bindings §3.5.4): a form with the base64 SAMLResponse and RelayState.
    It works without JavaScript (a visible button); with it, `autosubmit.js` sends the form on arrival — no
    inline script, our CSP forbids it. The page's `form-action` must allow the ACS origin.

    It is shown before the citizen's language is known to the portal, so it speaks both: German first (the
    page's language), English second, each part marked with its `lang` so screen readers switch voice
    (WCAG 2.1 SC 3.1.1, 3.1.2). The form is a landmark named by the heading."""
    # base64 needs no escaping (its alphabet has no HTML specials), and is the bulk of the page
    hidden = f'<input type="hidden" name="SAMLResponse" value="{base64.b64encode(saml_response).decode("ascii")}">'
    if relay_state is not None:
        hidden += f'\n<input type="hidden" name="RelayState" value="{html.escape(relay_state, quote=True)}">'
    return f"""<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weiter zum Onlinedienst</title>
<link rel="stylesheet" href="/static/site.css">
<script src="{AUTOSUBMIT_SCRIPT}" defer></script>
</head>
<body>
<main id="main" class="wrap">
<h1 id="weiter">Weiter zum Onlinedienst <span lang="en">/ Continue to the online service</span></h1>
<p>Sie werden jetzt zum Onlinedienst zurückgeleitet. Falls das nicht von selbst geschieht, wählen Sie „Weiter“.</p>
<p lang="en">You are being taken back to the online service. If that does not happen by itself, choose “Continue”.</p>
<form method="post" action="{html.escape(acs_url, quote=True)}" aria-labelledby="weiter" data-autosubmit>
{hidden}
<button type="submit">Weiter / <span lang="en">Continue</span></button>
</form>
</main>
</body>
</html>
"""


# --- helpers ------------------------------------------------------------------------------------------------

def new_id() -> str:
    """An xs:ID (an NCName: not starting with a digit) with 160 random bits (SAML core §1.3.4)."""
    return f"_{secrets.token_hex(20)}"


def instant(moment: datetime) -> str:
    """xs:dateTime in UTC with `Z` (SAML core §1.3.3); a naive datetime is a bug, not local time."""
    if moment.tzinfo is None:
        raise ValueError("SAML time values need a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _saml(tag: str) -> str:
    return f"{{{SAML}}}{tag}"


def _samlp(tag: str) -> str:
    return f"{{{SAMLP}}}{tag}"


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
