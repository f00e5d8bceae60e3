"""Standardised spellings: one canonical form per field, a clear message per invalid field."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicekonto.domain import normalise
from servicekonto.domain.normalise import FieldInvalid, MasterDataInvalid

TODAY = date(2026, 11, 28)


def test_a_whole_form_is_normalised() -> None:
    clean = normalise.master_data({
        "given_name": "  Erika   Gabriele ", "family_name": "Mustermann", "birthdate": "12.08.1964",
        "postal_code": "51147", "country": "de", "phone": "0221 123456", "nationality": "DEU",
        "street_address": "Heidestraße 17", "de_mail": "", "gender": "female",
    }, today=TODAY)
    assert clean == {"given_name": "Erika Gabriele", "family_name": "Mustermann", "birthdate": "1964-08-12",
                     "postal_code": "51147", "country": "DE", "phone": "+49221123456", "nationality": "D",
                     "street_address": "Heidestraße 17", "de_mail": None, "gender": "female"}


def test_every_invalid_field_is_named() -> None:
    with pytest.raises(MasterDataInvalid) as caught:
        normalise.master_data({"postal_code": "5114", "phone": "abc", "birthdate": "31.02.1990",
                               "given_name": "Erika<script>", "de_mail": "erika@example.de"}, today=TODAY)
    assert set(caught.value.errors) == {"postal_code", "phone", "birthdate", "given_name", "de_mail"}


def test_foreign_postcodes_follow_their_country() -> None:
    clean = normalise.master_data({"country": "AT", "postal_code": "1010", "phone": "01 5344440"}, today=TODAY)
    assert clean["postal_code"] == "1010" and clean["phone"] == "+4315344440"


def test_eid_country_d_becomes_de_and_nationality_stays_icao() -> None:
    assert normalise.country("country", "D") == "DE"
    assert normalise.nationality("nationality", "AT") == "AUT"
    assert normalise.nationality("nationality", "DE") == "D"


@pytest.mark.parametrize("value", ["1899-12-31", "2026-11-29", "1964-13-01", "gestern"])
def test_impossible_birthdates_are_refused(value: str) -> None:
    with pytest.raises(FieldInvalid):
        normalise.birthdate("birthdate", value, today=TODAY)


@given(st.text(max_size=200))
def test_names_are_either_refused_or_canonical(value: str) -> None:
    try:
        clean = normalise.name("given_name", value)
    except FieldInvalid:
        return
    assert clean == " ".join(clean.split()) and clean == normalise.clean_text(clean)
    assert 0 < len(clean) <= normalise.MAX_TEXT
