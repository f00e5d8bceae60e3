"""Form pages: read the form on the event loop, run the (synchronous, database-bound) handler in the
thread pool, check CSRF on every POST (ASVS 4.2.2), and keep form sizes bounded."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from servicekonto.core.crypto import keyed_hash
from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.core.ids import random_token
from servicekonto.web.blocking import run_blocking
from servicekonto.web.components import components

BROWSER_COOKIE = "sk_browser"
MAX_FIELDS = 60
MAX_FIELD_LENGTH = 4096
MAX_FORM_BYTES = MAX_FIELDS * (MAX_FIELD_LENGTH + 2)  # each field with its "=" and "&"

Form = dict[str, str]
Handler = Callable[[Request, Form], Response]


class CsrfFailed(ServicekontoError):
    code = "csrf.failed"
    http_status = 403
    message = _l("This form has expired or was not sent from this page. Please reload the page and try again. "
                 "Cookies must be allowed for this service.")


class FormTooLarge(ServicekontoError):
    code = "form.too_large"
    http_status = 413
    message = _l("The form contains too much data.")


def browser_id(request: Request) -> str:
    """A random id per browser (cookie), issued on first sight; binds CSRF tokens and flows before login."""
    existing = getattr(request.state, "browser_id", None)
    if existing:
        return str(existing)
    value = request.cookies.get(BROWSER_COOKIE, "")
    if not (20 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()):
        value = random_token(24)
        request.state.new_browser_id = value
    request.state.browser_id = value
    return value


def csrf_token(request: Request) -> str:
    """Bound to the login session when there is one, else to the browser (signed double submit). Kept per
    binding for the request: a page with several forms, and the check of a POST, compute it once."""
    from servicekonto.web.session_context import current_session

    session = current_session(request)
    binding = f"s:{session.csrf_secret}" if session else f"b:{browser_id(request)}"
    known: dict[str, str] | None = getattr(request.state, "csrf_tokens", None)
    if known is None:
        known = request.state.csrf_tokens = {}
    token = known.get(binding)
    if token is None:
        token = known[binding] = keyed_hash(components(request).csrf_key, binding)
    return token


def check_csrf(request: Request, form: Form) -> None:
    sent = form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfFailed()
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != components(request).base_origin:
        raise CsrfFailed()


async def bounded_form(request: Request, limit: int, *, max_fields: int = 100) -> list[tuple[str, str]] | None:
    """The pairs of a form-encoded body (the protocols' endpoints), or None: another content type, more
    than `limit` bytes (read no further than that, so a huge or chunked body is never held whole), or not
    decodable."""
    if not _is_urlencoded(request):
        return None
    body = await _bounded_body(request, limit)
    if body is None:
        return None
    try:
        return parse_qsl(body.decode(), keep_blank_values=False, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return None


def _is_urlencoded(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it has more than `limit` bytes (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def finish(request: Request, response: Response) -> Response:
    """Set the browser cookie when this request created it."""
    new_id = getattr(request.state, "new_browser_id", None)
    if new_id:
        response.set_cookie(BROWSER_COOKIE, new_id, max_age=400 * 24 * 3600, httponly=True, samesite="lax",
                            secure=components(request).https, path="/")
    return response


def form_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        form: Form = {}
        if request.method == "POST":
            form = await _read_form(request)
        response: Response = await run_blocking(_run, handler, request, form)
        return finish(request, response)

    return endpoint


async def _read_form(request: Request) -> Form:
    """The fields of a POST, at most MAX_FIELDS of at most MAX_FIELD_LENGTH bytes each (as sent), the last
    value of a repeated name winning, or FormTooLarge. A urlencoded body (what a browser sends for our
    forms) is split here, as Starlette's parser splits it, at a fraction of its cost; anything else goes
    through Starlette with the same limits and no files."""
    if not _is_urlencoded(request):
        try:
            data = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_LENGTH)
        except Exception as exc:
            raise FormTooLarge() from exc
        form = {key: value for key, value in data.items() if isinstance(value, str)}
    else:
        body = await _bounded_body(request, MAX_FORM_BYTES)
        if body is None:
            raise FormTooLarge()
        parts = [part for part in body.split(b"&") if part]
        if len(parts) > MAX_FIELDS or any(len(part) > MAX_FIELD_LENGTH + 1 for part in parts):
            raise FormTooLarge()
        form = {}
        for part in parts:
            name, _, value = part.partition(b"=")
            form[unquote_plus(name.decode("latin-1"))] = unquote_plus(value.decode("latin-1"))
    if any(len(v) > MAX_FIELD_LENGTH for v in form.values()):
        raise FormTooLarge()
    return form


def _run(handler: Handler, request: Request, form: Form) -> Response:
    if request.method == "POST":
        check_csrf(request, form)
    return handler(request, form)


def values_without_secrets(form: Form) -> dict[str, Any]:
    """What to put back into a re-rendered form: never a password."""
    return {k: v for k, v in form.items() if "password" not in k and k != "csrf_token"}
