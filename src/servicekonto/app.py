"""Composition root: `create_app(settings)` builds adapters, services, routes and middleware.

Nothing else in the package reads configuration or picks an adapter; `app_from_environment()` is the
factory uvicorn's workers call.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from servicekonto.core.clock import Clock, SystemClock
from servicekonto.core.logging import configure_logging
from servicekonto.domain.ports import EphemeralStore
from servicekonto.persistence.database import Database
from servicekonto.persistence.ephemeral import make_ephemeral_store
from servicekonto.persistence.keys import SqlKeyRepository
from servicekonto.persistence.tenants import SqlTenantRepository
from servicekonto.services.keys import KeyService
from servicekonto.services.tenants import TenantService
from servicekonto.settings import Settings, load_settings
from servicekonto.web import errors, health, pages
from servicekonto.web import keys as key_routes
from servicekonto.web.components import Components
from servicekonto.web.metrics import Metrics
from servicekonto.web.request_context import RequestContextMiddleware
from servicekonto.web.templating import TEMPLATE_DIR, Templates

SITE_NAME = "Servicekonto"


@dataclass
class Container:
    """Everything a process holds: adapters and services, built once from the settings."""

    settings: Settings
    clock: Clock
    database: Database
    ephemeral: EphemeralStore
    tenants: TenantService
    keys: KeyService

    def close(self) -> None:
        self.database.dispose()


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    database = Database(settings.effective_database_url, pool_size=settings.database_pool_size)
    ephemeral = make_ephemeral_store(settings=settings, database=database, clock=clock)
    return Container(
        settings=settings,
        clock=clock,
        database=database,
        ephemeral=ephemeral,
        tenants=TenantService(tenants=SqlTenantRepository(database), clock=clock),
        keys=KeyService(
            keys=SqlKeyRepository(database),
            secret=settings.deployment_secret(),
            clock=clock,
            issuer_host=urlsplit(settings.base_url).hostname or "localhost",
            publish_seconds=settings.key_publish_seconds,
            cache_seconds=settings.keys_cache_seconds,
        ),
    )


def create_app(settings: Settings, *, container: Container | None = None) -> Starlette:
    container = container or build_container(settings)
    metrics = Metrics()
    readiness = {"database": container.database.ping}
    if settings.redis_url:
        readiness["redis"] = container.ephemeral.ping
    web = Components(
        templates=Templates(site_name=SITE_NAME, is_test_system=settings.is_test_system),
        metrics=metrics,
        readiness_checks=readiness,
        base_url=settings.base_url,
        https=settings.uses_https,
        services={"tenants": container.tenants, "keys": container.keys},
    )
    app = Starlette(
        routes=[
            *pages.routes,
            *health.routes,
            *key_routes.routes,
            Mount("/static", app=StaticFiles(directory=TEMPLATE_DIR.parent / "static"), name="static"),
        ],
        middleware=[Middleware(RequestContextMiddleware, metrics=metrics, https=settings.uses_https,
                               error_response=errors.internal_error_page)],
        exception_handlers=errors.exception_handlers,  # type: ignore[arg-type]
    )
    app.state.components = web
    app.state.container = container
    return app


def app_from_environment() -> Starlette:
    """The uvicorn factory: each worker process reads and validates the same environment."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
