"""AuditLog on SQLAlchemy: insert-only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, insert, select

from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.statements import Statements


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


_TABLE = models.AuditEntry
_INSERT = insert(_TABLE)
_COLUMNS = select(_TABLE.event, _TABLE.occurred_at, _TABLE.account_id, _TABLE.tenant_id, _TABLE.actor, _TABLE.details)
_NEWEST = (_TABLE.id.desc(),)
_FOR_ACCOUNT = (_COLUMNS.where(_TABLE.account_id == bindparam("account_id"))
                .order_by(*_NEWEST).limit(bindparam("limit")))
_FOR_ACCOUNT_EVENTS = (_COLUMNS.where(_TABLE.account_id == bindparam("account_id"),
                                      _TABLE.event.in_(bindparam("events", expanding=True)))
                       .order_by(*_NEWEST).limit(bindparam("limit")))


class SqlAuditLog:
    def __init__(self, database: Database) -> None:
        self._db = database
        # Every login writes one: straight through the driver on SQLite too (persistence/statements.py).
        self._statements = Statements(database.autocommit_engine, database.engine, direct=True)

    def record(self, record: AuditRecord) -> None:
        """One INSERT is atomic on its own: it runs without BEGIN/COMMIT round trips."""
        self._statements.run(_INSERT, {
            "occurred_at": record.occurred_at, "event": record.event.value,
            "account_id": _uuid(record.account_id), "tenant_id": _uuid(record.tenant_id), "actor": record.actor,
            "details": json.dumps(record.details, sort_keys=True)})

    def for_account(self, account_id: str, *, limit: int = 20,
                    events: Collection[AuditEvent] | None = None) -> Sequence[AuditRecord]:
        statement, params = _FOR_ACCOUNT, {"account_id": _uuid(account_id), "limit": limit}
        if events is not None:
            statement = _FOR_ACCOUNT_EVENTS
            params["events"] = sorted(e.value for e in events)
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(statement, params).all()
            return [AuditRecord(event=AuditEvent(row.event), occurred_at=row.occurred_at,
                                account_id=str(row.account_id) if row.account_id else None,
                                tenant_id=str(row.tenant_id) if row.tenant_id else None, actor=row.actor,
                                details=json.loads(row.details)) for row in rows]
