"""Probes for the load balancer and the operator: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from servicekonto.web.blocking import run_blocking
from servicekonto.web.components import components

log = structlog.get_logger("servicekonto.health")


async def healthz(request: Request) -> Response:
    """The process answers; says nothing about its dependencies (so a database outage does not make the
    orchestrator restart every process)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Every dependency answers: the database and, when configured, Redis."""
    results: dict[str, str] = {}
    for name, check in components(request).readiness_checks.items():
        try:
            await run_blocking(check)
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness_check_failed", check=name, error_type=type(exc).__name__)
            results[name] = "unavailable"
    ready = all(value == "ok" for value in results.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": results},
                        status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    registry = components(request).metrics
    return Response(registry.render(), media_type=registry.content_type)


routes = [
    Route("/healthz", healthz, name="healthz"),
    Route("/readyz", readyz, name="readyz"),
    Route("/metrics", metrics, name="metrics"),
]
