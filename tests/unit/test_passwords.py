"""NIST SP 800-63B: length, a list of common and breached passwords, nothing made of the username."""

from __future__ import annotations

import pytest

from servicekonto.domain import passwords
from servicekonto.domain.passwords import PasswordRejected
from servicekonto.services.passwords import Argon2Parameters, PasswordHasher


@pytest.mark.parametrize(("password", "reason"), [
    ("kurz", "password.too_short"),
    ("x" * 257, "password.too_long"),
    ("passwort123", "password.common"),
    ("Sommer2024", "password.common"),
    ("password1234", "password.common"),
    ("erikamuster1", "password.personal"),
    ("aaaaaaaaaaaa", "password.guessable"),
])
def test_refused_with_a_reason(password: str, reason: str) -> None:
    with pytest.raises(PasswordRejected) as caught:
        passwords.check(password, context=("erikamuster", "erika@example.de"))
    assert caught.value.reason == reason


def test_no_composition_rules_long_phrases_pass() -> None:
    assert passwords.check("correct horse battery staple") >= passwords.Strength.GOOD
    assert passwords.check("hafer milch regen fenster") >= passwords.Strength.FAIR


def test_shipped_list_has_german_entries() -> None:
    assert {"passwort123", "ichliebedich"} <= passwords.common_passwords()


def test_hashes_use_our_parameters_and_rehash_when_they_change() -> None:
    weak = PasswordHasher(Argon2Parameters(memory_kib=8192, iterations=1))
    ours = PasswordHasher()
    old_hash = weak.hash("Heidestr17Köln!")
    assert ours.hash("x" * 10).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    ok, new_hash = ours.verify(old_hash, "Heidestr17Köln!")
    assert ok and new_hash is not None and new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert ours.verify(new_hash, "Heidestr17Köln!") == (True, None)
    assert ours.verify(new_hash, "wrong") == (False, None)


def test_nfkc_makes_equivalent_input_match() -> None:
    hasher = PasswordHasher()
    stored = hasher.hash("Ｐａｓｓｗｏｒｔ mit Breite")  # full-width letters
    assert hasher.verify(stored, "Passwort mit Breite")[0]


def test_damaged_or_missing_hashes_fail_closed() -> None:
    hasher = PasswordHasher()
    assert hasher.verify("not-a-hash", "whatever") == (False, None)
    assert hasher.verify(None, "whatever") == (False, None)
