"""Password rules per NIST SP 800-63B §5.1.1.2: at least 10 characters, no composition rules, at most 256,
refused when common, breached or too easy to guess (with a strength hint for the page)."""

from __future__ import annotations

import enum
import unicodedata
from functools import cache
from pathlib import Path

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import LazyString, _l

MIN_LENGTH = 10
MAX_LENGTH = 256
GERMAN_LIST = Path(__file__).resolve().parent / "data" / "common-passwords-de.txt"


class Strength(enum.IntEnum):
    VERY_WEAK = 0
    WEAK = 1
    FAIR = 2
    GOOD = 3
    STRONG = 4


STRENGTH_LABELS = {
    Strength.VERY_WEAK: _l("very weak"),
    Strength.WEAK: _l("weak"),
    Strength.FAIR: _l("fair"),
    Strength.GOOD: _l("good"),
    Strength.STRONG: _l("strong"),
}


class PasswordRejected(InvalidInput):
    code = "password.rejected"

    def __init__(self, code: str, message: LazyString) -> None:
        super().__init__(code)
        self.reason = code
        self.reason_message = message

    def user_message(self) -> str:
        return str(self.reason_message)


def normalise(password: str) -> str:
    """NFKC, as NIST asks, so the same password typed on another keyboard still matches."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    shipped = [line.strip().lower() for line in GERMAN_LIST.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    breached = [word for word in FREQUENCY_LISTS["passwords"] if len(word) >= MIN_LENGTH]
    return frozenset(shipped) | frozenset(breached)


def strength(password: str, *, context: tuple[str, ...] = ()) -> Strength:
    return Strength(zxcvbn(password[:100], user_inputs=[c for c in context if c])["score"])


def check(password: str, *, context: tuple[str, ...] = ()) -> Strength:
    """Raise PasswordRejected with a reason the citizen can act on; return the strength otherwise.
    `context` holds the username and e-mail address: a password made of them is refused."""
    value = normalise(password)
    if len(value) < MIN_LENGTH:
        raise PasswordRejected("password.too_short", _l("The password must have at least 10 characters."))
    if len(value) > MAX_LENGTH:
        raise PasswordRejected("password.too_long", _l("The password may have at most 256 characters."))
    lowered = value.lower()
    if lowered in common_passwords():
        raise PasswordRejected("password.common", _l(
            "This password is known from lists of common or stolen passwords. Please choose another one."))
    for item in context:
        item_lower = item.lower().split("@")[0]
        if len(item_lower) >= 4 and item_lower in lowered and len(lowered) - len(item_lower) < 6:
            raise PasswordRejected("password.personal", _l(
                "The password must not be made of your username or e-mail address."))
    score = strength(value, context=context)
    if score <= Strength.WEAK:
        raise PasswordRejected("password.guessable", _l(
            "This password is too easy to guess. Longer passwords of several unrelated words are good."))
    return score
