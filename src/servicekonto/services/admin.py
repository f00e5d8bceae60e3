"""The administration's use cases: the management API, the console and the CLI come through here.

Every operation takes the acting `Principal` first, checks it may act on the tenant, and records an audit
event (who, what, which tenant; never a secret). A tenant admin asking for another tenant's anything gets
`tenant.not_found` — the same answer as for a tenant that does not exist.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from servicekonto.core.clock import Clock
from servicekonto.core.errors import Conflict, InvalidInput, ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.core.ids import new_uuid, random_token
from servicekonto.domain.admins import (
    MANAGE_SCOPE,
    MAX_CONTACT,
    MAX_ORGANISATION,
    MAX_PURPOSE,
    AdminForbidden,
    AdminLoginRequired,
    AdminRole,
    AdminStore,
    AdminTrustTooLow,
    DayCount,
    LoginCount,
    Principal,
    RoleAssignment,
    RoleNotFound,
    RoleRepository,
    SecretNotRotatable,
    ServiceNotFound,
    TenantAction,
    TenantNotActive,
    TenantRequestInvalid,
    next_status,
)
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.clients import (
    AUTH_METHODS,
    AccessTokenFormat,
    ClientInvalid,
    GrantType,
    OidcClient,
    check_registration,
)
from servicekonto.domain.ports import AccountRepository, EphemeralStore, TenantRepository
from servicekonto.domain.pseudonym import sector_of
from servicekonto.domain.saml_sp import MAX_NAME, SamlServiceProvider
from servicekonto.domain.service_settings import (
    ServiceSettingsInvalid,
    check_allowed_attributes,
    check_allowed_methods,
    check_min_trust_level,
)
from servicekonto.domain.tenants import MAX_TENANT_NAME, Tenant, TenantStatus, normalise_tenant_name
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.audit import Auditor
from servicekonto.services.oidc_clients import NewClient, OidcClientService, check_jwks
from servicekonto.services.saml_sps import SamlSpService
from servicekonto.services.tenants import TenantNameInvalid, TenantNameTaken, TenantNotFound

_TENANT_EVENTS = {
    TenantAction.APPROVE: AuditEvent.TENANT_APPROVED,
    TenantAction.REJECT: AuditEvent.TENANT_REJECTED,
    TenantAction.SUSPEND: AuditEvent.TENANT_SUSPENDED,
    TenantAction.REACTIVATE: AuditEvent.TENANT_REACTIVATED,
}


class AccountUnknown(TenantRequestInvalid):
    code = "admin.account_unknown"
    message = _l("There is no account with this username or e-mail address.")


class NoMetadataUrl(InvalidInput):
    code = "saml_sp.no_metadata_url"
    message = _l("This service provider was registered from a file; there is no address to fetch its metadata "
                 "from.")


class TenantRequestsThrottled(ServicekontoError):
    """Requests for a tenant reach the operator as work: a few per account and day."""

    code = "tenant.request_rate_limited"
    http_status = 429
    message = _l("You have sent too many tenant requests. Please try again tomorrow.")

    def __init__(self, retry_after: int) -> None:
        super().__init__("throttled")
        self.retry_after = retry_after


class _Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


UNCHANGED = _Unchanged.UNCHANGED
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
TENANT_REQUESTS_PER_DAY = 5
REFRESH_AFTER = timedelta(hours=6)  # `servicekonto maintenance` runs hourly; metadata are fetched 4× a day
FAILURE_EVENTS = (AuditEvent.CONSENT_REFUSED,)  # what the audit log records per tenant as a refused request


@dataclass(frozen=True, slots=True)
class AdminView:
    """A role holder as the console and the API list them: the login name lets admins recognise each other."""

    account_id: str
    username: str
    role: AdminRole
    tenant_id: str | None
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshReport:
    refreshed: int
    unchanged: int
    failed: int


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    client: OidcClient
    secret: str  # shown once


@dataclass(frozen=True, slots=True)
class LoginStatistics:
    first_day: date
    days: int
    counts: tuple[LoginCount, ...]
    failures: tuple[DayCount, ...] = ()

    def failures_per_day(self) -> list[tuple[date, int]]:
        """Every day of the period with its refused requests."""
        totals: dict[date, int] = {}
        for count in self.failures:
            totals[count.day] = totals.get(count.day, 0) + count.count
        return [(self.first_day + timedelta(days=n), totals.get(self.first_day + timedelta(days=n), 0))
                for n in range(self.days)]

    def per_day(self) -> list[tuple[date, dict[int, int]]]:
        """Every day of the period (none left out), with its logins per trust level."""
        totals: dict[date, dict[int, int]] = {}
        for count in self.counts:
            level = totals.setdefault(count.day, {})
            level[count.trust_level] = level.get(count.trust_level, 0) + count.count
        days = [self.first_day + timedelta(days=n) for n in range(self.days)]
        return [(day, totals.get(day, {})) for day in days]


class AdminService:
    def __init__(self, *, roles: RoleRepository, store: AdminStore, tenants: TenantRepository,
                 accounts: AccountRepository, oidc_clients: OidcClientService, saml_sps: SamlSpService,
                 auditor: Auditor, clock: Clock, fetch_metadata: Callable[[str], bytes], test_system: bool,
                 min_trust_level: int = 2, fetch_jwks: Callable[[str], str] | None = None,
                 ephemeral: EphemeralStore | None = None) -> None:
        self._roles = roles
        self._store = store
        self._tenants = tenants
        self._accounts = accounts
        self._clients = oidc_clients
        self._sps = saml_sps
        self._auditor = auditor
        self._clock = clock
        self._fetch = fetch_metadata
        self._test_system = test_system
        self.min_trust_level = TrustLevel(min_trust_level)
        self._fetch_jwks = fetch_jwks
        self._ephemeral = ephemeral

    # -- who acts -------------------------------------------------------------------------------------------

    @staticmethod
    def command_line() -> Principal:
        """The operator at the command line (DESIGN.md §4): acts as an operator; audited as `cli:operator`."""
        return Principal(kind="cli", id="operator", operator=True)

    def principal_of_account(self, account_id: str | None, trust_level: TrustLevel | None) -> Principal:
        """A console session: any logged-in account may request a tenant; managing needs a role and a
        login at `min_trust_level` or above (password and a second factor by default)."""
        if not account_id or trust_level is None:
            raise AdminLoginRequired()
        operator = False
        tenant_ids: set[str] = set()
        for assignment in self._roles.for_account(account_id):
            if assignment.role is AdminRole.OPERATOR:
                operator = True
            elif assignment.tenant_id:
                tenant_ids.add(assignment.tenant_id)
        if (operator or tenant_ids) and not trust_level.satisfies(self.min_trust_level):
            raise AdminTrustTooLow()
        return Principal(kind="account", id=account_id, operator=operator, tenant_ids=frozenset(tenant_ids))

    def principal_of_token(self, claims: dict[str, Any] | None) -> Principal:
        """A machine token (client credentials, RFC 9068 JWT): the client must hold `servicekonto:manage`
        and its token must have been issued to itself, not to a user."""
        if not claims:
            raise AdminLoginRequired()
        client_id = str(claims.get("client_id", ""))
        if MANAGE_SCOPE not in str(claims.get("scope", "")).split() or claims.get("sub") != client_id:
            raise AdminForbidden("token without the management scope")
        client = self._clients.get(client_id)  # raises TenantNotActive for a suspended tenant
        if client is None or MANAGE_SCOPE not in client.scopes:
            raise AdminForbidden("client not allowed to manage")
        return Principal(kind="client", id=client_id, tenant_ids=frozenset({client.tenant_id}))

    # -- roles ----------------------------------------------------------------------------------------------

    def grant(self, username: str, *, operator: bool = False, tenant_id: str | None = None,
              actor: str = "cli") -> RoleAssignment:
        account = self._accounts.find_by_login(username)
        if account is None:
            raise AccountUnknown("no such account")
        if operator == (tenant_id is not None):
            raise TenantRequestInvalid("either --operator or --tenant")
        if tenant_id is not None and self._tenants.get(tenant_id) is None:
            raise TenantNotFound()
        assignment = RoleAssignment(account_id=account.id,
                                    role=AdminRole.OPERATOR if operator else AdminRole.TENANT_ADMIN,
                                    tenant_id=tenant_id, granted_at=self._clock.now())
        if self._roles.grant(assignment):
            self._auditor.record(AuditEvent.ADMIN_ROLE_GRANTED, account_id=account.id, tenant_id=tenant_id,
                                 actor=actor, role=assignment.role.value)
        return assignment

    def admins_of(self, principal: Principal, tenant_id: str) -> Sequence[RoleAssignment]:
        self.tenant(principal, tenant_id)
        return self._roles.for_tenant(tenant_id)

    def _views(self, assignments: Sequence[RoleAssignment]) -> list[AdminView]:
        views = []
        for assignment in assignments:
            account = self._accounts.get(assignment.account_id)
            views.append(AdminView(account_id=assignment.account_id, username=account.username if account else "",
                                   role=assignment.role, tenant_id=assignment.tenant_id,
                                   granted_at=assignment.granted_at))
        return views

    def tenant_admins(self, principal: Principal, tenant_id: str) -> list[AdminView]:
        return self._views(self.admins_of(principal, tenant_id))

    def add_tenant_admin(self, principal: Principal, tenant_id: str, username: str) -> AdminView:
        """A tenant's admin (or the operator) makes another account an admin of the tenant."""
        self.tenant(principal, tenant_id)
        granted = self.grant(username.strip()[:320], tenant_id=tenant_id, actor=principal.actor)
        return self._views([granted])[0]

    def revoke_tenant_admin(self, principal: Principal, tenant_id: str, account_id: str) -> None:
        self.tenant(principal, tenant_id)
        held = [a for a in self._roles.for_tenant(tenant_id) if a.account_id == account_id]
        if not held or not self._roles.revoke(held[0]):
            raise RoleNotFound()
        self._auditor.record(AuditEvent.ADMIN_ROLE_REVOKED, account_id=account_id, tenant_id=tenant_id,
                             actor=principal.actor, role=AdminRole.TENANT_ADMIN.value)

    def operators(self, principal: Principal) -> list[AdminView]:
        if not principal.operator:
            raise AdminForbidden("operator only")
        return self._views(self._roles.operators())

    def revoke_operator(self, principal: Principal, account_id: str) -> None:
        """Never the last operator (LastOperator): the deployment would have nobody to approve tenants, and
        only the command line could make a new one."""
        if not principal.operator:
            raise AdminForbidden("operator only")
        held = [a for a in self._roles.operators() if a.account_id == account_id]
        if not held or not self._roles.revoke(held[0]):
            raise RoleNotFound()
        self._auditor.record(AuditEvent.ADMIN_ROLE_REVOKED, account_id=account_id, actor=principal.actor,
                             role=AdminRole.OPERATOR.value)

    def revoke(self, username: str, *, operator: bool = False, tenant_id: str | None = None) -> None:
        """The command line's `admin revoke`: by login name, with the same rules."""
        account = self._accounts.find_by_login(username)
        if account is None:
            raise AccountUnknown("no such account")
        if operator == (tenant_id is not None):
            raise TenantRequestInvalid("either --operator or --tenant")
        principal = self.command_line()
        if operator:
            self.revoke_operator(principal, account.id)
        else:
            self.revoke_tenant_admin(principal, tenant_id or "", account.id)

    # -- tenants --------------------------------------------------------------------------------------------

    def tenants(self, principal: Principal) -> list[Tenant]:
        every = self._tenants.list()
        return [t for t in every if principal.may_manage(t.id)]

    def tenant(self, principal: Principal, tenant_id: str) -> Tenant:
        tenant = self._tenants.get(tenant_id)
        if tenant is None or not principal.may_manage(tenant.id):
            raise TenantNotFound()
        return tenant

    def create_tenant(self, principal: Principal, name: str) -> Tenant:
        """An operator creates an active tenant directly (the command line's `tenant create`)."""
        if not principal.operator:
            raise AdminForbidden("operator only")
        clean = normalise_tenant_name(name)
        if not clean or len(clean) > MAX_TENANT_NAME or not clean.isprintable():
            raise TenantNameInvalid()
        tenant = Tenant(id=str(new_uuid()), name=clean, status=TenantStatus.ACTIVE, created_at=self._clock.now())
        try:
            self._tenants.add(tenant)
        except Conflict:
            raise TenantNameTaken() from None
        self._auditor.record(AuditEvent.TENANT_CREATED, tenant_id=tenant.id, actor=principal.actor)
        return tenant

    def _throttle_requests(self, principal: Principal) -> None:
        """At most `TENANT_REQUESTS_PER_DAY` requests per account and day (only requests that passed the
        checks count, so a typo costs nothing)."""
        if self._ephemeral is None:
            return
        count = self._ephemeral.increment(f"admin:tenant-request:{principal.id}", 24 * 3600)
        if count > TENANT_REQUESTS_PER_DAY:
            raise TenantRequestsThrottled(retry_after=24 * 3600)

    def request_tenant(self, principal: Principal, *, name: str, organisation: str, contact: str,
                       purpose: str) -> Tenant:
        """Any logged-in account may ask for a tenant; it becomes the tenant's first admin."""
        if principal.kind != "account":
            raise AdminForbidden("only people request tenants")
        clean = normalise_tenant_name(name)
        if not clean or len(clean) > MAX_TENANT_NAME or not clean.isprintable():
            raise TenantNameInvalid()
        organisation, contact = normalise_tenant_name(organisation), contact.strip()
        purpose = purpose.strip()
        if (not organisation or len(organisation) > MAX_ORGANISATION or not contact or len(contact) > MAX_CONTACT
                or "@" not in contact or not contact.isprintable() or not purpose or len(purpose) > MAX_PURPOSE):
            raise TenantRequestInvalid()
        self._throttle_requests(principal)
        tenant = Tenant(id=str(new_uuid()), name=clean, status=TenantStatus.REQUESTED, created_at=self._clock.now(),
                        organisation=organisation, contact=contact, purpose=purpose)
        try:
            self._tenants.add(tenant)
        except Conflict:
            raise TenantNameTaken() from None
        self._roles.grant(RoleAssignment(account_id=principal.id, role=AdminRole.TENANT_ADMIN, tenant_id=tenant.id,
                                         granted_at=self._clock.now()))
        self._auditor.record(AuditEvent.TENANT_REQUESTED, tenant_id=tenant.id, actor=principal.actor)
        return tenant

    def change_tenant(self, principal: Principal, tenant_id: str, action: TenantAction) -> Tenant:
        """Operators only: approve or reject a request, suspend or reactivate a tenant."""
        tenant = self.tenant(principal, tenant_id)
        if not principal.operator:
            raise AdminForbidden("operator only")
        status = next_status(tenant.status, action)
        self._store.set_tenant_status(tenant.id, status)
        self._clients.forget()
        self._sps.forget_tenants()
        self._auditor.record(_TENANT_EVENTS[action], tenant_id=tenant.id, actor=principal.actor)
        return self.tenant(principal, tenant_id)

    def _active_tenant(self, principal: Principal, tenant_id: str) -> Tenant:
        tenant = self.tenant(principal, tenant_id)
        if tenant.status is not TenantStatus.ACTIVE:
            raise TenantNotActive(f"tenant {tenant.status.value}")
        return tenant

    # -- OIDC clients ---------------------------------------------------------------------------------------

    def oidc_clients(self, principal: Principal, tenant_id: str) -> Sequence[OidcClient]:
        self.tenant(principal, tenant_id)
        return self._clients.for_tenant(tenant_id)

    def oidc_client(self, principal: Principal, tenant_id: str, client_id: str) -> OidcClient:
        self.tenant(principal, tenant_id)
        for client in self._clients.for_tenant(tenant_id):
            if client.client_id == client_id:
                return client
        raise ServiceNotFound()

    def create_oidc_client(self, principal: Principal, tenant_id: str, *, name: str,
                           redirect_uris: Sequence[str] = (), post_logout_redirect_uris: Sequence[str] = (),
                           grant_types: Sequence[str] = (), scopes: Sequence[str] = (), public: bool = False,
                           min_trust_level: int = 1, manage: bool = False,
                           token_endpoint_auth_method: str | None = None, jwks: str | None = None,
                           jwks_uri: str | None = None, access_token_format: str = "jwt",  # noqa: S107
                           id_token_signed_response_alg: str = "ES256",  # noqa: S107 - an algorithm
                           userinfo_signed_response_alg: str | None = None, backchannel_logout_uri: str | None = None,
                           allowed_attributes: Sequence[str] | None = None,
                           allowed_methods: Sequence[str] | None = None) -> NewClient:
        """`manage` makes a machine client that may use this API for its tenant (client credentials with
        the `servicekonto:manage` scope). With `jwks_uri` the keys are fetched now and kept (and fetched
        again by `servicekonto maintenance`)."""
        self._active_tenant(principal, tenant_id)
        if jwks_uri:
            if jwks:
                raise ClientInvalid("either jwks or jwks_uri")
            jwks = self._fetched_jwks(jwks_uri)
        grants = tuple(grant_types)
        scope_list = tuple(scopes)
        if manage:
            if public:
                raise ClientInvalid("a management client is confidential")
            grants = tuple(dict.fromkeys((*grants, GrantType.CLIENT_CREDENTIALS.value)))
            scope_list = tuple(dict.fromkeys((*scope_list, MANAGE_SCOPE)))
        elif MANAGE_SCOPE in scope_list:
            raise ClientInvalid(f"the scope {MANAGE_SCOPE} comes with manage=true only")
        created = self._clients.create(tenant_id=tenant_id, name=name, redirect_uris=tuple(redirect_uris),
                                       post_logout_redirect_uris=tuple(post_logout_redirect_uris),
                                       grant_types=grants, scopes=scope_list, public=public,
                                       min_trust_level=min_trust_level,
                                       token_endpoint_auth_method=token_endpoint_auth_method, jwks=jwks,
                                       jwks_uri=jwks_uri or None, access_token_format=access_token_format,
                                       id_token_signed_response_alg=id_token_signed_response_alg,
                                       userinfo_signed_response_alg=userinfo_signed_response_alg,
                                       backchannel_logout_uri=backchannel_logout_uri,
                                       allowed_attributes=allowed_attributes, allowed_methods=allowed_methods)
        self._auditor.record(AuditEvent.OIDC_CLIENT_CREATED, tenant_id=tenant_id, actor=principal.actor,
                             client_id=created.client.client_id)
        return created

    def _fetched_jwks(self, uri: str) -> str:
        if self._fetch_jwks is None:
            raise ClientInvalid("fetching keys from a jwks_uri is not configured")
        document = self._fetch_jwks(uri)
        check_jwks(document)
        return document

    def update_oidc_client(self, principal: Principal, tenant_id: str, client_id: str, *,
                           name: str | _Unchanged = UNCHANGED,
                           redirect_uris: Sequence[str] | _Unchanged | None = UNCHANGED,
                           post_logout_redirect_uris: Sequence[str] | _Unchanged | None = UNCHANGED,
                           token_endpoint_auth_method: str | _Unchanged = UNCHANGED,
                           jwks: str | _Unchanged | None = UNCHANGED, jwks_uri: str | _Unchanged | None = UNCHANGED,
                           access_token_format: str | _Unchanged = UNCHANGED,
                           min_trust_level: int | _Unchanged = UNCHANGED,
                           allowed_attributes: Sequence[str] | _Unchanged | None = UNCHANGED,
                           allowed_methods: Sequence[str] | _Unchanged | None = UNCHANGED) -> OidcClient:
        """Change what an admin may change; `UNCHANGED` (the default) leaves a setting as it is, None clears
        a restriction. Everything is checked before anything is stored. The client id, its grant types and
        its pseudonym sector (the redirect URIs' host) stay. A switch to private_key_jwt drops the secret; a
        switch back to a secret needs a new one (`rotate_secret`)."""
        client = self.oidc_client(principal, tenant_id, client_id)
        self._active_tenant(principal, tenant_id)
        changed: list[str] = []
        new = client
        if not isinstance(name, _Unchanged):
            clean = " ".join(name.split())
            if not clean or len(clean) > 200 or not clean.isprintable():
                raise ClientInvalid("a name of 1 to 200 characters")
            new = replace(new, name=clean)
            changed.append("name")
        if not isinstance(redirect_uris, _Unchanged) and redirect_uris is not None:
            new = replace(new, redirect_uris=tuple(redirect_uris))
            changed.append("redirect_uris")
        if not isinstance(post_logout_redirect_uris, _Unchanged) and post_logout_redirect_uris is not None:
            new = replace(new, post_logout_redirect_uris=tuple(post_logout_redirect_uris))
            changed.append("post_logout_redirect_uris")
        uris = (*new.redirect_uris, *new.post_logout_redirect_uris)
        if len(uris) > 20 or any(len(u) > 2000 for u in uris):
            raise ClientInvalid("at most 20 URIs of at most 2000 characters")
        check_registration(redirect_uris=new.redirect_uris, grant_types=new.grant_types, scopes=new.scopes,
                           public=new.is_public, test_system=self._test_system,
                           post_logout_redirect_uris=new.post_logout_redirect_uris)
        if client.redirect_uris and new.redirect_uris and sector_of(new.redirect_uris[0]) != client.sector:
            raise ClientInvalid("the redirect URIs' host is the client's pseudonym sector and cannot change")
        if not isinstance(access_token_format, _Unchanged):
            try:
                new = replace(new, access_token_format=AccessTokenFormat(access_token_format))
            except ValueError:
                raise ClientInvalid("the access token format is jwt or opaque") from None
            changed.append("access_token_format")
        new = _shared_settings(new, changed, min_trust_level=min_trust_level, allowed_attributes=allowed_attributes,
                               allowed_methods=allowed_methods)
        new = self._key_settings(new, changed, token_endpoint_auth_method=token_endpoint_auth_method, jwks=jwks,
                                 jwks_uri=jwks_uri)
        if not changed:
            return client
        self._store.save_oidc_client_settings(new)
        self._clients.forget(client_id)
        self._auditor.record(AuditEvent.OIDC_CLIENT_UPDATED, tenant_id=tenant_id, actor=principal.actor,
                             client_id=client_id, fields=" ".join(changed))
        return self.oidc_client(principal, tenant_id, client_id)

    def _key_settings(self, client: OidcClient, changed: list[str], *, token_endpoint_auth_method: str | _Unchanged,
                      jwks: str | _Unchanged | None, jwks_uri: str | _Unchanged | None) -> OidcClient:
        """How the client authenticates at the token endpoint, and its keys for private_key_jwt."""
        method = client.token_endpoint_auth_method
        if not isinstance(token_endpoint_auth_method, _Unchanged):
            method = token_endpoint_auth_method
            if method not in AUTH_METHODS or (method == "none") != client.is_public:
                raise ClientInvalid(f"token endpoint auth method {method[:40]!r} does not fit a "
                                    f"{'public' if client.is_public else 'confidential'} client")
            changed.append("token_endpoint_auth_method")
        new = replace(client, token_endpoint_auth_method=method)
        if not isinstance(jwks_uri, _Unchanged):
            if jwks_uri and not isinstance(jwks, _Unchanged) and jwks:
                raise ClientInvalid("either jwks or jwks_uri")
            new = replace(new, jwks_uri=jwks_uri or None, jwks=self._fetched_jwks(jwks_uri) if jwks_uri else new.jwks)
            changed.append("jwks_uri")
        if not isinstance(jwks, _Unchanged) and not (isinstance(jwks_uri, str) and jwks_uri):
            if jwks:
                check_jwks(jwks)
            new = replace(new, jwks=jwks or None, jwks_uri=None)
            changed.append("jwks")
        if method == "private_key_jwt":
            check_jwks(new.jwks)
            new = replace(new, secret_hash="")  # confidential, without a secret: keys only
        return new

    def rotate_secret(self, principal: Principal, tenant_id: str, client_id: str) -> RotatedSecret:
        client = self.oidc_client(principal, tenant_id, client_id)
        self._active_tenant(principal, tenant_id)
        if client.is_public or client.token_endpoint_auth_method not in SECRET_METHODS:
            raise SecretNotRotatable()
        secret = random_token(32)
        self._store.set_oidc_client_secret_hash(client_id, self._clients.hash_secret(secret))
        self._clients.forget(client_id)
        self._auditor.record(AuditEvent.OIDC_CLIENT_SECRET_ROTATED, tenant_id=tenant_id, actor=principal.actor,
                             client_id=client_id)
        return RotatedSecret(client=self.oidc_client(principal, tenant_id, client_id), secret=secret)

    def delete_oidc_client(self, principal: Principal, tenant_id: str, client_id: str) -> None:
        self.oidc_client(principal, tenant_id, client_id)
        self._store.delete_oidc_client(client_id)
        self._clients.forget(client_id)
        self._auditor.record(AuditEvent.OIDC_CLIENT_DELETED, tenant_id=tenant_id, actor=principal.actor,
                             client_id=client_id)

    # -- SAML service providers -----------------------------------------------------------------------------

    def saml_sps(self, principal: Principal, tenant_id: str) -> Sequence[SamlServiceProvider]:
        self.tenant(principal, tenant_id)
        return self._sps.for_tenant(tenant_id)

    def saml_sp(self, principal: Principal, tenant_id: str, entity_id: str) -> SamlServiceProvider:
        self.tenant(principal, tenant_id)
        for sp in self._sps.for_tenant(tenant_id):
            if sp.entity_id == entity_id:
                return sp
        raise ServiceNotFound()

    def saml_sp_by_id(self, principal: Principal, tenant_id: str, sp_id: str) -> SamlServiceProvider:
        self.tenant(principal, tenant_id)
        for sp in self._sps.for_tenant(tenant_id):
            if sp.id == sp_id:
                return sp
        raise ServiceNotFound()

    def add_saml_sp(self, principal: Principal, tenant_id: str, *, metadata_xml: bytes | None = None,
                    metadata_url: str | None = None, signing_methods: Sequence[str] | None = None,
                    encryption_methods: Sequence[str] | None = None) -> SamlServiceProvider:
        """From metadata, or from a URL that is then fetched again periodically (`refresh_due`).
        `signing_methods`/`encryption_methods`: the operator's algorithm override (command line only)."""
        self._active_tenant(principal, tenant_id)
        if (metadata_xml is None) == (metadata_url is None):
            raise TenantRequestInvalid("either metadata or a metadata URL")
        if (signing_methods is not None or encryption_methods is not None) and not principal.operator:
            raise AdminForbidden("algorithm overrides are for operators")
        data = metadata_xml if metadata_xml is not None else self._fetch(metadata_url or "")
        sp = self._sps.add(tenant_id, data, signing_methods=signing_methods, encryption_methods=encryption_methods,
                           metadata_url=metadata_url)
        self._auditor.record(AuditEvent.SAML_SP_ADDED, tenant_id=tenant_id, actor=principal.actor,
                             entity_id=sp.entity_id[:200])
        return sp

    def delete_saml_sp(self, principal: Principal, tenant_id: str, entity_id: str) -> None:
        self.saml_sp(principal, tenant_id, entity_id)
        self._store.delete_saml_sp(entity_id)
        self._auditor.record(AuditEvent.SAML_SP_DELETED, tenant_id=tenant_id, actor=principal.actor,
                             entity_id=entity_id[:200])

    def update_saml_sp(self, principal: Principal, tenant_id: str, sp_id: str, *,
                       name: str | _Unchanged = UNCHANGED, min_trust_level: int | _Unchanged = UNCHANGED,
                       allowed_attributes: Sequence[str] | _Unchanged | None = UNCHANGED,
                       allowed_methods: Sequence[str] | _Unchanged | None = UNCHANGED) -> SamlServiceProvider:
        """The SP's settings (as for OIDC clients); its metadata change only through new metadata."""
        sp = self.saml_sp_by_id(principal, tenant_id, sp_id)
        self._active_tenant(principal, tenant_id)
        changed: list[str] = []
        new = sp
        if not isinstance(name, _Unchanged):
            clean = " ".join(name.split())
            if not clean or len(clean) > MAX_NAME or not clean.isprintable():
                raise ServiceSettingsInvalid(f"a name of 1 to {MAX_NAME} characters")
            new = replace(new, name=clean)
            changed.append("name")
        new = _shared_settings(new, changed, min_trust_level=min_trust_level, allowed_attributes=allowed_attributes,
                               allowed_methods=allowed_methods)
        if not changed:
            return sp
        self._store.save_saml_sp_settings(new)
        self._auditor.record(AuditEvent.SAML_SP_UPDATED, tenant_id=tenant_id, actor=principal.actor,
                             entity_id=sp.entity_id[:200], fields=" ".join(changed))
        return self.saml_sp_by_id(principal, tenant_id, sp_id)

    def refresh_saml_sp(self, principal: Principal, tenant_id: str, sp_id: str) -> SamlServiceProvider:
        """Fetch the metadata from the SP's URL now. A failure keeps the old metadata; it is recorded on the
        SP (`metadata_error`) and in the audit log, and the SP is returned as it stays."""
        sp = self.saml_sp_by_id(principal, tenant_id, sp_id)
        self._active_tenant(principal, tenant_id)
        if not sp.metadata_url:
            raise NoMetadataUrl()
        self._refresh(sp, actor=principal.actor)
        return self.saml_sp_by_id(principal, tenant_id, sp_id)

    def _refresh(self, sp: SamlServiceProvider, *, actor: str) -> bool | None:
        """True: new metadata; False: the same as before; None: failed (recorded)."""
        try:
            fresh = self._sps.reread(sp, self._fetch(sp.metadata_url or ""))
        except InvalidInput as exc:
            error = f"{exc.code}: {exc.detail}"[:500] if exc.detail and exc.detail != exc.code else exc.code
            self._store.saml_sp_metadata_failed(sp.id, checked_at=self._clock.now(), error=error)
            if error != sp.metadata_error:  # recorded once per new failure, not at every attempt
                self._auditor.record(AuditEvent.SAML_SP_METADATA_REFRESH_FAILED, tenant_id=sp.tenant_id, actor=actor,
                                     entity_id=sp.entity_id[:200], error=error[:200])
            return None
        self._store.save_saml_sp_metadata(fresh)
        if fresh.metadata_xml == sp.metadata_xml and not sp.metadata_error:
            return False
        self._auditor.record(AuditEvent.SAML_SP_METADATA_REFRESHED, tenant_id=sp.tenant_id, actor=actor,
                             entity_id=sp.entity_id[:200])
        return True

    def refresh_due(self, *, actor: str = "maintenance") -> RefreshReport:
        """`servicekonto maintenance`: SP metadata not fetched for `REFRESH_AFTER`, and every client's keys
        registered by jwks_uri. Whatever fails keeps what it had and is recorded."""
        outcomes: list[bool | None] = []
        for entity_id in self._store.saml_sps_due(checked_before=self._clock.now() - REFRESH_AFTER):
            sp = self._sps.registration(entity_id)
            if sp is not None and sp.metadata_url:
                outcomes.append(self._refresh(sp, actor=actor))
        for client_id in self._store.oidc_clients_with_jwks_uri():
            client = self._clients.registration(client_id)
            if client is not None and client.jwks_uri:
                outcomes.append(self._refresh_jwks(client, actor=actor))
        return RefreshReport(refreshed=outcomes.count(True), unchanged=outcomes.count(False),
                             failed=outcomes.count(None))

    def _refresh_jwks(self, client: OidcClient, *, actor: str) -> bool | None:
        try:
            document = self._fetched_jwks(client.jwks_uri or "")
        except InvalidInput as exc:
            self._auditor.record(AuditEvent.OIDC_CLIENT_JWKS_REFRESH_FAILED, tenant_id=client.tenant_id, actor=actor,
                                 client_id=client.client_id, error=str(exc.detail or exc.code)[:200])
            return None
        if document == client.jwks:
            return False
        self._store.save_oidc_client_settings(replace(client, jwks=document))
        self._clients.forget(client.client_id)
        self._auditor.record(AuditEvent.OIDC_CLIENT_JWKS_REFRESHED, tenant_id=client.tenant_id, actor=actor,
                             client_id=client.client_id)
        return True

    # -- statistics -----------------------------------------------------------------------------------------

    def statistics(self, principal: Principal, tenant_id: str, *, days: int = 30) -> LoginStatistics:
        """Logins at the tenant's services per day (UTC), by methods and trust level, for the last `days`."""
        self.tenant(principal, tenant_id)
        days = max(1, min(days, 366))
        first = self._clock.now().astimezone(UTC).date() - timedelta(days=days - 1)
        since = datetime.combine(first, time.min, tzinfo=UTC)
        counts = self._store.login_counts(tenant_id, since=since)
        failures = self._store.failure_counts(tenant_id, since=since, events=FAILURE_EVENTS)
        return LoginStatistics(first_day=first, days=days, counts=tuple(counts), failures=tuple(failures))

    # -- audit ----------------------------------------------------------------------------------------------

    def audit_log(self, principal: Principal, tenant_id: str, *, limit: int = 100) -> Sequence[AuditRecord]:
        self.tenant(principal, tenant_id)
        return self._store.audit_for_tenant(tenant_id, limit=limit)


_Service = TypeVar("_Service", OidcClient, SamlServiceProvider)

def _shared_settings(service: _Service, changed: list[str], *, min_trust_level: Any, allowed_attributes: Any,
                     allowed_methods: Any) -> _Service:
    """The settings OIDC clients and SAML SPs share, each checked; `changed` collects the names changed."""
    if not isinstance(min_trust_level, _Unchanged):
        service = replace(service, min_trust_level=check_min_trust_level(min_trust_level))
        changed.append("min_trust_level")
    if not isinstance(allowed_attributes, _Unchanged):
        service = replace(service, allowed_attributes=check_allowed_attributes(allowed_attributes))
        changed.append("allowed_attributes")
    if not isinstance(allowed_methods, _Unchanged):
        service = replace(service, allowed_methods=check_allowed_methods(allowed_methods))
        changed.append("allowed_methods")
    return service
