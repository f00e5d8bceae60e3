"""SAML 2.0 on HTTP: the IdP's signed metadata (DESIGN.md §4: everything SAML is discoverable from it) and
the single sign-on endpoint for the HTTP-Redirect and HTTP-POST bindings; SLO follows."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.protocols.saml.idp import RequestRefused, SamlIdentityProvider
from servicekonto.protocols.saml.idp_metadata import CONTENT_TYPE, PATHS, IdpMetadata
from servicekonto.web.components import components
from servicekonto.web.consent_pages import continue_request
from servicekonto.web.forms import bounded_form, finish
from servicekonto.web.page_helpers import render

MAX_FORM_BYTES = 512 * 1024
FORM_ENCODED = "application/x-www-form-urlencoded"


async def metadata(request: Request) -> Response:
    """Pre-built bytes; the thread pool only because a stale key set is read from the database.
    Cacheable for as long as this process keeps the key set, so SPs see a rotation as soon as we do."""
    idp: IdpMetadata = components(request).services["saml_metadata"]
    body = await run_in_threadpool(idp.body)
    return Response(body, media_type=CONTENT_TYPE,
                    headers={"cache-control": f"public, max-age={idp.cache_seconds}"})


async def single_sign_on(request: Request) -> Response:
    """SAML bindings §3.4 (GET, Redirect) and §3.5 (POST). The SP's form carries no CSRF token of ours and
    needs none: nothing changes until the citizen acts on our pages. The raw query is kept: a Redirect
    signature covers its exact octets."""
    if request.method == "GET":
        params = dict(request.query_params)
        raw_query: str | None = request.url.query
        binding = "redirect"
    else:
        if request.headers.get("content-type", "").split(";")[0].strip() != FORM_ENCODED:
            return _refused(request, RequestRefused(
                "saml.request.malformed", "The HTTP-POST binding sends an application/x-www-form-urlencoded body."))
        pairs = await bounded_form(request, MAX_FORM_BYTES, max_fields=10)
        if pairs is None:
            return _refused(request, RequestRefused("saml.request.too_large", "The request is larger than 512 KiB."))
        params, raw_query, binding = dict(pairs), None, "post"
    return finish(request, await run_in_threadpool(_single_sign_on, request, binding, params, raw_query))


def _single_sign_on(request: Request, binding: str, params: dict[str, str], raw_query: str | None) -> Response:
    idp: SamlIdentityProvider = components(request).services["saml"]
    sso_url = components(request).base_url.rstrip("/") + PATHS["sso"]
    outcome = idp.authorize(binding=binding, params=params, raw_query=raw_query, sso_url=sso_url)
    if isinstance(outcome, RequestRefused):
        return _refused(request, outcome)
    return continue_request(request, outcome, fresh=True)


def _refused(request: Request, refused: RequestRefused) -> Response:
    return render(request, "oidc_error.html", 400, error=refused.error, description=refused.description)


routes = [
    Route(PATHS["metadata"], metadata, name="saml_metadata"),
    Route(PATHS["sso"], single_sign_on, methods=["GET", "POST"], name="saml_sso"),
]
