"""Consent and release (DESIGN.md §1): the single place that decides which attributes leave the system —
only what was requested, only what the citizen consented to — and records each transfer (keys, never
values) for the citizen's history. OIDC and SAML both come through here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from servicekonto.core.clock import Clock
from servicekonto.domain.accounts import Account, StoredAttribute
from servicekonto.domain.attributes import ORGANISATION_KEYS, AttributeSource
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.auth_request import AuthRequest, AuthResult, ReleasedAttribute
from servicekonto.domain.eid import has_mailbox
from servicekonto.domain.organisations import Membership, OrganisationMemberships, organisation_values
from servicekonto.domain.ports import AccountRepository, ConsentRepository
from servicekonto.domain.pseudonym import pseudonym
from servicekonto.domain.transfers import Transfer, TransferLog
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.audit import Auditor

CARD_PSEUDONYM = "eid_pseudonym"  # catalogue key of the ID card's pseudonym (BundID `pseudonym`)
ORGANISATION_PSEUDONYM = "org_pseudonym"


class NotAMember(Exception):
    """The login was to act for an organisation the account does not (or no longer) belong to."""


@dataclass(frozen=True, slots=True)
class PlannedAttribute:
    key: str
    value: str | None  # None: requested, but the account has no such value (nothing is sent)
    source: str | None
    trust_level: TrustLevel | None
    essential: bool


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """What a request would release from this account, and whether the citizen must be asked first."""

    items: tuple[PlannedAttribute, ...]
    needs_consent: bool

    @property
    def available(self) -> tuple[PlannedAttribute, ...]:
        return tuple(i for i in self.items if i.value is not None)


class ReleaseService:
    def __init__(self, *, consents: ConsentRepository, accounts: AccountRepository, auditor: Auditor,
                 pseudonym_key: bytes, clock: Clock) -> None:
        self._consents = consents
        self._accounts = accounts
        self._auditor = auditor
        self._pseudonym_key = pseudonym_key
        self._clock = clock
        self._card_pseudonym: Callable[[str, str], str | None] | None = None
        self._transfers: TransferLog | None = None
        self._organisations: OrganisationMemberships | None = None

    def use_card_pseudonyms(self, card_pseudonym: Callable[[str, str], str | None]) -> None:
        """With eID: (account id, sector) → the pseudonym of the account's ID card for that sector, the
        `eid_pseudonym` attribute (BundID `pseudonym`, [BSB] §6.2), or None without a card."""
        self._card_pseudonym = card_pseudonym

    def use_organisations(self, memberships: OrganisationMemberships) -> None:
        """With organisation accounts (issue #10): a login may act for an organisation it belongs to."""
        self._organisations = memberships

    def memberships(self, account_id: str) -> Sequence[Membership]:
        """The organisations an account may act for (the login's choice), none without organisations."""
        return self._organisations.memberships_of(account_id) if self._organisations is not None else ()

    def acts_for(self, account_id: str, organisation_id: str) -> bool:
        """Whether the account (still) belongs to the organisation."""
        return self._organisations is not None and \
            self._organisations.membership(organisation_id, account_id) is not None

    def record_transfers(self, transfers: TransferLog) -> None:
        """Write every release from an account into the citizen's transfer history as well."""
        self._transfers = transfers

    def plan(self, account: Account, request: AuthRequest) -> ReleasePlan:
        """Raises NotAMember when the request acts for an organisation the account does not belong to."""
        values = self._values(account, request)
        items = tuple(PlannedAttribute(key=a.key, value=values[a.key].value if a.key in values else None,
                                       source=values[a.key].source if a.key in values else None,
                                       trust_level=values[a.key].trust_level if a.key in values else None,
                                       essential=a.essential) for a in request.attributes
                      if request.acting_for or a.key not in ORGANISATION_KEYS)  # for oneself: none asked
        consented = self._consents.granted(account.id, request.service_id)
        wanted = {i.key for i in items if i.value is not None}
        needs = request.force_consent or consented is None or not wanted <= consented
        return ReleasePlan(items=items, needs_consent=needs)

    def consent(self, account: Account, request: AuthRequest, *, allowed: bool) -> None:
        plan = self.plan(account, request)
        keys = sorted(i.key for i in plan.available)
        if allowed:
            self._consents.grant(account.id, request.service_id, keys, now=self._clock.now())
        self._auditor.record(AuditEvent.CONSENT_GIVEN if allowed else AuditEvent.CONSENT_REFUSED,
                             account_id=account.id, tenant_id=request.tenant_id, service=request.service_id,
                             attributes=",".join(keys))

    def release(self, account: Account, request: AuthRequest, *, trust_level: TrustLevel, methods: tuple[str, ...],
                auth_time: int, session_id: str | None) -> AuthResult:
        """The AuthResult for a consented request: the consented values only, and one audit record. Acting for
        an organisation, the membership is read again here: a member removed meanwhile raises NotAMember."""
        consented = self._consents.granted(account.id, request.service_id) or frozenset()
        values = self._values(account, request)
        if "eid" not in methods:
            values.pop(CARD_PSEUDONYM, None)  # the card's pseudonym only when this login read the card
        released = tuple(values[k] for k in request.attribute_keys if k in values and k in consented)
        self._auditor.record(AuditEvent.DATA_RELEASED, account_id=account.id, tenant_id=request.tenant_id,
                             service=request.service_id, attributes=",".join(a.key for a in released))
        if self._transfers is not None:  # the citizen's history (issue #8): keys, never values
            self._transfers.record(Transfer(
                account_id=account.id, occurred_at=self._clock.now(), tenant_id=request.tenant_id,
                protocol=request.protocol, service_id=request.service_id, service_name=request.service_name,
                attributes=tuple(a.key for a in released), trust_level=trust_level, methods=methods,
                organisation_id=request.acting_for or None))
        return AuthResult(account_id=account.id, subject=self.subject(account.id, request.sector),
                          trust_level=trust_level, methods=methods, auth_time=auth_time, attributes=released,
                          session_id=session_id, organisation_id=request.acting_for or None)

    # -- temporary identification: the ID card's data once, no account, no pseudonym, nothing kept -----------

    def plan_identified(self, values: Mapping[str, ReleasedAttribute], request: AuthRequest) -> ReleasePlan:
        """What a temporary identification would send: the requested values the card gave. Always asked
        (nothing is remembered), and never a pseudonym ([BSB] §5.3): an optional card pseudonym is left out,
        a required one stays in the plan as missing, so the caller cannot send."""
        values = {k: v for k, v in values.items() if k != CARD_PSEUDONYM}
        items = tuple(PlannedAttribute(key=a.key, value=values[a.key].value if a.key in values else None,
                                       source=values[a.key].source if a.key in values else None,
                                       trust_level=values[a.key].trust_level if a.key in values else None,
                                       essential=a.essential)
                      for a in request.attributes if a.key != CARD_PSEUDONYM or a.essential)
        return ReleasePlan(items=items, needs_consent=True)

    def release_identified(self, values: Mapping[str, ReleasedAttribute], request: AuthRequest, *,
                           trust_level: TrustLevel, methods: tuple[str, ...], auth_time: int) -> AuthResult:
        """The AuthResult of a temporary identification the citizen agreed to: no account, no subject, no
        consent stored; the audit record names the service and the keys, never a value or a person."""
        plan = self.plan_identified(values, request)
        released = tuple(values[i.key] for i in plan.available)
        self._auditor.record(AuditEvent.DATA_RELEASED, tenant_id=request.tenant_id, service=request.service_id,
                             attributes=",".join(a.key for a in released), method="eid", temporary="true")
        return AuthResult(account_id="", subject="", trust_level=trust_level, methods=methods, auth_time=auth_time,
                          attributes=released, session_id=None, temporary=True)

    def subject(self, account_id: str, sector: str) -> str:
        return pseudonym(self._pseudonym_key, account_id, sector)

    def current_values(self, account: Account, keys: tuple[str, ...],
                       stored: Sequence[StoredAttribute] | None = None) -> dict[str, ReleasedAttribute]:
        """Today's values of keys released before (userinfo answers with current data); `stored`, the
        account's attributes when the caller read them already."""
        wanted = set(keys)
        return {k: v for k, v in self._all_values(account, wanted, stored).items() if k in wanted}

    def current_organisation_values(self, account_id: str, organisation_id: str, keys: tuple[str, ...], *,
                                    service_id: str, sector: str) -> dict[str, ReleasedAttribute]:
        """Today's values of the organisation a grant acts for; NotAMember once the account left it."""
        wanted = set(keys)
        return {k: v for k, v in self._organisation_values(account_id, organisation_id, service_id=service_id,
                                                           sector=sector).items() if k in wanted}

    def _organisation_values(self, account_id: str, organisation_id: str, *, service_id: str,
                             sector: str) -> dict[str, ReleasedAttribute]:
        membership = self._organisations.membership(organisation_id, account_id) \
            if self._organisations is not None else None
        if membership is None:
            raise NotAMember(organisation_id)
        level = membership.organisation.trust_level
        source = membership.organisation.source.value
        values = {key: ReleasedAttribute(key, value, source, level)
                  for key, value in organisation_values(membership, service_id).items()}
        # The organisation's pseudonym comes from the same function as a person's, over its own namespace, so
        # it can never equal an account's; the IdP vouches for it (like `pseudonym`), the data keep their source.
        values[ORGANISATION_PSEUDONYM] = ReleasedAttribute(
            ORGANISATION_PSEUDONYM, pseudonym(self._pseudonym_key, f"organisation:{organisation_id}", sector),
            source, level)
        return values

    def _values(self, account: Account, request: AuthRequest) -> dict[str, ReleasedAttribute]:
        values = self._all_values(account, set(request.attribute_keys))
        if request.acting_for:
            values.update(self._organisation_values(account.id, request.acting_for, service_id=request.service_id,
                                                    sector=request.sector))
        if CARD_PSEUDONYM in request.attribute_keys and self._card_pseudonym is not None:
            card = self._card_pseudonym(account.id, request.sector)
            if card is not None:
                source = AttributeSource.EID
                values[CARD_PSEUDONYM] = ReleasedAttribute(CARD_PSEUDONYM, card, source.value, source.trust_level)
        return values

    def _all_values(self, account: Account, wanted: set[str],
                    stored_attributes: Sequence[StoredAttribute] | None = None) -> dict[str, ReleasedAttribute]:
        values: dict[str, ReleasedAttribute] = {}
        if "email" in wanted and has_mailbox(account.email):  # an eID account without an address has none
            source = AttributeSource.EMAIL_VERIFIED
            values["email"] = ReleasedAttribute("email", account.email, source.value, source.trust_level)
        if wanted - {"email"}:
            if stored_attributes is None:
                stored_attributes = self._accounts.attributes(account.id)
            for stored in stored_attributes:
                if stored.key in wanted:
                    values[stored.key] = ReleasedAttribute(stored.key, stored.value, stored.source.value,
                                                           stored.trust_level)
        return values
