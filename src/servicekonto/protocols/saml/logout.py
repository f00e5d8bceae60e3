"""Single Logout at the IdP (SAML core §3.7, profiles §4.4): reading a portal's LogoutRequest over
HTTP-Redirect or HTTP-POST and answering with a signed LogoutResponse over the binding the portal's
SingleLogoutService offers (Redirect preferred: a signed query; else POST: an enveloped XML signature).

Pure: no I/O. The SP registry and the replay guard come in as callables, the time as a value, as for the
AuthnRequest (authn_request.py), whose transport, parsing and signature checks this module reuses — one
defence against XXE, DEFLATE bombs and signature wrapping for both messages. Profiles §4.4.4.1 requires a
LogoutRequest to be signed (or authenticated by the binding, which front-channel bindings are not): an unsigned
one is refused.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner

from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.domain.saml_sp import (
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    Endpoint,
    SamlServiceProvider,
)
from servicekonto.protocols.saml import authn_request as authn
from servicekonto.protocols.saml import redirect_binding
from servicekonto.protocols.saml.idp_metadata import EXCLUSIVE_C14N, RSA_PSS_SHA256, RSA_SHA256
from servicekonto.protocols.saml.response import (
    STATUS_PREFIX,
    STATUS_SUCCESS,
    choose_signature_method,
    instant,
    new_id,
)
from servicekonto.protocols.saml.xml import DS, SAML

SAMLP = authn.SAMLP
NS = authn.NS
NAMEID_ENTITY = authn.NAMEID_ENTITY
STATUS_PARTIAL_LOGOUT = f"{STATUS_PREFIX}PartialLogout"
BINDINGS = authn.BINDINGS
MAX_NAME_ID = 1024
MAX_SESSION_INDEXES = 20


# -- errors ---------------------------------------------------------------------------------------------------

class SamlLogoutInvalid(InvalidInput):
    """A LogoutRequest we do not act on: shown on our page with its code, never answered at the SP (we
    cannot trust where it would go). `detail` names the rule for the operator."""

    code = "saml.logout.invalid"
    message = _l("The logout request of the online service is not valid.")


class SamlLogoutMalformed(SamlLogoutInvalid):
    code = "saml.logout.malformed"
    message = _l("The logout request of the online service could not be read.")


class SamlLogoutTooLarge(SamlLogoutInvalid):
    code = "saml.logout.too_large"
    message = _l("The logout request of the online service is too large.")


class SamlLogoutUnknownSp(SamlLogoutInvalid):
    code = "saml.logout.unknown_sp"
    message = _l("The online service that sent the logout request is not registered here.")


class SamlLogoutSignatureInvalid(SamlLogoutInvalid):
    code = "saml.logout.signature_invalid"
    message = _l("The signature of the logout request is not valid.")


class SamlLogoutUnsigned(SamlLogoutInvalid):
    code = "saml.logout.unsigned"
    message = _l("The online service must sign its logout requests, but this one is not signed.")


class SamlLogoutWrongDestination(SamlLogoutInvalid):
    code = "saml.logout.wrong_destination"
    message = _l("The logout request was addressed to a different service.")


class SamlLogoutExpired(SamlLogoutInvalid):
    code = "saml.logout.expired"
    message = _l("The logout request has expired. Please log out again at the online service.")


class SamlLogoutReplayed(SamlLogoutInvalid):
    code = "saml.logout.replayed"
    message = _l("This logout request was already used. Please log out again at the online service.")


class SamlLogoutNoEndpoint(SamlLogoutInvalid):
    """The SP's metadata name no SingleLogoutService we can answer at (SAML metadata §2.4.2)."""

    code = "saml.logout.no_endpoint"
    message = _l("The online service has not registered an address for logout answers.")


_FROM_AUTHN: dict[type[authn.SamlRequestInvalid], type[SamlLogoutInvalid]] = {
    authn.SamlRequestTooLarge: SamlLogoutTooLarge,
    authn.SamlRequestSignatureInvalid: SamlLogoutSignatureInvalid,
    authn.SamlRequestExpired: SamlLogoutExpired,
    authn.SamlRequestUnknownSp: SamlLogoutUnknownSp,
}


@contextmanager
def _as_logout_error() -> Iterator[None]:
    """The shared checks of authn_request.py raise AuthnRequest errors; a logout names its own."""
    try:
        yield
    except authn.SamlRequestInvalid as exc:
        raise _FROM_AUTHN.get(type(exc), SamlLogoutMalformed)(exc.detail) from None


# -- the request ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SamlLogoutRequest:
    """What a portal asked for, read only from what its signature covers."""

    id: str
    issuer: str
    sp: SamlServiceProvider = field(repr=False)
    name_id: str | None  # None when the portal sent an EncryptedID or BaseID (we issue plain transient NameIDs)
    session_indexes: tuple[str, ...]
    relay_state: str | None
    binding: str  # "redirect" | "post": how the request came

    def to_state(self) -> dict[str, object]:
        """Plain data to hold between the POST and its continuation (see web/saml_routes.py)."""
        return {"id": self.id, "issuer": self.issuer, "name_id": self.name_id,
                "session_indexes": list(self.session_indexes), "relay_state": self.relay_state,
                "binding": self.binding}

    @classmethod
    def from_state(cls, state: Mapping[str, object], sp: SamlServiceProvider) -> SamlLogoutRequest:
        name_id, relay_state = state.get("name_id"), state.get("relay_state")
        indexes = state.get("session_indexes")
        return cls(id=str(state["id"]), issuer=str(state["issuer"]), sp=sp,
                   name_id=name_id if isinstance(name_id, str) else None,
                   session_indexes=tuple(str(i) for i in indexes) if isinstance(indexes, list) else (),
                   relay_state=relay_state if isinstance(relay_state, str) else None, binding=str(state["binding"]))


def read_logout_request(*, binding: str, params: Mapping[str, str], raw_query: str | None,
                        lookup_sp: Callable[[str], SamlServiceProvider | None],
                        remember_id: Callable[[str, float], bool], now: datetime, slo_url: str,
                        max_age_seconds: int = 300) -> SamlLogoutRequest:
    """Decode, verify and read one LogoutRequest, or raise a `SamlLogoutInvalid`. The parameters mean what
    they mean for `read_authn_request`; `slo_url` is our SingleLogoutService location."""
    now = authn.utc_call_time(binding=binding, raw_query=raw_query, now=now)
    with _as_logout_error():
        query: redirect_binding.RedirectQuery | None = None
        if binding == "redirect":
            try:
                query = redirect_binding.parse_query(raw_query or "")
            except redirect_binding.RedirectSignatureInvalid as exc:
                raise SamlLogoutSignatureInvalid(str(exc)) from None
            except redirect_binding.RedirectBindingError as exc:
                raise SamlLogoutMalformed(str(exc)) from None
            xml = authn._inflate(authn._base64(query.message))
            relay_state = query.relay_state
        else:
            encoded = params.get("SAMLRequest")
            if encoded is None:
                raise SamlLogoutMalformed("the form field SAMLRequest is missing")
            xml = authn._base64(encoded)
            relay_state = params.get("RelayState")
        if relay_state is not None and len(relay_state) > authn.MAX_RELAY_STATE:
            raise SamlLogoutMalformed(f"RelayState is longer than {authn.MAX_RELAY_STATE} characters")
        root = authn._parse(xml)
        request_id = _check_root(root)
        issuer = authn._issuer(root)
        sp = lookup_sp(issuer)
        if sp is None:
            raise SamlLogoutUnknownSp(f"no service provider with the entityID {issuer[:300]!r} is registered")
        element = _authenticated(root, query=query, sp=sp, now=now)
        if authn._issuer(element) != issuer or element.get("ID") != request_id:
            raise SamlLogoutSignatureInvalid("the signed content is not the request that was read")
        authn._issue_instant(element, now=now, max_age_seconds=max_age_seconds)
    _check_not_on_or_after(element, now)
    destination = (element.get("Destination") or "").strip()
    if destination != slo_url:
        raise SamlLogoutWrongDestination(f"Destination {destination[:300]!r} is not our SingleLogoutService "
                                         "(a signed request must name it, SAML bindings §3.4.5.2, §3.5.5.2)")
    name_id, session_indexes = _principal(element)
    if not remember_id(authn._replay_key(issuer, f"logout\n{request_id}"),
                       float(max_age_seconds + 2 * authn.CLOCK_SKEW_SECONDS)):
        raise SamlLogoutReplayed(f"the request ID {request_id!r} was already used")
    return SamlLogoutRequest(id=request_id, issuer=issuer, sp=sp, name_id=name_id, session_indexes=session_indexes,
                             relay_state=relay_state, binding=binding)


def _check_root(root: etree._Element) -> str:
    if root.tag != f"{{{SAMLP}}}LogoutRequest":
        raise SamlLogoutMalformed(f"the root element must be samlp:LogoutRequest (namespace {SAMLP}), "
                                  f"found {str(root.tag)[:200]}")
    if (root.get("Version") or "").strip() != "2.0":
        raise SamlLogoutMalformed('the LogoutRequest needs Version="2.0"')
    request_id = root.get("ID") or ""
    if not request_id or len(request_id) > authn.MAX_ID or any(c.isspace() for c in request_id):
        raise SamlLogoutMalformed(f"the LogoutRequest needs an ID of 1 to {authn.MAX_ID} characters without spaces")
    return request_id


def _authenticated(root: etree._Element, *, query: redirect_binding.RedirectQuery | None,
                   sp: SamlServiceProvider, now: datetime) -> etree._Element:
    """What the signature covers: the whole message for a signed Redirect query, else the element an
    enveloped XML signature references. Neither: refused (profiles §4.4.4.1)."""
    if query is not None and query.signed:
        try:
            redirect_binding.verify_query_signature(query, sp.signing_certificates)
        except redirect_binding.RedirectBindingError as exc:
            raise SamlLogoutSignatureInvalid(str(exc)) from None
        return root
    if root.find(f".//{{{DS}}}Signature") is None:
        raise SamlLogoutUnsigned("a LogoutRequest must be signed (SAML profiles §4.4.4.1)")
    return authn._signed_content(root, sp.signing_certificates, now=now)


def _check_not_on_or_after(element: etree._Element, now: datetime) -> None:
    text = element.get("NotOnOrAfter")
    if text is None:
        return
    if not authn._DATETIME.fullmatch(text.strip()):
        raise SamlLogoutMalformed("NotOnOrAfter must be an xs:dateTime (SAML core §1.3.3)")
    moment = datetime.fromisoformat(text.strip())
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    if (now - moment).total_seconds() >= authn.CLOCK_SKEW_SECONDS:
        raise SamlLogoutExpired("the LogoutRequest's NotOnOrAfter has passed (SAML core §3.7.1)")


def _principal(element: etree._Element) -> tuple[str | None, tuple[str, ...]]:
    """The NameID (SAML core §3.7.1 requires one of BaseID, NameID, EncryptedID) and the SessionIndexes."""
    identifiers = [child for child in element if isinstance(child.tag, str)
                   and child.tag in {f"{{{SAML}}}NameID", f"{{{SAML}}}BaseID", f"{{{SAML}}}EncryptedID"}]
    if len(identifiers) != 1:
        raise SamlLogoutMalformed("a LogoutRequest names its principal with exactly one NameID, BaseID or "
                                  "EncryptedID (SAML core §3.7.1)")
    name_id = None
    if identifiers[0].tag == f"{{{SAML}}}NameID":
        name_id = "".join(identifiers[0].itertext()).strip()
        if not name_id or len(name_id) > MAX_NAME_ID:
            raise SamlLogoutMalformed(f"the NameID must have 1 to {MAX_NAME_ID} characters")
    indexes = tuple("".join(e.itertext()).strip() for e in element.findall("samlp:SessionIndex", NS))
    if len(indexes) > MAX_SESSION_INDEXES or any(not i or len(i) > authn.MAX_ID for i in indexes):
        raise SamlLogoutMalformed("too many, empty or overlong SessionIndex elements")
    return name_id, indexes


# -- the response ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LogoutAnswer:
    """Where and how the LogoutResponse goes: `binding` "redirect" (then `location` is the whole signed URL)
    or "post" (then `message` is the signed XML for the HTTP-POST page to `location`)."""

    binding: str
    location: str
    message: bytes | None = None


def answer_endpoint(sp: SamlServiceProvider) -> Endpoint | None:
    """The SP's SingleLogoutService we answer at: HTTP-Redirect first (a short, signed query), else POST."""
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        endpoint = next((e for e in sp.slo if e.binding == binding), None)
        if endpoint is not None:
            return endpoint
    return None


def build_logout_response(*, idp_entity_id: str, in_response_to: str, destination: str, partial: bool,
                          now: datetime) -> etree._Element:
    """Unsigned `samlp:LogoutResponse` (SAML core §3.7.2): Success, with PartialLogout as second-level code
    when other session participants could not be told (§3.2.2.2). The Signature goes after the Issuer."""
    response = etree.Element(f"{{{SAMLP}}}LogoutResponse", nsmap={"samlp": SAMLP, "saml": SAML}, ID=new_id(),
                             Version="2.0", IssueInstant=instant(now), Destination=destination,
                             InResponseTo=in_response_to)
    etree.SubElement(response, f"{{{SAML}}}Issuer", Format=NAMEID_ENTITY).text = idp_entity_id
    status = etree.SubElement(response, f"{{{SAMLP}}}Status")
    code = etree.SubElement(status, f"{{{SAMLP}}}StatusCode", Value=STATUS_SUCCESS)
    if partial:
        etree.SubElement(code, f"{{{SAMLP}}}StatusCode", Value=STATUS_PARTIAL_LOGOUT)
    return response


def answer(request: SamlLogoutRequest, *, idp_entity_id: str, partial: bool, signing_key: rsa.RSAPrivateKey,
           certificate_pem: str, now: datetime) -> LogoutAnswer:
    """The signed LogoutResponse at the SP's SingleLogoutService (its ResponseLocation where it has one,
    SAML metadata §2.2.2), with the algorithm the SP can verify (response.choose_signature_method)."""
    endpoint = answer_endpoint(request.sp)
    if endpoint is None:
        raise SamlLogoutNoEndpoint("the metadata have no SingleLogoutService with HTTP-Redirect or HTTP-POST")
    location = endpoint.response_location or endpoint.location
    algorithm = choose_signature_method(request.sp.signing_methods)
    response = build_logout_response(idp_entity_id=idp_entity_id, in_response_to=request.id, destination=location,
                                     partial=partial, now=now)
    if endpoint.binding == BINDING_HTTP_REDIRECT:
        xml = etree.tostring(response, encoding="UTF-8", xml_declaration=False)
        return LogoutAnswer("redirect", signed_redirect_url(location, "SAMLResponse", xml, request.relay_state,
                                                            algorithm=algorithm, key=signing_key))
    signed = sign_message(response, signing_key=signing_key, certificate_pem=certificate_pem,
                          signature_method=algorithm)
    return LogoutAnswer("post", location, signed)


def sign_message(message: etree._Element, *, signing_key: rsa.RSAPrivateKey, certificate_pem: str,
                 signature_method: str) -> bytes:
    """Enveloped XML signature over the message's ID (SAML core §5.4), exclusive c14n, SHA-256, placed right
    after the Issuer as the schema orders it (StatusResponseType, RequestAbstractType)."""
    issuer = message.find(f"{{{SAML}}}Issuer")
    placeholder = etree.Element(f"{{{DS}}}Signature", Id="placeholder")
    if issuer is not None:
        issuer.addnext(placeholder)
    else:
        message.insert(0, placeholder)
    signer = XMLSigner(signature_algorithm=SignatureMethod(signature_method), digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=EXCLUSIVE_C14N)
    signed = signer.sign(message, key=signing_key, cert=[certificate_pem], reference_uri=f"#{message.get('ID')}",
                         id_attribute="ID")
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


_QUERY_SIGNERS = {RSA_SHA256: "pkcs1", RSA_PSS_SHA256: "pss"}


def signed_redirect_url(location: str, parameter: str, xml: bytes, relay_state: str | None, *, algorithm: str,
                        key: rsa.RSAPrivateKey) -> str:
    """The HTTP-Redirect binding (SAML bindings §3.4.4.1): DEFLATE, base64, URL-encode; the signature covers
    `SAMLResponse=…&RelayState=…&SigAlg=…` exactly as they appear in the query."""
    if algorithm not in _QUERY_SIGNERS:
        raise ValueError(f"unsupported query signature algorithm {algorithm!r}")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(xml) + compressor.flush()
    parts = [f"{parameter}={quote(base64.b64encode(deflated).decode('ascii'), safe='')}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote(relay_state, safe='')}")
    parts.append(f"SigAlg={quote(algorithm, safe='')}")
    octets = "&".join(parts).encode("ascii")
    if _QUERY_SIGNERS[algorithm] == "pss":
        signature = key.sign(octets, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                 salt_length=padding.PSS.DIGEST_LENGTH), hashes.SHA256())
    else:
        signature = key.sign(octets, padding.PKCS1v15(), hashes.SHA256())
    parts.append(f"Signature={quote(base64.b64encode(signature).decode('ascii'), safe='')}")
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}{'&'.join(parts)}"

