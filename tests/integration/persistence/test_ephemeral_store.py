"""One contract for every EphemeralStore adapter (the database one on SQLite and PostgreSQL, Redis) and
for the in-memory fake the unit tests use."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from servicekonto.core.clock import SystemClock
from servicekonto.domain.ports import EphemeralStore
from servicekonto.persistence.database import Database
from servicekonto.persistence.ephemeral import DatabaseEphemeralStore, RedisEphemeralStore
from tests.fakes.ephemeral import MemoryEphemeralStore

TTL = 60.0
SHORT = 0.3


@pytest.fixture(params=["database-sqlite", "database-postgresql", "redis", "memory-fake"])
def store(request: pytest.FixtureRequest) -> Iterator[EphemeralStore]:
    if request.param == "memory-fake":
        yield MemoryEphemeralStore()
        return
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        adapter = RedisEphemeralStore(redis.Redis.from_url(url), prefix=prefix)
        yield adapter
        return
    from tests.conftest import _migrated

    kind = request.param.removeprefix("database-")
    url = _migrated(request.getfixturevalue(f"{kind}_url"), request.getfixturevalue("_migrations_done"))
    database = Database(url)
    try:
        yield DatabaseEphemeralStore(database, clock=SystemClock())
    finally:
        from tests.conftest import _empty_tables

        _empty_tables(database)
        database.dispose()


def test_put_get_delete(store: EphemeralStore) -> None:
    assert store.get("a") is None
    store.put("a", b"one", TTL)
    assert store.get("a") == b"one"
    store.put("a", b"two", TTL)
    assert store.get("a") == b"two"
    store.delete("a")
    assert store.get("a") is None
    store.delete("a")  # deleting nothing is fine


def test_entries_expire(store: EphemeralStore) -> None:
    store.put("short", b"x", SHORT)
    ttl = store.ttl("short")
    assert ttl is not None and 0 < ttl <= SHORT
    time.sleep(SHORT + 0.2)
    assert store.get("short") is None
    assert store.ttl("short") is None
    assert store.take("short") is None


def test_take_is_single_use(store: EphemeralStore) -> None:
    store.put("code", b"secret", TTL)
    assert store.take("code") == b"secret"
    assert store.take("code") is None
    assert store.get("code") is None


def test_take_redeems_once_under_concurrency(store: EphemeralStore) -> None:
    store.put("race", b"prize", TTL)
    winners: list[bytes] = []
    barrier = threading.Barrier(8)

    def redeem() -> None:
        barrier.wait()
        value = store.take("race")
        if value is not None:
            winners.append(value)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert winners == [b"prize"]


def test_add_only_when_absent_or_expired(store: EphemeralStore) -> None:
    assert store.add("lock", b"first", TTL) is True
    assert store.add("lock", b"second", TTL) is False
    assert store.get("lock") == b"first"
    assert store.add("brief", b"1", SHORT) is True
    time.sleep(SHORT + 0.2)
    assert store.add("brief", b"2", TTL) is True
    assert store.get("brief") == b"2"


def test_increment_counts_and_window_starts_with_first(store: EphemeralStore) -> None:
    assert [store.increment("hits", TTL) for _ in range(3)] == [1, 2, 3]
    assert store.increment("window", SHORT) == 1
    store.increment("window", TTL)  # a later increment does not extend the window
    ttl = store.ttl("window")
    assert ttl is not None and ttl <= SHORT
    time.sleep(SHORT + 0.2)
    assert store.increment("window", TTL) == 1


def test_increment_is_atomic_under_concurrency(store: EphemeralStore) -> None:
    def hit() -> None:
        for _ in range(10):
            store.increment("busy", TTL)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.increment("busy", TTL) == 41


def test_keys_are_bounded_and_ttls_positive(store: EphemeralStore) -> None:
    with pytest.raises(ValueError):
        store.put("", b"x", TTL)
    with pytest.raises(ValueError):
        store.put("k" * 256, b"x", TTL)
    with pytest.raises(ValueError):
        store.put("k", b"x", 0)


def test_binary_values_survive(store: EphemeralStore) -> None:
    value = bytes(range(256))
    store.put("bin", value, TTL)
    assert store.get("bin") == value


def test_ping(store: EphemeralStore) -> None:
    store.ping()


def test_get_many_keeps_order_and_skips_expired(store: EphemeralStore) -> None:
    store.put("one", b"1", TTL)
    store.put("gone", b"x", SHORT)
    store.put("three", b"3", TTL)
    time.sleep(SHORT + 0.2)
    assert store.get_many(["three", "missing", "gone", "one"]) == [b"3", None, None, b"1"]
    assert store.get_many([]) == []


def test_set_members_live_by_their_own_ttl(store: EphemeralStore) -> None:
    assert store.members("set") == []
    store.add_member("set", "b", TTL)
    store.add_member("set", "a", TTL)
    store.add_member("set", "brief", SHORT)
    store.add_member("set", "a", TTL)  # adding again renews, never duplicates
    assert store.members("set") == ["a", "b", "brief"]
    time.sleep(SHORT + 0.2)
    assert store.members("set") == ["a", "b"]
    store.remove_member("set", "a")
    store.remove_member("set", "missing")  # removing nothing is fine
    assert store.members("set") == ["b"]
    store.remove_member("set", "b")
    assert store.members("set") == []
    store.add_member("set", "c", TTL)
    assert store.members("set") == ["c"]


def test_set_members_are_added_atomically_under_concurrency(store: EphemeralStore) -> None:
    def add(prefix: str) -> None:
        for i in range(10):
            store.add_member("crowd", f"{prefix}{i}", TTL)

    threads = [threading.Thread(target=add, args=(p,)) for p in "wxyz"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.members("crowd")) == 40


def test_add_has_one_winner_under_concurrency(store: EphemeralStore) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claim(name: str) -> None:
        barrier.wait()
        if store.add("guard", name.encode(), TTL):
            winners.append(name)

    threads = [threading.Thread(target=claim, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert store.get("guard") == winners[0].encode()


def test_set_members_are_added_and_removed_atomically_under_concurrency(store: EphemeralStore) -> None:
    for i in range(20):
        store.add_member("busy-set", f"old{i}", TTL)
    barrier = threading.Barrier(4)

    def remove(numbers: range) -> None:
        barrier.wait()
        for i in numbers:
            store.remove_member("busy-set", f"old{i}")

    def add(prefix: str) -> None:
        barrier.wait()
        for i in range(10):
            store.add_member("busy-set", f"{prefix}{i}", TTL)

    threads = [threading.Thread(target=remove, args=(range(0, 10),)),
               threading.Thread(target=remove, args=(range(10, 20),)),
               threading.Thread(target=add, args=("x",)), threading.Thread(target=add, args=("y",))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.members("busy-set") == sorted(f"{p}{i}" for p in "xy" for i in range(10))


def test_database_sweep_removes_only_expired_rows(store: EphemeralStore) -> None:
    if not isinstance(store, DatabaseEphemeralStore):
        pytest.skip("the database adapter's maintenance command")
    store.put("stays", b"1", TTL)
    store.put("goes", b"2", SHORT)
    store.add_member("set-goes", "m", SHORT)
    time.sleep(SHORT + 0.2)
    assert store.sweep() == 2
    assert store.get("stays") == b"1"
    assert store.sweep() == 0


def test_put_with_member_writes_both(store: EphemeralStore) -> None:
    store.add_member("index", "older", TTL)
    store.put_with_member("value", b"session", SHORT, set_key="index", member="new", member_ttl=TTL)
    assert store.get("value") == b"session"
    assert store.members("index") == ["new", "older"]
    time.sleep(SHORT + 0.2)  # each keeps its own lifetime
    assert store.get("value") is None and store.members("index") == ["new", "older"]
    with pytest.raises(ValueError):
        store.put_with_member("value", b"x", TTL, set_key="", member="m", member_ttl=TTL)
    assert store.get("value") is None  # bad input changes nothing
