"""The citizen-facing shell: start page, language switch, accessibility statement."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from servicekonto.core import i18n
from servicekonto.web.components import components
from servicekonto.web.request_context import LANGUAGE_COOKIE

ONE_YEAR = 365 * 24 * 3600


def safe_local_path(target: str | None, default: str = "/") -> str:
    """Only a path on this host: no scheme, no host, no `//` or `\\` tricks (open redirect, ASVS 5.1.5)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 512:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 0x20 for ch in target):
        return default
    return target


async def start(request: Request) -> Response:
    from servicekonto.web.feedback import notice

    return components(request).templates.render(
        request, "start.html", {"notice": notice(request.query_params.get("hinweis"))})


async def terms(request: Request) -> Response:
    return components(request).templates.render(request, "terms.html")


async def privacy(request: Request) -> Response:
    return components(request).templates.render(request, "privacy.html")


async def accessibility(request: Request) -> Response:
    return components(request).templates.render(request, "accessibility.html")


async def switch_language(request: Request) -> Response:
    """A plain link switches the language: no JavaScript, and the choice outlives the session."""
    locale = request.path_params["locale"]
    target = safe_local_path(request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    if locale in i18n.LOCALES:
        response.set_cookie(LANGUAGE_COOKIE, locale, max_age=ONE_YEAR, httponly=True, samesite="lax",
                            secure=components(request).https, path="/")
    return response


routes = [
    Route("/", start, name="start"),
    Route("/barrierefreiheit", accessibility, name="accessibility"),
    Route("/nutzungsbedingungen", terms, name="terms"),
    Route("/datenschutz", privacy, name="privacy"),
    Route("/sprache/{locale}", switch_language, name="switch_language"),
]
