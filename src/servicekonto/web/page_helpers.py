"""What the citizen pages share: services, rendering, redirects, flows and mail-link confirmation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from servicekonto.domain.flows import Flow, FlowExpired, FlowKind, FlowNotFound
from servicekonto.services.tokens import TokenInvalid
from servicekonto.web.components import components
from servicekonto.web.feedback import Message, error_message
from servicekonto.web.forms import Form, browser_id


def service(request: Request, name: str) -> Any:
    return components(request).services[name]


def render(request: Request, template: str, status_code: int = 200, **context: object) -> Response:
    return components(request).templates.render(request, template, context, status_code=status_code)


def redirect_to(path: str, **params: str) -> RedirectResponse:
    return RedirectResponse(path + ("?" + urlencode(params) if params else ""), status_code=303)


def client_address(request: Request) -> str | None:
    """The peer address (uvicorn resolves X-Forwarded-For from trusted proxies); only ever hashed."""
    return request.client.host if request.client else None


def flow_for(request: Request, kind: FlowKind, *, data: dict[str, str] | None = None) -> tuple[Flow, Message | None]:
    """The flow named in the URL, or a new one (with a note when the old one expired)."""
    flows = service(request, "flows")
    flow_id = request.query_params.get("flow")
    if flow_id:
        try:
            return flows.load(flow_id, kind, binding=browser_id(request)), None
        except (FlowNotFound, FlowExpired) as exc:
            return flows.start(kind, binding=browser_id(request), data=data), error_message(exc)
    return flows.start(kind, binding=browser_id(request), data=data), None


def confirm_token_page(request: Request, form: Form, *, check: Callable[[str], object],
                       use: Callable[[str], object], done: Response, **texts: str) -> Response:
    """A link from a mail: GET shows a button, only the POST uses the token, so mail scanners that open
    links cannot use it up. Works in any browser (no flow: the link may be opened elsewhere)."""
    token = form.get("token", "") if request.method == "POST" else request.query_params.get("token", "")
    context = {"action": request.url.path, "token": token, **texts}
    try:
        if request.method == "GET":
            check(token)
            return render(request, "confirm_token.html", valid=True, **context)
        use(token)
    except TokenInvalid as exc:
        return render(request, "confirm_token.html", 400, valid=False, notice=error_message(exc), **context)
    return done
