"""The JWK Set of the OpenID Connect keys (RFC 7517 §5), named by `jwks_uri` in the discovery document."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.web.components import components


async def jwks(request: Request) -> Response:
    """Pre-serialised bytes from memory; only a refresh from the database goes to the thread pool.
    `application/json` rather than `application/jwk-set+json`: that is what OIDC client libraries expect.
    Public caching for as long as this process keeps the set, so clients see a rotation as soon as we do."""
    service = components(request).services["keys"]
    body = service.fresh_jwks() or await run_in_threadpool(service.jwks_bytes)
    return Response(body, media_type="application/json",
                    headers={"cache-control": f"public, max-age={service.cache_seconds}"})


routes = [
    Route("/jwks", jwks, name="jwks"),
]
