"""EidCardRepository on SQLAlchemy: the primary key on the card's hash makes "one card, one account" the
database's decision, so two registrations racing with the same card cannot both win."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from servicekonto.core.ids import parse_uuid
from servicekonto.persistence import models
from servicekonto.persistence.database import Database

_CARD = models.EidCard


class SqlEidCardRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def account_of(self, card_hash: str) -> str | None:
        with self._db.autocommit_engine.connect() as connection:
            found = connection.execute(select(_CARD.account_id).where(_CARD.card_hash == card_hash)).scalar()
        return str(found) if found is not None else None

    def bind(self, account_id: str, card_hash: str, *, now: datetime) -> bool:
        try:
            with self._db.transaction() as session:
                session.add(_CARD(card_hash=card_hash, account_id=parse_uuid(account_id), created_at=now))
        except IntegrityError:
            return self.account_of(card_hash) == account_id
        return True

    def cards_of(self, account_id: str) -> int:
        with self._db.autocommit_engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(_CARD).where(
                _CARD.account_id == parse_uuid(account_id))).scalar_one()
        return int(count)

    def latest_card(self, account_id: str) -> str | None:
        """The card bound last (after a renewal, the new one): the card this account identifies with now."""
        with self._db.autocommit_engine.connect() as connection:
            found = connection.execute(select(_CARD.card_hash).where(_CARD.account_id == parse_uuid(account_id))
                                       .order_by(_CARD.created_at.desc()).limit(1)).scalar()
        return str(found) if found is not None else None
