"""Server-side sessions in the ephemeral store. The browser holds a random id; the store holds only a
keyed hash of it. Idle and absolute lifetimes follow the session's trust level (DESIGN.md §2); a password
change or reset moves the account's session epoch on, which ends every older session at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.ids import random_token
from servicekonto.domain.accounts import Account
from servicekonto.domain.ports import AccountRepository, EphemeralStore
from servicekonto.domain.trust import DEFAULT_SESSION_LIMITS, SessionLimits, TrustLevel

TOUCH_INTERVAL = 60.0  # write the idle timestamp at most once a minute
SESSION_PREFIX = "session:"  # + the keyed hash of the id
INDEX_PREFIX = "account-sessions:"  # per account: the storage hashes of its sessions (issue #8)


@dataclass
class Session:
    id: str
    account_id: str
    trust_level: TrustLevel
    methods: list[str]
    auth_time: float
    created_at: float
    last_seen: float
    epoch: int
    csrf_secret: str
    data: dict[str, str] = field(default_factory=dict)
    account: Account | None = field(default=None, compare=False, repr=False)  # loaded with the session

    def to_json(self) -> bytes:
        # By hand, not dataclasses.asdict (a deep copy of everything): written at every login and touch.
        value = {"account_id": self.account_id, "trust_level": int(self.trust_level), "methods": self.methods,
                 "auth_time": self.auth_time, "created_at": self.created_at, "last_seen": self.last_seen,
                 "epoch": self.epoch, "csrf_secret": self.csrf_secret, "data": self.data}
        return json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, session_id: str, raw: bytes) -> Session:
        value = json.loads(raw)
        value["trust_level"] = TrustLevel(value["trust_level"])
        return cls(id=session_id, **value)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Another session of the account as its sessions page shows it: `handle` is the keyed hash the store
    knows it by (never the id a browser holds), `sid` what OIDC clients know it by."""

    handle: str
    device: str
    methods: tuple[str, ...]
    trust_level: TrustLevel
    created_at: float
    last_seen: float
    sid: str


class SessionService:
    def __init__(self, *, store: EphemeralStore, accounts: AccountRepository, clock: Clock, key: bytes,
                 limits: dict[TrustLevel, SessionLimits] | None = None,
                 sid_of: Callable[[str], str] | None = None) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._key = key
        self._limits = limits or DEFAULT_SESSION_LIMITS
        self._sid_of = sid_of  # session id → the `sid` OIDC clients know (kept, so another page can log it out)

    def _storage_key(self, session_id: str) -> str:
        return SESSION_PREFIX + self.handle(session_id)

    def handle(self, session_id: str) -> str:
        return keyed_hash(self._key, session_id)

    def _store_new(self, session: Session, now: float) -> None:
        """A new id: the session and its entry in the account's index in one step of the store (nothing
        when its absolute lifetime is already over)."""
        if self._sid_of is not None:
            session.data["sid"] = self._sid_of(session.id)
        ttl = self._ttl(session, now)
        if ttl > 0:
            handle = self.handle(session.id)
            self._store.put_with_member(SESSION_PREFIX + handle, session.to_json(), ttl,
                                        set_key=INDEX_PREFIX + session.account_id, member=handle,
                                        member_ttl=float(self._limits[session.trust_level].absolute))

    def _ttl(self, session: Session, now: float) -> float:
        limits = self._limits[session.trust_level]
        return min(float(limits.idle), session.created_at + limits.absolute - now)

    def _save(self, session: Session, now: float) -> None:
        ttl = self._ttl(session, now)
        if ttl > 0:
            self._store.put(self._storage_key(session.id), session.to_json(), ttl)

    def create(self, account: Account, *, level: TrustLevel, methods: list[str], auth_time: float | None = None,
               epoch: int | None = None, device: str = "") -> Session:
        """Always a new id (no session fixation, ASVS 3.2.1). `device`: the reduced label ("Firefox / Linux")."""
        now = self._clock.timestamp()
        session = Session(id=random_token(32), account_id=account.id, trust_level=level, methods=list(methods),
                          auth_time=auth_time or now, created_at=now, last_seen=now,
                          epoch=account.session_epoch if epoch is None else epoch, csrf_secret=random_token(16),
                          data={"device": device[:64]} if device else {})
        self._store_new(session, now)
        return session

    def load(self, session_id: str | None) -> Session | None:
        """The live session for this id, or None: unknown, idle or absolute limit passed, or ended by the
        account's epoch (password change, reset, deletion)."""
        if not session_id or len(session_id) > 100:
            return None
        raw = self._store.get(self._storage_key(session_id))
        if raw is None:
            return None
        session = Session.from_json(session_id, raw)
        now = self._clock.timestamp()
        limits = self._limits[session.trust_level]
        if now - session.created_at >= limits.absolute or now - session.last_seen >= limits.idle:
            self.end(session_id)
            return None
        account = self._accounts.get(session.account_id)  # one point query: the epoch and the account
        if account is None or not account.is_active or account.session_epoch != session.epoch:
            self.end(session_id)
            return None
        session.account = account
        if now - session.last_seen >= TOUCH_INTERVAL:
            session.last_seen = now
            self._save(session, now)
        return session

    def reissue(self, session: Session, *, epoch: int) -> Session:
        """A new id for the same login (after a password change: this browser stays, others are out)."""
        self.end(session.id)
        now = self._clock.timestamp()
        renewed = Session(id=random_token(32), account_id=session.account_id, trust_level=session.trust_level,
                          methods=session.methods, auth_time=session.auth_time, created_at=session.created_at,
                          last_seen=now, epoch=epoch, csrf_secret=random_token(16), data=dict(session.data))
        self._store.remove_member(INDEX_PREFIX + session.account_id, self.handle(session.id))
        self._store_new(renewed, now)
        return renewed

    def end(self, session_id: str) -> None:
        self._store.delete(self._storage_key(session_id))

    # -- the account's sessions (issue #8) ---------------------------------------------------------------

    def of_account(self, account: Account) -> list[SessionInfo]:
        """The account's live sessions, newest first; index entries of ended sessions are dropped."""
        index = INDEX_PREFIX + account.id
        handles = self._store.members(index)
        raws = self._store.get_many([SESSION_PREFIX + h for h in handles]) if handles else []
        now = self._clock.timestamp()
        found = []
        for handle, raw in zip(handles, raws, strict=True):
            session = Session.from_json("", raw) if raw is not None else None
            limits = self._limits[session.trust_level] if session else None
            if (session is None or limits is None or session.account_id != account.id
                    or session.epoch != account.session_epoch or now - session.created_at >= limits.absolute
                    or now - session.last_seen >= limits.idle):
                self._store.remove_member(index, handle)
                continue
            found.append(SessionInfo(handle=handle, device=session.data.get("device", ""),
                                     methods=tuple(session.methods), trust_level=session.trust_level,
                                     created_at=session.created_at, last_seen=session.last_seen,
                                     sid=session.data.get("sid", "")))
        return sorted(found, key=lambda info: info.created_at, reverse=True)

    def end_of_account(self, account: Account, handle: str) -> SessionInfo | None:
        """End one of the account's sessions by its handle (that browser is logged out at its next request);
        None when the handle names no live session of this account."""
        info = next((i for i in self.of_account(account) if i.handle == handle), None)
        if info is not None:
            self._store.delete(SESSION_PREFIX + handle)
            self._store.remove_member(INDEX_PREFIX + account.id, handle)
        return info
