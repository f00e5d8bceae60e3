"""The password strategy: it only proves possession of the password and returns who and how (STYLE.md
§5); the session, the audit record and the lock mail are hooks around it."""

from __future__ import annotations

from dataclasses import dataclass

from servicekonto.core.clock import Clock
from servicekonto.core.errors import ServicekontoError
from servicekonto.core.i18n import _l
from servicekonto.domain.accounts import Account, SecondSteps
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.ports import AccountRepository
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.audit import Auditor
from servicekonto.services.mail import MailComposer
from servicekonto.services.passwords import PasswordHasher
from servicekonto.services.throttle import LoginThrottle


class CredentialsInvalid(ServicekontoError):
    code = "login.credentials_invalid"  # the same answer for unknown users: no enumeration
    http_status = 400
    message = _l("The username or password is not correct.")


@dataclass(frozen=True, slots=True)
class Authenticated:
    account: Account
    method: str  # an RFC 8176 amr value
    trust_level: TrustLevel
    second_steps: SecondSteps | None = None  # read with the account when the strategy could; None: not read


class PasswordAuthenticator:
    method = "pwd"

    def __init__(self, *, accounts: AccountRepository, hasher: PasswordHasher, throttle: LoginThrottle,
                 auditor: Auditor, mails: MailComposer, clock: Clock, base_url: str) -> None:
        self._accounts = accounts
        self._clock = clock
        self._hasher = hasher
        self._throttle = throttle
        self._auditor = auditor
        self._mails = mails
        self._base_url = base_url

    def authenticate(self, identifier: str, password: str, *, address: str | None) -> Authenticated:
        """Raise CredentialsInvalid (unknown user, wrong password, unconfirmed account alike) or LoginLocked."""
        found = self._accounts.find_for_login(identifier.strip()[:320]) if identifier.strip() else None
        account, second_steps = found if found is not None else (None, None)
        account_id = account.id if account else None
        had_failures = self._throttle.check(account_id=account_id, address=address)
        if account is None:
            self._hasher.burn(password)
            self._throttle.failed(account_id=None, address=address)
            raise CredentialsInvalid()
        ok, new_hash = self._hasher.verify(account.password_hash, password)
        if not ok or not account.is_active:
            self._failed(account, address)
            raise CredentialsInvalid()
        if new_hash is not None:
            self._accounts.set_password(account.id, new_hash, end_sessions=False, now=self._clock.now())
        self._throttle.succeeded(account_id=account.id, had_failures=had_failures)
        return Authenticated(account=account, method=self.method, trust_level=TrustLevel.BASIC,
                             second_steps=second_steps)

    def verify_current(self, account: Account, password: str, *, address: str | None) -> None:
        """Re-authentication before a sensitive change (password change, deletion), under the same throttle."""
        self._throttle.check(account_id=account.id, address=address)
        ok, _ = self._hasher.verify(account.password_hash, password)
        if not ok:
            self._failed(account, address)
            raise CredentialsInvalid()

    def _failed(self, account: Account, address: str | None) -> None:
        locked = self._throttle.failed(account_id=account.id, address=address)
        self._auditor.record(AuditEvent.LOGIN_FAILED, account_id=account.id, method=self.method)
        if locked and account.is_active:
            self._auditor.record(AuditEvent.ACCOUNT_LOCKED, account_id=account.id)
            self._mails.send("account_locked", to=account.email, locale=account.locale, username=account.username,
                             reset_link=f"{self._base_url}/passwort-vergessen")
