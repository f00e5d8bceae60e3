"""Jinja2 with the gettext callables of `core.i18n`, so a template speaks the request's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from servicekonto.core import i18n

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package; no file checks per render
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["_"] = translate
    return env


def translate(message: str, **variables: Any) -> str:
    """`_()` in templates: the translation as plain text (escaped on output like any value), and with
    `%(name)s` variables a Markup whose variables are escaped. One call instead of the i18n extension's
    three wrappers, a Markup and a `%` per string: a page has dozens of them."""
    text = i18n.gettext(message)
    # The catalogue is ours and reviewed; only the variables come from outside, and `%` escapes them.
    return Markup(text) % variables if variables else text  # noqa: S704


class Templates:
    def __init__(self, *, site_name: str, is_test_system: bool) -> None:
        self.env = make_environment()
        self.env.globals.update(site_name=site_name, is_test_system=is_test_system, locales=i18n.LOCALES)

    def render(self, request: Request, name: str, context: dict[str, Any] | None = None, *,
               status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
        from servicekonto.web.forms import csrf_token
        from servicekonto.web.session_context import current_session

        values: dict[str, Any] = {
            "request": request,
            "lang": i18n.current_locale(),
            "request_id": getattr(request.state, "request_id", ""),
            "switch_query": _switch_query(request),
            "csrf_token": lambda: csrf_token(request),
            "logged_in": _logged_in(request, current_session),
            "errors": {},
            "values": {},
            "notice": None,
        }
        values.update(context or {})
        page = self.env.get_template(name).render(**values)
        return HTMLResponse(page, status_code=status_code, headers=headers)


def _switch_query(request: Request) -> str:
    """`next=` for the language switch: back to this very page after switching."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return urlencode({"next": here})


def _logged_in(request: Request, current_session: Any) -> bool:
    """Error pages render even when the session store is down."""
    if "sessions" not in request.app.state.components.services:
        return False
    try:
        return current_session(request) is not None
    except Exception:  # noqa: BLE001 - a broken store must not break the error page
        return False
