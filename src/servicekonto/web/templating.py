"""Jinja2 with the gettext callables of `core.i18n`, so a template speaks the request's language.

One environment per language: a `_("…")` with a plain string and nothing else is translated when the
template is compiled, and the compiler folds it into the page's fixed text (escaped once, there). A login
page has about 30 of them and each cost a call, a catalogue lookup and an escape on every render. `_()`
with `%(name)s` variables, and the i18n extension's `gettext`/`ngettext`, still run per render."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from servicekonto.core import i18n

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


class StaticTranslations(Extension):
    """Rewrites the tokens `_` `(` "text" `)` into the string of the environment's language: the same value
    the call returns at render time, so the compiler can treat it as a constant."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        locale = self.environment.static_locale  # type: ignore[attr-defined]
        window: list[Token] = []
        previous = None
        for token in stream:
            window.append(token)
            if _is_constant_call(window, previous):
                yield Token(window[0].lineno, "string", i18n.translations(locale).gettext(window[2].value))
                previous, window = None, []
                continue
            while window and not _could_start_constant_call(window, previous):
                previous = window.pop(0)
                yield previous
        yield from window


_CALL_SHAPE = (("name", "_"), ("lparen", None), ("string", None), ("rparen", None))


def _could_start_constant_call(window: list[Token], previous: Token | None) -> bool:
    if previous is not None and previous.type == "dot":  # `x._("…")` is someone else's method
        return False
    return len(window) <= len(_CALL_SHAPE) and all(
        token.type == kind and (value is None or token.value == value)
        for token, (kind, value) in zip(window, _CALL_SHAPE, strict=False))


def _is_constant_call(window: list[Token], previous: Token | None) -> bool:
    return len(window) == len(_CALL_SHAPE) and _could_start_constant_call(window, previous)


def make_environment(locale: str = i18n.DEFAULT_LOCALE) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n", StaticTranslations],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package; no file checks per render
    )
    env.static_locale = locale  # type: ignore[attr-defined]
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
        self.envs = {locale: make_environment(locale) for locale in i18n.LOCALES}
        for env in self.envs.values():
            env.globals.update(site_name=site_name, is_test_system=is_test_system, locales=i18n.LOCALES)

    def render(self, request: Request, name: str, context: dict[str, Any] | None = None, *,
               status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
        from servicekonto.web.forms import csrf_token
        from servicekonto.web.session_context import current_session

        locale = i18n.current_locale()
        values: dict[str, Any] = {
            "request": request,
            "lang": locale,
            "request_id": getattr(request.state, "request_id", ""),
            "switch_query": _switch_query(request),
            "csrf_token": lambda: csrf_token(request),
            "logged_in": _logged_in(request, current_session),
            "errors": {},
            "values": {},
            "notice": None,
        }
        values.update(context or {})
        page = self.envs[locale].get_template(name).render(**values)
        return HTMLResponse(page, status_code=status_code, headers=headers)


def _switch_query(request: Request) -> str:
    """`next=` for the language switch: back to this very page after switching. Read from the scope as
    `request.url` would give path and query, without building the whole URL on every page."""
    path = request.scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query = request.scope.get("query_string", b"").decode().partition("#")[0]
    return urlencode({"next": path + (f"?{query}" if query else "")})


def _logged_in(request: Request, current_session: Any) -> bool:
    """Error pages render even when the session store is down."""
    if "sessions" not in request.app.state.components.services:
        return False
    try:
        return current_session(request) is not None
    except Exception:  # noqa: BLE001 - a broken store must not break the error page
        return False
