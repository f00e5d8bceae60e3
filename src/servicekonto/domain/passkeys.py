"""Passkeys (WebAuthn discoverable credentials) of an account and the trust level each one carries
(DESIGN.md §2): a passkey alone, with user verification, is possession plus a PIN or biometric on the
device — level 2; one registered while the session was identified with the ID card (level 4) is bound to
that verified identity and reaches level 3. Level 4 always needs the card itself."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from servicekonto.domain.trust import TrustLevel

PASSKEY_METHOD = "passkey"  # → amr "hwk" (RFC 8176)
MAX_PASSKEYS = 10  # per account: enough for every device a citizen owns, a bound on stored keys
NAME_MAX = 64
# A passkey registered in a session at this level is bound to the identity the ID card verified.
BINDING_LEVEL = TrustLevel.HIGH
BOUND_LEVEL = TrustLevel.SUBSTANTIAL
UNBOUND_LEVEL = TrustLevel.LOW


@dataclass(frozen=True, slots=True)
class Passkey:
    """A registered credential; `credential_id` is base64url without padding (as WebAuthn's JSON carries it)."""

    id: str
    account_id: str
    credential_id: str
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: tuple[str, ...]
    name: str
    bound_to_eid: bool
    created_at: datetime
    last_used_at: datetime | None = None

    @property
    def trust_level(self) -> TrustLevel:
        return BOUND_LEVEL if self.bound_to_eid else UNBOUND_LEVEL


def normalise_passkey_name(typed: str) -> str | None:
    """The name as the citizen typed it (NFC, single spaces, no control characters), or None when empty,
    too long or not printable."""
    value = " ".join(unicodedata.normalize("NFC", typed).split())
    if not value or len(value) > NAME_MAX or any(unicodedata.category(ch).startswith("C") for ch in value):
        return None
    return value


def counter_regressed(stored: int, received: int) -> bool:
    """WebAuthn §6.1.1: a counter that does not grow (once either side is non-zero) hints at a cloned
    authenticator. Authenticators that always send 0 (many synced passkeys) are fine."""
    return (received > 0 or stored > 0) and received <= stored
