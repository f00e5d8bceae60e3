"""TenantRepository on SQLAlchemy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from servicekonto.core.errors import Conflict
from servicekonto.domain.tenants import Tenant, TenantStatus
from servicekonto.persistence import models
from servicekonto.persistence.database import Database


def _to_domain(row: models.Tenant) -> Tenant:
    return Tenant(id=str(row.id), name=row.name, status=TenantStatus(row.status), created_at=row.created_at,
                  organisation=row.organisation or "", contact=row.contact or "", purpose=row.purpose or "")


class SqlTenantRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add(self, tenant: Tenant) -> None:
        try:
            with self._db.transaction() as session:
                session.add(models.Tenant(id=uuid.UUID(tenant.id), name=tenant.name, status=tenant.status.value,
                                          created_at=tenant.created_at, organisation=tenant.organisation or None,
                                          contact=tenant.contact or None, purpose=tenant.purpose or None))
        except IntegrityError:
            raise Conflict("tenant name taken") from None

    def get(self, tenant_id: str) -> Tenant | None:
        try:
            key = uuid.UUID(tenant_id)
        except ValueError:
            return None
        with self._db.sessions() as session:
            row = session.get(models.Tenant, key)
            return _to_domain(row) if row else None

    def get_by_name(self, name: str) -> Tenant | None:
        with self._db.sessions() as session:
            row = session.scalar(select(models.Tenant).where(models.Tenant.name == name))
            return _to_domain(row) if row else None

    def list(self) -> Sequence[Tenant]:
        with self._db.sessions() as session:
            return [_to_domain(r) for r in session.scalars(select(models.Tenant).order_by(models.Tenant.name))]
