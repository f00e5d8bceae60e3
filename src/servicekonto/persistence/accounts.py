"""AccountRepository on SQLAlchemy: every lookup is an indexed point query (100 million accounts)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from servicekonto.core.ids import parse_uuid
from servicekonto.domain.accounts import (
    Account,
    AccountConflict,
    AccountStatus,
    SecondSteps,
    StoredAttribute,
    canonical_email,
    canonical_username,
)
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.second_factors import SecondFactorKind
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.statements import Statements

ACCOUNT_COLUMNS = (models.Account.id, models.Account.username, models.Account.email, models.Account.status,
                   models.Account.password_hash, models.Account.locale, models.Account.session_epoch,
                   models.Account.created_at, models.Account.email_verified_at)


_BY_ID = select(*ACCOUNT_COLUMNS).where(models.Account.id == bindparam("value"))
_BY_USERNAME = select(*ACCOUNT_COLUMNS).where(models.Account.username_canonical == bindparam("value"))
_BY_EMAIL = select(*ACCOUNT_COLUMNS).where(models.Account.email_canonical == bindparam("value"))
_ATTR = models.AccountAttribute
_ATTRIBUTES = select(_ATTR.key, _ATTR.value, _ATTR.source, _ATTR.trust_level, _ATTR.updated_at).where(
    _ATTR.account_id == bindparam("value"))

# After the password, which second step? Both answers in one query (was one per table on every login).
_SECOND_STEPS = select(
    select(models.Passkey.id).where(models.Passkey.account_id == bindparam("value")).exists().label("passkey"),
    select(models.SecondFactor.account_id).where(models.SecondFactor.account_id == bindparam("value"),
                                                 models.SecondFactor.kind == SecondFactorKind.TOTP.value)
    .exists().label("totp"))
# The login's read: the account and those two answers, in one round trip.
_HAS_PASSKEY = select(models.Passkey.id).where(models.Passkey.account_id == models.Account.id).exists()
_HAS_TOTP = select(models.SecondFactor.account_id).where(
    models.SecondFactor.account_id == models.Account.id,
    models.SecondFactor.kind == SecondFactorKind.TOTP.value).exists()
_FOR_LOGIN = {field: select(*ACCOUNT_COLUMNS, _HAS_PASSKEY.label("passkey"), _HAS_TOTP.label("totp")).where(
    column == bindparam("value")) for field, column in (("username", models.Account.username_canonical),
                                                        ("email", models.Account.email_canonical))}


def account_of(row: Any) -> Account:
    return Account(id=str(row.id), username=row.username, email=row.email, status=AccountStatus(row.status),
                   password_hash=row.password_hash, locale=row.locale, session_epoch=row.session_epoch,
                   created_at=row.created_at, email_verified_at=row.email_verified_at)


def attribute_of(row: Any) -> StoredAttribute:
    return StoredAttribute(key=row.key, value=row.value, source=AttributeSource(row.source),
                           trust_level=TrustLevel(row.trust_level), updated_at=row.updated_at)


class SqlAccountRepository:
    def __init__(self, database: Database) -> None:
        self._db = database
        # On the login path: straight through the driver on SQLite too (persistence/statements.py).
        self._statements = Statements(database.autocommit_engine, database.engine, direct=True)

    def add(self, account: Account) -> None:
        username = canonical_username(account.username)
        email = canonical_email(account.email)
        with self._db.sessions() as session:
            taken = session.execute(select(models.Account.username_canonical, models.Account.email_canonical).where(
                or_(models.Account.username_canonical == username, models.Account.email_canonical == email))).first()
        if taken is not None:
            raise AccountConflict("username" if taken.username_canonical == username else "email")
        try:
            with self._db.transaction() as session:
                session.add(models.Account(
                    id=uuid.UUID(account.id), username=account.username, username_canonical=username,
                    email=account.email, email_canonical=email, email_verified_at=account.email_verified_at,
                    status=account.status.value, password_hash=account.password_hash, locale=account.locale,
                    session_epoch=account.session_epoch, created_at=account.created_at,
                    updated_at=account.created_at))
        except IntegrityError:  # lost a race with a concurrent registration
            raise AccountConflict("username") from None

    # The point reads below are on every login and every page of a logged-in citizen: plain connections
    # and column tuples (SQLAlchemy Core) cost a third of ORM sessions and objects (bench/password_login.py).

    # Statements are built once: building one costs more than running it (≈ 150 µs against 130 µs).

    def _one(self, statement: Any, value: object) -> Account | None:
        row = self._statements.first(statement, {"value": value})
        return account_of(row) if row else None

    def get(self, account_id: str) -> Account | None:
        key = parse_uuid(account_id)
        return None if key is None else self._one(_BY_ID, key)

    def find_by_login(self, identifier: str) -> Account | None:
        if "@" in identifier:
            return self._one(_BY_EMAIL, canonical_email(identifier))
        return self._one(_BY_USERNAME, canonical_username(identifier))

    def find_for_login(self, identifier: str) -> tuple[Account, SecondSteps] | None:
        if "@" in identifier:
            row = self._statements.first(_FOR_LOGIN["email"], {"value": canonical_email(identifier)})
        else:
            row = self._statements.first(_FOR_LOGIN["username"], {"value": canonical_username(identifier)})
        return None if row is None else (account_of(row), SecondSteps(passkey=bool(row.passkey),
                                                                       app=bool(row.totp)))

    def find_by_email(self, email: str) -> Account | None:
        return self._one(_BY_EMAIL, canonical_email(email))

    def second_steps(self, account_id: str) -> tuple[bool, bool]:
        """(has a passkey, has an authenticator app): what PasskeyService.has_passkey and
        SecondFactorService.has_second_factor answer, in one round trip for the login page."""
        key = parse_uuid(account_id)
        row = None if key is None else self._statements.first(_SECOND_STEPS, {"value": key})
        return (bool(row.passkey), bool(row.totp)) if row is not None else (False, False)

    def activate(self, account_id: str, *, now: datetime) -> bool:
        key = parse_uuid(account_id)
        with self._db.transaction() as session:
            result = session.execute(update(models.Account).where(
                models.Account.id == key, models.Account.status == AccountStatus.PENDING.value).values(
                status=AccountStatus.ACTIVE.value, email_verified_at=now, updated_at=now))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def set_password(self, account_id: str, password_hash: str, *, end_sessions: bool, now: datetime) -> int:
        key = parse_uuid(account_id)
        with self._db.transaction() as session:
            row = session.get(models.Account, key, with_for_update=True)
            if row is None:
                return 0
            row.password_hash = password_hash
            row.updated_at = now
            if end_sessions:
                row.session_epoch += 1
            return row.session_epoch

    def set_email(self, account_id: str, email: str, *, now: datetime) -> None:
        key = parse_uuid(account_id)
        try:
            with self._db.transaction() as session:
                session.execute(update(models.Account).where(models.Account.id == key).values(
                    email=email, email_canonical=canonical_email(email), email_verified_at=now, updated_at=now))
        except IntegrityError:
            raise AccountConflict("email") from None

    def attributes(self, account_id: str) -> Sequence[StoredAttribute]:
        rows = self._statements.all(_ATTRIBUTES, {"value": parse_uuid(account_id)})
        return [attribute_of(row) for row in rows]

    def change_attributes(self, account_id: str, changes: dict[str, StoredAttribute | None], *, now: datetime) -> None:
        key = parse_uuid(account_id)
        with self._db.transaction() as session:
            for name, attribute in changes.items():
                row = session.get(models.AccountAttribute, (key, name))
                if attribute is None:
                    if row is not None:
                        session.delete(row)
                elif row is None:
                    session.add(models.AccountAttribute(
                        account_id=key, key=name, value=attribute.value, source=attribute.source.value,
                        trust_level=int(attribute.trust_level), updated_at=now))
                else:
                    row.value, row.source = attribute.value, attribute.source.value
                    row.trust_level, row.updated_at = int(attribute.trust_level), now
            session.execute(update(models.Account).where(models.Account.id == key).values(updated_at=now))

    def delete(self, account_id: str) -> bool:
        key = parse_uuid(account_id)
        with self._db.transaction() as session:  # master data goes with it (ON DELETE CASCADE)
            result = session.execute(delete(models.Account).where(models.Account.id == key))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def delete_pending_before(self, cutoff: datetime) -> int:
        with self._db.transaction() as session:
            result = session.execute(delete(models.Account).where(
                models.Account.status == AccountStatus.PENDING.value, models.Account.created_at < cutoff))
            return int(result.rowcount)  # type: ignore[attr-defined]
