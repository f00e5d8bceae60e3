"""Starlette's router with an index of fixed paths: a request to `/oidc/token` finds its route with one dict
lookup instead of trying every route's regular expression in turn (about 40 of them, on every request).

The order of the route list still decides: a fixed path goes into the index only when no route before it
could claim the same path, so the answer is always the one the plain router would give."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes))
        self.fixed: dict[str, Route] = {}
        for position, route in enumerate(self.routes):
            if not isinstance(route, Route) or route.param_convertors or route.path in self.fixed:
                continue
            probe: Scope = {"type": "http", "path": route.path, "root_path": "", "method": "GET"}
            if not any(earlier.matches(probe)[0] is not Match.NONE for earlier in self.routes[:position]):
                self.fixed[route.path] = route

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.fixed.get(scope["path"])
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
