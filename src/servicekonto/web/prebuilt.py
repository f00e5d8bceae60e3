"""Documents answered from bytes built ahead (discovery, JWKS): a plain ASGI endpoint, without Starlette's
Request and Response objects, which cost more than the answer itself. The middleware around it still adds
the security headers, the request id and the access log line.

`PrebuiltFront` answers them before the middleware stack when the bytes are at hand (the usual case): the
same headers, baked once per body, the request id, the metrics and the access log line — what the request
context middleware would add, without its per-request work (locale, log context, header merging), which
costs as much as the rest of such an answer. Anything else, and a body that must be rebuilt first, goes
through the stack."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from servicekonto.core.ids import error_id
from servicekonto.core.logging import access_log
from servicekonto.web.components import Components
from servicekonto.web.metrics import Metrics
from servicekonto.web.request_context import VARY, security_headers

Body = Callable[[Components], bytes | Awaitable[bytes]]


class PrebuiltJson:
    """`body(components)` gives the bytes, or an awaitable of them when they must be (re)built first;
    `cache_control(components)` the Cache-Control value. Headers are encoded once per body."""

    def __init__(self, body: Body, cache_control: Callable[[Components], str],
                 cors: bool = False) -> None:
        self._body = body
        self._cache_control = cache_control
        self._cors = cors
        self._headers: tuple[bytes, list[tuple[bytes, bytes]]] | None = None

    def _headers_for(self, body: bytes, components: Components) -> list[tuple[bytes, bytes]]:
        if self._headers is None or self._headers[0] is not body:
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                       (b"cache-control", self._cache_control(components).encode())]
            if self._cors:
                headers.append((b"access-control-allow-origin", b"*"))
            self._headers = (body, headers)
        return list(self._headers[1])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        components: Components = scope["app"].state.components
        body = self._body(components)
        if not isinstance(body, bytes):
            body = await body
        await send({"type": "http.response.start", "status": 200, "headers": self._headers_for(body, components)})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


class PrebuiltFront:
    """In front of the middleware stack: `documents` maps a route's path (the router's fixed paths, so the
    route that would answer is this one) to its PrebuiltJson."""

    def __init__(self, app: ASGIApp, *, documents: Mapping[str, PrebuiltJson], metrics: Metrics,
                 https: bool) -> None:
        self.app = app
        self.documents = dict(documents)
        self.metrics = metrics
        self.security = security_headers(https=https)
        self._baked: dict[str, tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        document = self.documents.get(scope["path"]) if scope["type"] == "http" else None
        if document is None or scope["method"] not in ("GET", "HEAD") or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        components: Components = scope["app"].state.components
        body = document._body(components)
        if not isinstance(body, bytes):  # to be rebuilt first: the stack's path, with its error handling
            close = getattr(body, "close", None)
            if close is not None:
                close()  # not awaited: the stack builds it again
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = error_id()
        headers = self._headers(scope["path"], document, body, components)
        headers.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        elapsed = time.perf_counter() - started
        self.metrics.observe(scope["method"], scope["path"], 200, elapsed)
        access_log(request_id, scope["method"], scope["path"], 200, round(elapsed * 1000, 2))

    def _headers(self, path: str, document: PrebuiltJson, body: bytes,
                 components: Components) -> list[tuple[bytes, bytes]]:
        """The route's headers, the security headers and Vary, as the request context middleware adds them
        to a route that sets no security header of its own; baked once per body."""
        baked = self._baked.get(path)
        if baked is None or baked[0] is not body:
            own = document._headers_for(body, components)
            present = {name for name, _ in own}
            headers = [*own, *(h for h in self.security if h[0] not in present), (b"vary", VARY)]
            baked = self._baked[path] = (body, headers)
        return list(baked[1])
