"""The citizen's data-transfer history ("Datenübermittlungen", issue #8): one entry per release to a portal,
written by the release component. It names the service (its id and the display name it had then), the
attribute keys (never values), the trust level and the methods — what a citizen needs to see what went
where. Temporary identifications have no account and leave no entry here (their receipt is the audit log)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from servicekonto.domain.trust import TrustLevel

DEFAULT_RETENTION_DAYS = 730  # two years (issue #8); configurable
PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class Transfer:
    account_id: str
    occurred_at: datetime
    tenant_id: str
    protocol: str  # "oidc" | "saml"
    service_id: str  # OIDC client_id or SAML entityID
    service_name: str  # the display name at the time of the transfer
    attributes: tuple[str, ...]  # catalogue keys, never values
    trust_level: TrustLevel
    methods: tuple[str, ...]
    id: int | None = None
    organisation_id: str | None = None  # the organisation the citizen acted for (issue #10), if any


@dataclass(frozen=True, slots=True)
class TransferQuery:
    """A page of one account's history, newest first; `service_id` and the period [since, until) narrow it."""

    account_id: str
    service_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    offset: int = 0
    limit: int = PAGE_SIZE


class TransferLog(Protocol):
    """Insert-only for the release component; read by the account pages and the export; purged by age.
    Rows go with the account (ON DELETE CASCADE)."""

    def record(self, transfer: Transfer) -> None: ...

    def page(self, query: TransferQuery) -> tuple[Sequence[Transfer], bool]:
        """The entries of the page, and whether there are more after it."""

    def services(self, account_id: str) -> Sequence[tuple[str, str]]:
        """(service id, newest display name) of every service this account's history names."""

    def all_of(self, account_id: str) -> Sequence[Transfer]:
        """Every entry, newest first (the export)."""

    def delete_before(self, cutoff: datetime) -> int: ...
