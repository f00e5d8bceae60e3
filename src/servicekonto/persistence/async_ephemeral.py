"""The Redis ephemeral store on the event loop, for the endpoints that answer there: reads for userinfo and
introspection (the opaque access token, a revoked JWT's note, a grant's end note) and one write, the opaque
access token a refresh grant issues. The same keys and prefix as RedisEphemeralStore, which keeps every
other write.

A few connections of its own, each an asyncio protocol that writes a command and hands hiredis's C parser
what comes back: redis-py's asyncio connection (streams, its parser layer, retry and telemetry) cost four
times the command (≈ 36 against 9 µs of CPU a GET under load). The URL is read by redis-py's own parser:
host and port or a Unix socket, user and password (AUTH), the database (SELECT) and TLS (`rediss://`:
`tls_context`). Replies arrive in order, so a command that fails or times out closes its connection.

Bound to the loop that opened it, the server's lifespan (app.py): `ready()` is False on any other loop."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from typing import Any, cast

import hiredis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from servicekonto.persistence.loop_bound import LoopBoundConnections

TIMEOUT_SECONDS = 2.0
MAX_KEY_LENGTH = 255
# One round trip for an entry and the notes named by one of its JSON fields (an opaque access token and its
# grant's notes): KEYS[1] the entry, ARGV[1] the field, ARGV[2..] the notes' key prefixes. Read-only.
_WITH_NOTES = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {} end
local ok, value = pcall(cjson.decode, raw)
local id = ok and type(value) == 'table' and value[ARGV[1]] or nil
if type(id) ~= 'string' or #id == 0 or #id > 128 then return {raw} end
local found = {raw}
for i = 2, #ARGV do found[#found + 1] = redis.call('GET', ARGV[i] .. id) or false end
return found
"""
_WITH_NOTES_SHA = hashlib.sha1(_WITH_NOTES.encode(), usedforsecurity=False).hexdigest()  # Redis's script id


class _Connection(asyncio.Protocol):
    """One connection: commands written as they come, replies matched to them in order."""

    def __init__(self) -> None:
        self._parser = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are no subclasses

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        while (reply := self._parser.gets()) is not False:
            waiter = self._waiting.popleft() if self._waiting else None
            if waiter is None:  # nothing asked for it: the stream is out of step
                self.close()
                return
            if not waiter.done():
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(RedisConnectionError("connection to Redis lost"))

    @property
    def usable(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def command(self, *args: str | bytes) -> Any:
        """The reply to one command; a Redis error reply raises ResponseError (NoScriptError for NOSCRIPT)."""
        if self._transport is None:
            raise RedisConnectionError("connection to Redis closed")
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._transport.write(hiredis.pack_command(args))
        async with asyncio.timeout(TIMEOUT_SECONDS):
            reply = await waiter
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            raise NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)
        return reply

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class AsyncRedisReader(LoopBoundConnections[_Connection]):
    def __init__(self, url: str, *, prefix: str, size: int = 10) -> None:
        super().__init__(size=size)
        self._options = parse_url(url)
        self._prefix = prefix

    async def _disconnect(self, connection: _Connection) -> None:
        connection.close()

    async def _connect(self) -> _Connection:
        options = self._options
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(TIMEOUT_SECONDS):
            if options.get("path"):
                _, connection = await loop.create_unix_connection(_Connection, options["path"])
            else:
                _, connection = await loop.create_connection(
                    _Connection, options.get("host", "localhost"), options.get("port", 6379), ssl=tls_context(options))
        try:
            if options.get("password"):
                await connection.command("AUTH", *[v for v in (options.get("username"), options["password"]) if v])
            if options.get("db"):
                await connection.command("SELECT", str(options["db"]))
        except BaseException:
            connection.close()
            raise
        return connection

    async def get(self, key: str) -> bytes | None:
        value = await self._command("GET", _checked(key))
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """RedisEphemeralStore.put: the value for `ttl` seconds (at least a millisecond)."""
        await self._send("SET", self._prefix + _checked(key), value, "PX", str(max(1, int(ttl * 1000))))

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        """Several keys in one round trip (introspection: a JWT's revocation note and its grant's end note)."""
        values = await self._command("MGET", *(_checked(key) for key in keys))
        return [value if isinstance(value, bytes) else None for value in values]

    async def get_with_notes(self, key: str, field: str, note_prefixes: list[str]) -> list[bytes | None]:
        """The entry at `key` and, when it is a JSON object whose `field` is a string, the notes at each of
        `note_prefixes` + that string: `[]` without the entry, `[entry]` without the field, else
        `[entry, note, …]`, in one round trip (a Lua script, loaded on first use)."""
        args = ("1", self._prefix + _checked(key), field, *(self._prefix + _checked(p) for p in note_prefixes))
        try:
            values = await self._send("EVALSHA", _WITH_NOTES_SHA, *args)
        except NoScriptError:
            values = await self._send("EVAL", _WITH_NOTES, *args)
        assert isinstance(values, list)
        return [value if isinstance(value, bytes) else None for value in values]

    async def _command(self, *args: str) -> Any:
        return await self._send(args[0], *(self._prefix + key for key in args[1:]))

    async def _send(self, *prefixed: str | bytes) -> Any:
        assert self._slots is not None, "opened by the lifespan"
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                value = await connection.command(*prefixed)
            except ResponseError:  # an error reply: the connection is still in step
                self._release(connection)
                raise
            except BaseException:  # broken, timed out or cancelled mid-command: never reused
                connection.close()
                raise
            self._release(connection)
        return value

    def _release(self, connection: _Connection) -> None:
        if self._loop is not None and connection.usable:
            self._idle.append(connection)
        else:
            connection.close()


def tls_context(options: dict[str, Any]) -> ssl.SSLContext | None:
    """TLS for a `rediss://` URL as redis-py reads its query: `ssl_ca_certs`, `ssl_certfile` and
    `ssl_keyfile` (a client certificate), `ssl_cert_reqs` (`required`, the default; `optional`; `none`)."""
    if options.get("connection_class") is not SSLConnection:
        return None
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if options.get("ssl_certfile"):
        context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile"))
    requirement = str(options.get("ssl_cert_reqs", "required")).lower()
    if requirement in ("none", "optional"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE if requirement == "none" else ssl.CERT_OPTIONAL
    return context


def _checked(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError("ephemeral keys have 1 to 255 characters")
    return key
