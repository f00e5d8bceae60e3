"""What the web layer needs, built by the composition root (`app.py`) and kept in `app.state.components`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from servicekonto.web.metrics import Metrics
from servicekonto.web.templating import Templates


@dataclass
class Components:
    templates: Templates
    metrics: Metrics
    readiness_checks: dict[str, Callable[[], None]]
    base_url: str
    https: bool
    csrf_key: bytes = b""
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def base_origin(self) -> str:
        """scheme://host[:port] of the public URL, for the Origin check on POSTs."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"


def components(request: Request) -> Components:
    found: Components = request.app.state.components
    return found
