"""The SAML identity provider (Web Browser SSO profile, BundID's interface): an AuthnRequest becomes an
AuthRequest for the shared login and consent pages; the AuthResult becomes a signed and encrypted Response,
sent to the SP's assertion consumer service with the HTTP-POST binding. Plain data out, like the OIDC
provider: `authorize()` → AuthRequest, an error page, or an error Response; `finish()`/`refuse()` → the
POST-binding page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.ids import random_token
from servicekonto.core.urls import origin
from servicekonto.domain.attributes import MASTER_DATA_KEYS
from servicekonto.domain.auth_request import AuthRequest, AuthResult, RequestedAttribute
from servicekonto.domain.keys import KeyPurpose
from servicekonto.domain.ports import EphemeralStore
from servicekonto.domain.trust import TrustLevel, Vocabulary
from servicekonto.protocols.saml.authn_request import SamlAuthnRequest, SamlRequestInvalid, read_authn_request
from servicekonto.protocols.saml.idp_metadata import PATHS, IdpMetadata
from servicekonto.protocols.saml.response import build_error_response, build_response, post_form
from servicekonto.services.keys import KeyService
from servicekonto.services.saml_sps import SamlSpService

# Without a list of requested attributes (no AKDB extension, Version 1, or an unsigned request) BundID
# returns what the account holds: the master data and the e-mail address, each still subject to consent.
DEFAULT_KEYS = (*MASTER_DATA_KEYS, "email")
TECHNICAL_KEYS = frozenset({"pseudonym", "trust_level", "proved_by", "mfa"})
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
SUB_STATUS = {
    "access_denied": "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
    "login_required": "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
    "consent_required": "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
    "unmet_authentication_requirements": "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext",
}


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
                  sso_url: str) -> AuthRequest | RequestRefused:
        try:
            request = read_authn_request(binding=binding, params=params, raw_query=raw_query,
                                         lookup_sp=self._sps.get, remember_id=self._remember,
                                         now=self._clock.now(), sso_url=sso_url)
        except SamlRequestInvalid as exc:
            return RequestRefused(exc.code, exc.detail or exc.code)
        return self._auth_request(request)

    def _remember(self, request_id: str, ttl: float) -> bool:
        """Replay protection: a request ID is accepted once while it could still be valid."""
        return self._store.add(f"saml:request:{keyed_hash(self._key, request_id)}", b"1", max(ttl, 1.0))

    def _auth_request(self, request: SamlAuthnRequest) -> AuthRequest:
        requested = list(request.requested) or [(key, False) for key in DEFAULT_KEYS]
        attributes = [RequestedAttribute(key, required) for key, required in requested if key not in TECHNICAL_KEYS]
        state = {
            "request_id": request.id, "acs_url": request.acs_url, "relay_state": request.relay_state,
            "requested": [[key, required] for key, required in requested], "akdb_version": request.akdb_version,
            "status_detail": request.enable_status_detail, "prompt_none": request.is_passive,
        }
        return AuthRequest(
            id=random_token(24), protocol="saml", tenant_id=request.sp.tenant_id, service_id=request.sp.entity_id,
            service_name=request.display_name or request.sp.name, sector=request.sp.sector,
            min_level=request.min_level or TrustLevel.BASIC,
            level_vocabulary=request.level_vocabulary or Vocabulary.STORK,
            level_essential=request.min_level is not None,  # Comparison="minimum" binds ([BSB] §5.1)
            attributes=attributes, force_login=request.force_authn, locale=request.lang,
            protocol_state=state, created_at=self._clock.timestamp(), return_origin=origin(request.acs_url))

    def finish(self, auth_request: AuthRequest, result: AuthResult, *, session_hash: str | None) -> PostPage:
        state = auth_request.protocol_state
        sp = self._sps.get(auth_request.service_id)
        missing = [key for key, required in state["requested"]
                   if required and key not in TECHNICAL_KEYS and key not in {a.key for a in result.attributes}]
        if sp is None or missing:
            detail = f"required attributes not available: {', '.join(missing)}" if missing else "unknown SP"
            return self.refuse(auth_request, "access_denied", detail)
        _kid, signing_key = self._keys.signing_key(KeyPurpose.SAML_SIGNING)
        certificate = self._keys.certificates(KeyPurpose.SAML_SIGNING)[0]
        response = build_response(
            idp_entity_id=self.entity_id, sp=sp, in_response_to=state["request_id"], acs_url=state["acs_url"],
            result=result, requested=[(key, bool(required)) for key, required in state["requested"]],
            akdb_version=state["akdb_version"], signing_key=signing_key,  # type: ignore[arg-type]
            signing_certificate_pem=certificate, now=self._clock.now())
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

    def _post(self, state: dict[str, object], response: bytes) -> PostPage:
        acs_url = str(state["acs_url"])
        relay_state = state.get("relay_state")
        body = post_form(acs_url, response, relay_state if isinstance(relay_state, str) else None)
        return PostPage(200, body, [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")],
                        form_target=origin(acs_url))

    def session_hash(self, session_id: str) -> str:
        return keyed_hash(self._key, f"session:{session_id}")

    @property
    def sso_path(self) -> str:
        return PATHS["sso"]
