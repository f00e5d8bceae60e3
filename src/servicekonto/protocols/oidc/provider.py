"""The OpenID Provider on Authlib's authorization server (RFC 6749 grants, PKCE, client authentication,
revocation, introspection) with our storage behind it: codes and opaque tokens in the ephemeral store,
grants and refresh tokens in the database, keys from the KeyService (joserfc signs).

Its surface is plain data: `authorize()` answers with an AuthRequest to continue in the pages or a redirect
or an error to show; `finish()` turns an AuthResult into the redirect back to the client; endpoints answer
`(status, body, headers)`. It never renders HTML."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
)
from authlib.oidc.core.util import create_half_hash
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.ids import random_token
from servicekonto.core.urls import add_query, origin
from servicekonto.domain.accounts import Account, StoredAttribute
from servicekonto.domain.admins import TenantNotActive
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.auth_request import AuthRequest, AuthResult, ReleasedAttribute
from servicekonto.domain.clients import SIGNING_ALGORITHMS, AccessTokenFormat, GrantType, OidcClient, allowed_scope
from servicekonto.domain.grants import Grant, RefreshTokenState
from servicekonto.domain.keys import KeyPurpose
from servicekonto.domain.ports import AccountRepository, EphemeralStore, GrantRepository
from servicekonto.domain.service_settings import restrict_attributes, service_floor
from servicekonto.domain.trust import TrustLevel, Vocabulary
from servicekonto.protocols.oidc import claims as oidc_claims
from servicekonto.protocols.oidc.authlib_server import (
    CLIENT_ASSERTION,
    SECRET_METHODS,
    TOKEN_AUTH_METHODS,
    Client,
    ClientCredentialsGrant,
    Code,
    CodeGrant,
    IdToken,
    Introspection,
    PrivateKeyJwt,
    RefreshGrant,
    RefreshRecord,
    Request,
    Revocation,
    S256Challenge,
    Server,
    Subject,
    TokenRecord,
)
from servicekonto.protocols.oidc.backchannel import EVENT as BACKCHANNEL_EVENT
from servicekonto.protocols.oidc.backchannel import BackchannelSender
from servicekonto.protocols.oidc.results import JSON_HEADERS, ProtocolResponse, SessionView, ShowError
from servicekonto.services.audit import Auditor
from servicekonto.services.keys import KeyService
from servicekonto.services.oidc_clients import OidcClientService
from servicekonto.services.release import NotAMember, ReleaseService

CODE_SECONDS = 60
ACCESS_TOKEN_SECONDS = 600
ID_TOKEN_SECONDS = 600
GRANT_SECONDS = 12 * 3600  # refresh tokens live as long as the longest login session (TR-03160-1)
PAR_SECONDS = 90
CODE_REPLAY_MEMORY = 600
AMR = {"password": "pwd", "pwd": "pwd", "eid": "hwk", "passkey": "hwk", "totp": "otp"}
GRANT_ENDED_SECONDS = ACCESS_TOKEN_SECONDS + 60  # a grant's end note outlives every access token of it
VERIFIED_TOKENS = 4096  # JWT access tokens remembered as verified (_jwt_access_claims)
TEMPORARY_SUBJECT_PREFIX = "temporary-"  # `sub` of a temporary identification: one response, no account


class OpenIdProvider:
    def __init__(self, *, issuer: str, clients: OidcClientService, grants: GrantRepository,
                 accounts: AccountRepository, release: ReleaseService, store: EphemeralStore, keys: KeyService,
                 auditor: Auditor, clock: Clock, key: bytes, backchannel: BackchannelSender | None = None) -> None:
        self.issuer = issuer
        self.clients = clients
        self.grants = grants
        self.accounts = accounts
        self.release = release
        self.store = store
        self.keys = keys
        self.auditor = auditor
        self.clock = clock
        self.key = key
        self.backchannel = backchannel
        self._jose_keys: dict[str, Any] = {}
        self._key_set: tuple[bytes, KeySet] | None = None
        self._loop_store: LoopStore | None = None  # see read_on_loop()
        self._loop_grants: LoopGrants | None = None
        self._verified: dict[str, dict[str, Any]] = {}  # see _jwt_access_claims()
        self._verified_under: KeySet | None = None
        self._verified_lock = threading.Lock()
        self._at_header: tuple[str, bytes] | None = None  # see _sign_access_token()
        self.server = Server(self)
        self.server.register_token_generator("default", self.generate_token)
        self.server.register_grant(CodeGrant, [S256Challenge(required=True), IdToken(self)])
        self.server.register_grant(RefreshGrant)
        self.server.register_grant(ClientCredentialsGrant)
        self.server.register_client_auth_method(CLIENT_ASSERTION, PrivateKeyJwt(self))
        self.server.register_endpoint(Revocation)
        self.server.register_endpoint(Introspection)

    # -- the authorization endpoint -------------------------------------------------------------------------

    def authorize(self, method: str, uri: str, pairs: list[tuple[str, str]],
                  session: SessionView | None) -> AuthRequest | ProtocolResponse | ShowError:
        """Validate an authorization request. A valid one becomes an AuthRequest for the pages (or, with
        `prompt=none`, is answered at once); errors go back to the client only once the client and its
        redirect URI are known."""
        params = dict(pairs)
        if "request_uri" in params:
            pushed = self._pushed(params)
            if isinstance(pushed, ShowError):
                return pushed
            pairs = pushed
            params = dict(pairs)
        request = Request(method, uri, {}, pairs)
        try:
            grant = self.server.get_consent_grant(request, end_user=None if session is None else "present")
        except OAuth2Error as error:
            return self._error(error, params)
        redirect_uri = grant.redirect_uri
        client: OidcClient = request.client.model
        if "request" in params:
            return self._redirect_error(redirect_uri, params, "request_not_supported",
                                        "Request objects are not supported; use pushed authorization requests.")
        try:
            claims = oidc_claims.parse_claims_parameter(params.get("claims"))
        except oidc_claims.ClaimsParameterInvalid as exc:
            return self._redirect_error(redirect_uri, params, "invalid_request", str(exc))
        level, vocabulary, essential = TrustLevel.BASIC, Vocabulary.STORK, False
        if asked := oidc_claims.requested_level(params.get("acr_values"), claims):
            level, vocabulary, essential = asked
        floor = service_floor(client.min_trust_level, client.allowed_methods)
        if floor > level:
            level, essential = floor, True
        prompts = set(params.get("prompt", "").split())
        max_age = _int_or_none(params.get("max_age"))
        if "max_age" in params and max_age is None:
            return self._redirect_error(redirect_uri, params, "invalid_request", "max_age is not a number.")
        state = {"pairs": [[k, v] for k, v in pairs if k != "request_uri"], "redirect_uri": redirect_uri}
        return AuthRequest(
            id=random_token(24), protocol="oidc", tenant_id=client.tenant_id, service_id=client.client_id,
            service_name=client.name, sector=client.sector, min_level=level, level_vocabulary=vocabulary,
            level_essential=essential,
            attributes=restrict_attributes(oidc_claims.requested_attributes(request.scope or "", claims),
                                           client.allowed_attributes),
            force_login="login" in prompts or max_age == 0, force_consent="consent" in prompts,
            max_age=max_age, locale=(params.get("ui_locales") or "").split(" ")[0] or None,
            protocol_state=state | {"prompt_none": "none" in prompts}, created_at=self.clock.timestamp(),
            return_origin=origin(redirect_uri))

    def finish(self, auth_request: AuthRequest, result: AuthResult, *, session_hash: str | None) -> ProtocolResponse:
        """The code goes back to the client (RFC 6749 §4.1.2), with `iss` (RFC 9207)."""
        request = Request("GET", f"{self.issuer}/oidc/authorize", {},
                          [(k, v) for k, v in auth_request.protocol_state["pairs"]])
        if result.temporary:
            result = self._temporary(result)
        subject = Subject(account_id=result.account_id, subject=result.subject,
                          acr=result.trust_level.name_in(auth_request.level_vocabulary), amr=_amr(result.methods),
                          auth_time=result.auth_time, claims=tuple(a.key for a in result.attributes),
                          grant_id=random_token(24), session_hash=session_hash,
                          organisation_id=result.organisation_id)
        try:
            grant = self.server.get_authorization_grant(request)
        except OAuth2Error as error:
            return self._error_response(error, dict(request.payload.data))
        return self._with_issuer(self.server.create_authorization_response(request, grant_user=subject,
                                                                           grant=grant))

    def _temporary(self, result: AuthResult) -> AuthResult:
        """A temporary identification (docs/integration/eid.md): no account, so no pairwise pseudonym — `sub` is
        a random value used for this one response (OIDC Core §2 only asks that it is never reassigned). The
        released values wait in the ephemeral store for the first userinfo call, at most as long as the code
        and its access token live; no grant, refresh token or consent is stored."""
        subject = TEMPORARY_SUBJECT_PREFIX + random_token(32)
        self.store.put(f"oidc:temporary:{keyed_hash(self.key, subject)}", json.dumps(
            [[a.key, a.value, a.source, int(a.trust_level)] for a in result.attributes]).encode(),
            CODE_SECONDS + ACCESS_TOKEN_SECONDS)
        return replace(result, subject=subject)

    def _temporary_userinfo(self, claims: dict[str, Any]) -> ProtocolResponse | None:
        """Userinfo of a temporary identification's access token: its values once, then only `sub`."""
        subject = str(claims.get("sub", ""))
        if not subject.startswith(TEMPORARY_SUBJECT_PREFIX):
            return None
        raw = self.store.take(f"oidc:temporary:{keyed_hash(self.key, subject)}")
        values = {key: ReleasedAttribute(key, value, source, TrustLevel(level))
                  for key, value, source, level in (json.loads(raw) if raw else [])}
        return ProtocolResponse(200, {"sub": subject, **oidc_claims.user_claims(values)}, JSON_HEADERS)

    def refuse(self, auth_request: AuthRequest, error: str = "access_denied",
               description: str = "The citizen did not agree.") -> ProtocolResponse:
        params = dict((k, v) for k, v in auth_request.protocol_state["pairs"])
        return self._redirect_error(auth_request.protocol_state["redirect_uri"], params, error, description)

    def _pushed(self, params: dict[str, str]) -> list[tuple[str, str]] | ShowError:
        raw = self.store.take(f"oidc:par:{keyed_hash(self.key, params['request_uri'])}")
        if raw is None:
            return ShowError("invalid_request_uri", "The request_uri is unknown, used or expired.")
        stored = json.loads(raw)
        if stored["client_id"] != params.get("client_id"):
            return ShowError("invalid_request_uri", "The request_uri belongs to another client.")
        return [(k, v) for k, v in stored["pairs"]]

    def _error(self, error: OAuth2Error, params: dict[str, str]) -> ProtocolResponse | ShowError:
        if not error.redirect_uri:
            return ShowError(error.error, error.get_error_description() or error.error)
        return self._error_response(error, params)

    def _error_response(self, error: OAuth2Error, params: dict[str, str]) -> ProtocolResponse:
        error.state = params.get("state")
        return self._with_issuer(self.server.handle_error_response(None, error))

    def _redirect_error(self, redirect_uri: str, params: dict[str, str], error: str,
                        description: str) -> ProtocolResponse:
        query = {"error": error, "error_description": description, "iss": self.issuer}
        if params.get("state"):
            query["state"] = params["state"]
        return ProtocolResponse(302, "", [("Location", add_query(redirect_uri, query))])

    def _with_issuer(self, response: ProtocolResponse) -> ProtocolResponse:
        location = response.location
        if not location:
            return response
        headers = [(k, v) for k, v in response.headers if k.lower() != "location"]
        return ProtocolResponse(response.status, response.body,
                                [*headers, ("Location", add_query(location, {"iss": self.issuer}))])

    # -- pushed authorization requests (RFC 9126) --------------------------------------------------------------

    def push(self, uri: str, headers: Mapping[str, str], pairs: list[tuple[str, str]]) -> ProtocolResponse:
        request = Request("POST", uri, headers, pairs)
        try:
            client = self.server.authenticate_client(request, TOKEN_AUTH_METHODS, "par")
            if "request_uri" in request.payload.data:
                raise InvalidRequestError("request_uri is not allowed in a pushed request.")
            check = Request("GET", f"{self.issuer}/oidc/authorize", {},
                            [(k, v) for k, v in pairs if k not in {"client_secret", "client_assertion",
                                                                   "client_assertion_type"}])
            self.server.get_consent_grant(check, end_user="present")
        except OAuth2Error as error:
            error.redirect_uri = None
            return ProtocolResponse(*error())
        request_uri = f"urn:ietf:params:oauth:request_uri:{random_token(24)}"
        kept = [(k, v) for k, v in pairs if k not in {"client_secret", "client_assertion", "client_assertion_type"}]
        self.store.put(f"oidc:par:{keyed_hash(self.key, request_uri)}",
                       json.dumps({"client_id": client.get_client_id(), "pairs": kept}).encode(), PAR_SECONDS)
        return ProtocolResponse(201, {"request_uri": request_uri, "expires_in": PAR_SECONDS}, JSON_HEADERS)

    # -- codes --------------------------------------------------------------------------------------------------

    def save_code(self, code: str, request: Request) -> None:
        data = {"client_id": request.client.get_client_id(), "redirect_uri": request.payload.redirect_uri
                or request.client.get_default_redirect_uri(), "scope": request.scope,
                "nonce": request.payload.data.get("nonce"), "subject": request.user.to_dict(),
                "code_challenge": request.payload.data.get("code_challenge"),
                "code_challenge_method": request.payload.data.get("code_challenge_method")}
        self.store.put(self._code_key(code), json.dumps(data).encode(), CODE_SECONDS)

    def take_code(self, code: str, client: Client) -> Code | None:
        """Single use: the first presentation takes it. A second one finds the replay note and revokes what
        the first issued (RFC 6749 §4.1.2)."""
        if not code or len(code) > 200:
            return None
        key = self._code_key(code)
        raw = self.store.take(key)
        if raw is None:
            replayed = self.store.take(f"{key}:used")
            if replayed is not None:
                grant_id = replayed.decode()
                self.grant_ended(grant_id)
                self.grants.revoke(grant_id, now=self.clock.now())
                self.auditor.record(AuditEvent.OIDC_CODE_REPLAYED, actor=client.get_client_id(), grant=grant_id)
            return None
        data = json.loads(raw)
        if data["client_id"] != client.get_client_id():
            return None
        self.store.put(f"{key}:used", data["subject"]["grant_id"].encode(), CODE_REPLAY_MEMORY)
        return Code(data)

    def _code_key(self, code: str) -> str:
        return f"oidc:code:{keyed_hash(self.key, code)}"

    # -- tokens ---------------------------------------------------------------------------------------------

    def generate_token(self, *, grant_type: str, client: Client, user: Subject | None = None,
                       scope: str | None = None, expires_in: int | None = None,
                       include_refresh_token: bool = True) -> dict[str, Any]:
        model = client.model
        if user is None:  # client credentials: Authlib passes the requested scope on unchecked
            scope = allowed_scope(model.scopes, scope)
        token, entry = self._access_token(model, user, scope or "")
        if entry is not None:
            self.store.put(*entry)
        if user is not None and user.organisation_id:  # ends with the organisation too (introspection_fast)
            self.store.put(_acts_for_key(user.grant_id), b"1", GRANT_ENDED_SECONDS)
        if user is not None and include_refresh_token and user.account_id:  # none for a temporary identification
            token["refresh_token"] = random_token(32)
        return token

    def _access_token(self, model: OidcClient, user: Subject | None,
                      scope: str) -> tuple[dict[str, Any], tuple[str, bytes, float] | None]:
        """The token answer's access token part, and for an opaque token the ephemeral entry (key, claims,
        seconds) that the caller stores."""
        now = int(self.clock.timestamp())
        lifetime = ACCESS_TOKEN_SECONDS
        if user is not None and user.expires_at is not None:  # never beyond its grant (introspection_fast)
            lifetime = max(0, min(lifetime, user.expires_at - now))
        token: dict[str, Any] = {"token_type": "Bearer", "expires_in": lifetime, "scope": scope}
        claims: dict[str, Any] = {"iss": self.issuer, "exp": now + lifetime, "iat": now,
                                  "jti": random_token(16), "client_id": model.client_id, "scope": scope,
                                  "aud": self.issuer}
        if user is None:
            claims["sub"] = model.client_id
        else:
            claims.update(sub=user.subject, auth_time=user.auth_time, acr=user.acr, amr=list(user.amr),
                          gid=user.grant_id)
        if model.access_token_format is AccessTokenFormat.JWT:
            token["access_token"] = self._sign({"typ": "at+jwt"}, claims, "ES256")
            return token, None
        value = random_token(32)
        token["access_token"] = value
        return token, (self._opaque_key(value), json.dumps(claims).encode(), max(lifetime, 1))

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        user: Subject | None = request.user
        if user is None or not user.account_id:  # a temporary identification keeps no grant
            return
        now = self.clock.now()
        refresh = token.get("refresh_token")
        refresh_hash = keyed_hash(self.key, refresh) if refresh else None
        if request.payload.grant_type == GrantType.AUTHORIZATION_CODE:
            grant = Grant(id=user.grant_id, client_id=request.client.get_client_id(), account_id=user.account_id,
                          session_hash=user.session_hash, subject=user.subject, scope=token.get("scope", ""),
                          claims=user.claims, acr=user.acr, amr=user.amr, auth_time=user.auth_time,
                          created_at=now, expires_at=now + timedelta(seconds=GRANT_SECONDS),
                          organisation_id=user.organisation_id)
            self.grants.add(grant, refresh_hash, refresh_expires_at=grant.expires_at)
        elif refresh_hash and request.refresh_token is not None:
            old: RefreshRecord = request.refresh_token
            if not self.grants.rotate_refresh_token(old.grant, old.token_hash, refresh_hash, now=now):
                self.grant_ended(old.grant.id)
                raise InvalidGrantError("The refresh token was used before; the grant is revoked.")

    def use_refresh_token(self, value: str, client: Client) -> RefreshRecord | None:
        if not value or len(value) > 200:
            return None
        token_hash = keyed_hash(self.key, value)
        state, grant = self.grants.use_refresh_token(token_hash, now=self.clock.now())
        if state == RefreshTokenState.REUSED and grant is not None:
            self.grant_ended(grant.id)  # the repository revoked it, whichever client presented the token
        if grant is None or grant.client_id != client.get_client_id():
            return None  # a live token of another client stays untouched: it proves nothing about the owner
        if state == RefreshTokenState.REUSED and grant is not None:
            self.auditor.record(AuditEvent.OIDC_REFRESH_TOKEN_REUSED, account_id=grant.account_id,
                                actor=client.get_client_id())
            raise InvalidGrantError("The refresh token was used before; the grant is revoked.")
        if state != RefreshTokenState.VALID or grant is None:
            return None  # VALID includes that the grant's account exists (read with the token)
        if grant.organisation_id and not self.release.acts_for(grant.account_id, grant.organisation_id):
            return None  # no longer a member of the organisation the grant acts for (issue #10)
        return RefreshRecord(grant, token_hash)

    def id_token(self, client: OidcClient, user: Subject, access_token: str | None, *, nonce: str | None) -> str:
        now = int(self.clock.timestamp())
        alg = client.id_token_signed_response_alg
        claims: dict[str, Any] = {"iss": self.issuer, "sub": user.subject, "aud": client.client_id,
                                  "azp": client.client_id, "exp": now + ID_TOKEN_SECONDS, "iat": now,
                                  "auth_time": user.auth_time, "acr": user.acr, "amr": list(user.amr)}
        if nonce:
            claims["nonce"] = nonce
        if user.session_hash:
            claims["sid"] = user.session_hash
        if access_token and (half := create_half_hash(access_token, alg)):
            claims["at_hash"] = half.decode() if isinstance(half, bytes) else half
        return self._sign({}, claims, alg)

    def _sign(self, header: dict[str, Any], claims: dict[str, Any], alg: str) -> str:
        purpose = KeyPurpose.OIDC_EC if alg == "ES256" else KeyPurpose.OIDC_RSA
        kid, key = self._jose_key(purpose)
        return jwt.encode({**header, "alg": alg, "kid": kid}, claims, key, algorithms=[alg])

    def _jose_key(self, purpose: KeyPurpose) -> tuple[str, Any]:
        kid, private = self.keys.signing_key(purpose)
        key = self._jose_keys.get(kid)
        if key is None:
            key = (ECKey if purpose is KeyPurpose.OIDC_EC else RSAKey).import_key(private)  # type: ignore[arg-type]
            self._jose_keys = {kid: key}  | {k: v for k, v in self._jose_keys.items() if k != kid}
        return kid, key

    def _opaque_key(self, value: str) -> str:
        return f"oidc:at:{keyed_hash(self.key, value)}"

    # -- access tokens presented back -----------------------------------------------------------------------

    def access_token_claims(self, value: str) -> dict[str, Any] | None:
        """The claims of a live access token of ours (JWT or opaque), or None."""
        if not value or len(value) > 4096:
            return None
        if value.count(".") == 2:
            claims = self._jwt_access_claims(value)
            if claims is None or self.store.get(_revoked_key(claims)) is not None:
                return None
            return claims
        raw = self.store.get(self._opaque_key(value))
        return json.loads(raw) if raw else None

    def _jwt_access_claims(self, value: str) -> dict[str, Any] | None:
        """A JWT access token's claims when its signature, type, issuer and expiry hold (revocation aside).

        A verified token is remembered (the exact string, until the key set changes; at most
        VERIFIED_TOKENS): an ES256 verification costs more than the rest of an introspection, and a
        resource server presents the same token again and again. Expiry and revocation are checked on
        every presentation all the same."""
        keys = self._verification_keys()
        with self._verified_lock:
            if self._verified_under is not keys:
                self._verified.clear()
                self._verified_under = keys
            known = self._verified.get(value)
        if known is None:
            try:
                header = jwt.decode(value, keys, algorithms=["ES256"])
            except (JoseError, ValueError):
                return None
            known = dict(header.claims)
            if header.header.get("typ") != "at+jwt" or known.get("iss") != self.issuer:
                return None
            with self._verified_lock:
                if len(self._verified) >= VERIFIED_TOKENS:
                    self._verified.pop(next(iter(self._verified)))
                if self._verified_under is keys:
                    self._verified[value] = known
        if int(known.get("exp", 0)) <= self.clock.timestamp():
            return None
        return dict(known)

    def _verification_keys(self) -> KeySet:
        """Our published keys as a KeySet, parsed once per key set (the bytes change on rotation)."""
        published = self.keys.jwks_bytes()
        if self._key_set is None or self._key_set[0] is not published:
            self._key_set = (published, KeySet.import_key_set(json.loads(published)))
        return self._key_set[1]

    def find_token(self, value: str, hint: str | None) -> TokenRecord | None:
        if not value or len(value) > 4096:
            return None
        order = ["refresh_token", "access_token"] if hint == "refresh_token" else ["access_token", "refresh_token"]
        for kind in order:
            record = self._refresh_record(value) if kind == "refresh_token" else self._access_record(value)
            if record is not None:
                return record
        return None

    def _access_record(self, value: str) -> TokenRecord | None:
        claims = self.access_token_claims(value)
        if claims is None:
            return None
        grant_id = claims.get("gid")
        revoked = False
        if grant_id:
            grant = self.grants.get(grant_id)
            revoked = grant is None or not grant.is_live(self.clock.now())
        return self._token_record(value, claims, revoked)

    def _token_record(self, value: str, claims: dict[str, Any], revoked: bool) -> TokenRecord:
        grant_id = claims.get("gid")
        return TokenRecord(kind="access_token", client_id=claims["client_id"], scope=claims.get("scope", ""),
                           expires_at=int(claims["exp"]), issued_at=int(claims["iat"]),
                           value_hash=keyed_hash(self.key, value), subject=claims.get("sub"), grant_id=grant_id,
                           jti=claims.get("jti"), revoked=revoked)

    def _refresh_record(self, value: str) -> TokenRecord | None:
        token_hash = keyed_hash(self.key, value)
        grant = self.grants.grant_of_refresh_token(token_hash)
        if grant is None:
            return None
        return TokenRecord(kind="refresh_token", client_id=grant.client_id, scope=grant.scope,
                           expires_at=int(grant.expires_at.timestamp()), issued_at=int(grant.created_at.timestamp()),
                           value_hash=token_hash, subject=grant.subject, grant_id=grant.id,
                           revoked=not grant.is_live(self.clock.now()))

    def revoke(self, token: TokenRecord) -> None:
        """A refresh token ends its grant and every token of it; an access token ends itself (RFC 7009 §2.1)."""
        if token.kind == "refresh_token" and token.grant_id:
            self.grant_ended(token.grant_id)
            self.grants.revoke(token.grant_id, now=self.clock.now())
            self.auditor.record(AuditEvent.OIDC_GRANT_REVOKED, actor=token.client_id, grant=token.grant_id)
        else:  # opaque tokens carry a jti too: their entry goes, and a JWT's jti is noted until it expires
            ttl = token.expires_at - self.clock.timestamp()
            if token.jti and ttl > 0:
                self.store.put(f"oidc:revoked:{token.jti}", b"1", ttl)
            self.store.delete(f"oidc:at:{token.value_hash}")

    def grant_ended(self, grant_id: str) -> None:
        """Every way a grant ends leaves this note, for as long as an access token of the grant may live, so
        that introspection answers from the ephemeral store alone (`introspection_fast`). Written before the
        database row changes where the caller can: a failure in between errs on the side of inactive."""
        self.store.put(_grant_ended_key(grant_id), b"1", GRANT_ENDED_SECONDS)

    def introspection(self, token: TokenRecord) -> dict[str, Any]:
        return {"active": True, "client_id": token.client_id, "scope": token.scope, "sub": token.subject,
                "exp": token.expires_at, "iat": token.issued_at, "iss": self.issuer, "token_type":
                "Bearer" if token.kind == "access_token" else "refresh_token"}

    # -- endpoints ------------------------------------------------------------------------------------------

    def answers_from_memory(self, headers: Mapping[str, str], pairs: list[tuple[str, str]]) -> bool:
        """True when this token request needs no storage at all, so that the web layer may answer it on the
        event loop instead of a worker thread (a hop costs about a fifth of such a request): a machine
        client's client_credentials grant with a secret, a JWT access token, and the client in this
        process's cache. Anything else, or anything unsure, says False."""
        params = dict(pairs)
        if params.get("grant_type") != GrantType.CLIENT_CREDENTIALS:
            return False
        client = self._cached_secret_client(headers, params)
        return client is not None and client.access_token_format is AccessTokenFormat.JWT

    def _cached_secret_client(self, headers: Mapping[str, str], params: Mapping[str, str]) -> OidcClient | None:
        """The client a request names, when it authenticates with a secret and this process holds a fresh
        copy of it, so that authenticating it reads nothing (every client id the request names must be
        cached: Authlib may take either)."""
        if "client_assertion" in params:
            return None
        named = {params.get("client_id"), _basic_client_id(headers.get("authorization", ""))} - {None, ""}
        clients = [self.clients.cached(client_id) for client_id in named if client_id]
        if len(clients) != 1 or clients[0] is None:
            return None
        client = clients[0]
        return client if client.token_endpoint_auth_method in ("client_secret_basic", "client_secret_post") else None

    def client_credentials_fast(self, headers: Mapping[str, str],
                                pairs: list[tuple[str, str]]) -> ProtocolResponse | None:
        """RFC 6749 §4.4 without Authlib's request, grant and client objects, for the common case: a cached
        machine client with a JWT access token format proves its secret (as `_secret_authenticated`) and may
        use the grant. The token and the answer are the ones Authlib's ClientCredentialsGrant gives (the
        requested scopes the client is registered for, no refresh token, nothing stored, no audit record); the JWT is
        signed with the header segment built once per key. Every mistake answers None: the endpoint then
        gives its error."""
        params = _first_values(pairs)
        if params.get("grant_type") != GrantType.CLIENT_CREDENTIALS or self.keys.fresh_jwks() is None:
            return None
        client = self._secret_authenticated(headers, params)
        if (client is None or client.access_token_format is not AccessTokenFormat.JWT
                or GrantType.CLIENT_CREDENTIALS not in client.grant_types):
            return None
        now = int(self.clock.timestamp())
        scope = allowed_scope(client.scopes, params.get("scope"))
        claims = {"iss": self.issuer, "exp": now + ACCESS_TOKEN_SECONDS, "iat": now, "jti": random_token(16),
                  "client_id": client.client_id, "scope": scope, "aud": self.issuer, "sub": client.client_id}
        token = {"token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS, "scope": scope,
                 "access_token": self._sign_access_token(claims)}
        return ProtocolResponse(200, token, JSON_HEADERS)

    def _sign_access_token(self, claims: dict[str, Any]) -> str:
        """An RFC 9068 JWT access token, ES256 with cryptography directly: the same header as `_sign` gives
        (typ, alg, kid), encoded once per key, and the signature as JWS wants it (r ‖ s, RFC 7518 §3.4)."""
        kid, key = self.keys.signing_key(KeyPurpose.OIDC_EC)
        prebuilt = self._at_header
        if prebuilt is None or prebuilt[0] != kid:
            header = json.dumps({"typ": "at+jwt", "alg": "ES256", "kid": kid}, separators=(",", ":"))
            prebuilt = self._at_header = (kid, _b64(header.encode()) + b".")
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        signing_input = prebuilt[1] + _b64(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return (signing_input + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode()

    def token(self, uri: str, headers: Mapping[str, str], pairs: list[tuple[str, str]]) -> ProtocolResponse:
        try:
            return self.server.create_token_response(Request("POST", uri, headers, pairs))  # type: ignore[no-any-return]
        except TenantNotActive:
            return _SUSPENDED_CLIENT

    def endpoint(self, name: str, uri: str, headers: Mapping[str, str],
                 pairs: list[tuple[str, str]]) -> ProtocolResponse:
        self.keys.jwks_bytes()  # see userinfo
        try:
            return self.server.create_endpoint_response(name, Request("POST", uri, headers, pairs))  # type: ignore[no-any-return]
        except TenantNotActive:
            return _SUSPENDED_CLIENT

    def userinfo(self, access_token: str) -> ProtocolResponse:
        """OIDC Core §5.3: today's values of what was released under the token's grant."""
        # The key snapshot is renewed here when stale: the loop paths wait for a fresh one (`reads_on_loop`),
        # and an opaque token's answer would otherwise never read the keys, leaving every later request
        # on this thread path.
        self.keys.jwks_bytes()
        claims = self.access_token_claims(access_token)
        if claims and (temporary := self._temporary_userinfo(claims)) is not None:
            return temporary
        found = self.grants.with_account(claims["gid"]) if claims and claims.get("gid") else None
        if found is None or not found[0].is_live(self.clock.now()) or not found[1].is_active:
            return ProtocolResponse(401, {"error": "invalid_token"}, [
                ("WWW-Authenticate", 'Bearer error="invalid_token"'), *JSON_HEADERS])
        grant, account, attributes = found  # one round trip for the grant, the account and its attributes
        try:
            client = self.clients.get(grant.client_id)
        except TenantNotActive:  # a suspended tenant's tokens no longer work
            client = None
        if client is None:
            return ProtocolResponse(401, {"error": "invalid_token"}, [
                ("WWW-Authenticate", 'Bearer error="invalid_token"'), *JSON_HEADERS])
        values = self.release.current_values(account, grant.claims, attributes)
        if grant.organisation_id:  # acting for an organisation: only while still a member (issue #10)
            try:
                values.update(self.release.current_organisation_values(
                    account.id, grant.organisation_id, grant.claims, service_id=client.client_id,
                    sector=client.sector))
            except NotAMember:
                return ProtocolResponse(401, {"error": "invalid_token"}, [
                    ("WWW-Authenticate", 'Bearer error="invalid_token"'), *JSON_HEADERS])
        return self._userinfo_answer(client, grant, values)

    def _userinfo_answer(self, client: OidcClient, grant: Grant,
                         values: dict[str, ReleasedAttribute]) -> ProtocolResponse:
        body = {"sub": grant.subject, **oidc_claims.user_claims(values)}
        if client.userinfo_signed_response_alg:
            signed = self._sign({}, {**body, "iss": self.issuer, "aud": client.client_id},
                                client.userinfo_signed_response_alg)
            return ProtocolResponse(200, signed, [("Content-Type", "application/jwt"), ("Cache-Control", "no-store")])
        return ProtocolResponse(200, body, JSON_HEADERS)

    # -- the hot endpoints on the event loop ----------------------------------------------------------------
    # Userinfo and introspection read one ephemeral entry and one grant: with async drivers (PostgreSQL and
    # Redis, opened by the server's lifespan) they answer on the event loop, without a worker-thread hop. The
    # checks are the ones above, in the same order. Whatever these paths do not cover answers None, and the
    # caller takes the thread path (SQLite, a client not in this process's cache, a temporary
    # identification, a grant acting for an organisation, a refresh token).

    def read_on_loop(self, *, store: LoopStore, grants: LoopGrants) -> None:
        self._loop_store = store
        self._loop_grants = grants

    def reads_on_loop(self) -> bool:
        """The async reads are open on this loop, and the keys are at hand (a stale key set is read from the
        database, on the thread path)."""
        store, grants = self._loop_store, self._loop_grants
        return (store is not None and grants is not None and store.ready() and grants.reads_on_loop()
                and self.keys.fresh_jwks() is not None)

    async def _access_token_claims_on_loop(self, store: LoopStore, value: str) -> dict[str, Any] | None:
        if not value or len(value) > 4096:
            return None
        if value.count(".") == 2:
            claims = self._jwt_access_claims(value)
            if claims is None or await store.get(_revoked_key(claims)) is not None:
                return None
            return claims
        raw = await store.get(self._opaque_key(value))
        return json.loads(raw) if raw else None

    async def userinfo_on_loop(self, access_token: str) -> ProtocolResponse | None:
        store, grants = self._loop_store, self._loop_grants
        assert store is not None and grants is not None
        claims = await self._access_token_claims_on_loop(store, access_token)
        if claims and str(claims.get("sub", "")).startswith(TEMPORARY_SUBJECT_PREFIX):
            return None
        found = await grants.with_account_on_loop(claims["gid"]) if claims and claims.get("gid") else None
        if found is None or not found[0].is_live(self.clock.now()) or not found[1].is_active:
            return ProtocolResponse(401, {"error": "invalid_token"}, [
                ("WWW-Authenticate", 'Bearer error="invalid_token"'), *JSON_HEADERS])
        grant, account, attributes = found
        client = self.clients.cached(grant.client_id)
        if grant.organisation_id or client is None:
            return None
        return self._userinfo_answer(client, grant, self.release.current_values(account, grant.claims, attributes))

    async def introspection_on_loop(self, uri: str, headers: Mapping[str, str],
                                    pairs: list[tuple[str, str]]) -> ProtocolResponse | None:
        """RFC 7662 for an access token of ours presented by a client in the cache: the token is looked up
        here, then Authlib's endpoint runs as on the thread path, with the record found (no I/O left)."""
        if (fast := await self.introspection_fast(headers, pairs)) is not None:
            return fast
        store, grants = self._loop_store, self._loop_grants
        assert store is not None and grants is not None
        params = dict(pairs)
        if params.get("token_type_hint") == "refresh_token" or self._cached_secret_client(headers, params) is None:
            return None
        claims = await self._access_token_claims_on_loop(store, params.get("token", ""))
        if claims is None:
            return None  # perhaps a refresh token, or nothing of ours: the thread path looks at both
        revoked = False
        if grant_id := claims.get("gid"):
            grant = await grants.get_on_loop(grant_id)
            revoked = grant is None or not grant.is_live(self.clock.now())
        request = Request("POST", uri, headers, pairs)
        request.found_token = self._token_record(params["token"], claims, revoked)
        try:
            return self.server.create_endpoint_response("introspection", request)  # type: ignore[no-any-return]
        except TenantNotActive:
            return _SUSPENDED_CLIENT

    async def introspection_fast(self, headers: Mapping[str, str],
                                 pairs: list[tuple[str, str]]) -> ProtocolResponse | None:
        """RFC 7662 for the common case without the database and without Authlib's endpoint: a cached client
        authenticated by its secret, and an access token of ours whose liveness the ephemeral store tells in
        one round trip — the opaque token's entry, the jti's revocation note, the grant's end note
        (`grant_ended`; a token never outlives its grant's expiry). The answers are the endpoint's; anything
        else answers None (the usual paths), among them a wrong secret, an unknown token, and a grant acting
        for an organisation (which also ends with the organisation's deletion)."""
        store = self._loop_store
        assert store is not None
        params = _first_values(pairs)
        token = params.get("token", "")
        if not token or len(token) > 4096 or params.get("token_type_hint", "access_token") != "access_token":
            return None
        client = self._secret_authenticated(headers, params)
        if client is None:
            return None
        if token.count(".") == 2:
            claims = self._jwt_access_claims(token)
            if claims is None:
                return None
            grant_id = claims.get("gid")
            keys = [_revoked_key(claims)]
            if grant_id:
                keys += [_grant_ended_key(grant_id), _acts_for_key(grant_id)]
            notes = await store.mget(keys)  # [revoked, ended, acts for] or [revoked]
        else:  # the entry and its grant's notes in one round trip
            found = await store.get_with_notes(self._opaque_key(token), "gid", _GRANT_NOTES)
            if not found or found[0] is None:
                return None
            claims = json.loads(found[0])
            grant_id = claims.get("gid")
            if (len(found) == 3) != (isinstance(grant_id, str) and 0 < len(grant_id) <= 128):
                return None
            notes = found[1:]  # [ended, acts for] or []
        if claims.get("client_id") != client.client_id:
            return _INACTIVE  # another client's token (the endpoint's check_permission)
        if grant_id and notes[-1] is not None:
            return None  # acts for an organisation: the usual path
        if any(note is not None for note in notes):
            return _INACTIVE
        if int(claims["exp"]) <= self.clock.timestamp():
            return _INACTIVE
        return ProtocolResponse(200, {
            "active": True, "client_id": claims["client_id"], "scope": claims.get("scope", ""),
            "sub": claims.get("sub"), "exp": int(claims["exp"]), "iat": int(claims["iat"]), "iss": self.issuer,
            "token_type": "Bearer"}, JSON_HEADERS)

    async def refresh_on_loop(self, headers: Mapping[str, str],
                              pairs: list[tuple[str, str]]) -> ProtocolResponse | None:
        """RFC 6749 §6 with rotation on the event loop, for the common case: a cached client authenticated by
        its secret presents a valid refresh token of its own, without `scope`. The answer is the one
        Authlib's grant (RefreshGrant) gives: the grant's scope, a new access token, a new refresh token.
        As there, the access token is stored before the old refresh token is marked used, so a failure
        leaves the client's refresh token working. Everything else answers None and goes to the thread path
        — among them a public or private_key_jwt client, a narrowed scope, an unknown, expired or reused
        token (the thread path revokes the grant of a reused one), a grant acting for an organisation, and
        a rotation lost to a concurrent request with the same token (which the thread path then finds
        reused)."""
        store, grants = self._loop_store, self._loop_grants
        assert store is not None and grants is not None
        params = _first_values(pairs)
        value = params.get("refresh_token", "")
        if (params.get("grant_type") != GrantType.REFRESH_TOKEN or "scope" in params or not value
                or len(value) > 200):
            return None
        client = self._secret_authenticated(headers, params)
        if client is None or GrantType.REFRESH_TOKEN not in client.grant_types:
            return None
        now = self.clock.now()
        token_hash = keyed_hash(self.key, value)
        grant = await grants.valid_refresh_grant_on_loop(token_hash, now=now)
        if grant is None or grant.client_id != client.client_id or grant.organisation_id:
            return None
        token, entry = self._access_token(client, Subject.of_grant(grant), grant.scope)
        if entry is not None:
            await store.put(*entry)
        refresh = random_token(32)
        if not await grants.rotate_refresh_token_on_loop(grant, token_hash, keyed_hash(self.key, refresh), now=now):
            return None
        token["refresh_token"] = refresh
        return ProtocolResponse(200, token, JSON_HEADERS)

    def _secret_authenticated(self, headers: Mapping[str, str], params: Mapping[str, str]) -> OidcClient | None:
        """The cached client whose secret the request proves, as Authlib's client_secret_basic (when there is
        an Authorization header) or client_secret_post (when there is none) would find it; the comparison is
        the clients service's, constant-time. Any doubt, or a wrong secret, is None: the endpoint answers."""
        if "client_assertion" in params:
            return None
        if (authorization := headers.get("authorization")) is not None:
            client_id, secret = _basic_credentials(authorization)
        else:
            client_id, secret = params.get("client_id"), params.get("client_secret")
        if not client_id or not secret:
            return None
        client = self.clients.cached(client_id)
        if client is None or client.token_endpoint_auth_method not in SECRET_METHODS:
            return None
        return client if self.clients.check_secret(client, secret) else None

    def end_session_target(self, pairs: list[tuple[str, str]]) -> tuple[str | None, OidcClient | None, str | None]:
        """RP-initiated logout 1.0 §2–3: where to send the browser afterwards, checked against the client's
        registration, and the `sid` of the id_token_hint (its expiry does not matter here). The hint names
        the client; it proves the logout is meant for this session only when its `sid` is this session's."""
        params = dict(pairs)
        client_id = params.get("client_id")
        sid = None
        if hint := params.get("id_token_hint"):
            try:
                token = jwt.decode(hint, self._verification_keys(), algorithms=list(SIGNING_ALGORITHMS))
            except (JoseError, ValueError):
                return None, None, None
            audience = token.claims.get("aud")
            client_id = audience if isinstance(audience, str) else (audience or [None])[0]
            sid = token.claims.get("sid")
        client = self.clients.get(client_id) if client_id else None
        target = params.get("post_logout_redirect_uri")
        if client is None or not target or target not in client.post_logout_redirect_uris:
            return None, client, sid
        return (add_query(target, {"state": params["state"]}) if params.get("state") else target), client, sid

    def session_hash(self, session_id: str) -> str:
        """The `sid` of ID tokens and logout tokens: a keyed hash, so the session id itself never leaves."""
        return keyed_hash(self.key, f"session:{session_id}")

    def logout_session(self, session_hash: str) -> list[Future[bool]]:
        """The login session ended: its grants end with it (no refresh after logout), and clients that
        registered a back-channel logout URI are told (Back-Channel Logout 1.0 §2.4)."""
        sent: list[Future[bool]] = []
        for grant in self.grants.revoke_for_session(session_hash, now=self.clock.now()):
            self.grant_ended(grant.id)
            self.auditor.record(AuditEvent.OIDC_GRANT_REVOKED, account_id=grant.account_id, actor=grant.client_id)
            client = self.clients.get(grant.client_id)
            if client is not None and client.backchannel_logout_uri and self.backchannel is not None:
                sent.append(self.backchannel.send(client.backchannel_logout_uri, self.logout_token(client, grant),
                                                  client_id=client.client_id))
        return sent

    def notify_logout(self, grants: Iterable[Grant]) -> list[Future[bool]]:
        """Grants that ended outside a logout (a consent withdrawn, the account deleted; the caller revoked
        them): their access tokens end now (`grant_ended`), and each client that registered a back-channel
        logout URI is told (Back-Channel Logout 1.0 §2.4)."""
        sent: list[Future[bool]] = []
        for grant in grants:
            self.grant_ended(grant.id)
            client = self.clients.get(grant.client_id)
            if client is not None and client.backchannel_logout_uri and self.backchannel is not None:
                sent.append(self.backchannel.send(client.backchannel_logout_uri, self.logout_token(client, grant),
                                                  client_id=client.client_id))
        return sent

    def logout_token(self, client: OidcClient, grant: Grant) -> str:
        """§2.4: iss, aud, iat, exp, jti, events, sub and sid; never a nonce; typed `logout+jwt`."""
        now = int(self.clock.timestamp())
        claims = {"iss": self.issuer, "aud": client.client_id, "iat": now, "exp": now + 120,
                  "jti": random_token(16), "sub": grant.subject, "events": {BACKCHANNEL_EVENT: {}}}
        if grant.session_hash:
            claims["sid"] = grant.session_hash
        return self._sign({"typ": "logout+jwt"}, claims, client.id_token_signed_response_alg)



# A client of a suspended tenant, at the token, revocation and introspection endpoints: an OAuth error
# (RFC 6749 §5.2) that client libraries understand, rather than our error page.
_SUSPENDED_CLIENT = ProtocolResponse(401, {"error": "invalid_client",
                                           "error_description": "The client's tenant is suspended."}, JSON_HEADERS)
_INACTIVE = ProtocolResponse(200, {"active": False}, JSON_HEADERS)


class LoopStore(Protocol):
    """Reads of the ephemeral store on the event loop (persistence/async_ephemeral.py)."""

    def ready(self) -> bool: ...

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: float) -> None: ...

    async def mget(self, keys: list[str]) -> list[bytes | None]: ...

    async def get_with_notes(self, key: str, field: str, note_prefixes: list[str]) -> list[bytes | None]: ...


class LoopGrants(Protocol):
    """Reads of grants on the event loop (persistence/oidc.py, on persistence/statements.py's AsyncStatements)."""

    def reads_on_loop(self) -> bool: ...

    async def get_on_loop(self, grant_id: str) -> Grant | None: ...

    async def with_account_on_loop(self, grant_id: str) -> tuple[Grant, Account, list[StoredAttribute]] | None: ...

    async def valid_refresh_grant_on_loop(self, token_hash: str, *, now: datetime) -> Grant | None: ...

    async def rotate_refresh_token_on_loop(self, grant: Grant, old_hash: str, new_hash: str, *,
                                           now: datetime) -> bool: ...


def _revoked_key(claims: Mapping[str, Any]) -> str:
    return f"oidc:revoked:{claims.get('jti')}"


_GRANT_NOTES = ["oidc:grant-ended:", "oidc:grant-acts-for:"]  # the order of `_grant_ended_key`, `_acts_for_key`


def _grant_ended_key(grant_id: str) -> str:
    return f"oidc:grant-ended:{grant_id}"


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The first value of each parameter, as Authlib's payload takes them (authlib_server.Payload)."""
    params: dict[str, str] = {}
    for key, value in pairs:
        params.setdefault(key, value)
    return params


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _acts_for_key(grant_id: str) -> str:
    return f"oidc:grant-acts-for:{grant_id}"


def _basic_credentials(authorization: str) -> tuple[str | None, str | None]:
    """Authlib's extract_basic_authorization, strict: anything it might read otherwise gives (None, None)."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None, None
    client_id, colon, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if colon else (None, None)


def _basic_client_id(authorization: str) -> str | None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return unquote(decoded.partition(":")[0]) or None


def _int_or_none(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def _amr(methods: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*(amr := [AMR.get(m, m) for m in methods]), *(["mfa"] if len(set(amr)) > 1 else [])]))

