"""The SAML identity provider (Web Browser SSO profile, BundID's interface): an AuthnRequest becomes an
AuthRequest for the shared login and consent pages; the AuthResult becomes a signed and encrypted Response,
sent to the SP's assertion consumer service with the HTTP-POST binding. Plain data out, like the OIDC
provider: `authorize()` → AuthRequest, an error page, or an error Response; `finish()`/`refuse()` → the
POST-binding page.

Single Logout (SAML profiles §4.4, SP-initiated, front channel): `finish()` remembers, per login session, which
SP got which NameID and SessionIndex (ephemeral, keyed by the keyed session hash). `read_logout()` checks a
LogoutRequest; `logout()` decides whether it names this browser's session and builds the signed
LogoutResponse. Ending the session itself is the web layer's (cookie, sessions, OIDC back-channel, audit).
Other SAML SPs of the session are not sent LogoutRequests: the answer says PartialLogout when one of them has
a SingleLogoutService (docs/integration/saml.md, "Single Logout")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.ids import random_token
from servicekonto.core.urls import origin
from servicekonto.domain.attributes import MASTER_DATA_KEYS
from servicekonto.domain.auth_request import AuthRequest, AuthResult, RequestedAttribute
from servicekonto.domain.keys import KeyPurpose
from servicekonto.domain.ports import EphemeralStore
from servicekonto.domain.service_settings import restrict_attributes, service_floor
from servicekonto.domain.trust import TrustLevel, Vocabulary
from servicekonto.protocols.saml import logout
from servicekonto.protocols.saml.authn_request import (
    SamlAuthnRequest,
    SamlRequestInvalid,
    SamlRequestNoAuthnContext,
    read_authn_request,
)
from servicekonto.protocols.saml.idp_metadata import PATHS, IdpMetadata
from servicekonto.protocols.saml.logout import SamlLogoutInvalid, SamlLogoutRequest
from servicekonto.protocols.saml.response import (
    build_error_response,
    build_response,
    new_id,
    post_form,
    session_index,
)
from servicekonto.services.keys import KeyService
from servicekonto.services.saml_sps import SamlSpService

# Without a list of requested attributes (no AKDB extension, Version 1, or an unsigned request) BundID
# returns what the account holds: the master data and the e-mail address, each still subject to consent.
DEFAULT_KEYS = (*MASTER_DATA_KEYS, "email")
TECHNICAL_KEYS = frozenset({"pseudonym", "trust_level", "proved_by", "mfa", "version"})
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
SUB_STATUS = {
    "access_denied": "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
    "login_required": "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
    "consent_required": "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
    "unmet_authentication_requirements": "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext",
}
# Who got which NameID in a login session: kept as long as the longest session may live (TR-03160-1: 12 h at
# level ≤ 2); read only while the session itself is alive.
PARTICIPANTS_TTL = 12 * 3600.0
MAX_PARTICIPANTS = 50
PENDING_LOGOUT_TTL = 300.0  # a POST-binding LogoutRequest between its check and the GET that carries the cookie


@dataclass(frozen=True, slots=True)
class PostPage:
    """The HTTP-POST binding's page: a form to the SP's ACS (works without JavaScript; a script of our own
    submits it at once where scripts run). `location` is None: it is not a redirect."""

    status: int
    body: str
    headers: list[tuple[str, str]]
    form_target: str  # the ACS's origin: the page's form-action must allow it
    location: None = None


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """A request we cannot answer through the SP (unknown SP, bad signature, ACS not registered, …): shown on
    our page with its code, never sent anywhere."""

    error: str
    description: str


@dataclass(frozen=True, slots=True)
class RedirectAnswer:
    """An HTTP-Redirect binding message (a signed LogoutResponse): the browser is sent to `location`."""

    location: str


@dataclass(frozen=True, slots=True)
class LogoutDecision:
    """`end_session`: the LogoutRequest names this browser's login session, which the caller ends;
    `answer`: the signed LogoutResponse for the SP."""

    end_session: bool
    answer: PostPage | RedirectAnswer


class SamlIdentityProvider:
    def __init__(self, *, sps: SamlSpService, metadata: IdpMetadata, keys: KeyService, store: EphemeralStore,
                 clock: Clock, key: bytes) -> None:
        self._sps = sps
        self._metadata = metadata
        self._keys = keys
        self._store = store
        self._clock = clock
        self._key = key

    @property
    def entity_id(self) -> str:
        return self._metadata.entity_id

    def authorize(self, *, binding: str, params: Mapping[str, str], raw_query: str | None,
                  sso_url: str) -> AuthRequest | RequestRefused | PostPage:
        """An AuthRequest for the login pages; a request we cannot meet but may answer (NoAuthnContext, SAML
        core §3.3.2.2.1: it passed every check, so its ACS is trusted) as an error Response; else our page."""
        try:
            request = read_authn_request(binding=binding, params=params, raw_query=raw_query,
                                         lookup_sp=self._sps.get, remember_id=self._remember,
                                         now=self._clock.now(), sso_url=sso_url)
        except SamlRequestNoAuthnContext as exc:
            if exc.acs_url is None or exc.request_id is None:
                return RequestRefused(exc.code, exc.detail or exc.code)
            status, sub_status = exc.saml_status
            response = build_error_response(
                idp_entity_id=self.entity_id, in_response_to=exc.request_id, acs_url=exc.acs_url,
                status_code=status, sub_status=sub_status, message=None, now=self._clock.now())
            return self._post({"acs_url": exc.acs_url, "relay_state": exc.relay_state}, response)
        except SamlRequestInvalid as exc:
            return RequestRefused(exc.code, exc.detail or exc.code)
        return self._auth_request(request)

    def _remember(self, request_id: str, ttl: float) -> bool:
        """Replay protection: a request ID is accepted once while it could still be valid."""
        return self._store.add(f"saml:request:{keyed_hash(self._key, request_id)}", b"1", max(ttl, 1.0))

    def _auth_request(self, request: SamlAuthnRequest) -> AuthRequest:
        requested = list(request.requested) or [(key, False) for key in DEFAULT_KEYS]
        attributes = restrict_attributes([RequestedAttribute(key, required) for key, required in requested
                                          if key not in TECHNICAL_KEYS], request.sp.allowed_attributes)
        floor = service_floor(request.sp.min_trust_level, request.sp.allowed_methods)
        asked = request.min_level or TrustLevel.BASIC
        state = {
            "request_id": request.id, "acs_url": request.acs_url, "relay_state": request.relay_state,
            "requested": [[key, required] for key, required in requested], "akdb_version": request.akdb_version,
            "status_detail": request.enable_status_detail, "prompt_none": request.is_passive,
            "answer_levels": [int(level) for level in request.answer_levels] if request.answer_levels else None,
        }
        return AuthRequest(
            id=random_token(24), protocol="saml", tenant_id=request.sp.tenant_id, service_id=request.sp.entity_id,
            service_name=request.display_name or request.sp.name, sector=request.sp.sector,
            min_level=max(asked, floor),
            level_vocabulary=request.level_vocabulary or Vocabulary.STORK,
            # Comparison="minimum" binds ([BSB] §5.1), and so does the SP's own floor
            level_essential=request.min_level is not None or floor > asked,
            attributes=attributes, force_login=request.force_authn, locale=request.lang,
            protocol_state=state, created_at=self._clock.timestamp(), return_origin=origin(request.acs_url),
            temporary_allowed=all(key != "pseudonym" for key, _required in requested))

    def finish(self, auth_request: AuthRequest, result: AuthResult, *, session_hash: str | None) -> PostPage:
        state = auth_request.protocol_state
        sp = self._sps.get(auth_request.service_id)
        missing = [key for key, required in state["requested"]
                   if required and key not in TECHNICAL_KEYS and key not in {a.key for a in result.attributes}]
        if sp is None or missing:
            detail = f"required attributes not available: {', '.join(missing)}" if missing else "unknown SP"
            return self.refuse(auth_request, "access_denied", detail)
        answer_levels = state.get("answer_levels")
        if answer_levels:  # Comparison exact or maximum: state the highest allowed level the login reached
            stated = [TrustLevel(level) for level in answer_levels if level <= result.trust_level]
            if not stated:
                return self.refuse(auth_request, "unmet_authentication_requirements",
                                   "The login did not reach one of the requested trust levels.")
            result = replace(result, trust_level=max(stated))
        _kid, signing_key = self._keys.signing_key(KeyPurpose.SAML_SIGNING)
        certificate = self._keys.certificates(KeyPurpose.SAML_SIGNING)[0]
        name_id = new_id()
        response = build_response(
            idp_entity_id=self.entity_id, sp=sp, in_response_to=state["request_id"], acs_url=state["acs_url"],
            result=result, requested=[(key, bool(required)) for key, required in state["requested"]],
            akdb_version=state["akdb_version"], signing_key=signing_key,  # type: ignore[arg-type]
            signing_certificate_pem=certificate, now=self._clock.now(), name_id=name_id)
        if session_hash is not None and result.session_id is not None:
            self._remember_participant(session_hash, {"sp": sp.entity_id, "name_id": name_id,
                                                      "session_index": session_index(result.session_id, sp.entity_id)})
        return self._post(state, response)

    def refuse(self, auth_request: AuthRequest, error: str = "access_denied",
               description: str = "The citizen did not agree.") -> PostPage:
        """An error Response to the SP ([BSB] §9.2.3: RequestDenied when data cannot be delivered)."""
        state = auth_request.protocol_state
        response = build_error_response(
            idp_entity_id=self.entity_id, in_response_to=state["request_id"], acs_url=state["acs_url"],
            status_code=STATUS_RESPONDER, sub_status=SUB_STATUS.get(error, SUB_STATUS["access_denied"]),
            message=description if state.get("status_detail") else None, now=self._clock.now(),
            status_detail=[(error, description)] if state.get("status_detail") else None)
        return self._post(state, response)

    def _post(self, state: Mapping[str, object], response: bytes) -> PostPage:
        acs_url = str(state["acs_url"])
        relay_state = state.get("relay_state")
        body = post_form(acs_url, response, relay_state if isinstance(relay_state, str) else None)
        return PostPage(200, body, [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")],
                        form_target=origin(acs_url))

    # -- Single Logout ----------------------------------------------------------------------------------------

    def _participants_key(self, session_hash: str) -> str:
        return f"saml:participants:{session_hash}"

    def _remember_participant(self, session_hash: str, entry: dict[str, str]) -> None:
        """Read, append, write: two logins of one browser at the same moment are not a case worth a lock
        (the later write wins, and a missing entry only makes a LogoutRequest a no-op)."""
        entries = [*self.participants(session_hash), entry][-MAX_PARTICIPANTS:]
        self._store.put(self._participants_key(session_hash), json.dumps(entries).encode(), PARTICIPANTS_TTL)

    def participants(self, session_hash: str) -> list[dict[str, str]]:
        """The SAML SPs this login session answered: entityID, NameID and SessionIndex, oldest first."""
        raw = self._store.get(self._participants_key(session_hash))
        if raw is None:
            return []
        try:
            entries = json.loads(raw)
        except ValueError:
            return []
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def read_logout(self, *, binding: str, params: Mapping[str, str], raw_query: str | None,
                    slo_url: str) -> SamlLogoutRequest | RequestRefused:
        """A checked LogoutRequest of a registered SP that has somewhere to receive the answer, or our page."""
        try:
            request = logout.read_logout_request(binding=binding, params=params, raw_query=raw_query,
                                                 lookup_sp=self._sps.get, remember_id=self._remember,
                                                 now=self._clock.now(), slo_url=slo_url)
            if logout.answer_endpoint(request.sp) is None:
                raise logout.SamlLogoutNoEndpoint("the service provider's metadata have no SingleLogoutService "
                                                  "with the HTTP-Redirect or HTTP-POST binding")
        except SamlLogoutInvalid as exc:
            return RequestRefused(exc.code, exc.detail or exc.code)
        return request

    def hold_logout(self, request: SamlLogoutRequest) -> str:
        """Keep a checked POST-binding request for the GET that follows (that one carries the SameSite=Lax
        session cookie, a cross-site POST does not); the token is single-use."""
        token = random_token(24)
        self._store.put(f"saml:logout:{keyed_hash(self._key, token)}", json.dumps(request.to_state()).encode(),
                        PENDING_LOGOUT_TTL)
        return token

    def resume_logout(self, token: str) -> SamlLogoutRequest | None:
        if not token or len(token) > 100:
            return None
        raw = self._store.take(f"saml:logout:{keyed_hash(self._key, token)}")
        if raw is None:
            return None
        state = json.loads(raw)
        sp = self._sps.get(str(state.get("issuer", "")))
        return SamlLogoutRequest.from_state(state, sp) if sp is not None else None

    def logout(self, request: SamlLogoutRequest, *, session_id: str | None) -> LogoutDecision:
        """Does the request name this browser's login session (the SP's NameID and, if sent, SessionIndex as
        we issued them)? Then the session ends and its record goes. A request for a principal this session
        does not hold is answered Success as well: nobody is logged in under it here (SAML core §3.7.3.2
        leaves it to us; an error would only strand the citizen). PartialLogout tells the SP that other SAML
        SPs with a SingleLogoutService were not logged out."""
        entries = self.participants(self.session_hash(session_id)) if session_id is not None else []
        ends = any(entry.get("sp") == request.issuer and _names(entry, request) for entry in entries)
        partial = False
        if ends and session_id is not None:
            others = {entry.get("sp", "") for entry in entries} - {request.issuer}
            partial = any((sp := self._sps.get(entity_id)) is not None and bool(sp.slo) for entity_id in others)
            self._store.delete(self._participants_key(self.session_hash(session_id)))
        _kid, signing_key = self._keys.signing_key(KeyPurpose.SAML_SIGNING)
        certificate = self._keys.certificates(KeyPurpose.SAML_SIGNING)[0]
        sent = logout.answer(request, idp_entity_id=self.entity_id, partial=partial,
                             signing_key=signing_key,  # type: ignore[arg-type]
                             certificate_pem=certificate, now=self._clock.now())
        if sent.binding == "redirect":
            return LogoutDecision(ends, RedirectAnswer(sent.location))
        assert sent.message is not None
        return LogoutDecision(ends, self._post({"acs_url": sent.location, "relay_state": request.relay_state},
                                               sent.message))

    def session_hash(self, session_id: str) -> str:
        return keyed_hash(self._key, f"session:{session_id}")

    @property
    def sso_path(self) -> str:
        return PATHS["sso"]


def _names(entry: Mapping[str, str], request: SamlLogoutRequest) -> bool:
    """The request names this entry: its NameID where it sent one, its SessionIndex where it sent any; an
    EncryptedID without SessionIndex names nothing we could check."""
    if request.name_id is None and not request.session_indexes:
        return False
    if request.name_id is not None and entry.get("name_id") != request.name_id:
        return False
    return not request.session_indexes or entry.get("session_index") in request.session_indexes
