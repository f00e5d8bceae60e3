"""Standardised spellings (DESIGN.md §3): self-declared input is checked and brought into one canonical
form, with a clear message per field, so data reaches the authority the same way every time.

Canonical forms: Unicode NFC, trimmed and single-spaced text; ISO 8601 dates; ISO 3166-1 alpha-2 for the
address country; ICAO 9303 codes for nationality ("D" for Germany, alpha-3 otherwise); German postcodes as
five digits; phone numbers in E.164; e-mail addresses per RFC 5321/6531 with a lower-cased domain.
(phonenumbers, email-validator and pycountry are pure libraries without I/O.)
"""

from __future__ import annotations

import enum
import unicodedata
from datetime import date

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from servicekonto.core.errors import FormInvalid, InvalidInput
from servicekonto.core.i18n import LazyString, _l

MAX_TEXT = 100
MAX_STREET = 150


class FieldInvalid(InvalidInput):
    """One field's input does not fit its form; `field` names it so the page can show the message there."""

    code = "field.invalid"

    def __init__(self, field: str, message: LazyString) -> None:
        super().__init__(f"{field} invalid")
        self.field = field
        self.field_message = message

    def user_message(self) -> str:
        return str(self.field_message)


class Gender(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    DIVERSE = "diverse"
    UNSPECIFIED = "unspecified"


GENDER_LABELS = {
    Gender.FEMALE: _l("female"),
    Gender.MALE: _l("male"),
    Gender.DIVERSE: _l("diverse"),
    Gender.UNSPECIFIED: _l("not specified"),
}


def clean_text(value: str) -> str:
    """NFC, no control characters, whitespace trimmed and collapsed."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in value)


def _text(field: str, raw: str, *, extra: str, max_length: int, digits: bool, message: LazyString) -> str:
    value = clean_text(raw)
    if _has_control(raw.replace("\t", " ").replace("\n", " ").replace("\r", " ")):
        raise FieldInvalid(field, message)
    if len(value) > max_length:
        raise FieldInvalid(field, _l("This entry is too long."))
    for ch in value:
        category = unicodedata.category(ch)
        if category[0] in {"L", "M"} or ch == " " or ch in extra or (digits and category == "Nd"):
            continue
        raise FieldInvalid(field, message)
    if not any(unicodedata.category(ch)[0] == "L" for ch in value):
        raise FieldInvalid(field, message)
    return value


def name(field: str, raw: str) -> str:
    """Names: letters (any script of the ID card's Latin set and beyond), spaces, hyphen, apostrophe, dot."""
    return _text(field, raw, extra="-'’.", max_length=MAX_TEXT, digits=False,
                 message=_l("Please use letters, spaces, hyphens, apostrophes and dots only."))


def place(field: str, raw: str) -> str:
    return _text(field, raw, extra="-'’.,()/", max_length=MAX_TEXT, digits=False,
                 message=_l("Please use letters, spaces and the characters - ' . , ( ) / only."))


def street(field: str, raw: str) -> str:
    """Street and house number in one string, as BundID passes it on."""
    return _text(field, raw, extra="-'’.,/", max_length=MAX_STREET, digits=True,
                 message=_l("Please enter the street and house number with letters, digits, spaces "
                            "and - ' . , / only."))


def birthdate(field: str, raw: str, *, today: date) -> str:
    """ISO 8601 (`YYYY-MM-DD`, what a date input sends) or the German `TT.MM.JJJJ`; in the past, after 1900."""
    value = raw.strip()
    try:
        if "." in value:
            day, month, year = (int(part) for part in value.split("."))
            parsed = date(year, month, day)
        else:
            parsed = date.fromisoformat(value)
    except ValueError:
        raise FieldInvalid(field, _l("Please enter a date as DD.MM.YYYY, for example 12.08.1964.")) from None
    if not date(1900, 1, 1) <= parsed <= today:
        raise FieldInvalid(field, _l("The date of birth must lie between 1900 and today."))
    return parsed.isoformat()


def country(field: str, raw: str) -> str:
    """ISO 3166-1 alpha-2, upper case; the eID's `D` becomes `DE`."""
    value = raw.strip().upper()
    if value == "D":
        value = "DE"
    if len(value) != 2 or pycountry.countries.get(alpha_2=value) is None:
        raise FieldInvalid(field, _l("Please choose a country from the list."))
    return value


def nationality(field: str, raw: str) -> str:
    """ICAO 9303 nationality code as the ID card carries it: `D` for Germany, ISO alpha-3 otherwise.
    Accepts an ISO alpha-2 or alpha-3 code (what the form's list sends)."""
    value = raw.strip().upper()
    if value in {"D", "DE", "DEU"}:
        return "D"
    found = (pycountry.countries.get(alpha_2=value) if len(value) == 2
             else pycountry.countries.get(alpha_3=value) if len(value) == 3 else None)
    if found is None:
        raise FieldInvalid(field, _l("Please choose a nationality from the list."))
    return str(found.alpha_3)


def postal_code(field: str, raw: str, *, country_code: str | None) -> str:
    value = clean_text(raw).upper()
    if (country_code or "DE") == "DE":
        if len(value) != 5 or not value.isascii() or not value.isdigit():
            raise FieldInvalid(field, _l("A German postcode has exactly five digits, for example 50667."))
        return value
    if not 2 <= len(value) <= 10 or not all(ch.isascii() and (ch.isalnum() or ch in " -") for ch in value):
        raise FieldInvalid(field, _l("Please enter the postcode with letters, digits, spaces and hyphens only."))
    return value


def phone(field: str, raw: str, *, country_code: str | None) -> str:
    """E.164, e.g. +4922112345678; national numbers are read in the address country (Germany by default)."""
    try:
        parsed = phonenumbers.parse(raw.strip(), (country_code or "DE"))
    except phonenumbers.NumberParseException:
        raise FieldInvalid(field, PHONE_MESSAGE) from None
    if not phonenumbers.is_valid_number(parsed):
        raise FieldInvalid(field, PHONE_MESSAGE)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


PHONE_MESSAGE = _l("Please enter a phone number, for example 0221 123456 or +49 221 123456.")


def email(field: str, raw: str) -> str:
    """RFC 5321/6531 syntax, the domain lower-cased and IDNA-normalised; no DNS look-up here."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        message = _l("Please enter a valid e-mail address, for example name@example.de.")
        raise FieldInvalid(field, message) from None
    return str(result.normalized)


def de_mail(field: str, raw: str) -> str:
    value = email(field, raw)
    if not value.lower().endswith(".de-mail.de"):
        raise FieldInvalid(field, _l("A De-Mail address ends with .de-mail.de."))
    return value


def gender(field: str, raw: str) -> str:
    try:
        return Gender(raw.strip()).value
    except ValueError:
        raise FieldInvalid(field, _l("Please choose one of the options.")) from None


def master_data(values: dict[str, str], *, today: date) -> dict[str, str | None]:
    """Check and normalise a whole master-data form at once. Empty fields become None (remove the value).
    Raises `MasterDataInvalid` listing every invalid field, so the page can show all messages together."""
    country_raw = values.get("country", "").strip()
    errors: list[FieldInvalid] = []
    country_code: str | None = None
    if country_raw:
        try:
            country_code = country("country", country_raw)
        except FieldInvalid as exc:
            errors.append(exc)
    result: dict[str, str | None] = {}
    for key, raw in values.items():
        if not raw.strip():
            result[key] = None
            continue
        try:
            result[key] = _normalise_one(key, raw, today=today, country_code=country_code)
        except FieldInvalid as exc:
            if key != "country":
                errors.append(exc)
    if errors:
        raise MasterDataInvalid(errors)
    return result


def _normalise_one(key: str, raw: str, *, today: date, country_code: str | None) -> str:
    if key in {"given_name", "family_name", "birth_name", "academic_title"}:
        return name(key, raw)
    if key in {"place_of_birth", "locality"}:
        return place(key, raw)
    if key == "street_address":
        return street(key, raw)
    if key == "birthdate":
        return birthdate(key, raw, today=today)
    if key == "country":
        return country(key, raw)
    if key == "nationality":
        return nationality(key, raw)
    if key == "postal_code":
        return postal_code(key, raw, country_code=country_code)
    if key == "phone":
        return phone(key, raw, country_code=country_code)
    if key == "de_mail":
        return de_mail(key, raw)
    if key == "gender":
        return gender(key, raw)
    raise FieldInvalid(key, _l("This field is not known."))


class MasterDataInvalid(FormInvalid):
    code = "master_data.invalid"

    def __init__(self, errors: list[FieldInvalid]) -> None:
        super().__init__({error.field: error for error in errors})
