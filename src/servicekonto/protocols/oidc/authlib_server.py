"""Authlib's authorization server bound to our storage: the request, client, code and token models, the
grants offered (authorization code with PKCE and the ID token, refresh with rotation, client credentials),
client authentication (secrets, private_key_jwt), revocation and introspection. Storage work goes to the
OpenIdProvider (`server.provider`)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from joserfc.jwk import KeySet

from servicekonto.core.crypto import keyed_hash
from servicekonto.domain.clients import GrantType, OidcClient, allowed_scope
from servicekonto.domain.grants import Grant
from servicekonto.protocols.oidc.results import ProtocolResponse

if TYPE_CHECKING:
    from servicekonto.protocols.oidc.provider import OpenIdProvider

CLIENT_ASSERTION = JWTBearerClientAssertion.CLIENT_AUTH_METHOD  # Authlib's name for private_key_jwt
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
TOKEN_AUTH_METHODS = [*SECRET_METHODS, CLIENT_ASSERTION, "none"]
CONFIDENTIAL_AUTH_METHODS = [*SECRET_METHODS, CLIENT_ASSERTION]


class Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):
    """A request as Authlib sees it, built from already parsed parameters (no framework binding)."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], pairs: list[tuple[str, str]]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = Payload(pairs)
        self.grant_id: str | None = None
        self.found_token: TokenRecord | None = None  # looked up ahead, on the event loop (introspection)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data if self.method == "POST" else {}


class Client(ClientMixin):
    def __init__(self, model: OidcClient, check_secret: Callable[[OidcClient, str | None], bool]) -> None:
        self.model = model
        self._check_secret = check_secret

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.model.redirect_uris[0] if len(self.model.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return allowed_scope(self.model.scopes, scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.model.redirect_uris  # exact match (RFC 9700 §2.1)

    def check_client_secret(self, client_secret: str) -> bool:
        return self._check_secret(self.model, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        registered = self.model.token_endpoint_auth_method
        if registered == "none":
            return method == "none"
        if registered == "private_key_jwt":
            return method == CLIENT_ASSERTION
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and GrantType.AUTHORIZATION_CODE in self.model.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in {g.value for g in self.model.grant_types}


@dataclass(slots=True)
class Subject:
    """Authlib's "user": the citizen as this client knows them, and the grant being issued."""

    account_id: str
    subject: str
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    claims: tuple[str, ...]
    grant_id: str
    session_hash: str | None = None
    organisation_id: str | None = None  # the organisation the login acted for (issue #10)
    expires_at: int | None = None  # the grant's end, when it exists already: no access token outlives it

    def get_user_id(self) -> str:
        return self.subject

    def to_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "subject": self.subject, "acr": self.acr, "amr": list(self.amr),
                "auth_time": self.auth_time, "claims": list(self.claims), "grant_id": self.grant_id,
                "session_hash": self.session_hash, "organisation_id": self.organisation_id}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Subject:
        return cls(account_id=value["account_id"], subject=value["subject"], acr=value["acr"],
                   amr=tuple(value["amr"]), auth_time=value["auth_time"], claims=tuple(value["claims"]),
                   grant_id=value["grant_id"], session_hash=value.get("session_hash"),
                   organisation_id=value.get("organisation_id"))

    @classmethod
    def of_grant(cls, grant: Grant) -> Subject:
        return cls(account_id=grant.account_id, subject=grant.subject, acr=grant.acr, amr=grant.amr,
                   auth_time=grant.auth_time, claims=grant.claims, grant_id=grant.id,
                   session_hash=grant.session_hash, organisation_id=grant.organisation_id,
                   expires_at=int(grant.expires_at.timestamp()))


class Code(AuthorizationCodeMixin):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.subject = Subject.from_dict(data["subject"])

    def get_redirect_uri(self) -> str:
        return str(self.data["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.data["scope"])

    def get_nonce(self) -> str | None:
        return self.data.get("nonce")

    def get_auth_time(self) -> int:
        return self.subject.auth_time

    def get_acr(self) -> str:
        return self.subject.acr

    def get_amr(self) -> list[str]:
        return list(self.subject.amr)


@dataclass(slots=True)
class TokenRecord(TokenMixin):
    """A presented access or refresh token, for revocation and introspection."""

    kind: str  # "access_token" | "refresh_token"
    client_id: str
    scope: str
    expires_at: int
    issued_at: int
    value_hash: str
    subject: str | None = None
    grant_id: str | None = None
    jti: str | None = None
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, self.expires_at - int(time.time()))

    def is_expired(self) -> bool:
        return self.expires_at <= int(time.time())

    def is_revoked(self) -> bool:
        return self.revoked


class S256Challenge(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1); required for public clients, accepted from every client."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's attribute

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        request = grant.request
        if request.client.model.is_public and not request.payload.data.get("code_challenge"):
            raise InvalidRequestError("PKCE (code_challenge with S256) is required for public clients.",
                                      redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: Code) -> str | None:
        return authorization_code.data.get("code_challenge")

    def get_authorization_code_challenge_method(self, authorization_code: Code) -> str | None:
        return authorization_code.data.get("code_challenge_method")


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: Server

    def save_authorization_code(self, code: str, request: Request) -> None:
        self.server.provider.save_code(code, request)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        return self.server.provider.take_code(code, client)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Taken from the store when it was looked up: a code is single-use from the first try."""

    def authenticate_user(self, authorization_code: Code) -> Subject:
        return authorization_code.subject


class IdToken(OpenIDCode):
    def __init__(self, provider: OpenIdProvider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # codes are single-use; a nonce is the client's replay check on the ID token

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        return self.provider.id_token(request.client.model, request.user, token.get("access_token"),
                                      nonce=request.authorization_code.get_nonce()
                                      if request.authorization_code else None)


class RefreshRecord(TokenMixin):
    def __init__(self, grant: Grant, token_hash: str) -> None:
        self.grant = grant
        self.token_hash = token_hash

    def check_client(self, client: Client) -> bool:
        return self.grant.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.grant.scope

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: Server

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        return self.server.provider.use_refresh_token(refresh_token, self.request.client)

    def authenticate_user(self, refresh_token: RefreshRecord) -> Subject:
        return Subject.of_grant(refresh_token.grant)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        """Marked used when it was presented (rotation); presenting it again revokes the grant."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return self.server.provider.find_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: Any) -> None:
        self.server.provider.revoke(token)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS
    server: Server

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return self.server.provider.find_token(token_string, token_type_hint)

    def authenticate_token(self, request: Request, client: Client) -> TokenRecord | None:
        """As Authlib's, with the token record looked up ahead when the provider answers on the event loop."""
        if request.found_token is None:
            return super().authenticate_token(request, client)  # type: ignore[no-any-return]
        self.check_params(request, client)
        token = request.found_token
        return token if self.check_permission(token, client, request) else None

    def check_permission(self, token: TokenRecord, client: Client, request: Any) -> bool:
        return token.client_id == client.get_client_id()

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        return self.server.provider.introspection(token)


class PrivateKeyJwt(JWTBearerClientAssertion):
    """private_key_jwt (OIDC Core §9): the client signs an assertion with a key it registered."""

    def __init__(self, provider: OpenIdProvider) -> None:
        super().__init__(validate_jti=True)
        self.provider = provider

    def get_audiences(self) -> list[str]:
        return [self.provider.issuer, f"{self.provider.issuer}/oidc/token", f"{self.provider.issuer}/oidc/par"]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        return KeySet.import_key_set(json.loads(client.model.jwks or '{"keys": []}'))

    def validate_jti(self, claims: Any, jti: str) -> bool:
        return self.provider.store.add(f"oidc:jti:{keyed_hash(self.provider.key, jti)}", b"1", 600)


class Server(AuthorizationServer):
    def __init__(self, provider: OpenIdProvider) -> None:
        super().__init__(scopes_supported=None)
        self.provider = provider

    def query_client(self, client_id: str) -> Client | None:
        model = self.provider.clients.get(client_id) if client_id else None
        return Client(model, self.provider.clients.check_secret) if model else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.provider.save_token(token, request)

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> ProtocolResponse:
        return ProtocolResponse(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass
