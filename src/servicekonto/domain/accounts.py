"""Citizen accounts: one per person, global across tenants (that is the product)."""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from servicekonto.core.errors import Conflict
from servicekonto.core.i18n import _l
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.normalise import FieldInvalid
from servicekonto.domain.trust import TrustLevel


class AccountStatus(enum.StrEnum):
    PENDING = "pending"  # registered, e-mail address not yet confirmed: cannot log in
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    username: str
    email: str
    status: AccountStatus
    password_hash: str | None
    locale: str
    session_epoch: int
    created_at: datetime
    email_verified_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is AccountStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class SecondSteps:
    """What may follow the password: a passkey, an authenticator app (issues #10 and #11)."""

    passkey: bool = False
    app: bool = False


@dataclass(frozen=True, slots=True)
class StoredAttribute:
    key: str
    value: str
    source: AttributeSource
    trust_level: TrustLevel
    updated_at: datetime


USERNAME_MIN = 3
USERNAME_MAX = 64
_USERNAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
USERNAME_RULES = _l("3 to 64 characters: letters a–z, digits, and . _ - inside the name. "
                    "Upper and lower case count as the same.")


def canonical_username(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def check_username(raw: str) -> str:
    """The username as typed (trimmed); its canonical form must follow USERNAME_RULES."""
    value = unicodedata.normalize("NFKC", raw).strip()
    canonical = value.casefold()
    if not USERNAME_MIN <= len(canonical) <= USERNAME_MAX or not _USERNAME.fullmatch(canonical):
        raise FieldInvalid("username", USERNAME_RULES)
    return value


def canonical_email(email: str) -> str:
    """One mailbox, one account: compared case-insensitively (RFC 5321 allows case in the local part, but
    no provider we know of uses it, and two accounts differing only in case would confuse citizens)."""
    return email.strip().casefold()


class AccountConflict(Conflict):
    """Raised by the repository; never shown as such (registration must not tell who exists)."""

    code = "account.conflict"

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} taken")
        self.field = field
