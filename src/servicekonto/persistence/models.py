"""The tables of the system of record. One naming convention for every constraint, so migrations are
stable across SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are aware and in UTC on every database (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


class Tenant(Base):
    """A Mandant: a municipality, Land office or their IT provider that plugs in its online services."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    organisation: Mapped[str | None] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(320))
    purpose: Mapped[str | None] = mapped_column(Text)


class TenantAdmin(Base):
    """A role of a citizen account in the administration: operator (tenant_id NULL) or tenant admin."""

    __tablename__ = "tenant_admins"
    __table_args__ = (Index("uq_tenant_admins_account_role_tenant", "account_id", "role", "tenant_id", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    granted_at: Mapped[datetime]


class SigningKey(Base):
    """A private key of the deployment, sealed with the deployment secret. At most one active key per
    purpose (a partial unique index), so processes starting at once cannot both create one."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        Index(
            "uq_signing_keys_active_purpose",
            "purpose",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[str] = mapped_column(Text)
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    publish_until: Mapped[datetime | None]


class EphemeralEntry(Base):
    """Short-lived state (sessions, flows, one-time codes, counters) when no Redis is configured."""

    __tablename__ = "ephemeral_entries"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class Account(Base):
    """A citizen account. Usernames and e-mail addresses are unique in their canonical (case-folded) form;
    a row is deleted outright when the citizen deletes the account."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_canonical: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    email_canonical: Mapped[str] = mapped_column(String(320), unique=True)
    email_verified_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8))
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AccountAttribute(Base):
    """One master-data value with where it came from and the trust level that source carries."""

    __tablename__ = "account_attributes"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    trust_level: Mapped[int]
    updated_at: Mapped[datetime]


class SecondFactor(Base):
    """A confirmed second factor of an account: for an authenticator app (TOTP) the shared secret, sealed with
    a key derived from the deployment secret and bound to the account id, and the last time step used, so
    every code works once."""

    __tablename__ = "second_factors"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class RecoveryCode(Base):
    """One unused recovery code, as an HMAC of the account id and the code; a used code's row is deleted."""

    __tablename__ = "recovery_codes"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]


class EidCard(Base):
    """An ID card bound to an account, by a keyed hash of its RestrictedID (never the ID itself). A card
    belongs to one account; an account may hold a renewed card besides the old one."""

    __tablename__ = "eid_cards"

    card_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]


class Passkey(Base):
    """A WebAuthn credential of an account: its id (base64url, unique across accounts), the COSE public key,
    the signature counter, and whether it was registered in a session identified with the ID card."""

    __tablename__ = "passkeys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(64))
    bound_to_eid: Mapped[bool]
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Append-only; no personal data (event tag, random ids, names of fields — never values)."""

    __tablename__ = "audit_events"
    # "the newest events of this account" is an index range scan, however long the account's history
    __table_args__ = (Index("ix_audit_events_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    event: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    actor: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="{}")


class OidcClient(Base):
    """An OpenID Connect client of a tenant. Lists are JSON text (the same on SQLite and PostgreSQL); the
    secret is kept as an HMAC, never in the clear."""

    __tablename__ = "oidc_clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(128))
    redirect_uris: Mapped[str] = mapped_column(Text)
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text)
    grant_types: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16))
    userinfo_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    access_token_format: Mapped[str] = mapped_column(String(16))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    jwks: Mapped[str | None] = mapped_column(Text)
    min_trust_level: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    allowed_attributes: Mapped[str | None] = mapped_column(Text)  # JSON list; NULL: every attribute
    allowed_methods: Mapped[str | None] = mapped_column(Text)  # JSON list; NULL: every method
    jwks_uri: Mapped[str | None] = mapped_column(Text)


class Consent(Base):
    """What a citizen agreed a service may receive; remembered per service, deleted with the account."""

    __tablename__ = "consents"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    attributes: Mapped[str] = mapped_column(Text)  # JSON list of catalogue keys
    granted_at: Mapped[datetime]


class OidcGrant(Base):
    """One authorization of a client by a citizen: what refresh tokens, userinfo and introspection answer
    from. Revoking it (logout, revocation, code replay) ends every token issued under it."""

    __tablename__ = "oidc_grants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    session_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    claims: Mapped[str] = mapped_column(Text)  # JSON: released catalogue keys
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[str] = mapped_column(String(128))
    auth_time: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Acting for an organisation (issue #10); dissolving it ends the grant.
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True)


class OidcRefreshToken(Base):
    """A refresh token, by the hash of its value. Rotation marks the old one used; presenting a used one
    again is reuse, and revokes the whole grant (RFC 9700 §4.14.2)."""

    __tablename__ = "oidc_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(64), ForeignKey("oidc_grants.id", ondelete="CASCADE"),
                                          index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SamlServiceProvider(Base):
    """A SAML service provider of a tenant, registered from its metadata (kept as supplied). The entityID
    is unique and never changes: its host is the SP's pseudonym sector. Lists are JSON text."""

    __tablename__ = "saml_service_providers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(1024), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    acs: Mapped[str] = mapped_column(Text)  # [{binding, location, index, is_default}]
    slo: Mapped[str] = mapped_column(Text)  # [{binding, location, response_location}]
    signing_certificates: Mapped[str] = mapped_column(Text)  # PEM list
    encryption_certificates: Mapped[str] = mapped_column(Text)
    encryption_methods: Mapped[str] = mapped_column(Text)
    signing_methods: Mapped[str] = mapped_column(Text)
    digest_methods: Mapped[str] = mapped_column(Text)
    want_assertions_signed: Mapped[bool]
    authn_requests_signed: Mapped[bool]
    metadata_xml: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    allowed_attributes: Mapped[str | None] = mapped_column(Text)  # JSON list; NULL: every attribute
    allowed_methods: Mapped[str | None] = mapped_column(Text)  # JSON list; NULL: every method
    min_trust_level: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    metadata_url: Mapped[str | None] = mapped_column(Text)
    metadata_fetched_at: Mapped[datetime | None]
    metadata_checked_at: Mapped[datetime | None]
    metadata_error: Mapped[str | None] = mapped_column(String(500))


class Transfer(Base):
    """One release of attributes to a portal, for the citizen's history (issue #8): names of attributes,
    never values. Kept for the configured retention, deleted with the account."""

    __tablename__ = "transfers"
    # one account's history, newest first, is an index range scan; the purge scans by time
    __table_args__ = (Index("ix_transfers_account_id_id", "account_id", "id"),
                      # a tenant's statistics read a time range of its transfers (issue #7)
                      Index("ix_transfers_tenant_id_occurred_at", "tenant_id", "occurred_at"),
                      Index("ix_transfers_organisation_id_occurred_at", "organisation_id", "occurred_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    protocol: Mapped[str] = mapped_column(String(8))
    service_id: Mapped[str] = mapped_column(String(1024))
    service_name: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[str] = mapped_column(Text)  # JSON list of catalogue keys
    trust_level: Mapped[int]
    methods: Mapped[str] = mapped_column(String(128))  # space-separated
    # set when the citizen acted for an organisation (issue #10): its admins read its history by this index
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="SET NULL"))


class KnownDevice(Base):
    """A browser an account logged in from (issue #8, new-device notice): a keyed hash of a long-lived random
    cookie and a reduced label ("Firefox on Linux") — never the full User-Agent, never an address."""

    __tablename__ = "known_devices"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    device_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class AccountPreference(Base):
    """Optional per-account settings of the data-sovereignty pages; no row means the defaults."""

    __tablename__ = "account_preferences"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    new_device_notice: Mapped[bool]
    updated_at: Mapped[datetime]


class Organisation(Base):
    """An organisation account (issue #10): its data with where it came from (self-declared, or verified by
    the operator, who recorded the evidence)."""

    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_form: Mapped[str] = mapped_column(String(100))
    register_type: Mapped[str | None] = mapped_column(String(8))
    register_court: Mapped[str | None] = mapped_column(String(100))
    register_number: Mapped[str | None] = mapped_column(String(40))
    street_address: Mapped[str] = mapped_column(String(150))
    postal_code: Mapped[str] = mapped_column(String(10))
    locality: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    contact_email: Mapped[str] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # an operator's account id (kept if it goes)
    verification_note: Mapped[str | None] = mapped_column(Text)


class OrganisationMember(Base):
    """An account acting for an organisation, with its organisation role; goes with the account."""

    __tablename__ = "organisation_members"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime]


class OrganisationMemberRole(Base):
    """A service role of a member (one a tenant defined for its service); goes with the membership."""

    __tablename__ = "organisation_member_roles"
    __table_args__ = (ForeignKeyConstraint(
        ["organisation_id", "account_id"],
        ["organisation_members.organisation_id", "organisation_members.account_id"], ondelete="CASCADE",
        name="fk_organisation_member_roles_membership"),)  # the conventional name is too long for PostgreSQL

    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


class OrganisationInvitation(Base):
    """An invitation by e-mail: the keyed hash of its single-use token (never the token), expiry and use."""

    __tablename__ = "organisation_invitations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ServiceRole(Base):
    """A role a tenant defines for one of its services (OIDC client_id or SAML entityID, unique across
    tenants), for organisation admins to give to members."""

    __tablename__ = "service_roles"

    service_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
