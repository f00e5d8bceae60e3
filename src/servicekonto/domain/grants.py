"""An authorization a citizen gave a client, and its refresh tokens (OIDC; the tokens themselves are JWTs
or opaque values handed out once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    client_id: str
    account_id: str
    session_hash: str | None  # keyed hash of the login session: logout ends the grants of that session
    subject: str
    scope: str
    claims: tuple[str, ...]  # released catalogue keys
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    organisation_id: str | None = None  # the organisation the login acted for (issue #10)

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


class RefreshTokenState:
    """What presenting a refresh token found."""

    VALID = "valid"
    UNKNOWN = "unknown"  # never issued, expired, or its grant is gone
    REUSED = "reused"  # rotated before: the grant is revoked
