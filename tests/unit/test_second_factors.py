"""Recovery codes and TOTP codes as typed: one canonical form, anything else refused before any lookup."""

from __future__ import annotations

import re

import pytest

from servicekonto.domain.second_factors import (
    RECOVERY_CODE_COUNT,
    new_recovery_codes,
    normalise_recovery_code,
    normalise_totp_code,
)


def test_new_recovery_codes_are_ten_distinct_readable_codes() -> None:
    codes = new_recovery_codes()
    assert len(codes) == RECOVERY_CODE_COUNT == len(set(codes))
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", code) for code in codes)
    assert all(normalise_recovery_code(code) == code.replace("-", "") for code in codes)


@pytest.mark.parametrize(("typed", "canonical"), [
    ("abcde-12345", "ABCDE12345"),
    (" ABCDE 12345 ", "ABCDE12345"),
    ("oIlde-12345", "011DE12345"),  # O, I and L read as 0, 1, 1: nothing to confuse on paper
    ("ABCDE-1234", None),
    ("ABCDE-12345-6", None),
    ("ÄBCDE-12345", None),
    ("", None),
])
def test_recovery_codes_are_normalised(typed: str, canonical: str | None) -> None:
    assert normalise_recovery_code(typed) == canonical


@pytest.mark.parametrize(("typed", "canonical"), [
    ("123456", "123456"),
    ("123 456", "123456"),
    ("12345", None),
    ("1234567", None),
    ("12a456", None),
    ("١٢٣٤٥٦", None),  # Arabic-Indic digits pass str.isdigit(), but no app shows them
])
def test_totp_codes_are_six_ascii_digits(typed: str, canonical: str | None) -> None:
    assert normalise_totp_code(typed) == canonical
