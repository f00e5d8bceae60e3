"""Reading a portal's AuthnRequest (SAML core §3.4.1) in the BundID profile (egov-interfaces.md §1.3): both
bindings (SAML bindings §3.4 HTTP-Redirect, §3.5 HTTP-POST), signatures checked against the SP's registered
certificates, the requested trust level in any vocabulary, and the AKDB extension (BundID
Schnittstellenbeschreibung §9), which is evaluated only on signed requests.

Pure: no I/O. The SP registry and the replay guard come in as callables, the time as a value.

Signature wrapping is prevented in three layers (see `_signed_content`): exactly one `ds:Signature` in the
document, a direct child of the root `AuthnRequest`, with exactly one Reference that names the root's ID, and
no other element carrying that ID; then signxml verifies it, and everything is read from the element
signxml returns as signed (re-parsed from the canonical octets the digest covers), never from the document
as received.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import SignXMLException

from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.domain.attributes import CATALOGUE
from servicekonto.domain.saml_sp import BINDING_HTTP_POST, MAX_ENTITY_ID, SAML2_PROTOCOL, SamlServiceProvider
from servicekonto.domain.trust import TrustLevel, Vocabulary
from servicekonto.protocols.saml import redirect_binding
from servicekonto.protocols.saml.xml import DS, SAML, UnsafeXml, hardened_parser, parse

SAMLP = SAML2_PROTOCOL
AKDB = "https://www.akdb.de/request/2018/09"
CLASSIC_UI = "https://www.akdb.de/request/2018/09/classic-ui/v1"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS, "akdb": AKDB, "ui": CLASSIC_UI}

STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_VERSION_MISMATCH = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
STATUS_UNSUPPORTED_BINDING = "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding"
STATUS_NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
AC_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
COMPARISONS = frozenset({"exact", "minimum", "maximum", "better"})

MAX_REQUEST_BYTES = 256 * 1024  # the XML, after base64 and DEFLATE
MAX_ENCODED_CHARS = MAX_REQUEST_BYTES * 4 // 3 + 4096
MAX_RELAY_STATE = 2048  # SAML bindings §3.4.3 says 80 bytes; portals send longer ones (return URLs)
MAX_ID = 256
CLOCK_SKEW_SECONDS = 60
BUNDID_LANGUAGES = frozenset({"de", "en", "ru", "uk"})  # BundID §9.5
MAX_DISPLAY_NAME = 200  # BundID shortens beyond 50 in its pages (§9.5); we keep more and let the page decide
MAX_ONLINE_SERVICE_ID = 200
MAX_BACK_URL = 2048
BINDINGS = ("redirect", "post")

# Signatures we accept on POST requests: no SHA-1 (BSI TR-03116-4), RSASSA-PSS first (BundID §5.4).
XML_SIGNATURE_METHODS = frozenset({
    SignatureMethod.SHA256_RSA_MGF1, SignatureMethod.SHA384_RSA_MGF1, SignatureMethod.SHA512_RSA_MGF1,
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512,
    SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384, SignatureMethod.ECDSA_SHA512,
})
XML_DIGEST_ALGORITHMS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})

_BY_SAML_NAME = {d.saml_name: d.key for d in CATALOGUE if d.saml_name}
_OID_URN = re.compile(r"urn:oid:[0-9]+(?:\.[0-9]+)*")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,12})?"
                       r"(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_TRUE = frozenset({"true", "1"})
_BOOLEANS = frozenset({"true", "1", "false", "0"})
_ID_ATTRIBUTES = frozenset({"ID", "Id", "id"})


# -- errors ---------------------------------------------------------------------------------------------------

class SamlRequestInvalid(InvalidInput):
    """An AuthnRequest we do not act on. `code` is stable per case; `detail` names the rule for the operator;
    `bundid_code` is BundID's identifier where BundID has one (§9.6, shown as `idp.code`); `saml_status` the
    status codes a Response would carry. What was known when it failed is attached (`sp`, `request_id`,
    `relay_state`, `acs_url`): `acs_url` is set only once the request passed its signature, Destination and
    endpoint checks, so a surface may answer there with an error Response (BundID does, §9); without it,
    only an error page is safe."""

    code = "saml.request.invalid"
    message = _l("The login request of the online service is not valid.")
    saml_status: ClassVar[tuple[str, ...]] = (STATUS_REQUESTER,)
    bundid_code: str | None = None

    def __init__(self, detail: str | None = None, *, bundid_code: str | None = None) -> None:
        super().__init__(detail)
        if bundid_code is not None:
            self.bundid_code = bundid_code
        self.sp: SamlServiceProvider | None = None
        self.request_id: str | None = None
        self.acs_url: str | None = None
        self.relay_state: str | None = None


class SamlRequestMalformed(SamlRequestInvalid):
    code = "saml.request.malformed"
    message = _l("The login request of the online service could not be read.")


class SamlRequestTooLarge(SamlRequestInvalid):
    code = "saml.request.too_large"
    message = _l("The login request of the online service is too large.")


class SamlRequestVersionMismatch(SamlRequestInvalid):
    code = "saml.request.version_mismatch"
    message = _l("The login request of the online service uses an unsupported SAML version.")
    saml_status = (STATUS_VERSION_MISMATCH,)


class SamlRequestUnknownSp(SamlRequestInvalid):
    code = "saml.request.unknown_sp"
    message = _l("The online service that sent the login request is not registered here.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)


class SamlRequestSignatureInvalid(SamlRequestInvalid):
    code = "saml.request.signature_invalid"
    message = _l("The signature of the login request is not valid.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)


class SamlRequestUnsigned(SamlRequestInvalid):
    code = "saml.request.unsigned"
    message = _l("The online service must sign its login requests, but this one is not signed.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)
    bundid_code = "saml-request-not-signed"


class SamlRequestWrongDestination(SamlRequestInvalid):
    code = "saml.request.wrong_destination"
    message = _l("The login request was addressed to a different service.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)


class SamlRequestExpired(SamlRequestInvalid):
    code = "saml.request.expired"
    message = _l("The login request has expired. Please start again at the online service.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)


class SamlRequestReplayed(SamlRequestInvalid):
    code = "saml.request.replayed"
    message = _l("This login request was already used. Please start again at the online service.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)


class SamlRequestAcsNotRegistered(SamlRequestInvalid):
    code = "saml.request.acs_not_registered"
    message = _l("The login request names a return address that the online service has not registered.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)


class SamlRequestUnsupportedBinding(SamlRequestInvalid):
    """We answer by HTTP-POST only (BundID §7.1); SAML core §3.4.1 says to fail with UnsupportedBinding."""

    code = "saml.request.unsupported_binding"
    message = _l("The login request asks for an answer in a way that this service does not offer.")
    saml_status = (STATUS_RESPONDER, STATUS_UNSUPPORTED_BINDING)


class SamlRequestExtensionInvalid(SamlRequestInvalid):
    """The AKDB extension breaks a rule BundID enforces; `bundid_code` names it (§9.6)."""

    code = "saml.request.extension_invalid"
    message = _l("The login request does not contain the information that this service requires.")
    saml_status = (STATUS_REQUESTER, STATUS_REQUEST_DENIED)


class SamlRequestNoAuthnContext(SamlRequestInvalid):
    """RequestedAuthnContext names no class we know, or asks for more than the highest level (SAML core
    §3.3.2.2.1: the IdP "MUST return a <Response> message with a second-level <StatusCode> of
    NoAuthnContext"). Raised once the request passed every other check, so it is answered at the ACS."""

    code = "saml.request.no_authn_context"
    message = _l("The online service asks for a kind of login that this service does not offer.")
    saml_status = (STATUS_RESPONDER, STATUS_NO_AUTHN_CONTEXT)


# -- the result -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SamlAuthnRequest:
    """What a portal asked for, read only from what its signature covers (or from an unsigned request, whose
    AKDB extension is then ignored, BundID §9)."""

    id: str
    issuer: str  # the SP's entityID
    sp: SamlServiceProvider = field(repr=False)
    acs_url: str  # an HTTP-POST AssertionConsumerService of the SP's metadata
    binding: str  # "redirect" | "post": how the request came
    relay_state: str | None
    signed: bool
    force_authn: bool
    is_passive: bool
    min_level: TrustLevel | None  # the lowest level RequestedAuthnContext accepts; None: no requirement
    level_vocabulary: Vocabulary | None  # the vocabulary that level was named in, for the answer
    requested: tuple[tuple[str, bool], ...]  # (catalogue key, required) from akdb:RequestedAttributes
    akdb_version: int | None  # 1 or 2 when the extension was evaluated
    display_name: str | None  # classic-ui:OrganizationDisplayName
    lang: str | None  # classic-ui:Lang, one of de, en, ru, uk
    back_url: str | None  # classic-ui:BackURL, https only
    online_service_id: str | None  # classic-ui:OnlineServiceId (the BMI-ID)
    enable_status_detail: bool
    authn_methods: tuple[str, ...]  # the methods offered, as named (eID, Benutzername, Elster …); () = no limit
    issue_instant: datetime
    extension_ignored: bool = False  # an AKDB extension was sent but not evaluated
    extension_ignored_reason: str | None = None  # why, in BundID's words where it has them (§9.6)
    unknown_attributes: tuple[tuple[str, bool], ...] = ()  # requested names outside our catalogue, e.g. bPK
    comparison: str = "exact"  # RequestedAuthnContext's Comparison (SAML core §3.3.2.2.1: exact by default)
    answer_levels: tuple[TrustLevel, ...] | None = None  # exact/maximum: the levels the answer may state


@dataclass(slots=True)
class _Context:
    sp: SamlServiceProvider | None = None
    request_id: str | None = None
    acs_url: str | None = None
    relay_state: str | None = None


@dataclass(frozen=True, slots=True)
class _Akdb:
    version: int | None = None
    requested: tuple[tuple[str, bool], ...] = ()
    unknown: tuple[tuple[str, bool], ...] = ()
    methods: tuple[str, ...] = ()
    display_name: str | None = None
    lang: str | None = None
    back_url: str | None = None
    online_service_id: str | None = None
    enable_status_detail: bool = False
    ignored_reason: str | None = None


# -- reading --------------------------------------------------------------------------------------------------

def utc_call_time(*, binding: str, raw_query: str | None, now: datetime) -> datetime:
    """`now` in UTC, after checking what a reader's caller (not the request) must get right: a known binding,
    the raw query for Redirect, and a time zone. Shared with the LogoutRequest reader (logout.py)."""
    if binding not in BINDINGS:
        raise ValueError(f"binding must be one of {BINDINGS}, not {binding!r}")
    if binding == "redirect" and raw_query is None:
        raise ValueError("the Redirect binding needs the raw query string to check the signature")
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return now.astimezone(UTC)


def read_authn_request(*, binding: str, params: Mapping[str, str], raw_query: str | None,
                       lookup_sp: Callable[[str], SamlServiceProvider | None],
                       remember_id: Callable[[str, float], bool], now: datetime, sso_url: str | Collection[str],
                       max_age_seconds: int = 300, require_akdb_v2: bool = False) -> SamlAuthnRequest:
    """Decode, verify and read one AuthnRequest, or raise a `SamlRequestInvalid`.

    `params` are the form fields (POST) or query parameters (Redirect); for Redirect `raw_query` is the query
    string exactly as received (the signature covers its octets, SAML bindings §3.4.4.1) and the binding's
    parameters are read from it. `sso_url` is our SingleSignOnService location (or several), which a
    `Destination` must name. `remember_id(key, ttl)` stores a replay key (hex SHA-256 of issuer and request ID)
    and returns False when it was stored before. `require_akdb_v2` is BundID's operator switch (§9): the
    request must be signed and carry the AKDB extension in version 2 with RequestedAttributes and an
    OrganizationDisplayName.
    """
    now = utc_call_time(binding=binding, raw_query=raw_query, now=now)
    context = _Context()
    try:
        return _read(binding=binding, params=params, raw_query=raw_query or "", lookup_sp=lookup_sp,
                     remember_id=remember_id, now=now,
                     sso_urls=frozenset({sso_url} if isinstance(sso_url, str) else sso_url),
                     max_age_seconds=max_age_seconds, require_akdb_v2=require_akdb_v2, context=context)
    except SamlRequestInvalid as exc:
        exc.sp, exc.request_id = context.sp, context.request_id
        exc.acs_url, exc.relay_state = context.acs_url, context.relay_state
        raise


def _read(*, binding: str, params: Mapping[str, str], raw_query: str,
          lookup_sp: Callable[[str], SamlServiceProvider | None], remember_id: Callable[[str, float], bool],
          now: datetime, sso_urls: frozenset[str], max_age_seconds: int, require_akdb_v2: bool,
          context: _Context) -> SamlAuthnRequest:
    query: redirect_binding.RedirectQuery | None = None
    if binding == "redirect":
        try:
            query = redirect_binding.parse_query(raw_query)
        except redirect_binding.RedirectSignatureInvalid as exc:
            raise SamlRequestSignatureInvalid(str(exc)) from None
        except redirect_binding.RedirectBindingError as exc:
            raise SamlRequestMalformed(str(exc)) from None
        xml = _inflate(_base64(query.message))
        relay_state = query.relay_state
    else:
        encoded = params.get("SAMLRequest")
        if encoded is None:
            raise SamlRequestMalformed("the form field SAMLRequest is missing")
        xml = _base64(encoded)
        relay_state = params.get("RelayState")
    if relay_state is not None and len(relay_state) > MAX_RELAY_STATE:
        raise SamlRequestMalformed(f"RelayState is longer than {MAX_RELAY_STATE} characters")
    context.relay_state = relay_state

    root = _parse(xml)
    request_id = _check_root(root)
    context.request_id = request_id
    issuer = _issuer(root)
    sp = lookup_sp(issuer)
    if sp is None:
        raise SamlRequestUnknownSp(f"no service provider with the entityID {issuer[:300]!r} is registered")
    context.sp = sp

    element, signed = _authenticated(root, binding=binding, query=query, sp=sp, now=now)
    if not signed and sp.authn_requests_signed:
        raise SamlRequestUnsigned('the request is not signed, but the metadata say AuthnRequestsSigned="true"')
    if not signed and require_akdb_v2:
        raise SamlRequestUnsigned("the request is not signed, but this service requires signed requests")
    if _issuer(element) != issuer or element.get("ID") != request_id:
        raise SamlRequestSignatureInvalid("the signed content is not the request that was read")

    issue_instant = _issue_instant(element, now=now, max_age_seconds=max_age_seconds)
    _check_destination(element, sso_urls=sso_urls, signed=signed)
    _check_protocol_binding(element)
    acs_url = _acs_url(element, sp)
    context.acs_url = acs_url
    levels = _requested_level(element)
    force_authn, is_passive = _boolean(element, "ForceAuthn"), _boolean(element, "IsPassive")

    extensions = element.findall("samlp:Extensions/akdb:AuthenticationRequest", NS)
    unsigned_extension = _Akdb(ignored_reason="saml-request-not-signed" if extensions else None)
    akdb = _akdb(extensions) if signed else unsigned_extension
    if require_akdb_v2:
        _require_v2(akdb, present=bool(extensions))

    if not remember_id(_replay_key(issuer, request_id), float(max_age_seconds + 2 * CLOCK_SKEW_SECONDS)):
        raise SamlRequestReplayed(f"the request ID {request_id!r} was already used")
    if levels.unsatisfiable is not None:
        raise SamlRequestNoAuthnContext(levels.unsatisfiable)

    return SamlAuthnRequest(
        id=request_id, issuer=issuer, sp=sp, acs_url=acs_url, binding=binding, relay_state=relay_state,
        signed=signed, force_authn=force_authn, is_passive=is_passive,
        min_level=levels.min_level, level_vocabulary=levels.vocabulary, requested=akdb.requested,
        akdb_version=akdb.version, comparison=levels.comparison, answer_levels=levels.answer_levels,
        display_name=akdb.display_name, lang=akdb.lang, back_url=akdb.back_url,
        online_service_id=akdb.online_service_id, enable_status_detail=akdb.enable_status_detail,
        authn_methods=akdb.methods, issue_instant=issue_instant,
        extension_ignored=akdb.ignored_reason is not None, extension_ignored_reason=akdb.ignored_reason,
        unknown_attributes=akdb.unknown,
    )


def _replay_key(issuer: str, request_id: str) -> str:
    """Per SP (one portal cannot burn another's IDs) and of a fixed length, whatever the ID's length."""
    return hashlib.sha256(f"{issuer}\n{request_id}".encode()).hexdigest()


# -- transport ------------------------------------------------------------------------------------------------

def _base64(value: str) -> bytes:
    if len(value) > MAX_ENCODED_CHARS:
        raise SamlRequestTooLarge(f"SAMLRequest is longer than {MAX_ENCODED_CHARS} characters")
    try:
        data = redirect_binding.decode_base64(value)
    except redirect_binding.RedirectBindingError:
        raise SamlRequestMalformed("SAMLRequest is not valid base64") from None
    if len(data) > MAX_REQUEST_BYTES:
        raise SamlRequestTooLarge(f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    return data


def _inflate(data: bytes) -> bytes:
    try:
        return redirect_binding.inflate(data, limit=MAX_REQUEST_BYTES)
    except redirect_binding.MessageTooLarge as exc:
        raise SamlRequestTooLarge(str(exc)) from None
    except redirect_binding.RedirectBindingError as exc:
        raise SamlRequestMalformed(str(exc)) from None


def _parse(xml: bytes) -> etree._Element:
    try:
        return parse(xml)
    except UnsafeXml as exc:
        raise SamlRequestMalformed(str(exc)) from None
    except (etree.LxmlError, ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise SamlRequestMalformed(f"not readable as XML: {type(exc).__name__}") from None


def _check_root(root: etree._Element) -> str:
    if root.tag != f"{{{SAMLP}}}AuthnRequest":
        raise SamlRequestMalformed(f"the root element must be samlp:AuthnRequest (namespace {SAMLP}), "
                                   f"found {str(root.tag)[:200]}")
    version = root.get("Version")
    if version is None:
        raise SamlRequestMalformed("the AuthnRequest needs Version=\"2.0\"")
    if version.strip() != "2.0":
        raise SamlRequestVersionMismatch(f"Version={version[:20]!r}; only 2.0 is supported")
    request_id = root.get("ID") or ""
    if not request_id or len(request_id) > MAX_ID or any(c.isspace() for c in request_id):
        raise SamlRequestMalformed(f"the AuthnRequest needs an ID of 1 to {MAX_ID} characters without spaces")
    return request_id


def _issuer(element: etree._Element) -> str:
    issuers = element.findall("saml:Issuer", NS)
    if len(issuers) != 1:
        raise SamlRequestMalformed("the AuthnRequest needs exactly one saml:Issuer (the SP's entityID)")
    name_format = issuers[0].get("Format")
    if name_format is not None and name_format.strip() != NAMEID_ENTITY:
        raise SamlRequestMalformed(f"the Issuer's Format must be {NAMEID_ENTITY} (SAML core §3.2.1)")
    issuer = "".join(issuers[0].itertext()).strip()
    if not issuer or len(issuer) > MAX_ENTITY_ID:
        raise SamlRequestMalformed(f"the saml:Issuer must have 1 to {MAX_ENTITY_ID} characters")
    return issuer


# -- signatures -----------------------------------------------------------------------------------------------

def _authenticated(root: etree._Element, *, binding: str, query: redirect_binding.RedirectQuery | None,
                   sp: SamlServiceProvider, now: datetime) -> tuple[etree._Element, bool]:
    """The element to read and whether it is signed. A signed Redirect query covers the whole message; an
    enveloped XML signature (POST, or a Redirect sender that left it in) covers only what it references."""
    if binding == "redirect" and query is not None and query.signed:
        try:
            redirect_binding.verify_query_signature(query, sp.signing_certificates)
        except redirect_binding.RedirectBindingError as exc:
            raise SamlRequestSignatureInvalid(str(exc)) from None
        return root, True
    if root.find(f".//{{{DS}}}Signature") is None:
        return root, False
    return _signed_content(root, sp.signing_certificates, now=now), True


def _signed_content(root: etree._Element, certificates: Collection[str], *, now: datetime) -> etree._Element:
    """The request as its enveloped signature covers it (defence against signature wrapping)."""
    kind = etree.QName(root).localname  # AuthnRequest, or LogoutRequest (protocols/saml/logout.py)
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise SamlRequestSignatureInvalid(f"exactly one ds:Signature is allowed, as a direct child of the "
                                          f"{kind} (SAML core §5.4.1)")
    request_id = root.get("ID") or ""
    references = signatures[0].findall("ds:SignedInfo/ds:Reference", NS)
    if len(references) != 1 or references[0].get("URI") != f"#{request_id}":
        raise SamlRequestSignatureInvalid(f"the signature must have one Reference, to the {kind}'s own ID "
                                          "(SAML core §5.4.2)")
    for element in root.iter():
        if element is root or not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            if etree.QName(name).localname in _ID_ATTRIBUTES and value == request_id:
                raise SamlRequestSignatureInvalid(f"the ID {request_id!r} appears on more than one element")
    failure = "no signing certificate is registered"
    for pem in certificates:
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            continue
        config = SignatureConfiguration(location="./", expect_references=1, signature_methods=XML_SIGNATURE_METHODS,
                                        digest_algorithms=XML_DIGEST_ALGORITHMS,
                                        verification_time=_within_validity(certificate, now))
        try:
            result = XMLVerifier().verify(root, x509_cert=certificate, parser=hardened_parser(), id_attribute="ID",
                                          expect_config=config)
        except (SignXMLException, InvalidSignature, UnsupportedAlgorithm, etree.LxmlError, ValueError, TypeError,
                KeyError) as exc:
            failure = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        signed = result.signed_xml if not isinstance(result, list) else None
        if signed is None or signed.tag != root.tag or signed.get("ID") != request_id:
            raise SamlRequestSignatureInvalid(f"the signature does not cover the {kind} itself")
        return signed
    raise SamlRequestSignatureInvalid(f"no registered signing certificate verifies the signature ({failure})")


def _within_validity(certificate: x509.Certificate, now: datetime) -> datetime:
    """Metadata certificates are key containers: their validity period is not checked (SAML V2.0 Metadata
    Interoperability Profile), so signxml is asked to verify at a moment the certificate covers."""
    return min(max(now, certificate.not_valid_before_utc), certificate.not_valid_after_utc)


# -- the request's content ------------------------------------------------------------------------------------

def _issue_instant(element: etree._Element, *, now: datetime, max_age_seconds: int) -> datetime:
    text = (element.get("IssueInstant") or "").strip()
    if not _DATETIME.fullmatch(text):
        raise SamlRequestMalformed("IssueInstant must be an xs:dateTime in UTC (SAML core §1.3.3)")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise SamlRequestMalformed(f"IssueInstant {text!r} is not a valid time") from None
    instant = (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC)
    age = (now - instant).total_seconds()
    if age > max_age_seconds + CLOCK_SKEW_SECONDS:
        raise SamlRequestExpired(f"issued {int(age)} s ago; at most {max_age_seconds} s (+{CLOCK_SKEW_SECONDS} s "
                                 "clock skew) are accepted")
    if age < -CLOCK_SKEW_SECONDS:
        raise SamlRequestExpired(f"issued {int(-age)} s in the future; check the service provider's clock")
    return instant


def _check_destination(element: etree._Element, *, sso_urls: frozenset[str], signed: bool) -> None:
    """A signed request must name where it was sent (SAML bindings §3.4.5.2, §3.5.5.2), so a request signed
    for another IdP cannot be replayed here."""
    destination = element.get("Destination")
    if destination is None:
        if signed:
            raise SamlRequestWrongDestination("a signed request must carry Destination")
        return
    if destination.strip() not in sso_urls:
        raise SamlRequestWrongDestination(f"Destination {destination[:300]!r} is not our SingleSignOnService")


def _check_protocol_binding(element: etree._Element) -> None:
    protocol_binding = element.get("ProtocolBinding")
    if protocol_binding is not None and protocol_binding.strip() != BINDING_HTTP_POST:
        raise SamlRequestUnsupportedBinding(f"ProtocolBinding {protocol_binding[:200]!r}: responses are sent by "
                                            f"{BINDING_HTTP_POST} only")


def _acs_url(element: etree._Element, sp: SamlServiceProvider) -> str:
    """Only an HTTP-POST AssertionConsumerService from the metadata; none named → the default one."""
    posts = [acs for acs in sp.acs if acs.binding == BINDING_HTTP_POST]
    chosen: str | None = None
    index = element.get("AssertionConsumerServiceIndex")
    if index is not None:
        text = index.strip()
        match = next((acs for acs in posts if text.isdigit() and acs.index == int(text)), None)
        if match is None:
            raise SamlRequestAcsNotRegistered(f"AssertionConsumerServiceIndex {text[:20]!r} is not an HTTP-POST "
                                              "AssertionConsumerService of the service provider's metadata")
        chosen = match.location
    url = element.get("AssertionConsumerServiceURL")
    if url is not None:
        url = url.strip()
        if not any(acs.location == url for acs in posts):
            raise SamlRequestAcsNotRegistered(f"AssertionConsumerServiceURL {url[:300]!r} is not an HTTP-POST "
                                              "AssertionConsumerService of the service provider's metadata")
        if chosen is not None and chosen != url:
            raise SamlRequestAcsNotRegistered("AssertionConsumerServiceURL and AssertionConsumerServiceIndex "
                                              "name different endpoints")
        chosen = url
    if chosen is None:
        default = sp.default_acs
        if default is None:
            raise SamlRequestAcsNotRegistered("the service provider's metadata have no HTTP-POST "
                                              "AssertionConsumerService")
        chosen = default.location
    return chosen


def _boolean(element: etree._Element, attribute: str) -> bool:
    value = element.get(attribute)
    if value is None:
        return False
    if value.strip() not in _BOOLEANS:
        raise SamlRequestMalformed(f"{attribute}={value[:20]!r} is not an xs:boolean")
    return value.strip() in _TRUE


@dataclass(frozen=True, slots=True)
class _Levels:
    min_level: TrustLevel | None = None
    vocabulary: Vocabulary | None = None
    comparison: str = "exact"
    answer_levels: tuple[TrustLevel, ...] | None = None
    unsatisfiable: str | None = None


def _requested_level(element: etree._Element) -> _Levels:
    """RequestedAuthnContext (SAML core §3.3.2.2.1). BundID supports Comparison="minimum" only and calls
    "exact" obsolete (§5.1); we read every comparison as SAML defines it, in any vocabulary:

    - minimum: the lowest level named is required; the answer states the level reached.
    - exact (also when Comparison is absent): the lowest level named is required, and the answer states the
      highest named level the login reached — a stronger login proves every weaker level (TR-03160-1), so the
      statement stays true.
    - better: more than the highest level named; above "hoch" nothing is better → NoAuthnContext.
    - maximum: no requirement; the answer states at most the highest level named.

    Class references we do not know are ignored beside known ones; only unknown ones (other than
    `…ac:classes:unspecified`, which asks for nothing) cannot be met → NoAuthnContext."""
    context = element.find("samlp:RequestedAuthnContext", NS)
    if context is None:
        return _Levels()
    comparison = (context.get("Comparison") or "exact").strip()
    if comparison not in COMPARISONS:
        raise SamlRequestMalformed(f"Comparison={comparison[:20]!r} is not one of {', '.join(sorted(COMPARISONS))}")
    named: dict[TrustLevel, Vocabulary] = {}
    unknown: list[str] = []
    for reference in context.findall("saml:AuthnContextClassRef", NS):
        text = "".join(reference.itertext()).strip()
        parsed = TrustLevel.parse(text)
        if parsed is not None:
            named.setdefault(parsed[0], parsed[1])
        elif text != AC_UNSPECIFIED:
            unknown.append(text)
    if not named:
        if unknown:
            return _Levels(comparison=comparison, unsatisfiable=f"no AuthnContextClassRef is known here "
                           f"({', '.join(u[:100] for u in unknown[:3])}); known: STORK-QAA-Level-1…4 and their "
                           "eIDAS and BSI names")
        return _Levels(comparison=comparison)
    lowest, highest = min(named), max(named)
    if comparison == "minimum":
        return _Levels(lowest, named[lowest], comparison)
    if comparison == "exact":
        return _Levels(lowest, named[lowest], comparison, answer_levels=tuple(sorted(named)))
    if comparison == "better":
        if highest == max(TrustLevel):
            return _Levels(comparison=comparison, unsatisfiable=f"no level is better than {highest.stork}")
        return _Levels(TrustLevel(highest + 1), named[highest], comparison)
    return _Levels(None, named[highest], comparison,
                   answer_levels=tuple(level for level in TrustLevel if level <= highest))


# -- the AKDB extension (BundID §9) ----------------------------------------------------------------------------

def _akdb(extensions: list[etree._Element]) -> _Akdb:
    """The extension of a signed request. Like BundID (§9.2, §9.2.2): a missing or empty RequestedAttributes
    list (in version 2) or a name that is empty or not a URN makes the whole extension ignored, as if it
    were absent; an empty list of methods is an error."""
    if not extensions:
        return _Akdb()
    if len(extensions) > 1:
        raise SamlRequestMalformed("more than one akdb:AuthenticationRequest")
    extension = extensions[0]
    version_text = (extension.get("Version") or "").strip()
    if version_text not in {"1", "2"}:
        return _Akdb(ignored_reason="akdb-extension-version-unsupported")
    version = int(version_text)
    attributes = extension.find("akdb:RequestedAttributes", NS)
    if attributes is None and version == 2:
        return _Akdb(version=version, ignored_reason="requested-attributes-empty")
    requested: dict[str, bool] = {}
    unknown: dict[str, bool] = {}
    if attributes is not None:
        entries = attributes.findall("akdb:RequestedAttribute", NS)
        if not entries:
            return _Akdb(version=version, ignored_reason="requested-attributes-empty")
        for entry in entries:
            name = (entry.get("Name") or "").strip()
            if not _OID_URN.fullmatch(name) and name not in _BY_SAML_NAME:  # BundID's OIDs, or our catalogue's
                return _Akdb(version=version, ignored_reason="requested-attributes-missing-name")
            required = (entry.get("RequiredAttribute") or "").strip().lower() in _TRUE
            key = _BY_SAML_NAME.get(name)
            bucket, label = (requested, key) if key is not None else (unknown, name)
            bucket[label] = bucket.get(label, False) or required
    display = extension.find("akdb:DisplayInformation/ui:Version", NS)
    return _Akdb(
        version=version,
        requested=tuple(requested.items()),
        unknown=tuple(unknown.items()),
        methods=_methods(extension),
        display_name=_text(display, "ui:OrganizationDisplayName", MAX_DISPLAY_NAME),
        lang=_lang(display),
        back_url=_back_url(display),
        online_service_id=_text(display, "ui:OnlineServiceId", MAX_ONLINE_SERVICE_ID),
        enable_status_detail=(extension.get("EnableStatusDetail") or "").strip().lower() in _TRUE,
    )


def _methods(extension: etree._Element) -> tuple[str, ...]:
    """Version 2's AuthnMethods (a method without Enabled, or Enabled true, is offered; §9.1) or version 1's
    AllowedMethods list; either is read in either version. No list means no restriction: ()."""
    methods_v2 = extension.find("akdb:AuthnMethods", NS)
    if methods_v2 is not None:
        offered = []
        for method in methods_v2:
            if not isinstance(method.tag, str) or etree.QName(method).namespace != AKDB:
                continue
            enabled = method.find("akdb:Enabled", NS)
            if enabled is None or "".join(enabled.itertext()).strip().lower() in _TRUE:
                offered.append(etree.QName(method).localname)
        if not offered:
            raise SamlRequestExtensionInvalid("akdb:AuthnMethods offers no method",
                                              bundid_code="empty-authentication-methods")
        return tuple(dict.fromkeys(offered))
    methods_v1 = extension.find("akdb:AllowedMethods", NS)
    if methods_v1 is not None:
        named = [" ".join("".join(m.itertext()).split()) for m in methods_v1.findall("akdb:AuthnMethod", NS)]
        offered = [name for name in named if name]
        if not offered:
            raise SamlRequestExtensionInvalid("akdb:AllowedMethods names no method",
                                              bundid_code="empty-authentication-methods")
        return tuple(dict.fromkeys(offered))
    return ()


def _text(parent: etree._Element | None, path: str, limit: int) -> str | None:
    element = parent.find(path, NS) if parent is not None else None
    if element is None:
        return None
    text = " ".join("".join(element.itertext()).split())[:limit]
    return text or None


def _lang(display: etree._Element | None) -> str | None:
    """de, en, ru or uk (§9.5); anything else is ignored (the default, German, applies)."""
    value = (_text(display, "ui:Lang", 20) or "").lower()
    return value if value in BUNDID_LANGUAGES else None


def _back_url(display: etree._Element | None) -> str | None:
    """Shown as "back to the online service": an absolute https URL without credentials, else ignored."""
    element = display.find("ui:BackURL", NS) if display is not None else None
    if element is None:
        return None
    url = "".join(element.itertext()).strip()
    if not url or len(url) > MAX_BACK_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    return url


def _require_v2(akdb: _Akdb, *, present: bool) -> None:
    """BundID's operator switch "V2 mandatory" (§9): what is otherwise ignored is then refused."""
    if not present:
        raise SamlRequestExtensionInvalid("the request carries no akdb:AuthenticationRequest",
                                          bundid_code="akdb-extension-missing")
    if akdb.ignored_reason == "akdb-extension-version-unsupported":
        raise SamlRequestExtensionInvalid("the akdb:AuthenticationRequest has no supported Version",
                                          bundid_code="akdb-extension-missing")
    if akdb.version == 1:
        raise SamlRequestExtensionInvalid("version 1 of the akdb:AuthenticationRequest is no longer accepted",
                                          bundid_code="akdb-extension-v1-deprecated")
    if akdb.ignored_reason is not None:
        raise SamlRequestExtensionInvalid(f"the akdb:AuthenticationRequest is not usable ({akdb.ignored_reason})",
                                          bundid_code=akdb.ignored_reason)
    if akdb.display_name is None:
        raise SamlRequestExtensionInvalid("classic-ui:OrganizationDisplayName is missing",
                                          bundid_code="organization-display-name-missing")
