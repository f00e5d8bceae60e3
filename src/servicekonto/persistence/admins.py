"""The administration's tables and changes on SQLAlchemy: role assignments, tenant status, editing and
removing registrations, and the admin audit log of a tenant."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, func, or_, select, update

from servicekonto.domain.admins import AdminRole, DayCount, LastOperator, LoginCount, RoleAssignment
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.clients import OidcClient
from servicekonto.domain.saml_sp import SamlServiceProvider
from servicekonto.domain.tenants import TenantStatus
from servicekonto.persistence import models
from servicekonto.persistence.database import Database


def _key(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


_SP = models.SamlServiceProvider


def _dump(values: Sequence[object]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _json_or_none(values: Sequence[str] | None) -> str | None:
    return None if values is None else _dump(values)


def _assignment(row: models.TenantAdmin) -> RoleAssignment:
    return RoleAssignment(account_id=str(row.account_id), role=AdminRole(row.role),
                          tenant_id=str(row.tenant_id) if row.tenant_id else None, granted_at=row.granted_at)


class SqlRoleRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def grant(self, assignment: RoleAssignment) -> bool:
        account = uuid.UUID(assignment.account_id)
        tenant = uuid.UUID(assignment.tenant_id) if assignment.tenant_id else None
        with self._db.transaction() as session:
            existing = session.scalar(select(models.TenantAdmin.id).where(
                models.TenantAdmin.account_id == account, models.TenantAdmin.role == assignment.role.value,
                models.TenantAdmin.tenant_id.is_(None) if tenant is None else models.TenantAdmin.tenant_id == tenant))
            if existing is not None:
                return False
            session.add(models.TenantAdmin(id=uuid.uuid4(), account_id=account, role=assignment.role.value,
                                           tenant_id=tenant, granted_at=assignment.granted_at))
        return True

    def for_account(self, account_id: str) -> Sequence[RoleAssignment]:
        key = _key(account_id)
        if key is None:
            return []
        with self._db.sessions() as session:
            return [_assignment(r) for r in session.scalars(
                select(models.TenantAdmin).where(models.TenantAdmin.account_id == key))]

    def revoke(self, assignment: RoleAssignment, *, keep_an_operator: bool = True) -> bool:
        """False when the account did not hold the role. An operator role is removed only while another
        operator remains (checked in the same transaction; on PostgreSQL the operators' rows are locked, so
        two admins removing each other at once cannot leave none)."""
        account = uuid.UUID(assignment.account_id)
        tenant = uuid.UUID(assignment.tenant_id) if assignment.tenant_id else None
        table = models.TenantAdmin
        with self._db.transaction() as session:
            if assignment.role is AdminRole.OPERATOR and keep_an_operator:
                operators = session.scalars(select(table.account_id).where(
                    table.role == AdminRole.OPERATOR.value).with_for_update()).all()
                if account in operators and len(operators) <= 1:
                    raise LastOperator()
            result = session.execute(delete(table).where(
                table.account_id == account, table.role == assignment.role.value,
                table.tenant_id.is_(None) if tenant is None else table.tenant_id == tenant))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def operators(self) -> Sequence[RoleAssignment]:
        with self._db.sessions() as session:
            return [_assignment(r) for r in session.scalars(
                select(models.TenantAdmin).where(models.TenantAdmin.role == AdminRole.OPERATOR.value)
                .order_by(models.TenantAdmin.granted_at))]

    def for_tenant(self, tenant_id: str) -> Sequence[RoleAssignment]:
        key = _key(tenant_id)
        if key is None:
            return []
        with self._db.sessions() as session:
            return [_assignment(r) for r in session.scalars(
                select(models.TenantAdmin).where(models.TenantAdmin.tenant_id == key)
                .order_by(models.TenantAdmin.granted_at))]


class SqlAdminStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def set_tenant_status(self, tenant_id: str, status: TenantStatus) -> None:
        with self._db.transaction() as session:
            session.execute(update(models.Tenant).where(models.Tenant.id == uuid.UUID(tenant_id))
                            .values(status=status.value))

    def update_oidc_client_uris(self, client_id: str, *, redirect_uris: tuple[str, ...],
                                post_logout_redirect_uris: tuple[str, ...]) -> None:
        with self._db.transaction() as session:
            session.execute(update(models.OidcClient).where(models.OidcClient.client_id == client_id).values(
                redirect_uris=json.dumps(list(redirect_uris)),
                post_logout_redirect_uris=json.dumps(list(post_logout_redirect_uris))))

    def set_oidc_client_secret_hash(self, client_id: str, secret_hash: str) -> None:
        with self._db.transaction() as session:
            session.execute(update(models.OidcClient).where(models.OidcClient.client_id == client_id)
                            .values(secret_hash=secret_hash))

    def delete_oidc_client(self, client_id: str) -> bool:
        with self._db.transaction() as session:
            result = session.execute(delete(models.OidcClient).where(models.OidcClient.client_id == client_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def delete_saml_sp(self, entity_id: str) -> bool:
        with self._db.transaction() as session:
            result = session.execute(delete(models.SamlServiceProvider)
                                     .where(models.SamlServiceProvider.entity_id == entity_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def save_oidc_client_settings(self, client: OidcClient) -> None:
        """The settings an admin may change (domain/service_settings.py); the client id, tenant, sector
        and grant types stay."""
        with self._db.transaction() as session:
            session.execute(update(models.OidcClient).where(models.OidcClient.client_id == client.client_id).values(
                name=client.name, redirect_uris=json.dumps(list(client.redirect_uris)),
                post_logout_redirect_uris=json.dumps(list(client.post_logout_redirect_uris)),
                token_endpoint_auth_method=client.token_endpoint_auth_method, secret_hash=client.secret_hash,
                jwks=client.jwks, jwks_uri=client.jwks_uri, access_token_format=client.access_token_format.value,
                min_trust_level=int(client.min_trust_level),
                allowed_attributes=_json_or_none(client.allowed_attributes),
                allowed_methods=_json_or_none(client.allowed_methods)))

    def save_saml_sp_settings(self, sp: SamlServiceProvider) -> None:
        with self._db.transaction() as session:
            session.execute(update(_SP).where(_SP.id == uuid.UUID(sp.id))
                            .values(name=sp.name, min_trust_level=int(sp.min_trust_level),
                                    allowed_attributes=_json_or_none(sp.allowed_attributes),
                                    allowed_methods=_json_or_none(sp.allowed_methods)))

    def save_saml_sp_metadata(self, sp: SamlServiceProvider) -> None:
        """Fresh metadata (endpoints, certificates, flags) and the outcome of the last fetch; the entityID,
        the display name and the algorithm choices stay as registered."""
        with self._db.transaction() as session:
            session.execute(update(_SP).where(_SP.id == uuid.UUID(sp.id))
                            .values(acs=_dump([{"binding": a.binding, "location": a.location, "index": a.index,
                                                "is_default": a.is_default} for a in sp.acs]),
                                    slo=_dump([{"binding": e.binding, "location": e.location,
                                                "response_location": e.response_location} for e in sp.slo]),
                                    signing_certificates=_dump(sp.signing_certificates),
                                    encryption_certificates=_dump(sp.encryption_certificates),
                                    want_assertions_signed=sp.want_assertions_signed,
                                    authn_requests_signed=sp.authn_requests_signed, metadata_xml=sp.metadata_xml,
                                    metadata_url=sp.metadata_url, metadata_fetched_at=sp.metadata_fetched_at,
                                    metadata_checked_at=sp.metadata_checked_at, metadata_error=sp.metadata_error))

    def saml_sp_metadata_failed(self, sp_id: str, *, checked_at: datetime, error: str) -> None:
        with self._db.transaction() as session:
            session.execute(update(_SP).where(_SP.id == uuid.UUID(sp_id))
                            .values(metadata_checked_at=checked_at, metadata_error=error[:500]))

    def saml_sps_due(self, *, checked_before: datetime) -> Sequence[str]:
        """EntityIDs of SPs registered from a URL whose metadata were not fetched since `checked_before`."""
        table = models.SamlServiceProvider
        with self._db.autocommit_engine.connect() as connection:
            return list(connection.execute(select(table.entity_id).where(
                table.metadata_url.is_not(None),
                or_(table.metadata_checked_at.is_(None), table.metadata_checked_at < checked_before))
                .order_by(table.metadata_checked_at)).scalars())

    def oidc_clients_with_jwks_uri(self) -> Sequence[str]:
        table = models.OidcClient
        with self._db.autocommit_engine.connect() as connection:
            return list(connection.execute(select(table.client_id).where(table.jwks_uri.is_not(None))).scalars())

    def failure_counts(self, tenant_id: str, *, since: datetime, events: Sequence[AuditEvent]) -> Sequence[DayCount]:
        """Refused requests of a tenant per day (UTC), from its audit events."""
        key = _key(tenant_id)
        if key is None:
            return []
        table = models.AuditEntry
        day = func.date(table.occurred_at)
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(
                select(day.label("day"), table.event, func.count().label("total"))
                .where(table.tenant_id == key, table.occurred_at >= since, table.event.in_([e.value for e in events]))
                .group_by(day, table.event).order_by(day)).all()
        return [DayCount(day=row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day)),
                         kind=row.event, count=int(row.total)) for row in rows]

    def audit_for_tenant(self, tenant_id: str, *, limit: int = 100) -> Sequence[AuditRecord]:
        key = _key(tenant_id)
        if key is None:
            return []
        table = models.AuditEntry
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(
                select(table.event, table.occurred_at, table.account_id, table.tenant_id, table.actor, table.details)
                .where(table.tenant_id == key, table.event.like("admin:%"))
                .order_by(table.id.desc()).limit(limit)).all()
        return [AuditRecord(event=AuditEvent(row.event), occurred_at=row.occurred_at,
                            account_id=str(row.account_id) if row.account_id else None,
                            tenant_id=str(row.tenant_id) if row.tenant_id else None, actor=row.actor,
                            details=json.loads(row.details)) for row in rows]

    def login_counts(self, tenant_id: str, *, since: datetime) -> Sequence[LoginCount]:
        """Grouped in the database: one row per day, methods and level (dates in UTC on both databases)."""
        key = _key(tenant_id)
        if key is None:
            return []
        table = models.Transfer
        day = func.date(table.occurred_at)
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(
                select(day.label("day"), table.methods, table.trust_level, func.count().label("total"))
                .where(table.tenant_id == key, table.occurred_at >= since)
                .group_by(day, table.methods, table.trust_level).order_by(day)).all()
        return [LoginCount(day=row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day)),
                           methods=row.methods, trust_level=int(row.trust_level), count=int(row.total))
                for row in rows]
