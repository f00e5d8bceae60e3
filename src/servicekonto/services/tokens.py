"""Single-use tokens for links in mails (verification, password reset, e-mail change): 256 random bits,
stored only as a keyed hash in the ephemeral store, redeemed with an atomic take()."""

from __future__ import annotations

import enum
import json
from typing import Any

from servicekonto.core.crypto import keyed_hash
from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.core.ids import random_token
from servicekonto.domain.ports import EphemeralStore


class TokenPurpose(enum.StrEnum):
    VERIFY_EMAIL = "verify-email"
    RESET_PASSWORD = "reset-password"
    CHANGE_EMAIL = "change-email"


LIFETIMES = {
    TokenPurpose.VERIFY_EMAIL: 24 * 3600,
    TokenPurpose.RESET_PASSWORD: 3600,
    TokenPurpose.CHANGE_EMAIL: 24 * 3600,
}


class TokenInvalid(ServicekontoError):
    code = "token.invalid"
    http_status = 400
    message = _l("This link is no longer valid: it was already used or has expired. Please request a new one.")


class TokenService:
    def __init__(self, *, store: EphemeralStore, key: bytes) -> None:
        self._store = store
        self._key = key

    def _storage_key(self, purpose: TokenPurpose, token: str) -> str:
        return f"token:{purpose.value}:{keyed_hash(self._key, token)}"

    def issue(self, purpose: TokenPurpose, payload: dict[str, Any]) -> str:
        token = random_token(32)
        self._store.put(self._storage_key(purpose, token), json.dumps(payload).encode(), LIFETIMES[purpose])
        return token

    def peek(self, purpose: TokenPurpose, token: str) -> dict[str, Any]:
        """Check a token without using it up (to show the form that will redeem it)."""
        raw = self._store.get(self._storage_key(purpose, token)) if 20 <= len(token) <= 100 else None
        if raw is None:
            raise TokenInvalid()
        payload: dict[str, Any] = json.loads(raw)
        return payload

    def redeem(self, purpose: TokenPurpose, token: str) -> dict[str, Any]:
        raw = self._store.take(self._storage_key(purpose, token)) if 20 <= len(token) <= 100 else None
        if raw is None:
            raise TokenInvalid()
        payload: dict[str, Any] = json.loads(raw)
        return payload
