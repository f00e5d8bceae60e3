"""Error pages in the visitor's language, each with an error id that finds the log line; never a stack
trace. Errors of the service map to their status and message here, once."""

from __future__ import annotations

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.web.components import components
from servicekonto.web.session_context import LoginRequired

log = structlog.get_logger("servicekonto.errors")

TITLES = {
    400: _l("The request could not be processed"),
    403: _l("Access denied"),
    404: _l("Page not found"),
    405: _l("This action is not possible here"),
    429: _l("Too many attempts"),
    500: _l("Internal error"),
    503: _l("Temporarily unavailable"),
}
MESSAGES = {
    400: _l("The request was incomplete or not valid. Please go back and try again."),
    403: _l("You are not allowed to open this page."),
    404: _l("The page you asked for does not exist. Please check the address."),
    405: _l("This page cannot be used this way. Please go back and use the links and buttons of the page."),
    429: _l("Please wait a moment and try again."),
    500: _l("Something went wrong on our side. We have recorded the error. Please try again later."),
    503: _l("The service is being maintained or overloaded. Please try again in a few minutes."),
}


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    request_id = getattr(request.state, "request_id", "")
    title = str(TITLES.get(status, TITLES[500 if status >= 500 else 400]))
    text = message or str(MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400]))
    if _wants_json(request):
        return JSONResponse({"status": status, "title": title, "detail": text, "error_id": request_id},
                            status_code=status, media_type="application/problem+json")
    return components(request).templates.render(
        request, "error.html", {"status": status, "title": title, "message": text, "error_id": request_id},
        status_code=status)


async def http_exception(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    response = error_page(request, status)
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


async def servicekonto_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServicekontoError)
    if exc.http_status >= 500:
        log.error("service_error", code=exc.code, exc_info=exc)
    return error_page(request, exc.http_status, exc.user_message())


def internal_error_page(request: Request) -> Response:
    """Rendered by the request-context middleware for anything no handler caught."""
    return error_page(request, 500)


async def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return exc.response


exception_handlers = {
    HTTPException: http_exception,
    ServicekontoError: servicekonto_error,
    LoginRequired: login_required,
}
