"""The second-factor strategies (STYLE.md §5): an authenticator app (TOTP, RFC 6238) and recovery codes.
Each only proves possession and returns who and how; sessions are the pages' business.

- The TOTP secret (160 bits) is sealed at rest (AES-GCM, key derived from the deployment secret, bound to
  the account id). A code is valid one step (30 s) either side of now, and each time step only once: the
  last used step is stored and only a later one is accepted (RFC 6238 §5.2).
- Recovery codes (10 × 50 bits) are stored as HMAC-SHA-256 of account id and code under a derived key. A
  slow hash (Argon2) protects guessable secrets; these are random and long, and the HMAC key is not in the
  database, so a stolen table is useless either way. The HMAC also lets the database find and delete the
  one code in a single atomic statement, where Argon2 would mean ten 16 ms verifications per attempt.
- Wrong codes count against a throttle of their own (ASVS 2.2.1): five free attempts, then a lock that
  doubles up to an hour; 6-digit codes then take years to guess even for someone who has the password.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import pyotp
from cryptography.exceptions import InvalidTag

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash, seal, unseal
from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.domain.accounts import Account
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.ports import EphemeralStore, SecondFactorRepository
from servicekonto.domain.second_factors import (
    TOTP_DIGITS,
    TOTP_PERIOD,
    TOTP_WINDOW,
    new_recovery_codes,
    normalise_recovery_code,
    normalise_totp_code,
)
from servicekonto.domain.trust import TrustLevel
from servicekonto.services.audit import Auditor
from servicekonto.services.authentication import Authenticated, PasswordAuthenticator
from servicekonto.services.mail import MailComposer
from servicekonto.services.throttle import LoginThrottle, ThrottlePolicy

SETUP_SECONDS = 15 * 60  # time to scan the QR code and type the first code
SECOND_FACTOR_THROTTLE = ThrottlePolicy(free_attempts=5, max_lock_seconds=3600)
TOTP_METHOD = "totp"  # → amr "otp" (RFC 8176)
RECOVERY_METHOD = "otp"  # a one-time code from a printed list: amr "otp"


class SecondFactorInvalid(InvalidInput):
    code = "second_factor.code_invalid"
    message = _l("The code is not correct. Please enter the code your authenticator app shows now.")


class RecoveryCodeInvalid(InvalidInput):
    code = "second_factor.recovery_code_invalid"
    message = _l("This recovery code is not correct or was already used.")


class TotpSetupExpired(InvalidInput):
    code = "second_factor.setup_expired"
    message = _l("The setup took too long. Please scan the new QR code and enter the code it shows.")


class NoSecondFactor(InvalidInput):
    code = "second_factor.missing"
    message = _l("Please set up an authenticator app first.")


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str  # base32, for typing into the app by hand
    uri: str  # otpauth:// for the QR code


@dataclass(frozen=True, slots=True)
class SecondFactorStatus:
    totp: bool
    recovery_codes_left: int


class SecondFactorService:
    def __init__(self, *, factors: SecondFactorRepository, authenticator: PasswordAuthenticator,
                 throttle: LoginThrottle, auditor: Auditor, mails: MailComposer, store: EphemeralStore, clock: Clock,
                 seal_key: bytes, code_key: bytes, issuer: str, base_url: str) -> None:
        self._factors = factors
        self._authenticator = authenticator
        self._throttle = throttle
        self._auditor = auditor
        self._mails = mails
        self._store = store
        self._clock = clock
        self._seal_key = seal_key
        self._code_key = code_key
        self._issuer = issuer
        self._base = base_url

    # -- status ---------------------------------------------------------------------------------------------

    def has_second_factor(self, account_id: str) -> bool:
        return self._factors.totp(account_id) is not None

    def status(self, account: Account) -> SecondFactorStatus:
        return SecondFactorStatus(totp=self.has_second_factor(account.id),
                                  recovery_codes_left=self._factors.recovery_codes_left(account.id))

    # -- setting up and removing ----------------------------------------------------------------------------

    def pending_setup(self, account: Account, *, setup_id: str) -> TotpSetup:
        """The secret being set up in this session: the same one on every reload until it is confirmed or
        SETUP_SECONDS pass, so a QR code already scanned stays valid."""
        key = self._setup_key(setup_id)
        sealed = self._store.get(key)
        secret = self._unseal_setup(account, sealed) if sealed is not None else None
        if secret is None:
            secret = pyotp.random_base32()  # 32 characters: 160 bits (RFC 4226 §4 recommends 160)
            self._store.put(key, seal(self._seal_key, secret.encode(), self._setup_binding(account)), SETUP_SECONDS)
        return TotpSetup(secret=secret, uri=self._totp(secret).provisioning_uri(name=account.username,
                                                                                issuer_name=self._issuer))

    def confirm_setup(self, account: Account, *, setup_id: str, code: str, password: str,
                      address: str | None) -> list[str]:
        """Password again (a stolen session must not add a factor), then a current code from the app (it
        was set up correctly). Stores the app and returns fresh recovery codes, to be shown once."""
        self._authenticator.verify_current(account, password, address=address)
        sealed = self._store.get(self._setup_key(setup_id))
        secret = self._unseal_setup(account, sealed) if sealed is not None else None
        if secret is None:
            raise TotpSetupExpired()
        self._throttle.check(account_id=self._throttle_id(account), address=address)
        step = self._matching_step(secret, code)
        if step is None:
            self._failed(account, address, "totp_setup")
            raise SecondFactorInvalid()
        now = self._clock.now()
        self._factors.set_totp(account.id, seal(self._seal_key, secret.encode(), self._binding(account.id)),
                               last_used_step=step, now=now)
        self._store.delete(self._setup_key(setup_id))
        self._auditor.record(AuditEvent.TOTP_ENABLED, account_id=account.id)
        codes = self._new_recovery_codes(account)
        self._mails.send("totp_enabled", to=account.email, locale=account.locale, username=account.username,
                         reset_link=f"{self._base}/passwort-vergessen")
        return codes

    def disable(self, account: Account, *, password: str, address: str | None) -> None:
        """Removes the app and the recovery codes; the account is back to level 1."""
        self._authenticator.verify_current(account, password, address=address)
        removed = self._factors.remove_totp(account.id)
        self._factors.remove_recovery_codes(account.id)
        if removed:
            self._auditor.record(AuditEvent.TOTP_DISABLED, account_id=account.id)
            self._mails.send("totp_disabled", to=account.email, locale=account.locale, username=account.username,
                             reset_link=f"{self._base}/passwort-vergessen")

    def regenerate_recovery_codes(self, account: Account, *, password: str, address: str | None) -> list[str]:
        """New codes after the password; every earlier code stops working."""
        self._authenticator.verify_current(account, password, address=address)
        if not self.has_second_factor(account.id):
            raise NoSecondFactor()
        return self._new_recovery_codes(account)

    def _new_recovery_codes(self, account: Account) -> list[str]:
        codes = new_recovery_codes()
        hashes = [self._code_hash(account.id, normalise_recovery_code(code) or "") for code in codes]
        self._factors.replace_recovery_codes(account.id, hashes, now=self._clock.now())
        self._auditor.record(AuditEvent.RECOVERY_CODES_GENERATED, account_id=account.id)
        return codes

    # -- the strategies -------------------------------------------------------------------------------------

    def verify_totp(self, account: Account, code: str, *, address: str | None) -> Authenticated:
        """SecondFactorInvalid for a wrong, replayed or malformed code; LoginLocked after too many."""
        had_failures = self._throttle.check(account_id=self._throttle_id(account), address=address)
        stored = self._factors.totp(account.id)
        if stored is None:
            raise NoSecondFactor()
        secret = unseal(self._seal_key, stored.sealed_secret, self._binding(account.id)).decode()
        step = self._matching_step(secret, code)
        if step is None or (stored.last_used_step is not None and step <= stored.last_used_step) \
                or not self._factors.use_totp_step(account.id, step):
            self._failed(account, address, "totp" if step is None else "totp_replayed")
            raise SecondFactorInvalid()
        self._throttle.succeeded(account_id=self._throttle_id(account), had_failures=had_failures)
        return Authenticated(account=account, method=TOTP_METHOD, trust_level=TrustLevel.LOW)

    def verify_recovery_code(self, account: Account, code: str, *, address: str | None) -> Authenticated:
        """The code is gone once it worked; the owner is told by mail."""
        had_failures = self._throttle.check(account_id=self._throttle_id(account), address=address)
        clean = normalise_recovery_code(code)
        if clean is None or not self._factors.use_recovery_code(account.id, self._code_hash(account.id, clean)):
            self._failed(account, address, "recovery_code")
            raise RecoveryCodeInvalid()
        self._throttle.succeeded(account_id=self._throttle_id(account), had_failures=had_failures)
        left = self._factors.recovery_codes_left(account.id)
        self._auditor.record(AuditEvent.RECOVERY_CODE_USED, account_id=account.id, left=str(left))
        self._mails.send("recovery_code_used", to=account.email, locale=account.locale, username=account.username,
                         left=left, reset_link=f"{self._base}/passwort-vergessen",
                         settings_link=f"{self._base}/konto/zwei-faktor")
        return Authenticated(account=account, method=RECOVERY_METHOD, trust_level=TrustLevel.LOW)

    # -- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _totp(secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)

    def _matching_step(self, secret: str, code: str) -> int | None:
        """The time step (now ± TOTP_WINDOW) whose code this is; every candidate is compared in constant
        time."""
        clean = normalise_totp_code(code)
        if clean is None:
            return None
        totp = self._totp(secret)
        current = int(self._clock.timestamp() // TOTP_PERIOD)
        found = None
        for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), clean):
                found = step
        return found

    def _failed(self, account: Account, address: str | None, kind: str) -> None:
        """Count the failure; at the first lock the owner hears of it: whoever typed the codes had the
        password (or the session)."""
        locked = self._throttle.failed(account_id=self._throttle_id(account), address=address)
        self._auditor.record(AuditEvent.SECOND_FACTOR_FAILED, account_id=account.id, method=kind)
        if locked:
            self._mails.send("second_factor_locked", to=account.email, locale=account.locale,
                             username=account.username, reset_link=f"{self._base}/passwort-vergessen")

    @staticmethod
    def _throttle_id(account: Account) -> str:
        return f"2fa:{account.id}"

    @staticmethod
    def _binding(account_id: str) -> bytes:
        return f"second-factor:totp:{account_id}".encode()

    @staticmethod
    def _setup_binding(account: Account) -> bytes:
        return f"second-factor:totp-setup:{account.id}".encode()

    def _setup_key(self, setup_id: str) -> str:
        return "totp-setup:" + keyed_hash(self._code_key, setup_id)

    def _unseal_setup(self, account: Account, sealed: bytes) -> str | None:
        try:
            return unseal(self._seal_key, sealed, self._setup_binding(account)).decode()
        except (InvalidTag, ValueError):  # another account's or a damaged entry: start afresh
            return None

    def _code_hash(self, account_id: str, clean_code: str) -> str:
        return keyed_hash(self._code_key, f"{account_id}:{clean_code}")
