"""Brute-force protection for logins (ASVS 2.2.1): per account and per client address, a few free
attempts, then an exponentially growing lock that is capped — an attacker can slow an owner down, never
lock them out for good, and a password reset by e-mail always works and lifts the lock."""

from __future__ import annotations

import math
from dataclasses import dataclass

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.domain.ports import EphemeralStore


class LoginLocked(ServicekontoError):
    code = "login.locked"
    http_status = 429
    message = _l("Too many failed attempts. For your protection, the login is locked for now. "
                 "Please try again in {minutes} minutes, or reset your password by e-mail.")

    def __init__(self, retry_after: int) -> None:
        super().__init__("locked", minutes=max(1, math.ceil(retry_after / 60)))
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    free_attempts: int = 5
    base_lock_seconds: int = 60
    max_lock_seconds: int = 15 * 60
    window_seconds: int = 24 * 3600
    address_free_attempts: int = 30
    address_window_seconds: int = 3600

    def lock_seconds(self, failures: int, free: int) -> int:
        """0 up to the free attempts, then 1, 2, 4, 8 … minutes, at most the cap."""
        if failures < free:
            return 0
        return int(min(self.base_lock_seconds * 2 ** min(failures - free, 20), self.max_lock_seconds))


class LoginThrottle:
    def __init__(self, *, store: EphemeralStore, clock: Clock, key: bytes,
                 policy: ThrottlePolicy | None = None) -> None:
        self._store = store
        self._clock = clock
        self._key = key
        self.policy = policy or ThrottlePolicy()

    def _address(self, address: str | None) -> str:
        return keyed_hash(self._key, address or "unknown")[:32]

    def check(self, *, account_id: str | None, address: str | None) -> bool:
        """Raise LoginLocked while the account or the address is locked; otherwise tell whether the account
        has failures on record (so a success only writes when there is something to clear). One read."""
        keys = [f"lock:address:{self._address(address)}"]
        if account_id:
            keys += [f"lock:account:{account_id}", f"fail:account:{account_id}"]
        values = self._store.get_many(keys)
        now = self._clock.timestamp()
        for value in values[:2]:
            if value is not None and float(value) > now:
                raise LoginLocked(math.ceil(float(value) - now))
        return len(values) == 3 and values[2] is not None

    def failed(self, *, account_id: str | None, address: str | None) -> bool:
        """Count a failure; True when this failure locked the account (the owner gets a mail)."""
        policy = self.policy
        address_key = self._address(address)
        address_failures = self._store.increment(f"fail:address:{address_key}", policy.address_window_seconds)
        address_lock = policy.lock_seconds(address_failures, policy.address_free_attempts)
        if address_lock:
            self._lock(f"lock:address:{address_key}", address_lock)
        if not account_id:
            return False
        failures = self._store.increment(f"fail:account:{account_id}", policy.window_seconds)
        lock = policy.lock_seconds(failures, policy.free_attempts)
        if not lock:
            return False
        self._lock(f"lock:account:{account_id}", lock)
        return failures == policy.free_attempts  # the first lock of a series

    def _lock(self, key: str, seconds: int) -> None:
        """The value is the end of the lock, so one read tells how long is left."""
        self._store.put(key, str(self._clock.timestamp() + seconds).encode(), seconds)

    def succeeded(self, *, account_id: str, had_failures: bool = True) -> None:
        if had_failures:
            self._store.delete(f"fail:account:{account_id}")

    def clear(self, *, account_id: str) -> None:
        """After a password reset: the owner proved control of the mailbox."""
        self._store.delete(f"fail:account:{account_id}")
        self._store.delete(f"lock:account:{account_id}")
