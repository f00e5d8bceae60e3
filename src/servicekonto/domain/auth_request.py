"""The protocol-neutral meeting point (DESIGN.md §1): each protocol turns its wire request into an
AuthRequest and renders the AuthResult back; the login and consent pages see only these."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from servicekonto.domain.trust import TrustLevel, Vocabulary

ORGANISATION_PREFIX = "org_"  # the catalogue's organisation keys (domain/attributes.py)
ORGANISATION_IDENTIFIER = "org_pseudonym"


class OrganisationMode(enum.Enum):
    NONE = "none"  # the portal did not ask: the citizen acts for themselves
    OFFERED = "offered"  # a citizen who belongs to organisations chooses
    REQUIRED = "required"  # organisation login only


@dataclass(frozen=True, slots=True)
class RequestedAttribute:
    key: str  # a key of the attribute catalogue
    essential: bool = False


@dataclass(slots=True)
class AuthRequest:
    """A portal's request, kept server-side (the browser carries only its id) for `AUTH_REQUEST_SECONDS`."""

    id: str
    protocol: str  # "oidc" | "saml"
    tenant_id: str
    service_id: str  # the OIDC client_id or the SAML entityID
    service_name: str
    sector: str  # for the pseudonym
    min_level: TrustLevel = TrustLevel.BASIC
    level_vocabulary: Vocabulary = Vocabulary.STORK
    level_essential: bool = False  # an unmet level is an error back to the portal, not a lower level
    attributes: list[RequestedAttribute] = field(default_factory=list)
    force_login: bool = False  # prompt=login, max_age exceeded, ForceAuthn
    force_consent: bool = False  # prompt=consent
    max_age: int | None = None
    locale: str | None = None
    protocol_state: dict[str, Any] = field(default_factory=dict)  # what the protocol needs to answer
    return_origin: str | None = None  # where the answer goes (scheme://host:port), for the pages' form-action
    created_at: float = 0.0
    login_done_at: float | None = None  # set when a login happened inside this request
    # A temporary identification (ID card, no account, no pseudonym) may answer it; not when the portal asks
    # for the pseudonym ([BSB] §9.2.1: requesting bPK2 hides the temporary login).
    temporary_allowed: bool = True
    # The organisation this login acts for (issue #10): None until the citizen chose, "" for themselves.
    acting_for: str | None = None

    def to_json(self) -> bytes:
        value = asdict(self)
        value["min_level"] = int(self.min_level)
        return json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> AuthRequest:
        value = json.loads(raw)
        value["min_level"] = TrustLevel(value["min_level"])
        value["level_vocabulary"] = Vocabulary(value["level_vocabulary"])
        value["attributes"] = [RequestedAttribute(**a) for a in value["attributes"]]
        return cls(**value)

    @property
    def attribute_keys(self) -> list[str]:
        return [a.key for a in self.attributes]

    @property
    def organisation_mode(self) -> OrganisationMode:
        """Whether the portal asked for an organisation: any organisation attribute offers the choice; the
        organisation's identifier as essential admits organisations only."""
        essential = {a.key: a.essential for a in self.attributes if a.key.startswith(ORGANISATION_PREFIX)}
        if not essential:
            return OrganisationMode.NONE
        return OrganisationMode.REQUIRED if essential.get(ORGANISATION_IDENTIFIER) else OrganisationMode.OFFERED


@dataclass(frozen=True, slots=True)
class ReleasedAttribute:
    key: str
    value: str
    source: str
    trust_level: TrustLevel


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who logged in, how, and what may leave: the protocol renders it and re-reads nothing."""

    account_id: str
    subject: str  # the pseudonym for this service's sector
    trust_level: TrustLevel
    methods: tuple[str, ...]
    auth_time: int
    attributes: tuple[ReleasedAttribute, ...]
    session_id: str | None = None  # the login session (for front- and back-channel logout)
    # A temporary identification: no account (account_id ""), no pseudonym (subject ""), nothing kept.
    temporary: bool = False
    organisation_id: str | None = None  # the organisation the login acted for (issue #10)
