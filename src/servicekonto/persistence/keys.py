"""KeyRepository on SQLAlchemy. The partial unique index `uq_signing_keys_active_purpose` is what keeps
one active key per purpose when several processes start or rotate at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from servicekonto.domain.keys import KeyPurpose, KeyState, StoredKey
from servicekonto.persistence import models
from servicekonto.persistence.database import Database

ROTATE_ATTEMPTS = 3


def _to_domain(row: models.SigningKey) -> StoredKey:
    return StoredKey(
        kid=row.kid,
        purpose=KeyPurpose(row.purpose),
        state=KeyState(row.state),
        sealed_private_key=row.sealed_private_key,
        public_jwk=row.public_jwk,
        certificate_pem=row.certificate_pem,
        created_at=row.created_at,
        retired_at=row.retired_at,
        publish_until=row.publish_until,
    )


def _to_row(key: StoredKey, state: KeyState) -> models.SigningKey:
    return models.SigningKey(
        kid=key.kid,
        purpose=key.purpose.value,
        state=state.value,
        sealed_private_key=key.sealed_private_key,
        public_jwk=key.public_jwk,
        certificate_pem=key.certificate_pem,
        created_at=key.created_at,
        retired_at=None,
        publish_until=None,
    )


class SqlKeyRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def active(self, purpose: KeyPurpose) -> StoredKey | None:
        with self._db.sessions() as session:
            row = session.scalar(select(models.SigningKey).where(
                models.SigningKey.purpose == purpose.value, models.SigningKey.state == KeyState.ACTIVE.value))
            return _to_domain(row) if row else None

    def add_active_if_missing(self, key: StoredKey) -> bool:
        """The insert itself is the check: a second process starting at the same moment hits the unique
        index and learns that its key was not needed."""
        try:
            with self._db.transaction() as session:
                session.add(_to_row(key, KeyState.ACTIVE))
        except IntegrityError:
            return False
        return True

    def rotate(self, new_key: StoredKey, *, retired_at: datetime, publish_until: datetime) -> None:
        """Retire and insert in one transaction. A rotation racing another one on PostgreSQL does not see
        the other's new key until it commits and then fails on the unique index; it simply runs again and
        retires that key too."""
        for attempt in range(1, ROTATE_ATTEMPTS + 1):
            try:
                with self._db.transaction() as session:
                    table = models.SigningKey
                    session.execute(
                        update(table)
                        .where(table.purpose == new_key.purpose.value, table.state == KeyState.ACTIVE.value)
                        .values(state=KeyState.RETIRED.value, retired_at=retired_at,
                                publish_until=publish_until)
                    )
                    session.add(_to_row(new_key, KeyState.ACTIVE))
                return
            except IntegrityError:
                if attempt == ROTATE_ATTEMPTS:
                    raise

    def published(self, now: datetime) -> Sequence[StoredKey]:
        table = models.SigningKey
        with self._db.sessions() as session:
            rows = session.scalars(
                select(table)
                .where(or_(table.state == KeyState.ACTIVE.value,
                           and_(table.state == KeyState.RETIRED.value, table.publish_until > now)))
                .order_by(table.purpose, table.created_at.desc(), table.kid)
            )
            return [_to_domain(row) for row in rows]
