"""eID use cases (DESIGN.md §6): start an identification at the eID server, hand the citizen's eID client its
TC token, and — only when the browser comes back to the refresh address — fetch the result from the eID
server (never from the browser). Then: log in with a known card, register with a new one, or raise a
level-1 account to level 4 ("Vertrauensniveau hochstufen").

A card is recognised by a keyed hash of its RestrictedID; the ID itself is never stored or logged."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.errors import Conflict, InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.core.ids import new_uuid, random_token
from servicekonto.domain.accounts import Account, AccountConflict, AccountStatus, StoredAttribute
from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.auth_request import ReleasedAttribute
from servicekonto.domain.eid import EidPersonalData, EidRequest, EidSessionUnknown, no_mailbox
from servicekonto.domain.ports import AccountRepository, EidCardRepository, EidServer, EphemeralStore
from servicekonto.domain.pseudonym import pseudonym
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.audit import Auditor

PENDING_TTL = 600.0  # an identification must finish within ten minutes
RESULT_TTL = 600.0  # the card's data waits this long for the citizen's confirmation, then is gone
METHOD = "hwk"  # RFC 8176: proof of possession of a hardware-secured key (the card), with its PIN
SESSION_METHOD = "eid"


class Purpose:
    LOGIN = "login"
    REGISTER = "register"
    UPGRADE = "upgrade"
    TEMPORARY = "temporary"  # one portal request, no account: nothing of the card is kept afterwards
    ALL = frozenset({LOGIN, REGISTER, UPGRADE, TEMPORARY})


class CardOfAnotherAccount(Conflict):
    code = "eid.card_of_another_account"
    http_status = 409
    message = _l("This ID card is already linked to another account. Nothing was changed.")


class NameNotConfirmed(InvalidInput):
    code = "eid.name_not_confirmed"
    message = _l("Please confirm that the name from your ID card replaces the name in your account.")


class EidTermsNotAccepted(InvalidInput):
    code = "registration.terms_not_accepted"
    message = _l("Please accept the terms of use and the privacy notice.")


@dataclass(frozen=True, slots=True)
class Pending:
    """An identification under way: what the TC token needs, and what we do with the result."""

    ref: str
    session_id: str
    server_address: str | None
    psk_id: str | None
    psk_key: str | None
    purpose: str
    binding: str
    return_to: str
    account_id: str | None


@dataclass(frozen=True, slots=True)
class Identified:
    """The eID server's result for a pending identification, kept server-side until the citizen confirms."""

    purpose: str
    return_to: str
    account_id: str | None
    card_hash: str
    data: EidPersonalData


class EidService:
    def __init__(self, *, server: EidServer, cards: EidCardRepository, accounts: AccountRepository,
                 store: EphemeralStore, auditor: Auditor, clock: Clock, key: bytes, card_key: bytes) -> None:
        self._server = server
        self._cards = cards
        self._accounts = accounts
        self._store = store
        self._auditor = auditor
        self._clock = clock
        self._key = key
        self._card_key = card_key

    # -- the identification: useID, TC token, getResult -----------------------------------------------------

    def start(self, purpose: str, *, binding: str, return_to: str, account_id: str | None = None,
              request: EidRequest | None = None) -> Pending:
        """useID at the eID server; EidFailed when it refuses or cannot be reached."""
        if purpose not in Purpose.ALL:
            raise ValueError(purpose)
        session = self._server.use_id(request or EidRequest())
        pending = Pending(ref=random_token(24), session_id=session.session_id, server_address=session.server_address,
                          psk_id=session.psk_id, psk_key=session.psk_key, purpose=purpose,
                          binding=keyed_hash(self._key, binding), return_to=return_to, account_id=account_id)
        self._store.put(f"eid:{pending.ref}", json.dumps(asdict(pending)).encode(), PENDING_TTL)
        return pending

    def pending(self, ref: str) -> Pending | None:
        """For the TC token endpoint: no binding check, the eID client has no cookies of the browser."""
        if not ref or len(ref) > 64:
            return None
        raw = self._store.get(f"eid:{ref}")
        return Pending(**json.loads(raw)) if raw else None

    def finish(self, ref: str, *, binding: str) -> Identified:
        """The browser is back at the refresh address: fetch the result (once) from the eID server."""
        pending = self.pending(ref)
        if pending is None or pending.binding != keyed_hash(self._key, binding):
            raise EidSessionUnknown()
        self._store.delete(f"eid:{ref}")
        data = self._server.get_result(pending.session_id, request_counter=1)
        return Identified(purpose=pending.purpose, return_to=pending.return_to, account_id=pending.account_id,
                          card_hash=self.card_hash(data.restricted_id), data=data)

    def card_hash(self, restricted_id: str) -> str:
        return keyed_hash(self._card_key, restricted_id.strip().lower())

    def card_pseudonym(self, account_id: str, sector: str) -> str | None:
        """The `pseudonym` attribute of BundID ([BSB] §6.2: "unique only together with AssertionProvedBy;
        changes with a new card"): derived per sector from the account's current card, so two portals cannot
        correlate a card the way one RestrictedID for every portal would let them. None without a card."""
        card = self._cards.latest_card(account_id)
        return pseudonym(self._card_key, f"card:{card}", sector) if card else None

    def has_card(self, account_id: str) -> bool:
        return self._cards.cards_of(account_id) > 0

    @staticmethod
    def card_values(identified: Identified) -> dict[str, ReleasedAttribute]:
        """The card's data as released values for a temporary identification: source eID, level 4."""
        source = AttributeSource.EID
        return {key: ReleasedAttribute(key, value, source.value, source.trust_level)
                for key, value in identified.data.attributes().items()}

    # -- keeping a result for the confirmation page ---------------------------------------------------------

    def keep(self, identified: Identified, *, binding: str) -> str:
        result_id = random_token(18)
        value = {**asdict(identified), "data": asdict(identified.data), "binding": keyed_hash(self._key, binding)}
        self._store.put(f"eid-result:{result_id}", json.dumps(value).encode(), RESULT_TTL)
        return result_id

    def kept(self, result_id: str | None, *, binding: str) -> Identified | None:
        if not result_id or len(result_id) > 64:
            return None
        raw = self._store.get(f"eid-result:{result_id}")
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        if value.pop("binding") != keyed_hash(self._key, binding):
            return None
        value["data"] = EidPersonalData(**value["data"])
        return Identified(**value)

    def forget(self, result_id: str) -> None:
        self._store.delete(f"eid-result:{result_id}")

    # -- what a result does -----------------------------------------------------------------------------------

    def account_of(self, identified: Identified) -> Account | None:
        account_id = self._cards.account_of(identified.card_hash)
        account = self._accounts.get(account_id) if account_id else None
        return account if account is not None and account.is_active else None

    def register(self, identified: Identified, *, locale: str, accepted_terms: bool) -> Account:
        """A new active account at level 4 with the card's data (source eID). Without an e-mail address: the
        caller may then ask for one to be confirmed (AccountService.request_email_change)."""
        if not accepted_terms:
            raise EidTermsNotAccepted()
        if self._cards.account_of(identified.card_hash) is not None:
            raise CardOfAnotherAccount()
        now = self._clock.now()
        account_id = str(new_uuid())
        for _ in range(3):
            account = Account(id=account_id, username=f"eid-{secrets.token_hex(6)}", email=no_mailbox(account_id),
                              status=AccountStatus.ACTIVE, password_hash=None, locale=locale, session_epoch=0,
                              created_at=now)
            try:
                self._accounts.add(account)
                break
            except AccountConflict:  # a username drawn twice: draw again
                continue
        else:
            raise AccountConflict("username")
        if not self._cards.bind(account.id, identified.card_hash, now=now):
            self._accounts.delete(account.id)  # lost a race with another registration of the same card
            raise CardOfAnotherAccount()
        self._store_card_data(account.id, identified.data, current={})
        self._auditor.record(AuditEvent.ACCOUNT_REGISTERED, account_id=account.id, method=SESSION_METHOD)
        self._auditor.record(AuditEvent.EID_CARD_BOUND, account_id=account.id)
        return account

    def renews(self, account: Account, identified: Identified) -> bool:
        """The account holds a card already and this one is new to it: a renewed ID card."""
        return self._cards.account_of(identified.card_hash) is None and self.has_card(account.id)

    def name_change(self, account: Account, identified: Identified) -> tuple[str, str] | None:
        """(name in the account, name on the card) when an upgrade would change the name, else None."""
        current = {a.key: a.value for a in self._accounts.attributes(account.id)}
        before = " ".join(filter(None, (current.get("given_name"), current.get("family_name"))))
        after = " ".join(filter(None, (identified.data.given_names, identified.data.family_names)))
        if before and before.casefold() != after.casefold():
            return before, after
        return None

    def upgrade(self, account: Account, identified: Identified, *, name_confirmed: bool) -> list[str]:
        """Bind the card to this account and replace the self-declared data with the card's (source eID,
        read-only from now on). A different name must be confirmed. Returns the changed keys."""
        owner = self._cards.account_of(identified.card_hash)
        if owner is not None and owner != account.id:
            raise CardOfAnotherAccount()
        # A renewed card (new RestrictedID) joins an account only here: the citizen is logged in to it (with
        # its password, passkey or the old card) and presents the new card. Never by matching names.
        if self.name_change(account, identified) is not None and not name_confirmed:
            raise NameNotConfirmed()
        now = self._clock.now()
        if owner is None and not self._cards.bind(account.id, identified.card_hash, now=now):
            raise CardOfAnotherAccount()
        current = {a.key: a for a in self._accounts.attributes(account.id)}
        changed = self._store_card_data(account.id, identified.data, current=current)
        if owner is None:
            self._auditor.record(AuditEvent.EID_CARD_BOUND, account_id=account.id)
        if changed:
            self._auditor.record(AuditEvent.MASTER_DATA_CHANGED, account_id=account.id, fields=",".join(changed),
                                 method=SESSION_METHOD)
        return changed

    def _store_card_data(self, account_id: str, data: EidPersonalData,
                         current: dict[str, StoredAttribute]) -> list[str]:
        now = self._clock.now()
        source = AttributeSource.EID
        changes: dict[str, StoredAttribute | None] = {}
        for key, value in data.attributes().items():
            before = current.get(key)
            if before is None or before.value != value or before.source is not source:
                changes[key] = StoredAttribute(key=key, value=value, source=source, trust_level=source.trust_level,
                                               updated_at=now)
        if changes:
            self._accounts.change_attributes(account_id, changes, now=now)
        return sorted(changes)

    @property
    def level(self) -> TrustLevel:
        return TrustLevel.HIGH
