"""Where the synchronous handlers run: one thread pool for the whole process, entered with asyncio's own
executor hand-off and the request's context (language, request id) copied along, as Starlette's
`run_in_threadpool` does through anyio. The hand-off costs about 30 µs of CPU here against anyio's 50
(its cancel scopes and capacity limiter), three times per password login; the pool has anyio's default of
40 threads."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

THREADS = 40
_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="handler")


async def run_blocking(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on the pool, in a copy of the caller's context."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_pool, context.run, function, *args)
