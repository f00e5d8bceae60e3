"""Audit events: an append-only record of what happened, never of personal data. Tags are
`source:subject:action` (as in PyPI's warehouse); only members of this enum can be written."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from servicekonto.core.i18n import LazyString, _l


class AuditEvent(enum.StrEnum):
    ACCOUNT_REGISTERED = "account:account:registered"
    ACCOUNT_VERIFIED = "account:email:verified"
    ACCOUNT_LOCKED = "account:account:locked"
    ACCOUNT_DELETED = "account:account:deleted"
    LOGIN_SUCCEEDED = "account:session:login"
    LOGIN_FAILED = "account:session:login_failed"
    LOGGED_OUT = "account:session:logout"
    PASSWORD_CHANGED = "account:password:changed"
    PASSWORD_RESET_REQUESTED = "account:password:reset_requested"
    PASSWORD_RESET = "account:password:reset"
    MASTER_DATA_CHANGED = "account:master_data:changed"
    EMAIL_CHANGE_REQUESTED = "account:email:change_requested"
    EMAIL_CHANGED = "account:email:changed"
    TOTP_ENABLED = "account:totp:enabled"
    TOTP_DISABLED = "account:totp:disabled"
    RECOVERY_CODES_GENERATED = "account:recovery_codes:generated"
    RECOVERY_CODE_USED = "account:recovery_code:used"
    SECOND_FACTOR_SUCCEEDED = "account:second_factor:login"
    SECOND_FACTOR_FAILED = "account:second_factor:failed"
    EID_CARD_BOUND = "account:eid_card:bound"
    PASSKEY_ADDED = "account:passkey:added"
    PASSKEY_REMOVED = "account:passkey:removed"
    PASSKEY_USED = "account:passkey:used"
    PASSKEY_FAILED = "account:passkey:failed"
    PASSKEY_COUNTER_REGRESSED = "account:passkey:counter_regressed"
    CONSENT_GIVEN = "account:consent:given"
    CONSENT_REFUSED = "account:consent:refused"
    CONSENT_WITHDRAWN = "account:consent:withdrawn"
    SESSION_ENDED = "account:session:ended"
    DATA_RELEASED = "account:data:released"
    OIDC_GRANT_REVOKED = "oidc:grant:revoked"
    OIDC_CODE_REPLAYED = "oidc:code:replayed"
    OIDC_REFRESH_TOKEN_REUSED = "oidc:refresh_token:reused"
    OIDC_CLIENT_CREATED = "admin:oidc_client:created"
    SAML_SP_ADDED = "admin:saml_sp:added"
    TENANT_CREATED = "admin:tenant:created"
    KEYS_ROTATED = "admin:keys:rotated"
    OIDC_CLIENT_UPDATED = "admin:oidc_client:updated"
    OIDC_CLIENT_SECRET_ROTATED = "admin:oidc_client:secret_rotated"
    OIDC_CLIENT_DELETED = "admin:oidc_client:deleted"
    SAML_SP_DELETED = "admin:saml_sp:deleted"
    TENANT_REQUESTED = "admin:tenant:requested"
    TENANT_APPROVED = "admin:tenant:approved"
    TENANT_REJECTED = "admin:tenant:rejected"
    TENANT_SUSPENDED = "admin:tenant:suspended"
    TENANT_REACTIVATED = "admin:tenant:reactivated"
    ADMIN_ROLE_GRANTED = "admin:role:granted"
    ADMIN_ROLE_REVOKED = "admin:role:revoked"
    SAML_SP_UPDATED = "admin:saml_sp:updated"
    SAML_SP_METADATA_REFRESHED = "admin:saml_sp:metadata_refreshed"
    SAML_SP_METADATA_REFRESH_FAILED = "admin:saml_sp:metadata_refresh_failed"
    OIDC_CLIENT_JWKS_REFRESHED = "admin:oidc_client:jwks_refreshed"
    OIDC_CLIENT_JWKS_REFRESH_FAILED = "admin:oidc_client:jwks_refresh_failed"
    ORGANISATION_CREATED = "organisation:organisation:created"
    ORGANISATION_CHANGED = "organisation:organisation:changed"
    ORGANISATION_DISSOLVED = "organisation:organisation:dissolved"
    ORGANISATION_INVITATION_SENT = "organisation:invitation:sent"
    ORGANISATION_INVITATION_WITHDRAWN = "organisation:invitation:withdrawn"
    ORGANISATION_MEMBER_JOINED = "organisation:member:joined"
    ORGANISATION_MEMBER_LEFT = "organisation:member:left"
    ORGANISATION_MEMBER_REMOVED = "organisation:member:removed"
    ORGANISATION_ROLE_CHANGED = "organisation:member:role_changed"
    ORGANISATION_SERVICE_ROLES_CHANGED = "organisation:member:service_roles_changed"
    ORGANISATION_VERIFIED = "admin:organisation:verified"
    SERVICE_ROLE_ADDED = "admin:service_role:added"
    SERVICE_ROLE_REMOVED = "admin:service_role:removed"

    @property
    def shown_to_citizen(self) -> bool:
        """The security events the account overview lists."""
        return self in _CITIZEN_LABELS

    @property
    def label(self) -> LazyString:
        return _CITIZEN_LABELS.get(self, _l("Other event"))


_CITIZEN_LABELS = {
    AuditEvent.ACCOUNT_REGISTERED: _l("Account registered"),
    AuditEvent.ACCOUNT_VERIFIED: _l("E-mail address confirmed"),
    AuditEvent.ACCOUNT_LOCKED: _l("Login temporarily locked after failed attempts"),
    AuditEvent.LOGIN_SUCCEEDED: _l("Logged in"),
    AuditEvent.LOGIN_FAILED: _l("Failed login attempt"),
    AuditEvent.LOGGED_OUT: _l("Logged out"),
    AuditEvent.PASSWORD_CHANGED: _l("Password changed"),
    AuditEvent.PASSWORD_RESET: _l("Password reset by e-mail"),
    AuditEvent.MASTER_DATA_CHANGED: _l("Master data changed"),
    AuditEvent.EMAIL_CHANGED: _l("E-mail address changed"),
    AuditEvent.TOTP_ENABLED: _l("Authenticator app set up"),
    AuditEvent.TOTP_DISABLED: _l("Authenticator app removed"),
    AuditEvent.RECOVERY_CODES_GENERATED: _l("New recovery codes created"),
    AuditEvent.RECOVERY_CODE_USED: _l("Logged in with a recovery code"),
    AuditEvent.SECOND_FACTOR_SUCCEEDED: _l("Second factor confirmed"),
    AuditEvent.SECOND_FACTOR_FAILED: _l("Wrong code for the second factor"),
    AuditEvent.EID_CARD_BOUND: _l("ID card linked to the account"),
    AuditEvent.PASSKEY_ADDED: _l("Passkey added"),
    AuditEvent.PASSKEY_REMOVED: _l("Passkey removed"),
    AuditEvent.PASSKEY_USED: _l("Logged in with a passkey"),
    AuditEvent.PASSKEY_COUNTER_REGRESSED: _l("A passkey was refused: it may have been copied"),
    AuditEvent.CONSENT_GIVEN: _l("Consent to a data transfer given"),
    AuditEvent.CONSENT_REFUSED: _l("Data transfer refused"),
    AuditEvent.CONSENT_WITHDRAWN: _l("Consent to a data transfer withdrawn"),
    AuditEvent.SESSION_ENDED: _l("A session was ended from the account"),
    AuditEvent.DATA_RELEASED: _l("Data transferred to an online service"),
}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """`account_id` is a random id, not personal data once the account is gone; `details` hold names of
    fields or methods, never values."""

    event: AuditEvent
    occurred_at: datetime
    account_id: str | None = None
    tenant_id: str | None = None
    actor: str | None = None
    details: dict[str, str] = field(default_factory=dict)
