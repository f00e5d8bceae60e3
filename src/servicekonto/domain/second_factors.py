"""Second factors of an account (DESIGN.md §2: password + second factor = level 2): an authenticator app
(TOTP, RFC 6238) and the recovery codes that stand in for it when the phone is lost."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime

RECOVERY_CODE_COUNT = 10
# Crockford's base32 without I, L, O, U: nothing to confuse when a code is typed from paper.
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECOVERY_CODE_LENGTH = 10  # 50 bits each: far beyond online guessing under the throttle
TOTP_DIGITS = 6
TOTP_PERIOD = 30
TOTP_WINDOW = 1  # one step either side (RFC 6238 §5.2: clock drift and typing time)


class SecondFactorKind(enum.StrEnum):
    TOTP = "totp"


@dataclass(frozen=True, slots=True)
class StoredTotp:
    """A confirmed authenticator app; the secret stays sealed until a code is checked."""

    account_id: str
    sealed_secret: bytes
    last_used_step: int | None
    created_at: datetime


def new_recovery_codes() -> list[str]:
    """Ten fresh codes, shown to the citizen once as `XXXXX-XXXXX`."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


def normalise_recovery_code(typed: str) -> str | None:
    """The canonical form of a typed code (case, spaces, dashes, I/L/O read as 1/1/0), or None when it
    cannot be one of ours."""
    value = "".join(typed.split()).replace("-", "").upper().translate(_CONFUSABLE)
    if len(value) != RECOVERY_CODE_LENGTH or any(ch not in RECOVERY_ALPHABET for ch in value):
        return None
    return value


def normalise_totp_code(typed: str) -> str | None:
    """Six digits; spaces (as apps show them, "123 456") are ignored."""
    value = "".join(typed.split())
    if len(value) != TOTP_DIGITS or not value.isascii() or not value.isdigit():
        return None
    return value
