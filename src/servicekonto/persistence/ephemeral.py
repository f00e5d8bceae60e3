"""EphemeralStore adapters: Redis (production, shared by every process) and the database (one machine,
or a deployment without Redis). Both honour TTLs; the same contract tests run on both."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from servicekonto.core.clock import Clock
from servicekonto.domain.ports import EphemeralStore
from servicekonto.persistence.database import Database
from servicekonto.persistence.models import EphemeralEntry
from servicekonto.persistence.statements import Statements

if TYPE_CHECKING:
    from servicekonto.settings import Settings

MAX_KEY_LENGTH = 255
_E = EphemeralEntry
_KEY = _E.key == bindparam("k")
_LIVE = _E.expires_at > bindparam("now")
_GET = select(_E.value).where(_KEY, _LIVE)
_TTL = select(_E.expires_at).where(_KEY, _LIVE)
_LOCKED = select(_E.value, _E.expires_at).where(_KEY).with_for_update()  # SQLite: BEGIN IMMEDIATE locks
_DELETE = delete(_E).where(_KEY)
_TAKE = _DELETE.returning(_E.value, _E.expires_at)
_SET = update(_E).where(_KEY).values(value=bindparam("v"), expires_at=bindparam("e"))
_COUNT = update(_E).where(_KEY).values(value=bindparam("v"))
_SWEEP = delete(_E).where(_E.expires_at <= bindparam("now"))


def _get_many(count: int):  # type: ignore[no-untyped-def]
    """`key IN (?, ?, …)` with one plain parameter per key (the direct path has no expanding parameters)."""
    return select(_E.key, _E.value).where(_E.key.in_([bindparam(f"k{i}") for i in range(count)]), _LIVE)


_GET_MANY = {count: _get_many(count) for count in range(1, 9)}  # the throttle asks for 1 or 3


def _check(key: str, ttl: float | None = None) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError("ephemeral keys have 1 to 255 characters")
    if ttl is not None and ttl <= 0:
        raise ValueError("a TTL is positive")


class RedisEphemeralStore:
    """Redis or Valkey; TTLs in milliseconds, every operation a single atomic command (or MULTI)."""

    # add_member as one script: one command to send and parse instead of a MULTI of five (every login adds
    # its session to the account's index). The key lives as long as its longest member: GT, else NX.
    _ADD_MEMBER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3], 'GT')
redis.call('PEXPIREAT', KEYS[1], ARGV[3], 'NX')
return 1
"""

    # put_with_member: the SET first, then the same steps on KEYS[2].
    _PUT_WITH_MEMBER = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'GT')
redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'NX')
return 1
"""

    def __init__(self, client: redis.Redis, *, prefix: str = "servicekonto:") -> None:
        self._redis = client
        self._prefix = prefix
        self._add_member = client.register_script(self._ADD_MEMBER)  # EVALSHA, loaded again when flushed
        self._put_with_member = client.register_script(self._PUT_WITH_MEMBER)

    @classmethod
    def from_url(cls, url: str, *, prefix: str) -> RedisEphemeralStore:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2,
                                      health_check_interval=30)
        return cls(client, prefix=prefix)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def put(self, key: str, value: bytes, ttl: float) -> None:
        _check(key, ttl)
        self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        _check(key, ttl)
        return bool(self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True))

    def get(self, key: str) -> bytes | None:
        _check(key)
        value = self._redis.get(self._k(key))
        return value if isinstance(value, bytes) else None

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        for key in keys:
            _check(key)
        values = self._redis.mget([self._k(key) for key in keys]) if keys else []
        return [value if isinstance(value, bytes) else None for value in values]  # type: ignore[union-attr]

    def take(self, key: str) -> bytes | None:
        _check(key)
        value = self._redis.getdel(self._k(key))
        return value if isinstance(value, bytes) else None

    def delete(self, key: str) -> None:
        _check(key)
        self._redis.delete(self._k(key))

    def increment(self, key: str, ttl: float) -> int:
        _check(key, ttl)
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(self._k(key))
        pipe.pexpire(self._k(key), max(1, int(ttl * 1000)), nx=True)
        count, _ = pipe.execute()
        return int(count)

    def ttl(self, key: str) -> float | None:
        _check(key)
        millis = self._redis.pttl(self._k(key))
        return int(millis) / 1000 if isinstance(millis, int) and millis >= 0 else None

    def add_member(self, key: str, member: str, ttl: float) -> None:
        """A sorted set scored by each member's expiry (ms); the key lives as long as its longest member."""
        _check(key, ttl)
        now = int(time.time() * 1000)
        self._add_member(keys=[self._k(key)], args=[member, now, now + max(1, int(ttl * 1000))])

    def put_with_member(self, key: str, value: bytes, ttl: float, *, set_key: str, member: str,
                        member_ttl: float) -> None:
        """One script: a session and its index entry in one command (both or neither), on every login."""
        _check(key, ttl)
        _check(set_key, member_ttl)
        now = int(time.time() * 1000)
        self._put_with_member(keys=[self._k(key), self._k(set_key)],
                              args=[value, max(1, int(ttl * 1000)), member, now, now + max(1, int(member_ttl * 1000))])

    def members(self, key: str) -> list[str]:
        _check(key)
        found = self._redis.zrangebyscore(self._k(key), f"({int(time.time() * 1000)}", "+inf")
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in found)  # type: ignore[union-attr]

    def remove_member(self, key: str, member: str) -> None:
        _check(key)
        self._redis.zrem(self._k(key), member)

    def ping(self) -> None:
        self._redis.ping()


class DatabaseEphemeralStore:
    """A table with an expiry column: expired rows are invisible at once and swept now and then.

    It sits on every request's path when there is no Redis, so it runs on the database's ephemeral engine
    (commits that do not wait for the disk: persistence/database.py) and straight through the driver with
    statements built once (persistence/statements.py; the table holds text, bytes and floats only). Each
    operation is one statement, atomic on its own, except the read-modify-writes (`increment`, the sets),
    which run in a transaction that locks the row (BEGIN IMMEDIATE on SQLite, FOR UPDATE on PostgreSQL)."""

    SWEEP_PROBABILITY = 0.01

    def __init__(self, database: Database, *, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        self._statements = Statements(database.ephemeral_engine, database.ephemeral_engine, direct=True)
        insert = pg_insert(_E) if database.dialect == "postgresql" else sqlite_insert(_E)
        row = insert.values(key=bindparam("k"), value=bindparam("v"), expires_at=bindparam("e"))
        replace = {"value": row.excluded.value, "expires_at": row.excluded.expires_at}
        self._upsert = row.on_conflict_do_update(index_elements=[_E.key], set_=replace)
        # Written only over an expired row (or none): `add` and a counter's or a set's fresh start, one statement.
        self._insert_unless_live = row.on_conflict_do_update(
            index_elements=[_E.key], set_=replace, where=_E.expires_at <= bindparam("now")).returning(_E.key)

    def _maybe_sweep(self) -> None:
        if random.random() < self.SWEEP_PROBABILITY:  # noqa: S311 - scheduling, not security
            self._statements.run(_SWEEP, {"now": self._clock.timestamp()})

    def put(self, key: str, value: bytes, ttl: float) -> None:
        _check(key, ttl)
        self._statements.run(self._upsert, {"k": key, "v": value, "e": self._clock.timestamp() + ttl})
        self._maybe_sweep()

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        _check(key, ttl)
        now = self._clock.timestamp()
        return self._statements.first(self._insert_unless_live, {"k": key, "v": value, "e": now + ttl,
                                                                  "now": now}) is not None

    def get(self, key: str) -> bytes | None:
        _check(key)
        row = self._statements.first(_GET, {"k": key, "now": self._clock.timestamp()})
        return None if row is None else bytes(row.value)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        for key in keys:
            _check(key)
        if not keys:
            return []
        unique = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        for start in range(0, len(unique), len(_GET_MANY)):
            chunk = unique[start:start + len(_GET_MANY)]
            params: dict[str, object] = {f"k{i}": key for i, key in enumerate(chunk)}
            params["now"] = self._clock.timestamp()
            found.update((row.key, bytes(row.value)) for row in self._statements.all(_GET_MANY[len(chunk)], params))
        return [found.get(key) for key in keys]

    def take(self, key: str) -> bytes | None:
        _check(key)
        row = self._statements.first(_TAKE, {"k": key})
        if row is None or row.expires_at <= self._clock.timestamp():
            return None
        return bytes(row.value)

    def delete(self, key: str) -> None:
        _check(key)
        self._statements.run(_DELETE, {"k": key})

    def increment(self, key: str, ttl: float) -> int:
        _check(key, ttl)
        now = self._clock.timestamp()
        with self._statements.transaction() as inside:
            inside.first(self._insert_unless_live, {"k": key, "v": b"0", "e": now + ttl, "now": now})
            current = inside.first(_LOCKED, {"k": key})
            count = int(bytes(current.value) if current else b"0") + 1
            inside.run(_COUNT, {"k": key, "v": str(count).encode()})
            return count

    def ttl(self, key: str) -> float | None:
        _check(key)
        now = self._clock.timestamp()
        row = self._statements.first(_TTL, {"k": key, "now": now})
        return None if row is None else float(row.expires_at) - now

    def _change_set(self, key: str, change, ttl: float | None, *,  # type: ignore[no-untyped-def]
                    put: tuple[str, bytes, float] | None = None) -> None:
        """A set is one row: JSON {member: expiry}, changed under the row's lock (as `increment`). `put`:
        a plain value (key, value, ttl) written in the same transaction."""
        now = self._clock.timestamp()
        with self._statements.transaction() as inside:
            if put is not None:
                inside.run(self._upsert, {"k": put[0], "v": put[1], "e": now + put[2]})
            if ttl is not None:  # a set that has expired as a whole starts empty
                inside.first(self._insert_unless_live, {"k": key, "v": b"{}", "e": now + ttl, "now": now})
            current = inside.first(_LOCKED, {"k": key})
            if current is None:
                return
            stored = json.loads(bytes(current.value)) if current.expires_at > now else {}
            members = {m: e for m, e in stored.items() if e > now}
            change(members, now)
            if not members:
                inside.run(_DELETE, {"k": key})
                return
            inside.run(_SET, {"k": key, "v": json.dumps(members, separators=(",", ":")).encode(),
                              "e": max(members.values())})

    def add_member(self, key: str, member: str, ttl: float) -> None:
        _check(key, ttl)
        self._change_set(key, lambda members, now: members.__setitem__(member, now + ttl), ttl)

    def put_with_member(self, key: str, value: bytes, ttl: float, *, set_key: str, member: str,
                        member_ttl: float) -> None:
        _check(key, ttl)
        _check(set_key, member_ttl)
        self._change_set(set_key, lambda members, now: members.__setitem__(member, now + member_ttl), member_ttl,
                         put=(key, value, ttl))
        self._maybe_sweep()

    def members(self, key: str) -> list[str]:
        raw = self.get(key)
        if raw is None:
            return []
        now = self._clock.timestamp()
        return sorted(m for m, e in json.loads(raw).items() if e > now)

    def remove_member(self, key: str, member: str) -> None:
        _check(key)
        self._change_set(key, lambda members, now: members.pop(member, None), None)

    def ping(self) -> None:
        self._db.ping()

    def sweep(self) -> int:
        """Remove every expired row (the maintenance command; requests sweep only now and then)."""
        return self._statements.run(_SWEEP, {"now": self._clock.timestamp()})


def make_ephemeral_store(*, settings: Settings, database: Database, clock: Clock) -> EphemeralStore:
    if settings.redis_url:
        return RedisEphemeralStore.from_url(settings.redis_url, prefix=settings.redis_prefix)
    return DatabaseEphemeralStore(database, clock=clock)
