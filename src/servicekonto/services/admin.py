"""The administration's use cases: the management API, the console and the CLI come through here.

Every operation takes the acting `Principal` first, checks it may act on the tenant, and records an audit
event (who, what, which tenant; never a secret). A tenant admin asking for another tenant's anything gets
`tenant.not_found` — the same answer as for a tenant that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from servicekonto.core.clock import Clock
from servicekonto.core.errors import Conflict
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
    LoginCount,
    Principal,
    RoleAssignment,
    RoleRepository,
    SecretNotRotatable,
    ServiceNotFound,
    TenantAction,
    TenantNotActive,
    TenantRequestInvalid,
    next_status,
)
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.clients import ClientInvalid, GrantType, OidcClient, check_registration
from servicekonto.domain.ports import AccountRepository, TenantRepository
from servicekonto.domain.pseudonym import sector_of
from servicekonto.domain.saml_sp import SamlServiceProvider
from servicekonto.domain.tenants import MAX_TENANT_NAME, Tenant, TenantStatus, normalise_tenant_name
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.audit import Auditor
from servicekonto.services.oidc_clients import NewClient, OidcClientService
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


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    client: OidcClient
    secret: str  # shown once


@dataclass(frozen=True, slots=True)
class LoginStatistics:
    first_day: date
    days: int
    counts: tuple[LoginCount, ...]

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
                 min_trust_level: int = 2) -> None:
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

    # -- who acts -------------------------------------------------------------------------------------------

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

    # -- tenants --------------------------------------------------------------------------------------------

    def tenants(self, principal: Principal) -> list[Tenant]:
        every = self._tenants.list()
        return [t for t in every if principal.may_manage(t.id)]

    def tenant(self, principal: Principal, tenant_id: str) -> Tenant:
        tenant = self._tenants.get(tenant_id)
        if tenant is None or not principal.may_manage(tenant.id):
            raise TenantNotFound()
        return tenant

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
                           min_trust_level: int = 1, manage: bool = False) -> NewClient:
        """`manage` makes a machine client that may use this API for its tenant (client credentials with
        the `servicekonto:manage` scope)."""
        self._active_tenant(principal, tenant_id)
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
                                       min_trust_level=min_trust_level)
        self._auditor.record(AuditEvent.OIDC_CLIENT_CREATED, tenant_id=tenant_id, actor=principal.actor,
                             client_id=created.client.client_id)
        return created

    def update_oidc_client(self, principal: Principal, tenant_id: str, client_id: str, *,
                           redirect_uris: Sequence[str] | None = None,
                           post_logout_redirect_uris: Sequence[str] | None = None) -> OidcClient:
        client = self.oidc_client(principal, tenant_id, client_id)
        self._active_tenant(principal, tenant_id)
        redirects = tuple(client.redirect_uris if redirect_uris is None else redirect_uris)
        logouts = tuple(client.post_logout_redirect_uris if post_logout_redirect_uris is None
                        else post_logout_redirect_uris)
        if len(redirects) + len(logouts) > 20 or any(len(u) > 2000 for u in (*redirects, *logouts)):
            raise ClientInvalid("at most 20 URIs of at most 2000 characters")
        check_registration(redirect_uris=redirects, grant_types=client.grant_types, scopes=client.scopes,
                           public=client.is_public, test_system=self._test_system,
                           post_logout_redirect_uris=logouts)
        if client.redirect_uris and redirects and sector_of(redirects[0]) != client.sector:
            raise ClientInvalid("the redirect URIs' host is the client's pseudonym sector and cannot change")
        self._store.update_oidc_client_uris(client_id, redirect_uris=redirects, post_logout_redirect_uris=logouts)
        self._clients.forget(client_id)
        self._auditor.record(AuditEvent.OIDC_CLIENT_UPDATED, tenant_id=tenant_id, actor=principal.actor,
                             client_id=client_id, fields="redirect_uris post_logout_redirect_uris")
        return self.oidc_client(principal, tenant_id, client_id)

    def rotate_secret(self, principal: Principal, tenant_id: str, client_id: str) -> RotatedSecret:
        client = self.oidc_client(principal, tenant_id, client_id)
        self._active_tenant(principal, tenant_id)
        if not client.secret_hash:
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
                    metadata_url: str | None = None) -> SamlServiceProvider:
        self._active_tenant(principal, tenant_id)
        if (metadata_xml is None) == (metadata_url is None):
            raise TenantRequestInvalid("either metadata or a metadata URL")
        data = metadata_xml if metadata_xml is not None else self._fetch(metadata_url or "")
        sp = self._sps.add(tenant_id, data)
        self._auditor.record(AuditEvent.SAML_SP_ADDED, tenant_id=tenant_id, actor=principal.actor,
                             entity_id=sp.entity_id[:200])
        return sp

    def delete_saml_sp(self, principal: Principal, tenant_id: str, entity_id: str) -> None:
        self.saml_sp(principal, tenant_id, entity_id)
        self._store.delete_saml_sp(entity_id)
        self._auditor.record(AuditEvent.SAML_SP_DELETED, tenant_id=tenant_id, actor=principal.actor,
                             entity_id=entity_id[:200])

    # -- statistics -----------------------------------------------------------------------------------------

    def statistics(self, principal: Principal, tenant_id: str, *, days: int = 30) -> LoginStatistics:
        """Logins at the tenant's services per day (UTC), by methods and trust level, for the last `days`."""
        self.tenant(principal, tenant_id)
        days = max(1, min(days, 366))
        first = self._clock.now().astimezone(UTC).date() - timedelta(days=days - 1)
        counts = self._store.login_counts(tenant_id, since=datetime.combine(first, time.min, tzinfo=UTC))
        return LoginStatistics(first_day=first, days=days, counts=tuple(counts))

    # -- audit ----------------------------------------------------------------------------------------------

    def audit_log(self, principal: Principal, tenant_id: str, *, limit: int = 100) -> Sequence[AuditRecord]:
        self.tenant(principal, tenant_id)
        return self._store.audit_for_tenant(tenant_id, limit=limit)
