"""Citizen self-service: register, confirm, reset and change the password, keep master data, change the
e-mail address, delete the account. Pages answer the same whether or not an account exists; the mails
tell the real owner (no enumeration, ASVS 2.5.x / 3.x)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from servicekonto.core.clock import Clock
from servicekonto.core.errors import FormInvalid, InvalidInput, ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.core.ids import new_uuid
from servicekonto.domain import normalise, passwords
from servicekonto.domain.accounts import (
    Account,
    AccountConflict,
    AccountStatus,
    StoredAttribute,
    canonical_email,
    check_username,
)
from servicekonto.domain.attributes import MASTER_DATA_KEYS, AttributeSource
from servicekonto.domain.audit import AuditEvent, AuditRecord
from servicekonto.domain.ports import AccountRepository, EphemeralStore
from servicekonto.services.audit import Auditor
from servicekonto.services.authentication import PasswordAuthenticator
from servicekonto.services.mail import MailComposer
from servicekonto.services.passwords import PasswordHasher
from servicekonto.services.throttle import LoginThrottle
from servicekonto.services.tokens import TokenInvalid, TokenPurpose, TokenService

PENDING_LIFETIME = timedelta(hours=48)  # unconfirmed registrations are removed after this
MAIL_REQUESTS_PER_HOUR = 5  # per address: "send again" and reset requests cannot flood a mailbox


class TermsNotAccepted(InvalidInput):
    code = "registration.terms_not_accepted"
    message = _l("Please accept the terms of use and the privacy notice.")


class PasswordsDiffer(InvalidInput):
    code = "password.confirmation_differs"
    message = _l("The two passwords are not the same.")


@dataclass(frozen=True, slots=True)
class Overview:
    account: Account
    attributes: dict[str, StoredAttribute]


class AccountService:
    def __init__(self, *, accounts: AccountRepository, hasher: PasswordHasher, tokens: TokenService,
                 mails: MailComposer, auditor: Auditor, throttle: LoginThrottle,
                 authenticator: PasswordAuthenticator, store: EphemeralStore, clock: Clock, base_url: str) -> None:
        self._accounts = accounts
        self._hasher = hasher
        self._tokens = tokens
        self._mails = mails
        self._auditor = auditor
        self._throttle = throttle
        self._authenticator = authenticator
        self._store = store
        self._clock = clock
        self._base = base_url
        self._before_deletion: list[Callable[[Account], None]] = []

    def before_deletion(self, hook: Callable[[Account], None]) -> None:
        """A check (or clean-up) run after re-authentication, before the account goes; raising stops the
        deletion (organisations: the last admin hands over first, issue #10)."""
        self._before_deletion.append(hook)

    # -- registration -----------------------------------------------------------------------------------

    def register(self, *, username: str, email: str, password: str, password_repeat: str, accepted_terms: bool,
                 locale: str) -> None:
        """Validate, then always answer alike: a new pending account and a confirmation mail, or a mail that
        tells the owner of an existing address or the chooser of a taken username what happened."""
        errors: dict[str, ServicekontoError] = {}
        clean_username, clean_email = username.strip(), email.strip()
        try:
            clean_username = check_username(username)
        except InvalidInput as exc:
            errors["username"] = exc
        try:
            clean_email = normalise.email("email", email)
        except InvalidInput as exc:
            errors["email"] = exc
        try:
            passwords.check(password, context=(clean_username, clean_email))
        except InvalidInput as exc:
            errors["password"] = exc
        if password != password_repeat:
            errors["password_repeat"] = PasswordsDiffer()
        if not accepted_terms:
            errors["accept_terms"] = TermsNotAccepted()
        if errors:
            raise FormInvalid(errors)
        password_hash = self._hasher.hash(password)  # in every branch, so timing tells nothing
        if not self._mail_allowed(clean_email):
            return
        existing = self._accounts.find_by_email(clean_email)
        if existing is not None and existing.status is AccountStatus.PENDING:
            self._accounts.delete(existing.id)  # an unconfirmed registration is replaced, not kept
            existing = None
        if existing is not None:
            self._mails.send("already_registered", to=clean_email, locale=locale,
                             login_link=f"{self._base}/anmelden", reset_link=f"{self._base}/passwort-vergessen")
            return
        now = self._clock.now()
        account = Account(id=str(new_uuid()), username=clean_username, email=clean_email,
                          status=AccountStatus.PENDING, password_hash=password_hash, locale=locale, session_epoch=0,
                          created_at=now)
        try:
            self._accounts.add(account)
        except AccountConflict:
            self._mails.send("username_taken", to=clean_email, locale=locale, username=clean_username,
                             register_link=f"{self._base}/registrieren")
            return
        self._auditor.record(AuditEvent.ACCOUNT_REGISTERED, account_id=account.id, method="pwd")
        self._send_verification(account)

    def resend_verification(self, email: str, *, locale: str) -> None:
        try:
            clean = normalise.email("email", email)
        except normalise.FieldInvalid:
            return
        account = self._accounts.find_by_email(clean)
        if account is not None and account.status is AccountStatus.PENDING and self._mail_allowed(clean):
            self._send_verification(account)

    def _send_verification(self, account: Account) -> None:
        token = self._tokens.issue(TokenPurpose.VERIFY_EMAIL, {"account_id": account.id})
        self._mails.send("verify_email", to=account.email, locale=account.locale, username=account.username,
                         link=f"{self._base}/registrieren/bestaetigen?token={token}")

    def check_verification(self, token: str) -> None:
        self._tokens.peek(TokenPurpose.VERIFY_EMAIL, token)

    def verify(self, token: str) -> Account:
        payload = self._tokens.redeem(TokenPurpose.VERIFY_EMAIL, token)
        if not self._accounts.activate(payload["account_id"], now=self._clock.now()):
            raise TokenInvalid()
        account = self._accounts.get(payload["account_id"])
        if account is None:
            raise TokenInvalid()
        self._auditor.record(AuditEvent.ACCOUNT_VERIFIED, account_id=account.id)
        return account

    def remove_stale_registrations(self) -> int:
        return self._accounts.delete_pending_before(self._clock.now() - PENDING_LIFETIME)

    def _mail_allowed(self, email: str) -> bool:
        return self._store.increment(f"mail-requests:{canonical_email(email)}", 3600) <= MAIL_REQUESTS_PER_HOUR

    # -- passwords --------------------------------------------------------------------------------------

    def request_password_reset(self, identifier: str) -> None:
        """Same answer for everyone; only the owner of an active account gets a link (valid one hour)."""
        account = self._accounts.find_by_login(identifier.strip()[:320]) if identifier.strip() else None
        if account is None or not self._mail_allowed(account.email):
            return
        if account.status is AccountStatus.PENDING:
            self._send_verification(account)
            return
        token = self._tokens.issue(TokenPurpose.RESET_PASSWORD, {"account_id": account.id})
        self._auditor.record(AuditEvent.PASSWORD_RESET_REQUESTED, account_id=account.id)
        self._mails.send("password_reset", to=account.email, locale=account.locale, username=account.username,
                         link=f"{self._base}/passwort-zuruecksetzen?token={token}")

    def check_reset(self, token: str) -> None:
        self._tokens.peek(TokenPurpose.RESET_PASSWORD, token)

    def reset_password(self, token: str, *, password: str, password_repeat: str) -> Account:
        """Check the new password before the token is used up, so a typo does not cost the link."""
        payload = self._tokens.peek(TokenPurpose.RESET_PASSWORD, token)
        account = self._accounts.get(payload["account_id"])
        if account is None:
            raise TokenInvalid()
        if password != password_repeat:
            raise PasswordsDiffer()
        passwords.check(password, context=(account.username, account.email))
        self._tokens.redeem(TokenPurpose.RESET_PASSWORD, token)
        self._accounts.set_password(account.id, self._hasher.hash(password), end_sessions=True, now=self._clock.now())
        self._throttle.clear(account_id=account.id)
        self._auditor.record(AuditEvent.PASSWORD_RESET, account_id=account.id)
        self._mails.send("password_changed", to=account.email, locale=account.locale, username=account.username,
                         reset_link=f"{self._base}/passwort-vergessen")
        return account

    def change_password(self, account: Account, *, current: str, new: str, new_repeat: str,
                        address: str | None) -> int:
        """Returns the new session epoch: the caller re-issues this browser's session, all others end."""
        self._authenticator.verify_current(account, current, address=address)
        if new != new_repeat:
            raise PasswordsDiffer()
        passwords.check(new, context=(account.username, account.email))
        epoch = self._accounts.set_password(account.id, self._hasher.hash(new), end_sessions=True,
                                            now=self._clock.now())
        self._auditor.record(AuditEvent.PASSWORD_CHANGED, account_id=account.id)
        self._mails.send("password_changed", to=account.email, locale=account.locale, username=account.username,
                         reset_link=f"{self._base}/passwort-vergessen")
        return epoch

    # -- master data and e-mail -------------------------------------------------------------------------

    def overview(self, account: Account) -> Overview:
        return Overview(account=account, attributes={a.key: a for a in self._accounts.attributes(account.id)})

    def security_events(self, account: Account) -> list[AuditRecord]:
        """The newest security events, for the account's own security page (not the overview: the page a
        login lands on stays one read)."""
        return self._auditor.security_events(account.id)

    def master_data(self, account: Account) -> dict[str, str]:
        return {a.key: a.value for a in self._accounts.attributes(account.id)}

    def update_master_data(self, account: Account, form: dict[str, str]) -> list[str]:
        """Validate every field first (all messages at once, nothing changed on error); store what changed as
        self-declared. Returns the names of the changed fields."""
        values = {key: form.get(key, "") for key in MASTER_DATA_KEYS}
        clean = normalise.master_data(values, today=self._clock.now().date())
        current = {a.key: a for a in self._accounts.attributes(account.id)}
        now = self._clock.now()
        changes: dict[str, StoredAttribute | None] = {}
        for key, value in clean.items():
            before = current.get(key)
            if before is not None and before.source is AttributeSource.EID:
                continue  # read from the ID card: changed only by reading the card again
            if value is None:
                if before is not None:
                    changes[key] = None
            elif before is None or before.value != value:
                source = AttributeSource.SELF_DECLARED
                changes[key] = StoredAttribute(key=key, value=value, source=source, trust_level=source.trust_level,
                                               updated_at=now)
        if changes:
            self._accounts.change_attributes(account.id, changes, now=now)
            self._auditor.record(AuditEvent.MASTER_DATA_CHANGED, account_id=account.id,
                                 fields=",".join(sorted(changes)))
        return sorted(changes)

    def request_email_change(self, account: Account, new_email: str) -> None:
        """The new address is confirmed before it takes effect; the old one is told."""
        clean = normalise.email("new_email", new_email)
        if canonical_email(clean) == canonical_email(account.email) or not self._mail_allowed(clean):
            return
        if self._accounts.find_by_email(clean) is not None:
            self._mails.send("email_in_use", to=clean, locale=account.locale)
            return
        token = self._tokens.issue(TokenPurpose.CHANGE_EMAIL, {"account_id": account.id, "email": clean})
        self._auditor.record(AuditEvent.EMAIL_CHANGE_REQUESTED, account_id=account.id)
        self._mails.send("email_change", to=clean, locale=account.locale, username=account.username,
                         link=f"{self._base}/konto/e-mail/bestaetigen?token={token}")
        self._mails.send("email_change_notice", to=account.email, locale=account.locale, username=account.username,
                         reset_link=f"{self._base}/passwort-vergessen")

    def check_email_change(self, token: str) -> None:
        self._tokens.peek(TokenPurpose.CHANGE_EMAIL, token)

    def confirm_email_change(self, token: str) -> Account:
        payload = self._tokens.redeem(TokenPurpose.CHANGE_EMAIL, token)
        account = self._accounts.get(payload["account_id"])
        if account is None:
            raise TokenInvalid()
        try:
            self._accounts.set_email(account.id, payload["email"], now=self._clock.now())
        except AccountConflict:
            raise TokenInvalid() from None
        self._auditor.record(AuditEvent.EMAIL_CHANGED, account_id=account.id)
        self._mails.send("email_changed", to=account.email, locale=account.locale, username=account.username)
        return account

    # -- deletion ---------------------------------------------------------------------------------------

    def delete(self, account: Account, *, password: str, address: str | None) -> None:
        """After re-authentication: the row and its master data go at once (sessions end with it); the
        audit record keeps only the random account id."""
        self._authenticator.verify_current(account, password, address=address)
        for hook in self._before_deletion:
            hook(account)
        if self._accounts.delete(account.id):
            self._throttle.clear(account_id=account.id)
            self._auditor.record(AuditEvent.ACCOUNT_DELETED, account_id=account.id)
            self._mails.send("account_deleted", to=account.email, locale=account.locale, username=account.username)
