"""The eID (Online-Ausweisfunktion) as the domain sees it (DESIGN.md §6): what a service asks an eID server
for, what the card answers, and the ways reading a card can fail — each its own error with a stable code.

The wire format (BSI TR-03130 SOAP) lives in `servicekonto.eid`; nothing here knows XML."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.domain.trust import TrustLevel


class Use(enum.StrEnum):
    """TR-03130 Part 1 §3.3 `AttributeRequestType`: a datum the citizen must release, or may deselect."""

    REQUIRED = "REQUIRED"
    ALLOWED = "ALLOWED"


# The data groups a TR-03130 `UseOperations` element can name, in the order of the schema.
OPERATIONS: tuple[str, ...] = (
    "DocumentType", "IssuingState", "DateOfExpiry", "GivenNames", "FamilyNames", "ArtisticName", "AcademicTitle",
    "DateOfBirth", "PlaceOfBirth", "Nationality", "BirthName", "PlaceOfResidence", "CommunityID",
    "ResidencePermitI", "RestrictedID", "AgeVerification", "PlaceVerification",
)

# What every flow of ours reads: the master data and the card's pseudonym, which recognises the card.
IDENTIFICATION: dict[str, Use] = {
    "DocumentType": Use.REQUIRED, "IssuingState": Use.REQUIRED, "DateOfExpiry": Use.REQUIRED,
    "GivenNames": Use.REQUIRED, "FamilyNames": Use.REQUIRED, "AcademicTitle": Use.ALLOWED,
    "DateOfBirth": Use.REQUIRED, "PlaceOfBirth": Use.ALLOWED, "Nationality": Use.ALLOWED,
    "BirthName": Use.ALLOWED, "PlaceOfResidence": Use.REQUIRED, "ResidencePermitI": Use.ALLOWED,
    "RestrictedID": Use.REQUIRED,
}


@dataclass(frozen=True, slots=True)
class EidRequest:
    """A `useID` request: the data wanted, the level of assurance, optional age and place checks."""

    operations: dict[str, Use] = field(default_factory=lambda: dict(IDENTIFICATION))
    level: TrustLevel = TrustLevel.HIGH
    age: int | None = None  # AgeVerificationRequest/Age
    community_id: str | None = None  # PlaceVerificationRequest/CommunityID

    def __post_init__(self) -> None:
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown eID operations: {sorted(unknown)}")


@dataclass(frozen=True, slots=True)
class EidSession:
    """The eID server's answer to `useID`: what the TC token carries to the citizen's eID client."""

    session_id: str
    server_address: str | None  # eCardServerAddress (PAOS endpoint); None: the eID client's default
    psk_id: str | None = None
    psk_key: str | None = None


@dataclass(frozen=True, slots=True)
class EidPersonalData:
    """What `getResult` returned. Dates are ISO 8601 (YYYY-MM-DD); absent data (not on the chip, or deselected
    by the citizen) is None. `restricted_id` is the card's sector-specific pseudonym: only ever hashed."""

    restricted_id: str
    given_names: str | None = None
    family_names: str | None = None
    birth_name: str | None = None
    academic_title: str | None = None
    date_of_birth: str | None = None
    place_of_birth: str | None = None
    nationality: str | None = None
    document_type: str | None = None
    issuing_state: str | None = None
    date_of_expiry: str | None = None
    street: str | None = None
    zip_code: str | None = None
    city: str | None = None
    country: str | None = None
    community_id: str | None = None
    residence_permit: str | None = None
    fulfils_age: bool | None = None
    fulfils_place: bool | None = None

    def attributes(self) -> dict[str, str]:
        """The card's data as values of the attribute catalogue (DESIGN.md §3); keys without a value left out."""
        values = {
            "given_name": self.given_names, "family_name": self.family_names, "birth_name": self.birth_name,
            "academic_title": self.academic_title, "birthdate": self.date_of_birth,
            "place_of_birth": self.place_of_birth, "nationality": self.nationality,
            "street_address": self.street, "postal_code": self.zip_code, "locality": self.city,
            "country": self.country, "document_type": self.document_type, "community_id": self.community_id,
        }
        return {key: value for key, value in values.items() if value}


# -- failures: one class per outcome, each with its own code (STYLE.md §2) -----------------------------------

class EidFailed(ServicekontoError):
    code = "eid.failed"
    http_status = 400
    message = _l("Reading your ID card did not work. Nothing was changed. Please try again.")


class EidCancelled(EidFailed):
    code = "eid.cancelled"
    message = _l("You cancelled reading your ID card. Nothing was changed.")


class EidWrongPin(EidFailed):
    code = "eid.wrong_pin"
    message = _l("The PIN was not correct. Nothing was changed. Please try again with your six-digit PIN.")


class EidCardBlocked(EidFailed):
    code = "eid.card_blocked"
    message = _l("The PIN of this ID card is blocked. Unblock it with your PUK (in the AusweisApp) and try "
                 "again. Nothing was changed.")


class EidDocumentExpired(EidFailed):
    code = "eid.document_expired"
    message = _l("This ID card has expired and cannot be used online. Nothing was changed.")


class EidCommunicationFailed(EidFailed):
    code = "eid.communication"
    http_status = 502
    message = _l("The connection to the eID service failed. Nothing was changed. Please try again later.")


class EidSessionUnknown(EidFailed):
    code = "eid.session_unknown"
    message = _l("This identification has expired or was already used. Please start again.")


class EidUnavailable(EidFailed):
    code = "eid.unavailable"
    http_status = 503
    message = _l("Identification with the ID card is not available here.")


NO_MAILBOX_DOMAIN = "eid.invalid"  # RFC 2606: never delivered


def no_mailbox(account_id: str) -> str:
    """The e-mail column of an account registered with eID without an address (unique, never a mailbox)."""
    return f"{account_id}@{NO_MAILBOX_DOMAIN}"


def has_mailbox(email: str) -> bool:
    return not email.endswith("@" + NO_MAILBOX_DOMAIN)
