"""OpenID Connect clients (a tenant's portals and machine clients) and the rules for registering them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.domain.pseudonym import sector_of
from servicekonto.domain.trust import TrustLevel


class GrantType(enum.StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"
    CLIENT_CREDENTIALS = "client_credentials"


class AccessTokenFormat(enum.StrEnum):
    JWT = "jwt"  # RFC 9068, verifiable by a resource server without a call
    OPAQUE = "opaque"  # checked by introspection only


SIGNING_ALGORITHMS = ("ES256", "RS256", "PS256")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
DEFAULT_GRANT_TYPES = (GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN)
STANDARD_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")


def allowed_scope(registered: tuple[str, ...], requested: str | None) -> str:
    """The requested scopes the client is registered for, in the request's order (RFC 6749 §3.3: the server
    may issue fewer than asked; the token answer names what was issued)."""
    return " ".join(dict.fromkeys(s for s in (requested or "").split() if s in registered))


class ClientInvalid(InvalidInput):
    code = "oidc_client.invalid"
    message = _l("The client registration is not valid.")


@dataclass(frozen=True, slots=True)
class OidcClient:
    id: str
    client_id: str
    tenant_id: str
    name: str
    secret_hash: str | None  # HMAC-SHA-256 of the secret (high entropy: no slow hash needed); None: public
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[GrantType, ...] = DEFAULT_GRANT_TYPES
    scopes: tuple[str, ...] = STANDARD_SCOPES
    token_endpoint_auth_method: str = "client_secret_basic"
    id_token_signed_response_alg: str = "ES256"
    userinfo_signed_response_alg: str | None = None  # None: userinfo answers plain JSON
    access_token_format: AccessTokenFormat = AccessTokenFormat.JWT
    backchannel_logout_uri: str | None = None
    jwks: str | None = None  # public keys for private_key_jwt (a JWKS document)
    min_trust_level: TrustLevel = TrustLevel.BASIC
    created_at: datetime | None = field(default=None, compare=False)
    # per-service settings (issue #7, domain/service_settings.py); None: no restriction
    allowed_attributes: tuple[str, ...] | None = None
    allowed_methods: tuple[str, ...] | None = None
    jwks_uri: str | None = None  # where `jwks` was fetched from (refreshed by `servicekonto maintenance`)

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    @property
    def sector(self) -> str:
        """Pairwise subjects: the host of the redirect URIs (all must share it); a machine client's own id."""
        return sector_of(self.redirect_uris[0]) if self.redirect_uris else f"client:{self.client_id}"


def check_redirect_uri(uri: str, *, test_system: bool) -> str:
    """Exact-match redirect URIs (RFC 9700 §2.1): absolute, no fragment; https, or http on the loopback
    interface in a test system (RFC 8252 §7.3 for native apps and local development)."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.netloc or not parts.hostname:
        raise ClientInvalid(f"redirect URI {uri!r}: absolute URI without fragment expected")
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme == "https" or (parts.scheme == "http" and loopback and test_system):
        return uri
    raise ClientInvalid(f"redirect URI {uri!r}: https required"
                        + ("" if test_system else " (http on 127.0.0.1 only in a test system)"))


def check_registration(*, redirect_uris: tuple[str, ...], grant_types: tuple[GrantType, ...],
                       scopes: tuple[str, ...], public: bool, test_system: bool,
                       post_logout_redirect_uris: tuple[str, ...] = ()) -> None:
    for uri in (*redirect_uris, *post_logout_redirect_uris):
        check_redirect_uri(uri, test_system=test_system)
    if GrantType.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise ClientInvalid("the authorization_code grant needs at least one --redirect-uri")
    if GrantType.CLIENT_CREDENTIALS in grant_types and public:
        raise ClientInvalid("a public client cannot use client_credentials")
    if len({sector_of(uri) for uri in redirect_uris}) > 1:
        raise ClientInvalid("all redirect URIs of a client share one host (its sector for pairwise subjects)")
    if not scopes:
        raise ClientInvalid("at least one scope")
