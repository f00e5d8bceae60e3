"""PasskeyRepository on SQLAlchemy. The lookups of a login (by credential id, the passkeys of an account)
and the counter update run on the direct statement path (persistence/statements.py); the unique
credential id makes "one credential, one account" the database's decision, and the counter is advanced by
a conditional UPDATE, so two requests with the same assertion cannot both win."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from servicekonto.core.ids import parse_uuid
from servicekonto.domain.passkeys import Passkey
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.statements import Statements

_PASSKEY = models.Passkey
_COLUMNS = [c for c in _PASSKEY.__table__.columns]  # type: ignore[attr-defined]
_BY_CREDENTIAL = select(*_COLUMNS).where(_PASSKEY.credential_id == bindparam("credential_id"))
_OF_ACCOUNT = (select(*_COLUMNS).where(_PASSKEY.account_id == bindparam("account_id"))
               .order_by(_PASSKEY.created_at, _PASSKEY.id))
_INSERT = insert(_PASSKEY)
_USE = (update(_PASSKEY).where(_PASSKEY.id == bindparam("passkey_id"),
                               _PASSKEY.sign_count == bindparam("stored_count"))
        .values(sign_count=bindparam("new_count"), last_used_at=bindparam("now")))
_REMOVE = delete(_PASSKEY).where(_PASSKEY.account_id == bindparam("account_id"),
                                 _PASSKEY.id == bindparam("passkey_id"))


def _passkey(row: Any) -> Passkey:
    return Passkey(id=str(row.id), account_id=str(row.account_id), credential_id=row.credential_id,
                   public_key=bytes(row.public_key), sign_count=int(row.sign_count),
                   transports=tuple(row.transports.split()), name=row.name, bound_to_eid=bool(row.bound_to_eid),
                   created_at=row.created_at, last_used_at=row.last_used_at)


class SqlPasskeyRepository:
    def __init__(self, database: Database) -> None:
        self._db = database
        # On the login path: straight through the driver on SQLite too (persistence/statements.py).
        self._statements = Statements(database.autocommit_engine, database.engine, direct=True)

    # Every column is named in the insert: the direct path applies no defaults.

    def add(self, passkey: Passkey) -> bool:
        try:
            self._statements.run(_INSERT, {
                "id": uuid.UUID(passkey.id), "account_id": uuid.UUID(passkey.account_id),
                "credential_id": passkey.credential_id, "public_key": passkey.public_key,
                "sign_count": passkey.sign_count, "transports": " ".join(passkey.transports), "name": passkey.name,
                "bound_to_eid": passkey.bound_to_eid, "created_at": passkey.created_at,
                "last_used_at": passkey.last_used_at})
        except (IntegrityError, UniqueViolation):  # SQLAlchemy's path (SQLite), psycopg's direct path
            return False
        return True

    def by_credential_id(self, credential_id: str) -> Passkey | None:
        if not credential_id or len(credential_id) > 1400:
            return None
        row = self._statements.first(_BY_CREDENTIAL, {"credential_id": credential_id})
        return _passkey(row) if row else None

    def of_account(self, account_id: str) -> Sequence[Passkey]:
        key = parse_uuid(account_id)
        if key is None:
            return []
        return [_passkey(row) for row in self._statements.all(_OF_ACCOUNT, {"account_id": key})]

    def use(self, passkey_id: str, *, stored_count: int, new_count: int, now: datetime) -> bool:
        key = parse_uuid(passkey_id)
        if key is None:
            return False
        return self._statements.run(_USE, {"passkey_id": key, "stored_count": stored_count,
                                              "new_count": new_count, "now": now}) == 1

    def remove(self, account_id: str, passkey_id: str) -> bool:
        account, key = parse_uuid(account_id), parse_uuid(passkey_id)
        if account is None or key is None:
            return False
        return self._statements.run(_REMOVE, {"account_id": account, "passkey_id": key}) == 1
