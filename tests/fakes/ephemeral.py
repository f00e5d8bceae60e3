"""An in-memory EphemeralStore for unit tests of services; the contract tests hold it to the same rules
as the real adapters."""

from __future__ import annotations

import threading

from servicekonto.core.clock import Clock, SystemClock


class MemoryEphemeralStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.RLock()  # put_with_member holds it around put and add_member
        self._sets: dict[str, dict[str, float]] = {}

    @staticmethod
    def _check(key: str, ttl: float | None = None) -> None:
        if not key or len(key) > 255:
            raise ValueError("ephemeral keys have 1 to 255 characters")
        if ttl is not None and ttl <= 0:
            raise ValueError("a TTL is positive")

    def _live(self, key: str) -> tuple[bytes, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= self._clock.timestamp():
            del self._entries[key]
            return None
        return entry

    def put(self, key: str, value: bytes, ttl: float) -> None:
        self._check(key, ttl)
        with self._lock:
            self._entries[key] = (value, self._clock.timestamp() + ttl)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        self._check(key, ttl)
        with self._lock:
            if self._live(key) is not None:
                return False
            self._entries[key] = (value, self._clock.timestamp() + ttl)
            return True

    def get(self, key: str) -> bytes | None:
        self._check(key)
        with self._lock:
            entry = self._live(key)
            return entry[0] if entry else None

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def take(self, key: str) -> bytes | None:
        self._check(key)
        with self._lock:
            entry = self._live(key)
            self._entries.pop(key, None)
            return entry[0] if entry else None

    def delete(self, key: str) -> None:
        self._check(key)
        with self._lock:
            self._entries.pop(key, None)

    def increment(self, key: str, ttl: float) -> int:
        self._check(key, ttl)
        with self._lock:
            entry = self._live(key)
            expires = entry[1] if entry else self._clock.timestamp() + ttl
            count = int(entry[0]) + 1 if entry else 1
            self._entries[key] = (str(count).encode(), expires)
            return count

    def ttl(self, key: str) -> float | None:
        self._check(key)
        with self._lock:
            entry = self._live(key)
            return entry[1] - self._clock.timestamp() if entry else None

    def add_member(self, key: str, member: str, ttl: float) -> None:
        self._check(key, ttl)
        with self._lock:
            self._sets.setdefault(key, {})[member] = self._clock.timestamp() + ttl

    def put_with_member(self, key: str, value: bytes, ttl: float, *, set_key: str, member: str,
                        member_ttl: float) -> None:
        self._check(key, ttl)
        self._check(set_key, member_ttl)
        with self._lock:
            self.put(key, value, ttl)
            self.add_member(set_key, member, member_ttl)

    def members(self, key: str) -> list[str]:
        self._check(key)
        now = self._clock.timestamp()
        with self._lock:
            return sorted(m for m, e in self._sets.get(key, {}).items() if e > now)

    def remove_member(self, key: str, member: str) -> None:
        self._check(key)
        with self._lock:
            self._sets.get(key, {}).pop(member, None)

    def ping(self) -> None:
        return None
