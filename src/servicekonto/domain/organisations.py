"""Organisation accounts ("Unternehmenskonto", issue #10): an organisation is made of member accounts, each
acting for it with the roles its admins assign — the organisation's own (admin, member) and the roles a
tenant defines for its services. A portal receives a pseudonym for the organisation and one for the acting
person (reference/egov-interfaces.md §5). The organisation's data keeps its source: self-declared, or
verified by the operator with a recorded evidence note."""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape, unescape
from typing import Protocol

from servicekonto.core.errors import FormInvalid, InvalidInput, NotFound, ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.domain import normalise
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.trust import TrustLevel

# Creating an organisation needs an identified founder: level 3 (substanziell) or higher (issue #10).
FOUNDER_LEVEL = TrustLevel.SUBSTANTIAL
INVITATION_DAYS = 7
# Open invitations per organisation: enough for any real onboarding, too few to use us for sending mail to
# strangers (each invitation is a mail to an address the admin typed).
MAX_OPEN_INVITATIONS = 50


class OrganisationRole(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    legal_form: str  # e.g. "GmbH", "e. V.", "Einzelunternehmen", "Körperschaft des öffentlichen Rechts"
    register_type: str | None  # "HRA" | "HRB" | "GnR" | "PR" | "VR" | "GsR", or None when not registered
    register_court: str | None
    register_number: str | None
    street_address: str
    postal_code: str
    locality: str
    country: str  # ISO 3166 alpha-2
    contact_email: str
    contact_phone: str | None
    source: AttributeSource  # SELF_DECLARED, or OPERATOR once verified
    created_at: datetime
    verified_at: datetime | None = None
    verified_by: str | None = None  # the operator admin's account id
    verification_note: str | None = None  # the evidence the operator saw (e.g. "Handelsregisterauszug vom …")

    @property
    def trust_level(self) -> TrustLevel:
        return self.source.trust_level


@dataclass(frozen=True, slots=True)
class Membership:
    """One account's place in one organisation: its organisation role and its service roles, as
    (service id, role name) pairs; a portal sees only the roles of its own service."""

    organisation: Organisation
    account_id: str
    role: OrganisationRole
    service_roles: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    joined_at: datetime | None = None

    def roles_for(self, service_id: str) -> tuple[str, ...]:
        """What a portal receives: the organisation role and this service's roles, sorted."""
        return (self.role.value, *sorted(r for s, r in self.service_roles if s == service_id))


class OrganisationMemberships(Protocol):
    """What the login needs ("acting for"): an account's memberships, and one of them, read at release time
    so a removed member can no longer act for the organisation."""

    def memberships_of(self, account_id: str) -> Sequence[Membership]: ...

    def membership(self, organisation_id: str, account_id: str) -> Membership | None: ...


# -- additions for the self-service (part A): invitations, service roles, the input rules, the errors ----------

REGISTER_TYPES = ("HRA", "HRB", "GnR", "PR", "VR", "GsR")  # the German registers (Handels-, Genossenschafts-, …)
CONTACT_FIELDS = frozenset({"contact_email", "contact_phone"})
# Every field of the organisation's own data; a change to any other than the contact fields makes verified data
# self-declared again (the operator's evidence no longer covers it).
DATA_FIELDS = ("name", "legal_form", "register_type", "register_court", "register_number", "street_address",
               "postal_code", "locality", "country", "contact_email", "contact_phone")
MAX_NAME = 200
MAX_NOTE = 2000
MAX_ROLE_NAME = 64
MAX_ROLE_LABEL = 100
ROLE_NAME = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


@dataclass(frozen=True, slots=True)
class Invitation:
    """An e-mail invitation: the token itself goes only into the mail; the table keeps its keyed hash."""

    id: str
    organisation_id: str
    email: str
    role: OrganisationRole
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class ServiceRole:
    """A role a tenant defines for one of its services (OIDC client_id or SAML entityID); organisation admins
    give it to members, and the portal receives it with the organisation login."""

    tenant_id: str
    service_id: str
    name: str  # stable, what the portal receives, e.g. "antragsteller"
    label: str  # what people read, e.g. "Antragstellerin/Antragsteller"


@dataclass(frozen=True, slots=True)
class Member:
    """A member as the organisation page lists it (username, never more of the account)."""

    account_id: str
    username: str
    role: OrganisationRole
    service_roles: frozenset[tuple[str, str]]
    joined_at: datetime


class OrganisationError(ServicekontoError):
    code = "organisation.error"
    http_status = 400


class OrganisationNotFound(NotFound):
    """Also the answer for an organisation the account does not belong to: nothing tells it exists."""

    code = "organisation.not_found"
    message = _l("This organisation does not exist, or you are not a member of it.")


class OrganisationForbidden(OrganisationError):
    code = "organisation.forbidden"
    http_status = 403
    message = _l("Only an administrator of the organisation may do this.")


class FounderLevelTooLow(OrganisationError):
    code = "organisation.trust_level_too_low"
    http_status = 403
    message = _l("Creating an organisation needs a login at the trust level “substantial” or “high”, for example "
                 "with your ID card.")


class LastAdmin(OrganisationError):
    code = "organisation.last_admin"
    http_status = 409
    message = _l("An organisation always needs an administrator. Make another member an administrator first – "
                 "or, if you are the only member, dissolve the organisation.")


class LastAdminAccount(OrganisationError):
    code = "organisation.last_admin_account"
    http_status = 409
    message = _l("You are the only administrator of an organisation with other members ({names}). Make another "
                 "member an administrator first; then you can delete your account.")


class NotOnlyMember(OrganisationError):
    code = "organisation.not_only_member"
    http_status = 409
    message = _l("Only an organisation without other members can be dissolved. Remove the other members first.")


class MemberNotFound(NotFound):
    code = "organisation.member_not_found"
    message = _l("This person is not a member of the organisation.")


class AlreadyMember(OrganisationError):
    code = "organisation.already_member"
    http_status = 409
    message = _l("You are already a member of this organisation.")


class InvitationInvalid(OrganisationError):
    code = "organisation.invitation_invalid"
    message = _l("This invitation is no longer valid: it was already used or has expired. Please ask an "
                 "administrator of the organisation for a new one.")


class TooManyInvitations(OrganisationError):
    code = "organisation.too_many_invitations"
    http_status = 429
    message = _l("The organisation has too many invitations that nobody has accepted yet. Please withdraw some "
                 "of them, or wait until they are accepted or expire.")


class InvitationForOtherAddress(OrganisationError):
    code = "organisation.invitation_other_address"
    http_status = 403
    message = _l("This invitation was sent to another e-mail address than the one of the account you are logged in "
                 "with. Please log in with the account of the invited address, or change your account's address "
                 "first.")


class ServiceRoleUnknown(OrganisationError):
    code = "organisation.service_role_unknown"
    message = _l("This service does not define this role.")


class ServiceRoleInvalid(InvalidInput):
    code = "service_role.invalid"
    message = _l("A role name has 1 to 64 characters: lower-case letters, digits and _ . : - (starting with a "
                 "letter or digit); the label at most 100 characters.")


class VerificationNoteMissing(InvalidInput):
    code = "organisation.verification_note_missing"
    message = _l("Please describe the evidence you checked (for example “extract from the commercial register of "
                 "12.11.2026”).")


def _plain(field: str, raw: str, *, max_length: int, required: bool = True) -> str | None:
    """Free text (names of organisations contain digits, &, + and the like): NFC, single-spaced, printable."""
    value = normalise.clean_text(raw)
    if not value:
        if required:
            raise normalise.FieldInvalid(field, _l("Please fill in this field."))
        return None
    if len(value) > max_length:
        raise normalise.FieldInvalid(field, _l("This entry is too long."))
    if not value.isprintable():
        raise normalise.FieldInvalid(field, _l("Please use printable characters only."))
    return value


def check_organisation(values: dict[str, str]) -> dict[str, str | None]:
    """Check and normalise the organisation's data at once (every message together, nothing changed on error);
    the spellings are those of the master data (domain/normalise.py)."""
    errors: list[normalise.FieldInvalid] = []
    clean: dict[str, str | None] = {}

    def run(field: str, check: Callable[[str], str | None]) -> None:
        try:
            clean[field] = check(values.get(field, ""))
        except normalise.FieldInvalid as exc:
            errors.append(exc)

    run("name", lambda v: _plain("name", v, max_length=MAX_NAME))
    run("legal_form", lambda v: _plain("legal_form", v, max_length=100))
    run("country", lambda v: normalise.country("country", v or "DE"))
    country = clean.get("country") or "DE"

    def register_type(raw: str) -> str | None:
        value = raw.strip()
        if not value:
            return None
        if value not in REGISTER_TYPES:
            raise normalise.FieldInvalid("register_type", _l("Please choose a register from the list."))
        return value

    run("register_type", register_type)
    run("register_court", lambda v: _plain("register_court", v, max_length=100, required=False))
    run("register_number", lambda v: _plain("register_number", v, max_length=40, required=False))
    registered = [clean.get(f) for f in ("register_type", "register_court", "register_number")]
    if any(registered) and not all(registered):
        missing = next(f for f in ("register_type", "register_court", "register_number") if not clean.get(f))
        errors.append(normalise.FieldInvalid(missing, _l("For a registered organisation, please give the register, "
                                                         "the register court and the number.")))
    run("street_address", lambda v: normalise.street("street_address", v) if v.strip()
        else _plain("street_address", v, max_length=150))
    run("postal_code", lambda v: normalise.postal_code("postal_code", v, country_code=country) if v.strip()
        else _plain("postal_code", v, max_length=10))
    run("locality", lambda v: normalise.place("locality", v) if v.strip() else _plain("locality", v, max_length=100))
    run("contact_email", lambda v: normalise.email("contact_email", v) if v.strip()
        else _plain("contact_email", v, max_length=320))
    run("contact_phone", lambda v: normalise.phone("contact_phone", v, country_code=country) if v.strip() else None)
    if errors:
        raise OrganisationDataInvalid(errors)
    return clean


class OrganisationDataInvalid(FormInvalid):
    code = "organisation.data_invalid"

    def __init__(self, errors: list[normalise.FieldInvalid]) -> None:
        super().__init__({error.field: error for error in errors})


def check_service_role(name: str, label: str) -> tuple[str, str]:
    clean_name = name.strip()
    clean_label = normalise.clean_text(label) or clean_name
    if not ROLE_NAME.fullmatch(clean_name) or len(clean_label) > MAX_ROLE_LABEL or not clean_label.isprintable():
        raise ServiceRoleInvalid()
    return clean_name, clean_label


def only_contact_changed(before: Organisation, after: dict[str, str | None]) -> bool:
    """True when only the contact fields differ: the operator's evidence (register, name, address) still holds."""
    changed = {f for f in DATA_FIELDS if getattr(before, f) != after.get(f)}
    return changed <= CONTACT_FIELDS


class OrganisationRepository(OrganisationMemberships, Protocol):
    """Everything the self-service and the console need (persistence/organisations.py)."""

    def add(self, organisation: Organisation, *, founder_id: str) -> None:
        """The organisation and its founder as the first admin, in one transaction."""

    def get(self, organisation_id: str) -> Organisation | None: ...

    def update(self, organisation: Organisation) -> None: ...

    def delete(self, organisation_id: str) -> bool: ...

    def all(self, *, limit: int = 500) -> Sequence[Organisation]: ...

    def members(self, organisation_id: str) -> Sequence[Member]: ...

    def add_member(self, organisation_id: str, account_id: str, role: OrganisationRole, *, now: datetime) -> bool:
        """False when the account is a member already."""

    def set_role(self, organisation_id: str, account_id: str, role: OrganisationRole, *,
                 keep_an_admin: bool = True) -> bool:
        """False when it would leave the organisation without an admin (checked in the same transaction as
        the write, so two admins demoting each other at once cannot both win), or there is no such member."""

    def remove_member(self, organisation_id: str, account_id: str) -> bool:
        """False when the account is the last admin (same transaction as the delete) or not a member."""

    def set_service_roles(self, organisation_id: str, account_id: str,
                          roles: frozenset[tuple[str, str]]) -> None: ...

    def add_invitation(self, invitation: Invitation, token_hash: str) -> None: ...

    def invitation(self, token_hash: str) -> Invitation | None: ...

    def use_invitation(self, invitation_id: str, *, now: datetime) -> bool:
        """Marks it used only when it was unused (a conditional UPDATE): one acceptance wins."""

    def open_invitations(self, organisation_id: str, *, now: datetime) -> Sequence[Invitation]: ...

    def withdraw_invitation(self, organisation_id: str, invitation_id: str) -> bool: ...

    def service_roles(self, service_ids: Sequence[str]) -> Sequence[ServiceRole]: ...

    def service_roles_of_tenant(self, tenant_id: str) -> Sequence[ServiceRole]: ...

    def all_service_roles(self) -> Sequence[ServiceRole]: ...

    def add_service_role(self, role: ServiceRole) -> bool:
        """False when the service defines this role already."""

    def remove_service_role(self, service_id: str, name: str) -> bool:
        """Also takes the role away from every member that held it."""


def organisation_values(membership: Membership, service_id: str) -> dict[str, str]:
    """The organisation's data as catalogue keys (domain/attributes.py), for one service: the roles are
    the organisation role and that service's roles, space-separated; empty fields are left out. The
    pseudonym is the release component's (it holds the key)."""
    organisation = membership.organisation
    values = {"org_name": organisation.name, "org_legal_form": organisation.legal_form,
              "org_register_type": organisation.register_type or "",
              "org_register_court": organisation.register_court or "",
              "org_register_number": organisation.register_number or "",
              "org_street_address": organisation.street_address, "org_postal_code": organisation.postal_code,
              "org_locality": organisation.locality, "org_country": organisation.country,
              "org_address": eidas_address(organisation),
              "org_roles": " ".join(membership.roles_for(service_id))}
    return {key: value for key, value in values.items() if value}


EIDAS_NATURAL = "http://eidas.europa.eu/attributes/naturalperson"


def eidas_address(organisation: Organisation) -> str:
    """LegalPersonAddress as the eIDAS SAML attribute profile v1.2 writes addresses: the children of
    CurrentAddressType (Thoroughfare, PostCode, PostName, AdminunitFirstline = the country), base64-encoded
    (reference/egov-interfaces.md §4)."""
    parts = (("Thoroughfare", organisation.street_address), ("PostCode", organisation.postal_code),
             ("PostName", organisation.locality), ("AdminunitFirstline", organisation.country))
    text = "".join(f'<eidas:{name} xmlns:eidas="{EIDAS_NATURAL}">{escape(value)}</eidas:{name}>'
                   for name, value in parts if value)
    return base64.b64encode(text.encode()).decode()


def address_text(encoded: str) -> str:
    """An encoded LegalPersonAddress back as one line, for the consent page."""
    try:
        text = base64.b64decode(encoded, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return encoded
    return ", ".join(unescape(value) for value in re.findall(r">([^<]*)</eidas:", text) if value)
