"""The deployment's signing and encryption keys: created on first start, sealed at rest with the deployment
secret, published as a JWKS (OIDC) and as certificates (SAML metadata), rotated by the operator.

Every process keeps a snapshot of the published keys for `cache_seconds` (so a rotation reaches every
process within that time) and unseals a private key once per key id, never per signature.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, RSAKey

from servicekonto.core.clock import Clock
from servicekonto.core.crypto import derive_key, seal, unseal
from servicekonto.core.errors import ConfigurationError
from servicekonto.domain.keys import RSA_KEY_BITS, KeyPurpose, KeyState, StoredKey
from servicekonto.domain.ports import KeyRepository

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

SEALING_PURPOSE = "servicekonto/signing-keys/v1"
CERTIFICATE_DAYS = 10 * 365 + 2  # ten years, leap days included
RSA_PUBLIC_EXPONENT = 65537

# RFC 7518 §3.1 (signatures) and §4.1 (key encryption). OIDC_RSA may also sign PS256 for a client that
# asks; the label names the default.
# The OIDC RSA key signs RS256 and PS256 (per client), so its JWK names no single "alg" (RFC 7517 §4.4:
# optional; a client library that finds "RS256" there refuses the key for a PS256 token).
ALGORITHMS = {
    KeyPurpose.OIDC_EC: "ES256",
    KeyPurpose.OIDC_RSA: None,
    KeyPurpose.SAML_SIGNING: "RS256",
    KeyPurpose.SAML_ENCRYPTION: "RSA-OAEP",
}


@dataclass(frozen=True, slots=True)
class _Snapshot:
    jwks: bytes
    signing: dict[KeyPurpose, tuple[str, PrivateKey]]
    certificates: dict[KeyPurpose, list[str]]
    fresh_until: float


class KeyService:
    def __init__(self, *, keys: KeyRepository, secret: bytes, clock: Clock, issuer_host: str,
                 publish_seconds: int, cache_seconds: int) -> None:
        self._keys = keys
        self._sealing_key = derive_key(secret, SEALING_PURPOSE)
        self._clock = clock
        self._issuer_host = issuer_host
        self._publish_seconds = publish_seconds
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    @property
    def cache_seconds(self) -> int:
        """How long a process keeps the key set; also how long clients may cache the JWKS."""
        return self._cache_seconds

    def ensure(self) -> None:
        """Create the active key of every purpose that lacks one, and prove the secret opens the others
        (so a changed secret stops the start, not the first login)."""
        self._create_missing()
        with self._lock:
            self._snapshot = self._refresh(self._snapshot)

    def rotate(self) -> list[str]:
        """A new active key per purpose; the old one stays published for `publish_seconds`, longer than
        anything signed with it lives. Other processes pick the new keys up within `cache_seconds`."""
        now = self._clock.now()
        publish_until = now + timedelta(seconds=self._publish_seconds)
        kids = []
        for purpose in KeyPurpose:
            key = self._generate(purpose, now)
            self._keys.rotate(key, retired_at=now, publish_until=publish_until)
            kids.append(key.kid)
        with self._lock:
            self._snapshot = None
        return kids

    def jwks_bytes(self) -> bytes:
        """The OIDC public keys as a pre-serialised JWK Set (RFC 7517 §5), active keys first."""
        return self._current().jwks

    def fresh_jwks(self) -> bytes | None:
        """The JWK Set if this process holds a fresh copy, else None: lets async callers skip the thread
        pool on the hot path and go to the database only when the copy is stale."""
        snapshot = self._snapshot
        if snapshot is not None and self._clock.timestamp() < snapshot.fresh_until:
            return snapshot.jwks
        return None

    def signing_key(self, purpose: KeyPurpose) -> tuple[str, PrivateKey]:
        """The active key of `purpose` and its kid."""
        return self._current().signing[purpose]

    def certificates(self, purpose: KeyPurpose) -> list[str]:
        """Published certificates (PEM) of a SAML purpose, active first: metadata lists retired ones too,
        so SPs that refresh metadata late still accept what was signed before a rotation."""
        return list(self._current().certificates.get(purpose, []))

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._clock.timestamp() < snapshot.fresh_until:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and self._clock.timestamp() < snapshot.fresh_until:
                return snapshot
            self._snapshot = self._refresh(snapshot)
            return self._snapshot

    def _refresh(self, previous: _Snapshot | None) -> _Snapshot:
        loaded = self._load(previous)
        if loaded is None:  # a fresh database, or a process that started before `migrate`
            self._create_missing()
            loaded = self._load(previous)
        if loaded is None:
            raise ConfigurationError("signing keys are missing and could not be created")
        return loaded

    def _create_missing(self) -> None:
        for purpose in KeyPurpose:
            if self._keys.active(purpose) is None:
                self._keys.add_active_if_missing(self._generate(purpose, self._clock.now()))

    def _load(self, previous: _Snapshot | None) -> _Snapshot | None:
        """The published keys with the active ones unsealed; None while some purpose has no active key."""
        now = self._clock.now()
        published = sorted(self._keys.published(now), key=_active_first)
        known = {kid: key for kid, key in (previous.signing.values() if previous else ())}
        signing: dict[KeyPurpose, tuple[str, PrivateKey]] = {}
        certificates: dict[KeyPurpose, list[str]] = {}
        jwks: list[object] = []
        for stored in published:
            if stored.state is KeyState.ACTIVE:
                private = known.get(stored.kid)
                if private is None:
                    private = self._unseal(stored)
                signing[stored.purpose] = (stored.kid, private)
            if stored.purpose.published_in_jwks:
                jwks.append(json.loads(stored.public_jwk))
            if stored.certificate_pem is not None:
                certificates.setdefault(stored.purpose, []).append(stored.certificate_pem)
        if any(purpose not in signing for purpose in KeyPurpose):
            return None
        fresh_until = now.timestamp() + self._cache_seconds
        for stored in published:
            if stored.publish_until is not None:  # drop a retired key on time, not up to a cache period late
                fresh_until = min(fresh_until, stored.publish_until.timestamp())
        body = json.dumps({"keys": jwks}, separators=(",", ":")).encode()
        return _Snapshot(jwks=body, signing=signing, certificates=certificates, fresh_until=fresh_until)

    def _unseal(self, stored: StoredKey) -> PrivateKey:
        try:
            der = unseal(self._sealing_key, stored.sealed_private_key, associated_data=stored.kid.encode())
        except InvalidTag:
            raise ConfigurationError(
                f"the deployment secret cannot open the stored private key {stored.kid}; was "
                "SERVICEKONTO_SECRET_KEY changed?") from None
        # AES-GCM has authenticated the bytes as the key we generated, so the RSA consistency check (≈ 80 ms
        # for 3072 bits, per process and key) proves nothing more.
        private = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
        if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ConfigurationError(f"the stored key {stored.kid} is of an unexpected type")
        return private

    def _generate(self, purpose: KeyPurpose, now: datetime) -> StoredKey:
        private: PrivateKey
        public: ECKey | RSAKey
        if purpose is KeyPurpose.OIDC_EC:
            private = ec.generate_private_key(ec.SECP256R1())
            public = ECKey.import_key(private.public_key())
        else:
            private = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_KEY_BITS)
            public = RSAKey.import_key(private.public_key())
        kid = public.thumbprint()  # RFC 7638: the kid names the key itself, in every process alike
        jwk = {**public.as_dict(private=False), "kid": kid,
               "use": "enc" if purpose is KeyPurpose.SAML_ENCRYPTION else "sig"}
        if algorithm := ALGORITHMS[purpose]:
            jwk["alg"] = algorithm
        der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        certificate = None
        if purpose.needs_certificate:
            assert isinstance(private, rsa.RSAPrivateKey)
            certificate = self._certificate(private, now)
        return StoredKey(
            kid=kid,
            purpose=purpose,
            state=KeyState.ACTIVE,
            sealed_private_key=seal(self._sealing_key, der, associated_data=kid.encode()),
            public_jwk=json.dumps(jwk, separators=(",", ":")),
            certificate_pem=certificate,
            created_at=now,
        )

    def _certificate(self, private: rsa.RSAPrivateKey, now: datetime) -> str:
        """Self-signed: SAML trusts the certificate in the metadata as a key container, not through a CA
        (SAML V2.0 Metadata Interoperability Profile §2.4)."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self._issuer_host)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=CERTIFICATE_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(private, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()


_PURPOSE_ORDER = {purpose: index for index, purpose in enumerate(KeyPurpose)}


def _active_first(key: StoredKey) -> tuple[bool, int, float]:
    """Active keys first, ES256 before RS256, newer before older."""
    return key.state is not KeyState.ACTIVE, _PURPOSE_ORDER[key.purpose], -key.created_at.timestamp()
