"""The interfaces the domain needs from the outside world; adapters in `persistence/` (and fakes in the
tests) implement them, `app.py` wires them in."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from servicekonto.domain.accounts import Account, SecondSteps, StoredAttribute
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.clients import OidcClient
from servicekonto.domain.eid import EidPersonalData, EidRequest, EidSession
from servicekonto.domain.grants import Grant
from servicekonto.domain.keys import KeyPurpose, StoredKey
from servicekonto.domain.passkeys import Passkey
from servicekonto.domain.second_factors import StoredTotp
from servicekonto.domain.tenants import Tenant


class EphemeralStore(Protocol):
    """Short-lived state shared by every process: sessions, flow state, one-time codes, rate-limit
    counters. Every entry has a TTL in seconds; an expired entry is as good as absent."""

    def put(self, key: str, value: bytes, ttl: float) -> None:
        """Store `value` under `key`, replacing what was there, for `ttl` seconds."""

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store only if `key` is absent (or expired); True if stored. For locks and replay guards."""

    def get(self, key: str) -> bytes | None: ...

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Several values in one round trip, in the order of `keys`."""

    def take(self, key: str) -> bytes | None:
        """Return and delete in one atomic step: a single-use code can be redeemed exactly once."""

    def delete(self, key: str) -> None: ...

    def increment(self, key: str, ttl: float) -> int:
        """Add one to a counter and return the new value; the TTL starts with the first increment."""

    def ttl(self, key: str) -> float | None:
        """Seconds left, or None when absent or expired."""

    def add_member(self, key: str, member: str, ttl: float) -> None:
        """Add `member` to the set under `key`; the member lives `ttl` seconds from now (adding it again
        renews it). Sets and plain values do not share keys."""

    def members(self, key: str) -> list[str]:
        """The live members of the set under `key`, sorted; empty when there is none."""

    def remove_member(self, key: str, member: str) -> None: ...

    def put_with_member(self, key: str, value: bytes, ttl: float, *, set_key: str, member: str,
                        member_ttl: float) -> None:
        """`put` and `add_member` in one step, both or neither: a new login's session and its entry in the
        account's index."""

    def ping(self) -> None:
        """Raise if the store cannot be reached (for /readyz)."""


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None:
        """Raise `servicekonto.core.errors.Conflict` when the name is taken."""

    def get(self, tenant_id: str) -> Tenant | None: ...

    def get_by_name(self, name: str) -> Tenant | None: ...

    def list(self) -> Sequence[Tenant]: ...


class OidcClientRepository(Protocol):
    def add(self, client: OidcClient) -> None: ...

    def get(self, client_id: str) -> OidcClient | None: ...

    def for_tenant(self, tenant_id: str) -> Sequence[OidcClient]: ...


class ConsentRepository(Protocol):
    def granted(self, account_id: str, service_id: str) -> frozenset[str] | None:
        """The attribute keys consented to for this service, or None when never asked."""

    def grant(self, account_id: str, service_id: str, keys: Collection[str], *, now: datetime) -> None: ...

    def revoke(self, account_id: str, service_id: str) -> bool: ...


class GrantRepository(Protocol):
    def add(self, grant: Grant, refresh_token_hash: str | None, *, refresh_expires_at: datetime | None) -> None: ...

    def get(self, grant_id: str) -> Grant | None: ...

    def with_account(self, grant_id: str) -> tuple[Grant, Account, list[StoredAttribute]] | None:
        """The grant, its account and the account's attributes, read together (userinfo)."""

    def use_refresh_token(self, token_hash: str, *, now: datetime) -> tuple[str, Grant | None]:
        """(RefreshTokenState, its grant). A token used before revokes its grant."""

    def rotate_refresh_token(self, grant: Grant, old_hash: str, new_hash: str, *, now: datetime) -> bool:
        """Mark the old token used and store the new one at once; False (and the grant revoked) on a race."""

    def grant_of_refresh_token(self, token_hash: str) -> Grant | None: ...

    def revoke(self, grant_id: str, *, now: datetime) -> None: ...

    def revoke_for_session(self, session_hash: str, *, now: datetime) -> list[Grant]: ...


class KeyRepository(Protocol):
    def active(self, purpose: KeyPurpose) -> StoredKey | None: ...

    def add_active_if_missing(self, key: StoredKey) -> bool:
        """Insert `key` as the active key of its purpose unless one exists; True if inserted. Safe when
        several processes start at once."""

    def rotate(self, new_key: StoredKey, *, retired_at: datetime, publish_until: datetime) -> None:
        """Retire the active key of `new_key.purpose` (published until `publish_until`) and make
        `new_key` active, in one transaction."""

    def published(self, now: datetime) -> Sequence[StoredKey]:
        """Active keys and retired keys still within their publication window."""


class AccountRepository(Protocol):
    def add(self, account: Account) -> None:
        """Raise `AccountConflict` naming the field ("username" or "email") that is taken."""

    def get(self, account_id: str) -> Account | None: ...

    def find_by_login(self, identifier: str) -> Account | None:
        """By canonical username or canonical e-mail address."""

    def find_for_login(self, identifier: str) -> tuple[Account, SecondSteps] | None:
        """As `find_by_login`, with the second steps the account has set up, in one read."""

    def find_by_email(self, email: str) -> Account | None: ...

    def activate(self, account_id: str, *, now: datetime) -> bool:
        """Pending → active; False when there was no pending account."""

    def set_password(self, account_id: str, password_hash: str, *, end_sessions: bool, now: datetime) -> int:
        """Store a new hash; with `end_sessions` the epoch moves on. Returns the epoch now in force."""

    def set_email(self, account_id: str, email: str, *, now: datetime) -> None: ...

    def attributes(self, account_id: str) -> Sequence[StoredAttribute]: ...

    def change_attributes(self, account_id: str, changes: dict[str, StoredAttribute | None], *, now: datetime) -> None:
        """Set or (None) remove several values in one transaction."""

    def delete(self, account_id: str) -> bool: ...

    def delete_pending_before(self, cutoff: datetime) -> int: ...


class SecondFactorRepository(Protocol):
    """An account's authenticator app and recovery codes; rows go with the account (ON DELETE CASCADE)."""

    def totp(self, account_id: str) -> StoredTotp | None: ...

    def set_totp(self, account_id: str, sealed_secret: bytes, *, last_used_step: int, now: datetime) -> None:
        """Store the confirmed app, replacing an earlier one."""

    def use_totp_step(self, account_id: str, step: int) -> bool:
        """Record `step` as used if it is later than the last used one, atomically; False otherwise (a
        replayed code, or a race with another request using the same code)."""

    def remove_totp(self, account_id: str) -> bool: ...

    def replace_recovery_codes(self, account_id: str, code_hashes: Collection[str], *, now: datetime) -> None:
        """Drop every earlier code and store these, in one transaction."""

    def use_recovery_code(self, account_id: str, code_hash: str) -> bool:
        """Remove the code if it exists, atomically; True exactly once per code."""

    def recovery_codes_left(self, account_id: str) -> int: ...

    def remove_recovery_codes(self, account_id: str) -> None: ...


class PasskeyRepository(Protocol):
    """An account's passkeys; rows go with the account (ON DELETE CASCADE)."""

    def add(self, passkey: Passkey) -> bool:
        """False when the credential id is registered already (to this or another account)."""

    def by_credential_id(self, credential_id: str) -> Passkey | None: ...

    def of_account(self, account_id: str) -> Sequence[Passkey]:
        """Oldest first."""

    def use(self, passkey_id: str, *, stored_count: int, new_count: int, now: datetime) -> bool:
        """Store the new signature counter and the time of use if the counter is still `stored_count`,
        atomically; False when another request used the passkey in between."""

    def remove(self, account_id: str, passkey_id: str) -> bool: ...


class AuditLog(Protocol):
    def record(self, record: AuditRecord) -> None: ...

    def for_account(self, account_id: str, *, limit: int = 20,
                    events: Collection[AuditEvent] | None = None) -> Sequence[AuditRecord]:
        """Newest first; only the given events when `events` is set."""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


class Mailer(Protocol):
    def send(self, mail: OutgoingMail) -> None:
        """Deliver or raise; callers decide whether a failed mail fails the action."""


class EidServer(Protocol):
    """An eID server (BSI TR-03130): a real one through `Tr03130EidServer`, or the simulator of a test system,
    both over SOAP. Failures raise the `EidFailed` subclasses of `domain.eid`."""

    def use_id(self, request: EidRequest) -> EidSession: ...

    def get_result(self, session_id: str, *, request_counter: int) -> EidPersonalData: ...


class EidCardRepository(Protocol):
    """Which account an ID card is bound to, by a keyed hash of its RestrictedID (never the ID itself).
    A card belongs to one account; rows go with the account (ON DELETE CASCADE)."""

    def account_of(self, card_hash: str) -> str | None: ...

    def bind(self, account_id: str, card_hash: str, *, now: datetime) -> bool:
        """Bind the card; False when it is bound to another account already."""

    def cards_of(self, account_id: str) -> int: ...

    def latest_card(self, account_id: str) -> str | None:
        """The hash of the card bound last, or None."""
