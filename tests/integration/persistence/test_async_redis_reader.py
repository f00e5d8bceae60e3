"""The event loop's Redis reader (persistence/async_ephemeral.py) against a real Redis: the database the URL
names, the prefix, the Lua script loaded on first use, an error reply that leaves the connection usable, and a
server that does not answer (a timeout, and the connection is not reused)."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import redis
import uvloop
from redis.connection import parse_url
from redis.exceptions import ResponseError

from servicekonto.persistence import async_ephemeral
from servicekonto.persistence.async_ephemeral import AsyncRedisReader, tls_context

T = TypeVar("T")
DATABASE = 5  # not the default one: the URL's database must be selected


def _on_own_loop(reader: AsyncRedisReader, work: Callable[[], Awaitable[T]]) -> T:
    """A loop of its own on a thread of its own: the suite's browser tests keep one running on this thread."""
    async def run() -> T:
        await reader.open()
        try:
            return await work()
        finally:
            await reader.close()

    with ThreadPoolExecutor(1) as thread:  # on uvloop, as the server runs, whose transports differ
        return thread.submit(uvloop.run, run()).result()


def _in_database(redis_url: str) -> str:
    return f"{redis_url.rsplit('/', 1)[0]}/{DATABASE}"


@pytest.fixture
def sync_client(redis_url: str, redis_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(_in_database(redis_url))
    yield client
    keys = list(client.scan_iter(match=redis_prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_reads_what_the_sync_client_wrote_in_the_urls_database(redis_url: str, redis_prefix: str,
                                                               sync_client: redis.Redis) -> None:
    sync_client.set(redis_prefix + "entry", json.dumps({"gid": "g1"}))
    sync_client.set(redis_prefix + "ended:g1", b"1")
    sync_client.set(redis_prefix + "plain", b"value")
    reader = AsyncRedisReader(_in_database(redis_url), prefix=redis_prefix)

    async def work() -> tuple[Any, ...]:
        sync_client.script_flush()  # the script is not loaded: EVALSHA fails, EVAL loads it
        with_notes = await reader.get_with_notes("entry", "gid", ["ended:", "other:"])
        again = await reader.get_with_notes("entry", "gid", ["ended:", "other:"])  # now by its id
        return (await reader.get("plain"), await reader.get("missing"), await reader.mget(["plain", "missing"]),
                with_notes, again, await reader.get_with_notes("missing", "gid", []), reader.ready())

    plain, missing, several, with_notes, again, none, ready = _on_own_loop(reader, work)
    assert plain == b"value" and missing is None and several == [b"value", None]
    assert with_notes == again == [json.dumps({"gid": "g1"}).encode(), b"1", None]
    assert none == [] and ready and not reader.ready()  # ready on its own loop only


def test_an_error_reply_raises_and_the_connection_stays_in_step(redis_url: str, redis_prefix: str,
                                                                sync_client: redis.Redis) -> None:
    sync_client.rpush(redis_prefix + "list", b"x")
    sync_client.set(redis_prefix + "plain", b"value")
    reader = AsyncRedisReader(_in_database(redis_url), prefix=redis_prefix, size=1)

    async def work() -> bytes | None:
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await reader.get("list")
        return await reader.get("plain")

    assert _on_own_loop(reader, work) == b"value"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield listener.getsockname()[1]
    listener.close()


def test_a_server_that_does_not_answer_times_out(silent_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(async_ephemeral, "TIMEOUT_SECONDS", 0.2)
    reader = AsyncRedisReader(f"redis://127.0.0.1:{silent_server}/0", prefix="p:", size=1)

    async def work() -> int:
        with pytest.raises(TimeoutError):
            await reader.get("key")
        return len(reader._idle)

    assert _on_own_loop(reader, work) == 0  # the connection that timed out is not kept


def test_a_password_in_the_url_is_sent(redis_url: str) -> None:
    """The test server has no password: AUTH is refused, which shows it was sent."""
    reader = AsyncRedisReader(redis_url.replace("redis://", "redis://:secret@"), prefix="p:")

    async def work() -> None:
        await reader.get("key")

    with pytest.raises(ResponseError, match="AUTH"):
        _on_own_loop(reader, work)


def test_tls_follows_the_urls_query_as_redis_py_reads_it(tmp_path: Any) -> None:
    assert tls_context(parse_url("redis://127.0.0.1:6379/0")) is None
    verified = tls_context(parse_url("rediss://redis.example:6380/0"))
    assert verified is not None and verified.verify_mode is ssl.CERT_REQUIRED and verified.check_hostname
    unverified = tls_context(parse_url("rediss://redis.example:6380/0?ssl_cert_reqs=none"))
    assert unverified is not None and unverified.verify_mode is ssl.CERT_NONE
    optional = tls_context(parse_url("rediss://redis.example:6380/0?ssl_cert_reqs=optional"))
    assert optional is not None and optional.verify_mode is ssl.CERT_OPTIONAL
    with pytest.raises(OSError):  # a client certificate that is not there stops the connection, not silently
        tls_context(parse_url(f"rediss://redis.example:6380/0?ssl_certfile={tmp_path / 'missing.pem'}"))
