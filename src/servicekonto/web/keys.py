"""The JWK Set of the OpenID Connect keys (RFC 7517 §5), named by `jwks_uri` in the discovery document."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.routing import Route

from servicekonto.web.blocking import run_blocking
from servicekonto.web.components import Components
from servicekonto.web.prebuilt import PrebuiltJson


def _jwks(components: Components) -> bytes | Awaitable[bytes]:
    """Pre-serialised bytes from memory; only a refresh from the database goes to the thread pool.
    `application/json` rather than `application/jwk-set+json`: that is what OIDC client libraries expect.
    Public caching for as long as this process keeps the set, so clients see a rotation as soon as we do."""
    service = components.services["keys"]
    return service.fresh_jwks() or run_blocking(service.jwks_bytes)


routes = [
    Route("/jwks", PrebuiltJson(_jwks, lambda c: f"public, max-age={c.services['keys'].cache_seconds}"),
          methods=["GET", "HEAD"], name="jwks"),
]
