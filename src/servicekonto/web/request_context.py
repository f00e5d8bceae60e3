"""Per-request context as pure ASGI middleware: request id, language, security headers, metrics and an
access log without personal data (no query strings, no addresses, no cookies)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekonto.core import i18n
from servicekonto.core.ids import error_id
from servicekonto.core.logging import access_log
from servicekonto.web.metrics import Metrics

LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_BYTES = LANGUAGE_COOKIE.encode()

log = structlog.get_logger("servicekonto.http")


def content_security_policy(form_action: Iterable[str] = ("'self'",)) -> str:
    """No inline script or style anywhere: every page works without JavaScript (core flows) and the policy
    stops injected script (ASVS 14.4.3)."""
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        f"form-action {' '.join(form_action)}",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ])


def security_headers(*, https: bool) -> list[tuple[bytes, bytes]]:
    headers = {
        "content-security-policy": content_security_policy(),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    }
    if https:
        headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def choose_locale(scope: Scope) -> str:
    """The language cookie (set by the language switch) wins; then Accept-Language; then German.
    Headers are read raw: this runs on every request (SimpleCookie would cost more than the rest)."""
    cookie_header = accept = None
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            cookie_header = value
        elif name == b"accept-language":
            accept = value
    if cookie_header:
        for part in cookie_header.split(b";"):
            key, _, value = part.strip().partition(b"=")
            if key == LANGUAGE_COOKIE_BYTES:
                chosen = value.strip(b'"').decode("latin-1")
                if chosen in i18n.LOCALES:
                    return chosen
    return i18n.negotiate(accept.decode("latin-1") if accept else None)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, https: bool,
                 error_response: Callable[[Request], Response]) -> None:
        self.app = app
        self.metrics = metrics
        self.headers = security_headers(https=https)
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = error_id()
        locale = choose_locale(scope)
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["locale"] = locale
        i18n.set_locale(locale)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                add_headers(message, self.headers, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # The boundary for the unexpected: logged with the request id, answered with the error page
            # (inside this middleware, so the page carries the security headers and the id too).
            log.error("unhandled_exception", error_type=type(exc).__name__, exc_info=exc)
            if response_started:
                raise
            await self.error_response(Request(scope))(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status, elapsed)
            access_log(request_id, scope["method"], route, status, round(elapsed * 1000, 2))


VARY = b"Accept-Language, Cookie"


def add_headers(message: Message, defaults: list[tuple[bytes, bytes]], request_id: str) -> None:
    """Security headers a route did not set itself (it may set a narrower policy), the request id, no-store
    unless the route said otherwise, and Vary on language and cookie. On the raw header list: every
    response passes here."""
    raw: list[tuple[bytes, bytes]] = list(message.get("headers") or [])
    present = {name.lower() for name, _ in raw}
    raw.extend(header for header in defaults if header[0] not in present)
    raw.append((b"x-request-id", request_id.encode()))
    if b"cache-control" not in present:
        raw.append((b"cache-control", b"no-store"))
    if b"vary" in present:
        raw = [(name, value + b", " + VARY if name.lower() == b"vary" else value) for name, value in raw]
    else:
        raw.append((b"vary", VARY))
    message["headers"] = raw


def _route_template(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
