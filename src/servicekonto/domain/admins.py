"""Administration: who may manage what (operator admins for the deployment, tenant admins for their own
tenant), the tenant lifecycle, and the ports the management surfaces (API, console, CLI) need.

Admins are ordinary citizen accounts with a role assignment; a tenant's machine client acts for its tenant
when it holds the `servicekonto:manage` scope (OAuth 2.0 client credentials, RFC 6749 §4.4).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from servicekonto.core.errors import Conflict, InvalidInput, NotFound, ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.clients import OidcClient
from servicekonto.domain.saml_sp import SamlServiceProvider
from servicekonto.domain.tenants import TenantStatus

MANAGE_SCOPE = "servicekonto:manage"
MAX_ORGANISATION = 200
MAX_CONTACT = 320
MAX_PURPOSE = 2000


class AdminRole(enum.StrEnum):
    OPERATOR = "operator"
    TENANT_ADMIN = "tenant_admin"


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    account_id: str
    role: AdminRole
    tenant_id: str | None  # None for an operator
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts: an account (console session) or a tenant's machine client (API token)."""

    kind: str  # "account" or "client"
    id: str  # the account id or the client_id
    operator: bool = False
    tenant_ids: frozenset[str] = frozenset()
    logged_in: bool = True  # an account that holds no role may still request a tenant

    @property
    def actor(self) -> str:
        """What the audit log records: a random id, never a name."""
        return f"{self.kind}:{self.id}"[:64]

    def may_manage(self, tenant_id: str) -> bool:
        return self.operator or tenant_id in self.tenant_ids

    @property
    def is_admin(self) -> bool:
        return self.operator or bool(self.tenant_ids)


class AdminForbidden(ServicekontoError):
    code = "admin.forbidden"
    http_status = 403
    message = _l("You are not allowed to do this.")


class AdminLoginRequired(ServicekontoError):
    code = "admin.unauthenticated"
    http_status = 401
    message = _l("Please log in to use the administration.")


class AdminTrustTooLow(ServicekontoError):
    code = "admin.trust_level_too_low"
    http_status = 403
    message = _l("The administration needs a login with a second factor (authenticator app or passkey).")


class TenantTransitionInvalid(Conflict):
    code = "tenant.transition_invalid"
    message = _l("The tenant is not in a state that allows this.")


class TenantRequestInvalid(InvalidInput):
    code = "tenant.request_invalid"
    message = _l("Please give the organisation, a contact address and the purpose.")


class TenantNotActive(ServicekontoError):
    """A suspended (or not yet approved) tenant's services do not answer."""

    code = "tenant.not_active"
    http_status = 403
    message = _l("This service is currently suspended. Please contact the authority that offers it.")


class ServiceNotFound(NotFound):
    code = "service.not_found"
    message = _l("This service does not exist.")


class SecretNotRotatable(InvalidInput):
    code = "oidc_client.no_secret"
    message = _l("This client has no secret (a public client or one using private_key_jwt).")


class LastOperator(Conflict):
    code = "admin.last_operator"
    message = _l("The last operator admin cannot be removed. Make another account an operator first.")


class RoleNotFound(NotFound):
    code = "admin.role_not_found"
    message = _l("This account holds no such role.")


class TenantAction(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND = "suspend"
    REACTIVATE = "reactivate"


# The tenant lifecycle: requested → (approve) active | (reject) rejected; active ⇄ suspended.
TENANT_TRANSITIONS: dict[TenantAction, tuple[frozenset[TenantStatus], TenantStatus]] = {
    TenantAction.APPROVE: (frozenset({TenantStatus.REQUESTED}), TenantStatus.ACTIVE),
    TenantAction.REJECT: (frozenset({TenantStatus.REQUESTED}), TenantStatus.REJECTED),
    TenantAction.SUSPEND: (frozenset({TenantStatus.ACTIVE}), TenantStatus.SUSPENDED),
    TenantAction.REACTIVATE: (frozenset({TenantStatus.SUSPENDED}), TenantStatus.ACTIVE),
}


def next_status(current: TenantStatus, action: TenantAction) -> TenantStatus:
    allowed, target = TENANT_TRANSITIONS[action]
    if current not in allowed:
        raise TenantTransitionInvalid(f"{action.value} from {current.value}")
    return target


@dataclass(frozen=True, slots=True)
class LoginCount:
    """Logins at a tenant's services on one day (UTC) with one combination of methods at one trust level,
    counted from the releases to its services."""

    day: date
    methods: str  # space-separated, e.g. "pwd otp"
    trust_level: int
    count: int


@dataclass(frozen=True, slots=True)
class DayCount:
    """How often something of one kind (an audit event tag) happened at a tenant's services on one day (UTC)."""

    day: date
    kind: str
    count: int


class RoleRepository(Protocol):
    def grant(self, assignment: RoleAssignment) -> bool:
        """False when the account already holds this role (for this tenant)."""

    def for_account(self, account_id: str) -> Sequence[RoleAssignment]: ...

    def for_tenant(self, tenant_id: str) -> Sequence[RoleAssignment]: ...

    def revoke(self, assignment: RoleAssignment, *, keep_an_operator: bool = True) -> bool:
        """False when not held; raises LastOperator rather than remove the last operator."""

    def operators(self) -> Sequence[RoleAssignment]: ...


class AdminStore(Protocol):
    """What the administration changes beyond the registration repositories (persistence/admins.py)."""

    def set_tenant_status(self, tenant_id: str, status: TenantStatus) -> None: ...

    def update_oidc_client_uris(self, client_id: str, *, redirect_uris: tuple[str, ...],
                                post_logout_redirect_uris: tuple[str, ...]) -> None: ...

    def set_oidc_client_secret_hash(self, client_id: str, secret_hash: str) -> None: ...

    def delete_oidc_client(self, client_id: str) -> bool: ...

    def delete_saml_sp(self, entity_id: str) -> bool: ...

    def audit_for_tenant(self, tenant_id: str, *, limit: int = 100) -> Sequence[AuditRecord]:
        """Newest first."""

    def login_counts(self, tenant_id: str, *, since: datetime) -> Sequence[LoginCount]: ...

    def failure_counts(self, tenant_id: str, *, since: datetime,
                       events: Sequence[AuditEvent]) -> Sequence[DayCount]: ...

    def save_oidc_client_settings(self, client: OidcClient) -> None: ...

    def save_saml_sp_settings(self, sp: SamlServiceProvider) -> None: ...

    def save_saml_sp_metadata(self, sp: SamlServiceProvider) -> None: ...

    def saml_sp_metadata_failed(self, sp_id: str, *, checked_at: datetime, error: str) -> None: ...

    def saml_sps_due(self, *, checked_before: datetime) -> Sequence[str]: ...

    def oidc_clients_with_jwks_uri(self) -> Sequence[str]: ...
