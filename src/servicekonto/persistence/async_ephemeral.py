"""Reads of the Redis ephemeral store on the event loop, for the endpoints that answer there (userinfo and
introspection: the opaque access token, a revoked JWT's note). The same keys and prefix as
RedisEphemeralStore, which keeps every write; read-only on purpose.

redis-py's asyncio connections (URL, auth, database, TLS and the protocol as configured), a few of them held
here: its client's pool, retry and telemetry layers cost twice the command (≈ 65 against 30 µs of CPU a GET).
Bound to the loop that opened it, the server's lifespan (app.py): `ready()` is False on any other loop."""

from __future__ import annotations

import asyncio

import redis.asyncio

MAX_KEY_LENGTH = 255


class AsyncRedisReader:
    def __init__(self, url: str, *, prefix: str, size: int = 10) -> None:
        self._pool = redis.asyncio.ConnectionPool.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._idle: list[redis.asyncio.Connection] = []

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self._size)

    async def close(self) -> None:
        self._loop = None
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect()

    def ready(self) -> bool:
        try:
            return self._loop is not None and asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def get(self, key: str) -> bytes | None:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError("ephemeral keys have 1 to 255 characters")
        assert self._slots is not None, "opened by the lifespan"
        async with self._slots:
            connection = self._idle.pop() if self._idle else self._pool.make_connection()
            try:
                await connection.send_command("GET", self._prefix + key)
                value = await connection.read_response()
            except BaseException:
                await connection.disconnect(nowait=True)  # broken or cancelled mid-command: never reused
                raise
            if self._loop is not None:
                self._idle.append(connection)
            else:
                await connection.disconnect()
        return value if isinstance(value, bytes) else None
