"""Reads of the Redis ephemeral store on the event loop, for the endpoints that answer there (userinfo and
introspection: the opaque access token, a revoked JWT's note, a grant's end note). The same keys and prefix as
RedisEphemeralStore, which keeps every write; read-only on purpose.

redis-py's asyncio connections (URL, auth, database, TLS and the protocol as configured), a few of them held
here: its client's pool, retry and telemetry layers cost twice the command (≈ 65 against 30 µs of CPU a GET).
Bound to the loop that opened it, the server's lifespan (app.py): `ready()` is False on any other loop."""

from __future__ import annotations

import hashlib

import redis.asyncio
from redis.exceptions import NoScriptError

from servicekonto.persistence.loop_bound import LoopBoundConnections

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


class AsyncRedisReader(LoopBoundConnections[redis.asyncio.Connection]):
    def __init__(self, url: str, *, prefix: str, size: int = 10) -> None:
        super().__init__(size=size)
        self._pool = redis.asyncio.ConnectionPool.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    async def _disconnect(self, connection: redis.asyncio.Connection) -> None:
        await connection.disconnect()

    async def get(self, key: str) -> bytes | None:
        value = await self._command("GET", _checked(key))
        return value if isinstance(value, bytes) else None

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

    async def _command(self, *args: str) -> object:
        return await self._send(args[0], *(self._prefix + key for key in args[1:]))

    async def _send(self, *prefixed: str) -> object:
        assert self._slots is not None, "opened by the lifespan"
        async with self._slots:
            connection = self._idle.pop() if self._idle else self._pool.make_connection()
            try:
                await connection.send_command(*prefixed)
                value = await connection.read_response()
            except BaseException:
                await connection.disconnect(nowait=True)  # broken or cancelled mid-command: never reused
                raise
            if self._loop is not None:
                self._idle.append(connection)
            else:
                await connection.disconnect()
        return value


def _checked(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError("ephemeral keys have 1 to 255 characters")
    return key
