"""The passkey strategy (WebAuthn Level 2, py_webauthn): it proves possession of a registered credential
and returns who, how and at which trust level (STYLE.md §5); sessions are the pages' business.

- Ceremonies: the options (with a fresh 32-byte challenge) are stored for five minutes in the ephemeral
  store under a random ceremony id, bound to the browser (and the account where one is known); the answer
  takes them out again, so every challenge is used once.
- Registration asks for a discoverable credential (resident key) with user verification and attestation
  "none": we trust no vendor list, the citizen chooses the device. The credential id must be new anywhere.
- Login without a username (discoverable credential): user verification is required, so the passkey is
  possession plus a PIN or biometric on the device. As a second factor after the password it is preferred.
- Signature counter (WebAuthn §6.1.1): checked after the signature; a counter that does not grow is
  refused and audited (a cloned authenticator), and the new value is stored by a conditional UPDATE, so
  two requests with the same assertion cannot both succeed.
- Failed assertions count against a throttle of their own, as wrong TOTP codes do (ASVS 2.2.1): per account
  (once the credential names it) and per client address; while locked, even a good assertion waits.
- Trust level (DESIGN.md §2): see `domain/passkeys.py` and docs/security.md.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import parse_authentication_credential_json
from webauthn.helpers.parse_registration_credential_json import parse_registration_credential_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import keyed_hash
from servicekonto.core.errors import InvalidInput
from servicekonto.core.i18n import _l
from servicekonto.core.ids import random_token
from servicekonto.domain.accounts import Account
from servicekonto.domain.audit import AuditEvent
from servicekonto.domain.eid import has_mailbox
from servicekonto.domain.passkeys import (
    MAX_PASSKEYS,
    PASSKEY_METHOD,
    Passkey,
    counter_regressed,
    normalise_passkey_name,
)
from servicekonto.domain.ports import AccountRepository, EphemeralStore, PasskeyRepository
from servicekonto.services.audit import Auditor
from servicekonto.services.authentication import Authenticated, PasswordAuthenticator
from servicekonto.services.mail import MailComposer
from servicekonto.services.throttle import LoginThrottle, ThrottlePolicy

CEREMONY_SECONDS = 5 * 60
PASSKEY_THROTTLE = ThrottlePolicy(free_attempts=5, max_lock_seconds=3600)  # as for TOTP codes
THROTTLE_PREFIX = "passkey:"
_TRANSPORTS = {t.value for t in AuthenticatorTransport}


class PasskeyInvalid(InvalidInput):
    code = "passkey.invalid"
    message = _l("The passkey could not be confirmed. Please try again, or log in with your password.")


class PasskeyMissing(InvalidInput):
    code = "passkey.missing"
    message = _l("Your browser did not send a passkey. Passkeys need JavaScript and a browser that supports "
                 "them. You can still log in with your password.")


class PasskeyCeremonyExpired(InvalidInput):
    code = "passkey.expired"
    message = _l("This took too long. Please try again.")


class PasskeyNameInvalid(InvalidInput):
    code = "passkey.name_invalid"
    message = _l("Please give the passkey a name of up to 64 characters, for example “My phone”.")


class PasskeyExists(InvalidInput):
    code = "passkey.exists"
    message = _l("This passkey is registered already.")


class TooManyPasskeys(InvalidInput):
    code = "passkey.too_many"
    message = _l("An account can have up to 10 passkeys. Please remove one you no longer use first.")


class NoPasskey(InvalidInput):
    code = "passkey.none"
    message = _l("There is no suitable passkey for this account.")


class PasskeyCounterRegressed(InvalidInput):
    code = "passkey.counter_regressed"
    message = _l("This passkey was refused because it may have been copied. Please log in another way and "
                 "check the passkeys in your account.")


class CeremonyPurpose(enum.StrEnum):
    REGISTER = "register"
    LOGIN = "login"  # without a username: the passkey names the account
    CONFIRM = "confirm"  # a second factor or a step-up: the account is known


@dataclass(frozen=True, slots=True)
class Ceremony:
    id: str
    options: dict[str, Any]  # publicKey options as WebAuthn's JSON (base64url for bytes)


class PasskeyService:
    def __init__(self, *, passkeys: PasskeyRepository, accounts: AccountRepository,
                 authenticator: PasswordAuthenticator, throttle: LoginThrottle, auditor: Auditor,
                 mails: MailComposer, store: EphemeralStore, clock: Clock, key: bytes, rp_id: str, rp_name: str,
                 origin: str, base_url: str) -> None:
        self._passkeys = passkeys
        self._throttle = throttle
        self._accounts = accounts
        self._authenticator = authenticator
        self._auditor = auditor
        self._mails = mails
        self._store = store
        self._clock = clock
        self._key = key
        self._rp_id = rp_id
        self._rp_name = rp_name
        self._origin = origin
        self._base = base_url

    # -- status ---------------------------------------------------------------------------------------------

    def passkeys(self, account_id: str) -> Sequence[Passkey]:
        return self._passkeys.of_account(account_id)

    def has_passkey(self, account_id: str) -> bool:
        return bool(self._passkeys.of_account(account_id))

    def has_bound_passkey(self, account_id: str) -> bool:
        return any(p.bound_to_eid for p in self._passkeys.of_account(account_id))

    # -- registration ---------------------------------------------------------------------------------------

    def start_registration(self, account: Account, *, binding: str, name: str, bound: bool,
                           password: str | None, address: str | None) -> Ceremony:
        """Options for navigator.credentials.create(). `password` is None when the session's login is
        fresh; otherwise it must be the current password (a stolen session must not add a key)."""
        clean = normalise_passkey_name(name)
        if clean is None:
            raise PasskeyNameInvalid()
        if password is not None:
            self._authenticator.verify_current(account, password, address=address)
        existing = self._passkeys.of_account(account.id)
        if len(existing) >= MAX_PASSKEYS:
            raise TooManyPasskeys()
        options = generate_registration_options(
            rp_id=self._rp_id, rp_name=self._rp_name, user_name=account.username,
            user_id=uuid.UUID(account.id).bytes, user_display_name=account.username,
            timeout=CEREMONY_SECONDS * 1000, attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED),
            exclude_credentials=[self._descriptor(p) for p in existing])
        return self._keep(CeremonyPurpose.REGISTER, options, binding=binding, account_id=account.id,
                          name=clean, bound=bound, uv=True)

    def finish_registration(self, account: Account, *, ceremony_id: str, binding: str, credential: str) -> Passkey:
        ceremony = self._take(ceremony_id, CeremonyPurpose.REGISTER, binding=binding, account_id=account.id)
        try:
            parsed = parse_registration_credential_json(credential)
            verified = verify_registration_response(
                credential=parsed, expected_challenge=base64url_to_bytes(ceremony["challenge"]),
                expected_rp_id=self._rp_id, expected_origin=self._origin, require_user_verification=True)
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise PasskeyInvalid() from exc
        if len(self._passkeys.of_account(account.id)) >= MAX_PASSKEYS:
            raise TooManyPasskeys()
        transports = tuple(t.value for t in parsed.response.transports or [] if t.value in _TRANSPORTS)
        passkey = Passkey(id=str(uuid.uuid4()), account_id=account.id,
                          credential_id=bytes_to_base64url(verified.credential_id),
                          public_key=verified.credential_public_key, sign_count=verified.sign_count,
                          transports=transports, name=str(ceremony["name"]), bound_to_eid=bool(ceremony["bound"]),
                          created_at=self._clock.now())
        if not self._passkeys.add(passkey):
            raise PasskeyExists()
        self._auditor.record(AuditEvent.PASSKEY_ADDED, account_id=account.id, passkey=passkey.id,
                             bound="yes" if passkey.bound_to_eid else "no")
        self._tell(account, "passkey_added", passkey)
        return passkey

    # -- removal --------------------------------------------------------------------------------------------

    def remove(self, account: Account, passkey_id: str, *, password: str | None, address: str | None) -> Passkey:
        """`password` None: the session's login is fresh. NoPasskey when it is not this account's."""
        passkey = next((p for p in self._passkeys.of_account(account.id) if p.id == passkey_id), None)
        if passkey is None:
            raise NoPasskey()
        if password is not None:
            self._authenticator.verify_current(account, password, address=address)
        if not self._passkeys.remove(account.id, passkey.id):
            raise NoPasskey()
        self._auditor.record(AuditEvent.PASSKEY_REMOVED, account_id=account.id, passkey=passkey.id)
        self._tell(account, "passkey_removed", passkey)
        return passkey

    # -- the strategy ---------------------------------------------------------------------------------------

    def start_authentication(self, *, binding: str, account: Account | None = None,
                             bound_only: bool = False) -> Ceremony:
        """Without an account: a login by a discoverable credential (user verification required). With one:
        its passkeys (only the bound ones for level 3, then with user verification)."""
        if account is None:
            options = generate_authentication_options(
                rp_id=self._rp_id, timeout=CEREMONY_SECONDS * 1000,
                user_verification=UserVerificationRequirement.REQUIRED)
            return self._keep(CeremonyPurpose.LOGIN, options, binding=binding, uv=True)
        candidates = [p for p in self._passkeys.of_account(account.id) if p.bound_to_eid or not bound_only]
        if not candidates:
            raise NoPasskey()
        options = generate_authentication_options(
            rp_id=self._rp_id, timeout=CEREMONY_SECONDS * 1000,
            allow_credentials=[self._descriptor(p) for p in candidates],
            user_verification=UserVerificationRequirement.REQUIRED if bound_only
            else UserVerificationRequirement.PREFERRED)
        return self._keep(CeremonyPurpose.CONFIRM, options, binding=binding, account_id=account.id,
                          bound_only=bound_only, uv=bound_only)

    def authenticate(self, *, ceremony_id: str, binding: str, credential: str,
                     account: Account | None = None, address: str | None = None) -> Authenticated:
        """PasskeyInvalid for anything wrong (unknown credential, another account's, bad signature, no user
        verification where required); PasskeyCounterRegressed for a counter that did not grow; LoginLocked
        after too many failed assertions."""
        known = account.id if account is not None else None
        had_failures = self._throttle.check(account_id=self._throttle_id(known), address=address)
        purpose = CeremonyPurpose.LOGIN if account is None else CeremonyPurpose.CONFIRM
        ceremony = self._take(ceremony_id, purpose, binding=binding, account_id=known)
        try:
            parsed = parse_authentication_credential_json(credential)
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            self._failed(known, address)
            raise PasskeyInvalid() from exc
        passkey = self._passkeys.by_credential_id(bytes_to_base64url(parsed.raw_id))
        if passkey is None or (account is not None and passkey.account_id != account.id) \
                or (ceremony.get("bound_only") and not passkey.bound_to_eid):
            self._failed(known, address)
            raise PasskeyInvalid()
        if account is None:  # without a username the credential names the account: its lock applies too
            had_failures = self._throttle.check(account_id=self._throttle_id(passkey.account_id), address=address)
        handle = parsed.response.user_handle
        if handle and handle != uuid.UUID(passkey.account_id).bytes:
            self._failed(passkey.account_id, address)
            raise PasskeyInvalid()
        try:
            verified = verify_authentication_response(
                credential=parsed, expected_challenge=base64url_to_bytes(ceremony["challenge"]),
                expected_rp_id=self._rp_id, expected_origin=self._origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=0,  # the counter is checked below, after the signature
                require_user_verification=bool(ceremony["uv"]))
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            self._auditor.record(AuditEvent.PASSKEY_FAILED, account_id=passkey.account_id, passkey=passkey.id)
            self._failed(passkey.account_id, address)
            raise PasskeyInvalid() from exc
        if counter_regressed(passkey.sign_count, verified.new_sign_count):
            self._auditor.record(AuditEvent.PASSKEY_COUNTER_REGRESSED, account_id=passkey.account_id,
                                 passkey=passkey.id)
            self._failed(passkey.account_id, address)
            raise PasskeyCounterRegressed()
        if not self._passkeys.use(passkey.id, stored_count=passkey.sign_count, new_count=verified.new_sign_count,
                                  now=self._clock.now()):
            raise PasskeyInvalid()  # used by another request in between: that one won
        owner = account if account is not None else self._accounts.get(passkey.account_id)
        if owner is None or not owner.is_active:
            raise PasskeyInvalid()
        self._throttle.succeeded(account_id=THROTTLE_PREFIX + owner.id, had_failures=had_failures)
        self._auditor.record(AuditEvent.PASSKEY_USED, account_id=owner.id, passkey=passkey.id)
        return Authenticated(account=owner, method=PASSKEY_METHOD, trust_level=passkey.trust_level)

    # -- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _throttle_id(account_id: str | None) -> str | None:
        """Keys of their own: a locked passkey step does not lock the password, nor the TOTP step."""
        return THROTTLE_PREFIX + account_id if account_id else None

    def _failed(self, account_id: str | None, address: str | None) -> None:
        self._throttle.failed(account_id=self._throttle_id(account_id), address=address)

    @staticmethod
    def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
        return PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(passkey.credential_id),
            transports=[AuthenticatorTransport(t) for t in passkey.transports if t in _TRANSPORTS] or None)

    def _storage_key(self, ceremony_id: str) -> str:
        return "passkey-ceremony:" + keyed_hash(self._key, ceremony_id)

    def _keep(self, purpose: CeremonyPurpose, options: Any, *, binding: str, account_id: str | None = None,
              **extra: object) -> Ceremony:
        as_json: dict[str, Any] = json.loads(options_to_json(options))
        ceremony_id = random_token(24)
        record = {"purpose": purpose.value, "binding": keyed_hash(self._key, binding), "account_id": account_id,
                  "challenge": as_json["challenge"], **extra}
        self._store.put(self._storage_key(ceremony_id), json.dumps(record).encode(), CEREMONY_SECONDS)
        return Ceremony(id=ceremony_id, options=as_json)

    def _take(self, ceremony_id: str, purpose: CeremonyPurpose, *, binding: str,
              account_id: str | None) -> dict[str, Any]:
        if not ceremony_id or len(ceremony_id) > 100:
            raise PasskeyMissing()
        raw = self._store.take(self._storage_key(ceremony_id))
        if raw is None:
            raise PasskeyCeremonyExpired()
        record: dict[str, Any] = json.loads(raw)
        if record.get("purpose") != purpose.value or record.get("binding") != keyed_hash(self._key, binding) \
                or record.get("account_id") != account_id:
            raise PasskeyCeremonyExpired()
        return record

    def _tell(self, account: Account, template: str, passkey: Passkey) -> None:
        if has_mailbox(account.email):
            self._mails.send(template, to=account.email, locale=account.locale, username=account.username,
                             name=passkey.name, reset_link=f"{self._base}/passwort-vergessen",
                             settings_link=f"{self._base}/konto/passkeys")
