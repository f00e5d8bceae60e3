"""SecondFactorRepository on SQLAlchemy. Single use is decided by the database: a conditional UPDATE for
TOTP time steps and a DELETE for recovery codes, so two requests racing with one code cannot both win."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import bindparam, delete, func, or_, select, update

from servicekonto.core.ids import parse_uuid
from servicekonto.domain.second_factors import SecondFactorKind, StoredTotp
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.statements import Statements

_TOTP = SecondFactorKind.TOTP.value
_FACTOR = models.SecondFactor
_CODE = models.RecoveryCode
# Asked on every password login (is there a second step?): built once, run on the direct path.
_TOTP_OF_ACCOUNT = select(_FACTOR.sealed_secret, _FACTOR.last_used_step, _FACTOR.created_at).where(
    _FACTOR.account_id == bindparam("account_id"), _FACTOR.kind == _TOTP)


class SqlSecondFactorRepository:
    def __init__(self, database: Database) -> None:
        self._db = database
        # On the login path: straight through the driver on SQLite too (persistence/statements.py).
        self._statements = Statements(database.autocommit_engine, database.engine, direct=True)

    def totp(self, account_id: str) -> StoredTotp | None:
        row = self._statements.first(_TOTP_OF_ACCOUNT, {"account_id": parse_uuid(account_id)})
        if row is None:
            return None
        return StoredTotp(account_id=account_id, sealed_secret=bytes(row.sealed_secret),
                          last_used_step=row.last_used_step, created_at=row.created_at)

    def set_totp(self, account_id: str, sealed_secret: bytes, *, last_used_step: int, now: datetime) -> None:
        key = parse_uuid(account_id)
        with self._db.transaction() as session:
            session.execute(delete(_FACTOR).where(_FACTOR.account_id == key, _FACTOR.kind == _TOTP))
            session.add(_FACTOR(account_id=key, kind=_TOTP, sealed_secret=sealed_secret,
                                last_used_step=last_used_step, created_at=now))

    def use_totp_step(self, account_id: str, step: int) -> bool:
        with self._db.transaction() as session:
            result = session.execute(update(_FACTOR).where(
                _FACTOR.account_id == parse_uuid(account_id), _FACTOR.kind == _TOTP,
                or_(_FACTOR.last_used_step.is_(None), _FACTOR.last_used_step < step)).values(last_used_step=step))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def remove_totp(self, account_id: str) -> bool:
        with self._db.transaction() as session:
            result = session.execute(delete(_FACTOR).where(_FACTOR.account_id == parse_uuid(account_id),
                                                           _FACTOR.kind == _TOTP))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def replace_recovery_codes(self, account_id: str, code_hashes: Collection[str], *, now: datetime) -> None:
        key = parse_uuid(account_id)
        with self._db.transaction() as session:
            session.execute(delete(_CODE).where(_CODE.account_id == key))
            session.add_all([_CODE(account_id=key, code_hash=h, created_at=now) for h in code_hashes])

    def use_recovery_code(self, account_id: str, code_hash: str) -> bool:
        with self._db.transaction() as session:
            result = session.execute(delete(_CODE).where(_CODE.account_id == parse_uuid(account_id),
                                                         _CODE.code_hash == code_hash))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def recovery_codes_left(self, account_id: str) -> int:
        with self._db.autocommit_engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(_CODE).where(
                _CODE.account_id == parse_uuid(account_id))).scalar_one()
        return int(count)

    def remove_recovery_codes(self, account_id: str) -> None:
        with self._db.transaction() as session:
            session.execute(delete(_CODE).where(_CODE.account_id == parse_uuid(account_id)))
