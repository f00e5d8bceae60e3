"""Signing keys: created once per purpose, sealed at rest, rotated with a publication window, and safe
when several processes start at the same moment. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import thumbprint

from servicekonto.core.clock import FixedClock
from servicekonto.core.crypto import derive_key, unseal
from servicekonto.core.errors import ConfigurationError
from servicekonto.domain.keys import RSA_KEY_BITS, KeyPurpose, KeyState, StoredKey
from servicekonto.domain.ports import KeyRepository
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.keys import SqlKeyRepository
from servicekonto.services.keys import SEALING_PURPOSE, KeyService
from tests.conftest import TEST_SECRET

ISSUER_HOST = "konto.example.de"
PUBLISH_SECONDS = 7200
CACHE_SECONDS = 60


def make_service(database: Database, clock: FixedClock, *, secret: str = TEST_SECRET,
                 keys: KeyRepository | None = None) -> KeyService:
    return KeyService(keys=keys or SqlKeyRepository(database), secret=secret.encode(), clock=clock,
                      issuer_host=ISSUER_HOST, publish_seconds=PUBLISH_SECONDS, cache_seconds=CACHE_SECONDS)


def rows(database: Database) -> list[models.SigningKey]:
    with database.sessions() as session:
        return list(session.scalars(sa.select(models.SigningKey)))


def active_kids(database: Database) -> dict[str, str]:
    found: dict[str, str] = {}
    for row in rows(database):
        if row.state == KeyState.ACTIVE:
            assert row.purpose not in found, "two active keys of one purpose"
            found[row.purpose] = row.kid
    return found


def jwks_kids(service: KeyService) -> list[str]:
    return [key["kid"] for key in json.loads(service.jwks_bytes())["keys"]]


def test_ensure_creates_one_key_per_purpose_and_is_idempotent(database: Database) -> None:
    clock = FixedClock()
    service = make_service(database, clock)
    service.ensure()

    created = active_kids(database)
    assert set(created) == {purpose.value for purpose in KeyPurpose}
    assert len(rows(database)) == len(KeyPurpose)

    kid, ec_key = service.signing_key(KeyPurpose.OIDC_EC)
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
    assert isinstance(ec_key.curve, ec.SECP256R1)
    for purpose in (KeyPurpose.OIDC_RSA, KeyPurpose.SAML_SIGNING, KeyPurpose.SAML_ENCRYPTION):
        kid, rsa_key = service.signing_key(purpose)
        assert kid == created[purpose.value]
        assert isinstance(rsa_key, rsa.RSAPrivateKey)
        assert rsa_key.key_size == RSA_KEY_BITS

    for row in rows(database):
        jwk = json.loads(row.public_jwk)
        required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
        assert row.kid == jwk["kid"] == thumbprint({name: jwk[name] for name in required})  # RFC 7638
        assert jwk["use"] == ("enc" if row.purpose == KeyPurpose.SAML_ENCRYPTION else "sig")
        if row.purpose in {KeyPurpose.OIDC_EC, KeyPurpose.OIDC_RSA}:
            assert jwk.get("alg") == {"oidc-ec": "ES256", "oidc-rsa": None}[row.purpose]  # RSA: RS256 and PS256
        assert (row.certificate_pem is not None) == KeyPurpose(row.purpose).needs_certificate

    for purpose in (KeyPurpose.SAML_SIGNING, KeyPurpose.SAML_ENCRYPTION):
        [pem] = service.certificates(purpose)
        certificate = x509.load_pem_x509_certificate(pem.encode())
        assert certificate.subject.rfc4514_string() == f"CN={ISSUER_HOST}" == certificate.issuer.rfc4514_string()
        assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
        lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        assert timedelta(days=3650) <= lifetime <= timedelta(days=3660)
        private = service.signing_key(purpose)[1]
        assert certificate.public_key() == private.public_key()
    assert service.certificates(KeyPurpose.OIDC_EC) == []

    service.ensure()
    make_service(database, clock).ensure()  # a second process starting later
    assert active_kids(database) == created
    assert len(rows(database)) == len(KeyPurpose)


def test_private_keys_are_unreadable_without_the_secret(database: Database) -> None:
    service = make_service(database, FixedClock())
    service.ensure()

    for row in rows(database):
        private = service.signing_key(KeyPurpose(row.purpose))[1]
        der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        assert der not in row.sealed_private_key
        assert der[-64:] not in row.sealed_private_key
        assert pem.decode() not in row.public_jwk
        assert "PRIVATE KEY" not in (row.certificate_pem or "")
        assert '"d"' not in row.public_jwk
        assert unseal(derive_key(TEST_SECRET.encode(), SEALING_PURPOSE), row.sealed_private_key,
                      associated_data=row.kid.encode()) == der
        with pytest.raises(InvalidTag):
            unseal(derive_key(b"another-deployment-" + b"x" * 32, SEALING_PURPOSE), row.sealed_private_key,
                   associated_data=row.kid.encode())
        with pytest.raises(InvalidTag):  # bound to its row: a sealed key moved to another kid does not open
            unseal(derive_key(TEST_SECRET.encode(), SEALING_PURPOSE), row.sealed_private_key,
                   associated_data=b"another-kid")

    with pytest.raises(ConfigurationError):
        make_service(database, FixedClock(), secret="another-deployment-secret-" + "y" * 32).ensure()


def test_rotation_publishes_old_and_new_keys_until_the_window_ends(database: Database) -> None:
    clock = FixedClock()
    service = make_service(database, clock)
    other_process = make_service(database, clock)
    service.ensure()
    old = active_kids(database)
    assert jwks_kids(other_process) == [old["oidc-ec"], old["oidc-rsa"]]

    rotated_at = clock.now()
    new_kids = service.rotate()

    new = active_kids(database)
    assert sorted(new_kids) == sorted(new.values())
    assert not set(new_kids) & set(old.values())
    for row in rows(database):
        if row.kid in old.values():
            assert row.state == KeyState.RETIRED
            assert row.retired_at == rotated_at
            assert row.publish_until == rotated_at + timedelta(seconds=PUBLISH_SECONDS)

    both = [new["oidc-ec"], new["oidc-rsa"], old["oidc-ec"], old["oidc-rsa"]]
    assert jwks_kids(service) == both  # active first
    assert service.signing_key(KeyPurpose.OIDC_EC)[0] == new["oidc-ec"]
    assert len(service.certificates(KeyPurpose.SAML_SIGNING)) == 2

    assert jwks_kids(other_process) == [old["oidc-ec"], old["oidc-rsa"]]  # still within its cache period
    assert other_process.signing_key(KeyPurpose.OIDC_EC)[0] == old["oidc-ec"]
    clock.advance(CACHE_SECONDS)
    assert jwks_kids(other_process) == both
    assert other_process.signing_key(KeyPurpose.OIDC_EC)[0] == new["oidc-ec"]

    clock.advance(PUBLISH_SECONDS - CACHE_SECONDS - 1)
    assert jwks_kids(service) == both
    clock.advance(1)
    assert jwks_kids(service) == [new["oidc-ec"], new["oidc-rsa"]]
    assert jwks_kids(other_process) == [new["oidc-ec"], new["oidc-rsa"]]
    assert service.certificates(KeyPurpose.SAML_SIGNING) == [
        row.certificate_pem for row in rows(database) if row.kid == new["saml-signing"]]


class RacingKeys:
    """A repository whose inserts wait until the other process has also found the purpose empty: the
    window two processes starting at once really have."""

    def __init__(self, inner: SqlKeyRepository, barrier: threading.Barrier) -> None:
        self._inner = inner
        self._barrier = barrier
        self.attempted: list[str] = []
        self.inserted: list[str] = []

    def active(self, purpose: KeyPurpose) -> StoredKey | None:
        return self._inner.active(purpose)

    def add_active_if_missing(self, key: StoredKey) -> bool:
        self.attempted.append(key.purpose.value)
        self._barrier.wait()
        added = self._inner.add_active_if_missing(key)
        if added:
            self.inserted.append(key.purpose.value)
        return added

    def rotate(self, new_key: StoredKey, *, retired_at: datetime, publish_until: datetime) -> None:
        self._inner.rotate(new_key, retired_at=retired_at, publish_until=publish_until)

    def published(self, now: datetime) -> Sequence[StoredKey]:
        return self._inner.published(now)


def test_processes_starting_at_once_end_with_one_active_key_per_purpose(database: Database) -> None:
    barrier = threading.Barrier(2, timeout=30)
    second_database = Database(database.url)
    repositories = [RacingKeys(SqlKeyRepository(database), barrier),
                    RacingKeys(SqlKeyRepository(second_database), barrier)]
    services = [make_service(database, FixedClock(), keys=repository) for repository in repositories]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for started in [pool.submit(service.ensure) for service in services]:
                started.result()  # re-raises what went wrong in the thread
    finally:
        second_database.dispose()

    everything = [purpose.value for purpose in KeyPurpose]
    assert repositories[0].attempted == repositories[1].attempted == everything  # both really raced
    assert sorted(repositories[0].inserted + repositories[1].inserted) == sorted(p.value for p in KeyPurpose)
    active = active_kids(database)
    assert len(rows(database)) == len(KeyPurpose) == len(active)
    for service in services:
        for purpose in KeyPurpose:
            assert service.signing_key(purpose)[0] == active[purpose.value]
