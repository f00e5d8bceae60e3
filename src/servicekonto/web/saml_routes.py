"""SAML 2.0 on HTTP. So far the IdP's signed metadata (DESIGN.md §4: everything SAML is discoverable
from it); SSO and SLO follow."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.protocols.saml.idp_metadata import CONTENT_TYPE, PATHS, IdpMetadata
from servicekonto.web.components import components


async def metadata(request: Request) -> Response:
    """Pre-built bytes; the thread pool only because a stale key set is read from the database.
    Cacheable for as long as this process keeps the key set, so SPs see a rotation as soon as we do."""
    idp: IdpMetadata = components(request).services["saml_metadata"]
    body = await run_in_threadpool(idp.body)
    return Response(body, media_type=CONTENT_TYPE,
                    headers={"cache-control": f"public, max-age={idp.cache_seconds}"})


routes = [
    Route(PATHS["metadata"], metadata, name="saml_metadata"),
]
