"""Registering OIDC clients and checking their secrets. Secrets are 256-bit random values, so an HMAC is
as safe as a slow hash and costs microseconds at the token endpoint (DESIGN.md §7)."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from joserfc.jwk import KeySet

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.errors import NotFound
from servicekonto.core.ids import new_uuid, random_token
from servicekonto.domain.admins import TenantNotActive
from servicekonto.domain.clients import (
    AUTH_METHODS,
    DEFAULT_GRANT_TYPES,
    SIGNING_ALGORITHMS,
    STANDARD_SCOPES,
    AccessTokenFormat,
    ClientInvalid,
    GrantType,
    OidcClient,
    check_redirect_uri,
    check_registration,
)
from servicekonto.domain.ports import OidcClientRepository, TenantRepository
from servicekonto.domain.service_settings import check_allowed_attributes, check_allowed_methods
from servicekonto.domain.tenants import TenantStatus
from servicekonto.domain.trust import TrustLevel

CACHE_SECONDS = 30.0
CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class NewClient:
    client: OidcClient
    secret: str | None  # shown once; only its HMAC is stored


class OidcClientService:
    def __init__(self, *, clients: OidcClientRepository, tenants: TenantRepository, clock: Clock, key: bytes,
                 test_system: bool) -> None:
        self._clients = clients
        self._tenants = tenants
        self._clock = clock
        self._key = key
        self._test_system = test_system
        self._cache: dict[str, tuple[OidcClient, float]] = {}

    def create(self, *, tenant_id: str, name: str, redirect_uris: tuple[str, ...] = (),
               post_logout_redirect_uris: tuple[str, ...] = (), grant_types: tuple[str, ...] = (),
               scopes: tuple[str, ...] = (), public: bool = False, token_endpoint_auth_method: str | None = None,
               id_token_signed_response_alg: str = "ES256",  # noqa: S107 - an algorithm name
               userinfo_signed_response_alg: str | None = None,
               access_token_format: str = "jwt",  # noqa: S107 - a format name
               backchannel_logout_uri: str | None = None,
               jwks: str | None = None, min_trust_level: int = 1, jwks_uri: str | None = None,
               allowed_attributes: Sequence[str] | None = None,
               allowed_methods: Sequence[str] | None = None) -> NewClient:
        if self._tenants.get(tenant_id) is None:
            raise NotFound(f"tenant {tenant_id}")
        name = " ".join(name.split())
        if not name or len(name) > 200:
            raise ClientInvalid("a name of 1 to 200 characters")
        try:
            grants = tuple(GrantType(g) for g in grant_types) or DEFAULT_GRANT_TYPES
            token_format = AccessTokenFormat(access_token_format)
            level = TrustLevel(min_trust_level)
        except ValueError as exc:
            raise ClientInvalid(str(exc)) from None
        attributes = check_allowed_attributes(allowed_attributes)
        methods = check_allowed_methods(allowed_methods)
        scopes = tuple(dict.fromkeys(scopes or STANDARD_SCOPES))
        if GrantType.AUTHORIZATION_CODE in grants and "openid" not in scopes:
            scopes = ("openid", *scopes)
        method = token_endpoint_auth_method or ("none" if public else "client_secret_basic")
        if method not in AUTH_METHODS or (method == "none") != public:
            raise ClientInvalid(f"token endpoint auth method {method!r} does not fit a "
                                f"{'public' if public else 'confidential'} client")
        if method == "private_key_jwt":
            check_jwks(jwks)
        for alg in (id_token_signed_response_alg, userinfo_signed_response_alg):
            if alg is not None and alg not in SIGNING_ALGORITHMS:
                raise ClientInvalid(f"signing algorithm {alg!r}: one of {', '.join(SIGNING_ALGORITHMS)}")
        check_registration(redirect_uris=redirect_uris, grant_types=grants, scopes=scopes, public=public,
                           test_system=self._test_system, post_logout_redirect_uris=post_logout_redirect_uris)
        if backchannel_logout_uri:
            check_redirect_uri(backchannel_logout_uri, test_system=self._test_system)
        secret = None if public or method == "private_key_jwt" else random_token(32)
        client = OidcClient(
            id=str(new_uuid()), client_id=random_token(16), tenant_id=tenant_id, name=name,
            secret_hash=self.hash_secret(secret) if secret else ("" if method == "private_key_jwt" else None),
            redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_redirect_uris, grant_types=grants,
            scopes=scopes, token_endpoint_auth_method=method, id_token_signed_response_alg=id_token_signed_response_alg,
            userinfo_signed_response_alg=userinfo_signed_response_alg, access_token_format=token_format,
            backchannel_logout_uri=backchannel_logout_uri, jwks=jwks, min_trust_level=level,
            created_at=self._clock.now(), allowed_attributes=attributes, allowed_methods=methods, jwks_uri=jwks_uri)
        self._clients.add(client)
        return NewClient(client=client, secret=secret)

    def get(self, client_id: str) -> OidcClient | None:
        """Clients are read at every token request: a process keeps each for `CACHE_SECONDS` (a changed
        or removed registration takes effect everywhere within that time)."""
        now = time.monotonic()
        cached = self._cache.get(client_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        client = self._clients.get(client_id)
        if client is not None:
            if not self.tenant_active(client.tenant_id):
                raise TenantNotActive(f"tenant {client.tenant_id}")
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[client_id] = (client, now + CACHE_SECONDS)
        return client

    def registration(self, client_id: str) -> OidcClient | None:
        """The client whatever its tenant's status: for the citizen's own pages (consents, transfers), which
        must keep working — and let consent be withdrawn — while a tenant is suspended."""
        return self._clients.get(client_id)

    def tenant_active(self, tenant_id: str) -> bool:
        """A suspended tenant's clients stop answering (issue #7); read with the client, so it costs nothing
        while the client is cached."""
        tenant = self._tenants.get(tenant_id)
        return tenant is None or tenant.status is TenantStatus.ACTIVE

    def forget(self, client_id: str | None = None) -> None:
        """Drop this process's copy of a changed client (all of them when None); other processes follow
        within `CACHE_SECONDS`."""
        if client_id is None:
            self._cache.clear()
        else:
            self._cache.pop(client_id, None)

    def cached(self, client_id: str) -> OidcClient | None:
        """The client if this process holds a fresh copy; never asks the database."""
        cached = self._cache.get(client_id)
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    def for_tenant(self, tenant_id: str) -> Sequence[OidcClient]:
        return self._clients.for_tenant(tenant_id)

    def hash_secret(self, secret: str) -> str:
        return keyed_hash(self._key, secret)

    def check_secret(self, client: OidcClient, secret: str | None) -> bool:
        if not client.secret_hash or not secret or len(secret) > 200:
            return False
        return hmac.compare_digest(client.secret_hash, self.hash_secret(secret))


def check_jwks(jwks: str | None) -> None:
    if not jwks:
        raise ClientInvalid("private_key_jwt needs the client's public keys (--jwks FILE)")
    try:
        KeySet.import_key_set(json.loads(jwks))
    except Exception:  # noqa: BLE001 - any parse failure is the same registration error
        raise ClientInvalid("the client's JWKS is not a valid key set") from None
