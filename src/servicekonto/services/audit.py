"""Writing audit records: time from the clock, event from the enum, nothing personal."""

from __future__ import annotations

from servicekonto.core.clock import Clock
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.ports import AuditLog

CITIZEN_EVENTS = frozenset(event for event in AuditEvent if event.shown_to_citizen)


class Auditor:
    def __init__(self, *, log: AuditLog, clock: Clock) -> None:
        self._log = log
        self._clock = clock

    def record(self, event: AuditEvent, *, account_id: str | None = None, tenant_id: str | None = None,
               actor: str | None = None, **details: str) -> None:
        self._log.record(AuditRecord(event=event, occurred_at=self._clock.now(), account_id=account_id,
                                     tenant_id=tenant_id, actor=actor, details=details))

    def security_events(self, account_id: str, *, limit: int = 20) -> list[AuditRecord]:
        return list(self._log.for_account(account_id, limit=limit, events=CITIZEN_EVENTS))
