"""Portals' requests (AuthRequest) kept server-side while the citizen logs in and consents; the browser
carries only the id."""

from __future__ import annotations

from servicekonto.core.clock import Clock
from servicekonto.domain.auth_request import AuthRequest
from servicekonto.domain.ports import EphemeralStore

AUTH_REQUEST_SECONDS = 1800


class AuthRequestStore:
    def __init__(self, *, store: EphemeralStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def now(self) -> float:
        return self._clock.timestamp()

    def save(self, request: AuthRequest) -> None:
        self._store.put(_key(request.id), request.to_json(), AUTH_REQUEST_SECONDS)

    def get(self, request_id: str) -> AuthRequest | None:
        if not request_id or len(request_id) > 64:
            return None
        raw = self._store.get(_key(request_id))
        return AuthRequest.from_json(raw) if raw else None

    def finish(self, request_id: str) -> None:
        self._store.delete(_key(request_id))


def _key(request_id: str) -> str:
    return f"authreq:{request_id}"
