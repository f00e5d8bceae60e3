"""The JWK Set of the OpenID Connect keys (RFC 7517 §5), named by `jwks_uri` in the discovery document."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.web.components import components


def jwks(request: Request) -> Response:
    """Pre-serialised bytes; a sync endpoint, so a refresh from the database runs in the thread pool.
    `application/json` rather than `application/jwk-set+json`: that is what OIDC client libraries expect.
    Public caching for as long as this process keeps the set, so clients see a rotation as soon as we do."""
    service = components(request).services["keys"]
    return Response(service.jwks_bytes(), media_type="application/json",
                    headers={"cache-control": f"public, max-age={service.cache_seconds}"})


routes = [
    Route("/jwks", jwks, name="jwks"),
]
