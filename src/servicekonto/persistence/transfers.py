"""TransferLog on SQLAlchemy: one INSERT per release (on the login path, so the direct statement path),
paged reads by the (account_id, id) index, a purge by time."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select

from servicekonto.core.ids import parse_uuid
from servicekonto.domain.transfers import Transfer, TransferQuery
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database

_TABLE = models.Transfer
_INSERT = insert(_TABLE)
_COLUMNS = select(_TABLE.id, _TABLE.account_id, _TABLE.occurred_at, _TABLE.tenant_id, _TABLE.protocol,
                  _TABLE.service_id, _TABLE.service_name, _TABLE.attributes, _TABLE.trust_level, _TABLE.methods,
                  _TABLE.organisation_id)
_NEWEST = (_TABLE.id.desc(),)


def _transfer(row: Any) -> Transfer:
    return Transfer(id=int(row.id), account_id=str(row.account_id), occurred_at=row.occurred_at,
                    tenant_id=str(row.tenant_id), protocol=row.protocol, service_id=row.service_id,
                    service_name=row.service_name, attributes=tuple(json.loads(row.attributes)),
                    trust_level=TrustLevel(row.trust_level), methods=tuple(row.methods.split()),
                    organisation_id=str(row.organisation_id) if row.organisation_id else None)


class SqlTransferLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    def record(self, transfer: Transfer) -> None:
        self._db.statements.run(_INSERT, {
            "account_id": uuid.UUID(transfer.account_id), "occurred_at": transfer.occurred_at,
            "tenant_id": uuid.UUID(transfer.tenant_id), "protocol": transfer.protocol,
            "service_id": transfer.service_id, "service_name": transfer.service_name[:200],
            "attributes": json.dumps(list(transfer.attributes)), "trust_level": int(transfer.trust_level),
            "methods": " ".join(transfer.methods)[:128],
            "organisation_id": parse_uuid(transfer.organisation_id) if transfer.organisation_id else None})

    def page(self, query: TransferQuery) -> tuple[Sequence[Transfer], bool]:
        account = parse_uuid(query.account_id)
        if account is None:
            return [], False
        statement = _COLUMNS.where(_TABLE.account_id == account)
        if query.service_id:
            statement = statement.where(_TABLE.service_id == query.service_id)
        if query.since is not None:
            statement = statement.where(_TABLE.occurred_at >= query.since)
        if query.until is not None:
            statement = statement.where(_TABLE.occurred_at < query.until)
        statement = statement.order_by(*_NEWEST).offset(query.offset).limit(query.limit + 1)
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [_transfer(row) for row in rows[:query.limit]], len(rows) > query.limit

    def of_organisation(self, organisation_id: str, *, offset: int = 0,
                        limit: int = 50) -> tuple[Sequence[Transfer], bool]:
        """What members released while acting for the organisation, newest first (its admins' history page),
        by the (organisation_id, occurred_at) index."""
        organisation = parse_uuid(organisation_id)
        if organisation is None:
            return [], False
        statement = (_COLUMNS.where(_TABLE.organisation_id == organisation)
                     .order_by(_TABLE.occurred_at.desc(), _TABLE.id.desc()).offset(offset).limit(limit + 1))
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [_transfer(row) for row in rows[:limit]], len(rows) > limit

    def services(self, account_id: str) -> Sequence[tuple[str, str]]:
        account = parse_uuid(account_id)
        if account is None:
            return []
        newest = (select(_TABLE.service_id, func.max(_TABLE.id).label("newest"))
                  .where(_TABLE.account_id == account).group_by(_TABLE.service_id).subquery())
        statement = (select(_TABLE.service_id, _TABLE.service_name)
                     .join(newest, _TABLE.id == newest.c.newest).order_by(_TABLE.service_name))
        with self._db.autocommit_engine.connect() as connection:
            return [(row.service_id, row.service_name) for row in connection.execute(statement).all()]

    def all_of(self, account_id: str) -> Sequence[Transfer]:
        account = parse_uuid(account_id)
        if account is None:
            return []
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(_COLUMNS.where(_TABLE.account_id == account).order_by(*_NEWEST)).all()
        return [_transfer(row) for row in rows]

    def delete_before(self, cutoff: datetime) -> int:
        with self._db.engine.begin() as connection:
            result = connection.execute(delete(_TABLE).where(_TABLE.occurred_at < bindparam("cutoff")),
                                        {"cutoff": cutoff})
            return int(result.rowcount)  # type: ignore[attr-defined]
