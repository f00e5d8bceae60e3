"""AuditLog on SQLAlchemy: insert-only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.persistence import models
from servicekonto.persistence.database import Database


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


class SqlAuditLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    def record(self, record: AuditRecord) -> None:
        with self._db.transaction() as session:
            session.add(models.AuditEntry(
                occurred_at=record.occurred_at, event=record.event.value, account_id=_uuid(record.account_id),
                tenant_id=_uuid(record.tenant_id), actor=record.actor,
                details=json.dumps(record.details, sort_keys=True)))

    def for_account(self, account_id: str, *, limit: int = 20) -> Sequence[AuditRecord]:
        with self._db.sessions() as session:
            rows = session.scalars(select(models.AuditEntry).where(models.AuditEntry.account_id == _uuid(account_id))
                                   .order_by(models.AuditEntry.id.desc()).limit(limit))
            return [AuditRecord(event=AuditEvent(row.event), occurred_at=row.occurred_at,
                                account_id=str(row.account_id) if row.account_id else None,
                                tenant_id=str(row.tenant_id) if row.tenant_id else None, actor=row.actor,
                                details=json.loads(row.details)) for row in rows]
