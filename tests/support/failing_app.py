"""A test-only app: the real application plus one route that raises, to show the 500 page in a browser.

The product has no crash route; this factory wraps `servicekonto.app.app_from_environment` (the same factory
`servicekonto serve` runs) and is served by uvicorn with `--factory`, from `tests/` only.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekonto.app import app_from_environment

FAILING_APP_FACTORY = "tests.support.failing_app:create_app_with_failing_route"  # for uvicorn --factory
FAILING_PATH = "/test-only/fail"
# Text that must never reach the visitor: the exception's message and the internals it names.
SECRET_DETAIL = "internal-detail-7f3a9c: connection string postgresql://user:hunter2@db/servicekonto"


class DeliberateFailure(RuntimeError):
    pass


async def fail(request: Request) -> Response:
    raise DeliberateFailure(SECRET_DETAIL)


def create_app_with_failing_route() -> Starlette:
    app = app_from_environment()
    app.router.routes.append(Route(FAILING_PATH, fail, name="test_only_fail"))
    return app
