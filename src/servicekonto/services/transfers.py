"""The citizen's data-transfer history (issue #8): read a page of it, list the services it names, and
purge what is older than the retention (the maintenance command)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from servicekonto.core.clock import Clock
from servicekonto.domain.transfers import DEFAULT_RETENTION_DAYS, Transfer, TransferLog, TransferQuery


@dataclass(frozen=True, slots=True)
class TransferPage:
    entries: Sequence[Transfer]
    has_more: bool
    services: Sequence[tuple[str, str]]


class TransferService:
    def __init__(self, *, log: TransferLog, clock: Clock, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self._log = log
        self._clock = clock
        self._retention = timedelta(days=retention_days)

    def page(self, query: TransferQuery) -> TransferPage:
        entries, more = self._log.page(query)
        return TransferPage(entries=entries, has_more=more, services=self._log.services(query.account_id))

    def all_of(self, account_id: str) -> Sequence[Transfer]:
        return self._log.all_of(account_id)

    def purge(self) -> int:
        """Delete entries older than the retention (default two years); the count removed."""
        return self._log.delete_before(self._clock.now() - self._retention)
