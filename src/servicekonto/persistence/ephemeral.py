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

if TYPE_CHECKING:
    from servicekonto.settings import Settings

MAX_KEY_LENGTH = 255
_GET_MANY = select(EphemeralEntry.key, EphemeralEntry.value).where(
    EphemeralEntry.key.in_(bindparam("keys", expanding=True)), EphemeralEntry.expires_at > bindparam("now"))
_GET = select(EphemeralEntry.value).where(EphemeralEntry.key == bindparam("k"),
                                          EphemeralEntry.expires_at > bindparam("now"))
_DELETE = delete(EphemeralEntry).where(EphemeralEntry.key == bindparam("k"))
_TAKE = _DELETE.returning(EphemeralEntry.value, EphemeralEntry.expires_at)


def _check(key: str, ttl: float | None = None) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError("ephemeral keys have 1 to 255 characters")
    if ttl is not None and ttl <= 0:
        raise ValueError("a TTL is positive")


class RedisEphemeralStore:
    """Redis or Valkey; TTLs in milliseconds, every operation a single atomic command (or MULTI)."""

    def __init__(self, client: redis.Redis, *, prefix: str = "servicekonto:") -> None:
        self._redis = client
        self._prefix = prefix

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
        expires = now + max(1, int(ttl * 1000))
        pipe = self._redis.pipeline(transaction=True)
        pipe.zremrangebyscore(self._k(key), "-inf", now)
        pipe.zadd(self._k(key), {member: expires})
        pipe.pexpireat(self._k(key), expires, gt=True)
        pipe.pexpireat(self._k(key), expires, nx=True)
        pipe.execute()

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
    """A table with an expiry column: expired rows are invisible at once and swept now and then. Plain
    connections (SQLAlchemy Core), no ORM sessions: this sits on every request's path."""

    SWEEP_PROBABILITY = 0.01

    def __init__(self, database: Database, *, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        # Built once: building a statement costs about as much as running it, and put/get/take/delete sit
        # on every request's path when there is no Redis.
        upsert = self._insert()
        self._upsert = upsert.on_conflict_do_update(
            index_elements=[EphemeralEntry.key],
            set_={"value": upsert.excluded.value, "expires_at": upsert.excluded.expires_at})

    def _insert(self):  # type: ignore[no-untyped-def]
        return pg_insert(EphemeralEntry) if self._db.dialect == "postgresql" else sqlite_insert(EphemeralEntry)

    def _maybe_sweep(self, session) -> None:  # type: ignore[no-untyped-def]
        if random.random() < self.SWEEP_PROBABILITY:  # noqa: S311 - scheduling, not security
            session.execute(delete(EphemeralEntry).where(EphemeralEntry.expires_at <= self._clock.timestamp()))

    def put(self, key: str, value: bytes, ttl: float) -> None:
        _check(key, ttl)
        row = {"key": key, "value": value, "expires_at": self._clock.timestamp() + ttl}
        with self._db.ephemeral_engine.connect() as connection:  # one statement, atomic on its own
            connection.execute(self._upsert, row)
            self._maybe_sweep(connection)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        _check(key, ttl)
        now = self._clock.timestamp()
        with self._db.engine.begin() as session:
            session.execute(delete(EphemeralEntry).where(EphemeralEntry.key == key,
                                                         EphemeralEntry.expires_at <= now))
            statement = self._insert().values(key=key, value=value, expires_at=now + ttl)
            inserted = session.execute(statement.on_conflict_do_nothing(index_elements=[EphemeralEntry.key])
                                       .returning(EphemeralEntry.key)).first()
            return inserted is not None

    def get(self, key: str) -> bytes | None:
        _check(key)
        with self._db.ephemeral_engine.connect() as session:
            value = session.scalar(_GET, {"k": key, "now": self._clock.timestamp()})
        return None if value is None else bytes(value)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        for key in keys:
            _check(key)
        if not keys:
            return []
        with self._db.ephemeral_engine.connect() as connection:
            rows = dict(connection.execute(_GET_MANY, {"keys": list(keys), "now": self._clock.timestamp()}).all())
        return [bytes(rows[key]) if key in rows else None for key in keys]

    def take(self, key: str) -> bytes | None:
        _check(key)
        with self._db.ephemeral_engine.connect() as connection:
            row = connection.execute(_TAKE, {"k": key}).first()
        if row is None or row.expires_at <= self._clock.timestamp():
            return None
        return bytes(row.value)

    def delete(self, key: str) -> None:
        _check(key)
        with self._db.ephemeral_engine.connect() as connection:
            connection.execute(_DELETE, {"k": key})

    def increment(self, key: str, ttl: float) -> int:
        _check(key, ttl)
        now = self._clock.timestamp()
        with self._db.engine.begin() as session:
            session.execute(delete(EphemeralEntry).where(EphemeralEntry.key == key,
                                                         EphemeralEntry.expires_at <= now))
            statement = self._insert().values(key=key, value=b"0", expires_at=now + ttl)
            session.execute(statement.on_conflict_do_nothing(index_elements=[EphemeralEntry.key]))
            current = session.scalar(
                select(EphemeralEntry.value).where(EphemeralEntry.key == key).with_for_update())
            count = int(current or b"0") + 1
            session.execute(update(EphemeralEntry).where(EphemeralEntry.key == key)
                            .values(value=str(count).encode()))
            return count

    def ttl(self, key: str) -> float | None:
        _check(key)
        now = self._clock.timestamp()
        with self._db.ephemeral_engine.connect() as session:
            expires = session.scalar(select(EphemeralEntry.expires_at).where(
                EphemeralEntry.key == key, EphemeralEntry.expires_at > now))
        return None if expires is None else expires - now

    def _change_set(self, key: str, change, ttl: float | None) -> None:  # type: ignore[no-untyped-def]
        """A set is one row: JSON {member: expiry}, changed under the row's lock (as `increment`)."""
        now = self._clock.timestamp()
        with self._db.engine.begin() as session:
            session.execute(delete(EphemeralEntry).where(EphemeralEntry.key == key,
                                                         EphemeralEntry.expires_at <= now))
            if ttl is not None:
                statement = self._insert().values(key=key, value=b"{}", expires_at=now + ttl)
                session.execute(statement.on_conflict_do_nothing(index_elements=[EphemeralEntry.key]))
            current = session.scalar(
                select(EphemeralEntry.value).where(EphemeralEntry.key == key).with_for_update())
            if current is None:
                return
            members = {m: e for m, e in json.loads(bytes(current)).items() if e > now}
            change(members, now)
            if not members:
                session.execute(delete(EphemeralEntry).where(EphemeralEntry.key == key))
                return
            session.execute(update(EphemeralEntry).where(EphemeralEntry.key == key).values(
                value=json.dumps(members, separators=(",", ":")).encode(), expires_at=max(members.values())))

    def add_member(self, key: str, member: str, ttl: float) -> None:
        _check(key, ttl)
        self._change_set(key, lambda members, now: members.__setitem__(member, now + ttl), ttl)

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
        with self._db.engine.begin() as session:
            result = session.execute(delete(EphemeralEntry).where(EphemeralEntry.expires_at <= self._clock.timestamp()))
            return int(result.rowcount)  # type: ignore[attr-defined]


def make_ephemeral_store(*, settings: Settings, database: Database, clock: Clock) -> EphemeralStore:
    if settings.redis_url:
        return RedisEphemeralStore.from_url(settings.redis_url, prefix=settings.redis_prefix)
    return DatabaseEphemeralStore(database, clock=clock)
