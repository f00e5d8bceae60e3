"""The per-login queries answer as the services they stand in for: `second_steps` (and `find_for_login`,
which reads them with the account) as PasskeyService.has_passkey and SecondFactorService.has_second_factor,
`device_seen` new once per device."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from servicekonto.domain.accounts import Account, AccountStatus, SecondSteps
from servicekonto.domain.passkeys import Passkey
from servicekonto.persistence.accounts import SqlAccountRepository
from servicekonto.persistence.database import Database
from servicekonto.persistence.passkeys import SqlPasskeyRepository
from servicekonto.persistence.privacy import SqlAccountData
from servicekonto.persistence.second_factors import SqlSecondFactorRepository


def _account(accounts: SqlAccountRepository, name: str) -> str:
    account_id = str(uuid.uuid4())
    accounts.add(Account(id=account_id, username=name, email=f"{name}@example.de", status=AccountStatus.ACTIVE,
                         password_hash=None, locale="de", session_epoch=0, created_at=datetime.now(UTC)))
    return account_id


def test_second_steps_tell_passkey_and_app_apart(database: Database) -> None:
    accounts = SqlAccountRepository(database)
    now = datetime.now(UTC)
    plain, with_app, with_passkey = (_account(accounts, n) for n in ("plain", "app", "passkey"))
    SqlSecondFactorRepository(database).set_totp(with_app, b"sealed", last_used_step=0, now=now)
    SqlPasskeyRepository(database).add(Passkey(
        id=str(uuid.uuid4()), account_id=with_passkey, credential_id="cred-1", public_key=b"cose", sign_count=0,
        transports=(), name="Telefon", bound_to_eid=False, created_at=now))
    assert accounts.second_steps(plain) == (False, False)
    assert accounts.second_steps(with_app) == (False, True)
    assert accounts.second_steps(with_passkey) == (True, False)
    assert accounts.second_steps("not-a-uuid") == (False, False)
    for name, account_id, steps in (("plain", plain, SecondSteps()), ("app", with_app, SecondSteps(app=True)),
                                    ("passkey", with_passkey, SecondSteps(passkey=True))):
        for identifier in (name.upper(), f" {name}@Example.de".strip()):
            found = accounts.find_for_login(identifier)
            assert found is not None and found == (accounts.find_by_login(identifier), steps)
            assert found[0].id == account_id
    assert accounts.find_for_login("nobody") is None and accounts.find_for_login("nobody@example.de") is None
    SqlSecondFactorRepository(database).remove_totp(with_app)
    assert accounts.second_steps(with_app) == (False, False)
    assert accounts.find_for_login("app") == (accounts.get(with_app), SecondSteps())


def test_a_device_is_new_once_and_touched_after_a_day(database: Database) -> None:
    data = SqlAccountData(database)
    account_id = _account(SqlAccountRepository(database), "geraet")
    now = datetime.now(UTC)
    assert data.device_seen(account_id, "hash-1", "Firefox / Linux", now=now) is True
    assert data.device_seen(account_id, "hash-1", "Firefox / Linux", now=now) is False
    later = now + timedelta(days=2)
    assert data.device_seen(account_id, "hash-1", "Chrome / Linux", now=later) is False
    [device] = data.devices(account_id)
    assert device.label == "Chrome / Linux" and device.last_seen_at == later and device.first_seen_at == now
    assert data.device_seen(account_id, "hash-2", "Safari / macOS", now=later) is True
    assert len(data.devices(account_id)) == 2
    assert data.new_device_notice(account_id) is False
    data.set_new_device_notice(account_id, True, now=now)
    assert data.new_device_notice(account_id) is True
