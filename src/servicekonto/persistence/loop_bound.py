"""A few connections of their own for the endpoints that answer on the event loop (persistence/statements.py
AsyncStatements, persistence/async_ephemeral.py): bound to the loop that opened them, the server's lifespan
(app.py); `ready()` is False on any other loop, and callers keep the thread path there."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

C = TypeVar("C")


class LoopBoundConnections(Generic[C]):
    def __init__(self, *, size: int) -> None:
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None  # at most `size` connections in use at once
        self._idle: list[C] = []

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self._size)

    async def close(self) -> None:
        self._loop = None
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._disconnect(connection)

    def ready(self) -> bool:
        try:
            return self._loop is not None and asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def _disconnect(self, connection: C) -> None:
        raise NotImplementedError
