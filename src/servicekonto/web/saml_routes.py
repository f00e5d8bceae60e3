"""SAML 2.0 on HTTP: the IdP's signed metadata (DESIGN.md §4: everything SAML is discoverable from it), the
single sign-on and the single logout endpoint, each for the HTTP-Redirect and HTTP-POST bindings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from servicekonto.domain.audit import AuditEvent
from servicekonto.protocols.saml.idp import PostPage, RequestRefused, SamlIdentityProvider
from servicekonto.protocols.saml.idp_metadata import CONTENT_TYPE, PATHS, IdpMetadata
from servicekonto.protocols.saml.logout import SamlLogoutRequest
from servicekonto.web.blocking import run_blocking
from servicekonto.web.components import components
from servicekonto.web.consent_pages import continue_request, protocol_response
from servicekonto.web.forms import bounded_form, finish
from servicekonto.web.page_helpers import render, service
from servicekonto.web.session_context import clear_session_cookie, current_session

MAX_FORM_BYTES = 512 * 1024
FORM_ENCODED = "application/x-www-form-urlencoded"


async def metadata(request: Request) -> Response:
    """Pre-built bytes; the thread pool only because a stale key set is read from the database.
    Cacheable for as long as this process keeps the key set, so SPs see a rotation as soon as we do."""
    idp: IdpMetadata = components(request).services["saml_metadata"]
    body = await run_blocking(idp.body)
    return Response(body, media_type=CONTENT_TYPE,
                    headers={"cache-control": f"public, max-age={idp.cache_seconds}"})


async def single_sign_on(request: Request) -> Response:
    """SAML bindings §3.4 (GET, Redirect) and §3.5 (POST). The SP's form carries no CSRF token of ours and
    needs none: nothing changes until the citizen acts on our pages. The raw query is kept: a Redirect
    signature covers its exact octets."""
    message = await _read_message(request, "saml.request")
    if isinstance(message, RequestRefused):
        return _refused(request, message)
    return finish(request, await run_blocking(_single_sign_on, request, *message))


async def _read_message(request: Request, code_prefix: str) -> tuple[str, dict[str, str], str | None] | RequestRefused:
    """The binding, the parameters and (Redirect only) the raw query of a SAML message, from the query (GET)
    or a bounded form body (POST); refusals carry `code_prefix` + `.malformed` or `.too_large`."""
    if request.method == "GET":
        return "redirect", dict(request.query_params), request.url.query
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM_ENCODED:
        return RequestRefused(f"{code_prefix}.malformed",
                              "The HTTP-POST binding sends an application/x-www-form-urlencoded body.")
    pairs = await bounded_form(request, MAX_FORM_BYTES, max_fields=10)
    if pairs is None:
        return RequestRefused(f"{code_prefix}.too_large", "The request is larger than 512 KiB.")
    return "post", dict(pairs), None


def _single_sign_on(request: Request, binding: str, params: dict[str, str], raw_query: str | None) -> Response:
    idp: SamlIdentityProvider = components(request).services["saml"]
    sso_url = components(request).base_url.rstrip("/") + PATHS["sso"]
    outcome = idp.authorize(binding=binding, params=params, raw_query=raw_query, sso_url=sso_url)
    if isinstance(outcome, RequestRefused):
        return _refused(request, outcome)
    if isinstance(outcome, PostPage):  # a request we cannot meet, answered at its ACS (NoAuthnContext)
        return protocol_response(outcome)
    return continue_request(request, outcome, fresh=True)


def _refused(request: Request, refused: RequestRefused) -> Response:
    return render(request, "oidc_error.html", 400, error=refused.error, description=refused.description)


async def single_logout(request: Request) -> Response:
    """SP-initiated Single Logout (SAML profiles §4.4), Redirect (GET) and POST. A POST comes cross-site and
    so without our SameSite=Lax session cookie: its checked request waits behind a one-time token for the GET
    it is redirected to, which carries the cookie."""
    message = await _read_message(request, "saml.logout")
    if isinstance(message, RequestRefused):
        return _logout_refused(request, message)
    return finish(request, await run_blocking(_single_logout, request, *message))


def _single_logout(request: Request, binding: str, params: dict[str, str], raw_query: str | None) -> Response:
    idp: SamlIdentityProvider = components(request).services["saml"]
    slo_url = components(request).base_url.rstrip("/") + PATHS["slo"]
    outcome = idp.read_logout(binding=binding, params=params, raw_query=raw_query, slo_url=slo_url)
    if isinstance(outcome, RequestRefused):
        return _logout_refused(request, outcome)
    if binding == "post":
        return RedirectResponse(f"{PATHS['slo']}/{idp.hold_logout(outcome)}", status_code=303)
    return _end_session(request, outcome)


async def single_logout_continued(request: Request) -> Response:
    return await run_blocking(_single_logout_continued, request)


def _single_logout_continued(request: Request) -> Response:
    idp: SamlIdentityProvider = components(request).services["saml"]
    outcome = idp.resume_logout(request.path_params["token"])
    if outcome is None:
        return _logout_refused(request, RequestRefused(
            "saml.logout.expired", "The logout request is unknown, expired or was already answered."), 410)
    return _end_session(request, outcome)


def _end_session(request: Request, logout_request: SamlLogoutRequest) -> Response:
    """As /oidc/logout ends a session: the session, its OIDC grants (with back-channel logout), the cookie,
    the audit event; then the signed LogoutResponse to the SP."""
    idp: SamlIdentityProvider = components(request).services["saml"]
    session = current_session(request)
    decision = idp.logout(logout_request, session_id=session.id if session is not None else None)
    response = protocol_response(decision.answer)
    response.headers["cache-control"] = "no-store"
    if decision.end_session and session is not None:
        service(request, "sessions").end(session.id)
        oidc = service(request, "oidc")
        oidc.logout_session(oidc.session_hash(session.id))
        service(request, "auditor").record(AuditEvent.LOGGED_OUT, account_id=session.account_id)
        clear_session_cookie(request, response)
    return response


def _logout_refused(request: Request, refused: RequestRefused, status: int = 400) -> Response:
    return render(request, "saml_logout_error.html", status, error=refused.error, description=refused.description)


routes = [
    Route(PATHS["metadata"], metadata, name="saml_metadata"),
    Route(PATHS["sso"], single_sign_on, methods=["GET", "POST"], name="saml_sso"),
    Route(PATHS["slo"], single_logout, methods=["GET", "POST"], name="saml_slo"),
    Route(PATHS["slo"] + "/{token}", single_logout_continued, name="saml_slo_continued"),
]
