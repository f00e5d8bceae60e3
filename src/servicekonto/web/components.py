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
    services: dict[str, Any] = field(default_factory=dict)


def components(request: Request) -> Components:
    found: Components = request.app.state.components
    return found
