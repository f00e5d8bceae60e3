"""The test ID cards the simulator offers. ERIKA MUSTERMANN carries the data of the BSI test card (reference:
egov-interfaces.md §3.3); the others exercise edge cases. Every card's PIN is `123456` (a blocked card
refuses any PIN). The RestrictedID is fixed per card, as a real card's is per authorisation certificate."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from servicekonto.domain.eid import EidPersonalData

TEST_PIN = "123456"


@dataclass(frozen=True, slots=True)
class TestCard:
    key: str
    label: str  # shown on the simulator's page (test data: the same in every language)
    data: EidPersonalData
    expired: bool = False
    blocked: bool = False


def _restricted_id(key: str) -> str:
    return hashlib.sha256(f"servicekonto-simulator/{key}".encode()).hexdigest()


def _card(key: str, label: str, *, expired: bool = False, blocked: bool = False, **data: str) -> TestCard:
    present = {name: value for name, value in data.items() if value}  # "" means: not on the chip
    return TestCard(key=key, label=label, data=EidPersonalData(restricted_id=_restricted_id(key), **present),
                    expired=expired, blocked=blocked)


_ERIKA = {"given_names": "ERIKA", "family_names": "MUSTERMANN", "birth_name": "GABLER",
          "date_of_birth": "1964-08-12", "place_of_birth": "BERLIN", "nationality": "D", "document_type": "ID",
          "issuing_state": "D", "date_of_expiry": "2029-10-31", "street": "HEIDESTRAẞE 17", "zip_code": "51147",
          "city": "KÖLN", "country": "D", "community_id": "0276053150000000"}

CARDS: tuple[TestCard, ...] = (
    _card("erika", "ERIKA MUSTERMANN (BSI-Testausweis / BSI test card)", **_ERIKA),
    _card("no-place-of-birth", "LUKAS SCHMIDT – ohne Geburtsort / no place of birth",
          **{**_ERIKA, "given_names": "LUKAS", "family_names": "SCHMIDT", "birth_name": "", "place_of_birth": "",
             "date_of_birth": "1971-03-02"}),
    _card("residence-permit", "ANSELM ÖZTÜRK – Aufenthaltstitel / residence permit",
          **{**_ERIKA, "given_names": "ANSELM", "family_names": "ÖZTÜRK", "birth_name": "", "nationality": "TUR",
             "document_type": "AR", "place_of_birth": "ANKARA", "date_of_birth": "1988-11-23",
             "residence_permit": "Niederlassungserlaubnis § 9 AufenthG"}),
    _card("minor", "JONAS MUSTERMANN – minderjährig / a minor",
          **{**_ERIKA, "given_names": "JONAS", "birth_name": "", "date_of_birth": "2012-05-01",
             "place_of_birth": "KÖLN"}),
    _card("expired", "ERIKA MUSTERMANN – abgelaufen / expired card",
          expired=True, **{**_ERIKA, "date_of_expiry": "2021-01-31"}),
    _card("blocked", "ERIKA MUSTERMANN – PIN gesperrt / blocked PIN", blocked=True, **_ERIKA),
)
BY_KEY = {card.key: card for card in CARDS}

