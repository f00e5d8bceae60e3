"""Self-service flows kept in the ephemeral store, bound to the browser that started them."""

from __future__ import annotations

from typing import Any

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.ids import random_token
from servicekonto.domain.flows import Flow, FlowKind, FlowNotFound
from servicekonto.domain.ports import EphemeralStore


class FlowStore:
    def __init__(self, *, store: EphemeralStore, clock: Clock, key: bytes) -> None:
        self._store = store
        self._clock = clock
        self._key = key

    def start(self, kind: FlowKind, *, binding: str, data: dict[str, Any] | None = None) -> Flow:
        now = self._clock.now()
        flow = Flow.start(kind, flow_id=random_token(18), now=now,
                          data={**(data or {}), "binding": keyed_hash(self._key, binding)})
        self.save(flow)
        return flow

    def load(self, flow_id: str | None, kind: FlowKind, *, binding: str) -> Flow:
        """The flow of this browser; FlowNotFound when unknown, of another kind, or another browser's."""
        raw = self._store.get(f"flow:{flow_id}") if flow_id and len(flow_id) <= 64 else None
        if raw is None:
            raise FlowNotFound()
        flow = Flow.from_json(raw)
        if flow.kind is not kind or flow.data.get("binding") != keyed_hash(self._key, binding):
            raise FlowNotFound()
        flow.check_alive(now=self._clock.now())
        return flow

    def save(self, flow: Flow) -> None:
        self._store.put(f"flow:{flow.id}", flow.to_json(), flow.ttl(now=self._clock.now()))

    def finish(self, flow: Flow) -> None:
        self._store.delete(f"flow:{flow.id}")

    def now(self) -> Any:
        return self._clock.now()
