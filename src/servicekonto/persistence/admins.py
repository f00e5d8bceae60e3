"""The administration's tables and changes on SQLAlchemy: role assignments, tenant status, editing and
removing registrations, and the admin audit log of a tenant."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, func, select, update

from servicekonto.domain.admins import AdminRole, LoginCount, RoleAssignment
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.tenants import TenantStatus
from servicekonto.persistence import models
from servicekonto.persistence.database import Database


def _key(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


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
                select(day.label("day"), table.methods, table.trust_level, func.count().label("count"))
                .where(table.tenant_id == key, table.occurred_at >= since)
                .group_by(day, table.methods, table.trust_level).order_by(day)).all()
        return [LoginCount(day=row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day)),
                           methods=row.methods, trust_level=int(row.trust_level), count=int(row.count))
                for row in rows]
