"""OpenID Connect on HTTP: thin adapters from Starlette to the provider (protocols/oidc). Parameters are
parsed here, everything else happens in the provider, off the event loop where it touches storage (userinfo
and introspection read, and the common refresh grant reads and writes, through async drivers on the loop when
the provider can: `reads_on_loop()`; a cached machine client's client_credentials grant needs no storage:
`client_credentials_fast()`)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from servicekonto.core.urls import origin
from servicekonto.domain.audit import AuditEvent
from servicekonto.protocols.oidc.provider import OpenIdProvider
from servicekonto.protocols.oidc.results import ProtocolResponse, SessionView, ShowError
from servicekonto.web.blocking import run_blocking
from servicekonto.web.components import components
from servicekonto.web.consent_pages import allow_form_target, continue_request, protocol_response
from servicekonto.web.forms import Form, bounded_form, finish, form_page
from servicekonto.web.page_helpers import render, service
from servicekonto.web.prebuilt import PrebuiltJson
from servicekonto.web.session_context import clear_session_cookie, current_session

MAX_BODY = 64 * 1024
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _provider(request: Request) -> OpenIdProvider:
    return components(request).services["oidc"]  # type: ignore[no-any-return]


async def _pairs(request: Request) -> list[tuple[str, str]] | None:
    """Form parameters of a POST (application/x-www-form-urlencoded only, bounded), or None."""
    return await bounded_form(request, MAX_BODY)


def _json(response: ProtocolResponse) -> Response:
    body = response.body
    content = json.dumps(body, separators=(",", ":")) if isinstance(body, dict) else body
    headers = {k: v for k, v in response.headers if k.lower() != "content-type"}
    media_type = next((v for k, v in response.headers if k.lower() == "content-type"), "application/json")
    return Response(content, status_code=response.status, headers=headers | NO_STORE, media_type=media_type)


def _bad_request(description: str) -> Response:
    return Response(json.dumps({"error": "invalid_request", "error_description": description}), status_code=400,
                    media_type="application/json", headers=NO_STORE)


discovery = PrebuiltJson(lambda c: c.services["oidc_discovery"], lambda _: "public, max-age=300", cors=True)


async def authorize(request: Request) -> Response:
    """OIDC Core §3.1.2: GET or POST (form-encoded; a portal's form carries no CSRF token of ours, and needs
    none: nothing changes until the citizen acts on our pages). Valid requests continue in the pages."""
    pairs = list(request.query_params.multi_items()) if request.method == "GET" else await _pairs(request)
    if pairs is None:
        return render(request, "oidc_error.html", 400, error="invalid_request",
                      description="A form-encoded body is required.")
    return finish(request, await run_blocking(_authorize, request, pairs))


def _authorize(request: Request, pairs: list[tuple[str, str]]) -> Response:
    session = current_session(request)
    view = None
    if session is not None and session.account is not None:
        view = SessionView(id=session.id, account=session.account, trust_level=session.trust_level,
                           methods=tuple(session.methods), auth_time=int(session.auth_time))
    outcome = _provider(request).authorize(request.method, str(request.url), pairs, view)
    if isinstance(outcome, ShowError):
        return render(request, "oidc_error.html", 400, error=outcome.error, description=outcome.description)
    if isinstance(outcome, ProtocolResponse):
        return protocol_response(outcome)
    return continue_request(request, outcome, fresh=True)


async def token(request: Request) -> Response:
    pairs = await _pairs(request)
    if pairs is None:
        return _bad_request("A form-encoded body is required.")
    provider = _provider(request)
    if (fast := provider.client_credentials_fast(request.headers, pairs)) is not None:
        return _json(fast)
    if provider.reads_on_loop() and (refreshed := await provider.refresh_on_loop(request.headers, pairs)) is not None:
        return _json(refreshed)
    if provider.answers_from_memory(request.headers, pairs):
        return _json(provider.token(str(request.url), request.headers, pairs))
    return _json(await run_blocking(provider.token, str(request.url), request.headers, pairs))


async def par(request: Request) -> Response:
    pairs = await _pairs(request)
    if pairs is None:
        return _bad_request("A form-encoded body is required.")
    return _json(await run_blocking(_provider(request).push, str(request.url), request.headers, pairs))


def _endpoint(name: str) -> Any:
    async def handle(request: Request) -> Response:
        pairs = await _pairs(request)
        if pairs is None:
            return _bad_request("A form-encoded body is required.")
        provider = _provider(request)
        if name == "introspection" and provider.reads_on_loop():
            answer = await provider.introspection_on_loop(str(request.url), request.headers, pairs)
            if answer is not None:
                return _json(answer)
        return _json(await run_blocking(provider.endpoint, name, str(request.url), request.headers, pairs))
    return handle


async def userinfo(request: Request) -> Response:
    """OIDC Core §5.3; the token in the Authorization header (RFC 6750 §2.1) or, on POST, the body (§2.2)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    access_token = value.strip() if scheme.lower() == "bearer" else ""
    if not access_token and request.method == "POST":
        access_token = dict(await _pairs(request) or []).get("access_token", "")
    if not access_token:
        return Response(status_code=401, headers={"www-authenticate": 'Bearer realm="servicekonto"'} | NO_STORE)
    provider = _provider(request)
    if provider.reads_on_loop() and (answer := await provider.userinfo_on_loop(access_token)) is not None:
        return _json(answer)
    return _json(await run_blocking(provider.userinfo, access_token))


@form_page
def logout(request: Request, form: Form) -> Response:
    """RP-initiated logout 1.0. With a valid id_token_hint the session ends at once; without one the citizen
    confirms (a bare link must not log anybody out)."""
    pairs = list(request.query_params.multi_items()) if request.method == "GET" else list(form.items())
    provider = _provider(request)
    target, client, sid = provider.end_session_target(pairs)
    params = dict(pairs)
    session = current_session(request)
    this_session = session is not None and sid is not None and sid == provider.session_hash(session.id)
    confirmed = request.method == "POST" or (client is not None and this_session)
    if session is not None and not confirmed:
        fields = {k: v for k, v in params.items() if k in {"client_id", "post_logout_redirect_uri", "state",
                                                           "id_token_hint", "ui_locales"}}
        page = render(request, "oidc_logout.html", fields=fields, service_name=client.name if client else None)
        return allow_form_target(page, origin(target) if target else None)
    response: Response = RedirectResponse(target or "/?hinweis=logged_out", status_code=303)
    if session is not None:
        service(request, "sessions").end(session.id)
        provider.logout_session(provider.session_hash(session.id))
        service(request, "auditor").record(AuditEvent.LOGGED_OUT, account_id=session.account_id)
        clear_session_cookie(request, response)
    return response


routes = [
    Route("/.well-known/openid-configuration", discovery, methods=["GET", "HEAD"], name="oidc_discovery"),
    Route("/oidc/authorize", authorize, methods=["GET", "POST"], name="oidc_authorize"),
    Route("/oidc/token", token, methods=["POST"], name="oidc_token"),
    Route("/oidc/par", par, methods=["POST"], name="oidc_par"),
    Route("/oidc/userinfo", userinfo, methods=["GET", "POST"], name="oidc_userinfo"),
    Route("/oidc/revoke", _endpoint("revocation"), methods=["POST"], name="oidc_revoke"),
    Route("/oidc/introspect", _endpoint("introspection"), methods=["POST"], name="oidc_introspect"),
    Route("/oidc/logout", logout, methods=["GET", "POST"], name="oidc_logout"),
]
