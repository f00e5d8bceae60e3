"""Documents answered from bytes built ahead (discovery, JWKS): a plain ASGI endpoint, without Starlette's
Request and Response objects, which cost more than the answer itself. The middleware around it still adds
the security headers, the request id and the access log line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from servicekonto.web.components import Components

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
