"""Self-service flows, bound to the browser that started them.

A new flow is not stored: its id is a signed, self-contained token (kind, state, expiry, data), so showing a
login or registration form to anyone costs no write. The flow is stored in the ephemeral store only when
it moves on (`save`), and then gets a random id."""

from __future__ import annotations

import base64
import hmac
from typing import Any

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.ids import random_token
from servicekonto.domain.flows import Flow, FlowKind, FlowNotFound, FlowState
from servicekonto.domain.ports import EphemeralStore

SIGNED = "s."
MAX_SIGNED_LENGTH = 2048


class FlowStore:
    def __init__(self, *, store: EphemeralStore, clock: Clock, key: bytes) -> None:
        self._store = store
        self._clock = clock
        self._key = key

    def start(self, kind: FlowKind, *, binding: str, data: dict[str, Any] | None = None) -> Flow:
        now = self._clock.now()
        flow = Flow.start(kind, flow_id="", now=now, data={**(data or {}), "binding": keyed_hash(self._key, binding)})
        flow.id = self._sign(flow)
        return flow

    def _sign(self, flow: Flow) -> str:
        payload = base64.urlsafe_b64encode(flow.to_json()).rstrip(b"=").decode()
        return f"{SIGNED}{payload}.{keyed_hash(self._key, payload)}"

    def _unsigned(self, flow_id: str) -> Flow | None:
        payload, _, mac = flow_id[len(SIGNED):].rpartition(".")
        if not payload or not hmac.compare_digest(mac, keyed_hash(self._key, payload)):
            return None
        return Flow.from_json(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    def load(self, flow_id: str | None, kind: FlowKind, *, binding: str) -> Flow:
        """The flow of this browser; FlowNotFound when unknown, of another kind, or another browser's."""
        flow: Flow | None = None
        if flow_id and flow_id.startswith(SIGNED) and len(flow_id) <= MAX_SIGNED_LENGTH:
            flow = self._unsigned(flow_id)
            if flow is not None:
                flow.id = flow_id
        elif flow_id and len(flow_id) <= 64:
            raw = self._store.get(f"flow:{flow_id}")
            flow = Flow.from_json(raw) if raw is not None else None
            if flow is not None:
                flow.id = flow_id
        if flow is None:
            raise FlowNotFound()
        if flow.kind is not kind or flow.data.get("binding") != keyed_hash(self._key, binding):
            raise FlowNotFound()
        flow.check_alive(now=self._clock.now())
        return flow

    def save(self, flow: Flow) -> None:
        """Store the flow; a signed one gets a random id now (the caller sends the browser the new id)."""
        if flow.id.startswith(SIGNED):
            flow.id = random_token(18)
        self._store.put(f"flow:{flow.id}", flow.to_json(), flow.ttl(now=self._clock.now()))

    def finish(self, flow: Flow) -> None:
        if not flow.id.startswith(SIGNED):
            self._store.delete(f"flow:{flow.id}")

    def advance(self, flow: Flow, to: FlowState) -> None:
        """Move the flow on now (STYLE.md §4); FlowExpired or InvalidFlowTransition otherwise."""
        flow.advance(to, now=self._clock.now())

    def require(self, flow: Flow, *states: FlowState) -> None:
        flow.require(*states, now=self._clock.now())
