"""The deployment's key pairs: which purposes exist, with which algorithm and size."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class KeyPurpose(enum.StrEnum):
    """One active key per purpose. ES256 is the default for tokens (23 µs a signature); RSA 3072 follows
    BSI TR-02102-1 for clients that need RS256/PS256 and for SAML."""

    OIDC_EC = "oidc-ec"
    OIDC_RSA = "oidc-rsa"
    SAML_SIGNING = "saml-signing"
    SAML_ENCRYPTION = "saml-encryption"

    @property
    def published_in_jwks(self) -> bool:
        return self in {KeyPurpose.OIDC_EC, KeyPurpose.OIDC_RSA}

    @property
    def needs_certificate(self) -> bool:
        """SAML metadata carries keys as X.509 certificates."""
        return self in {KeyPurpose.SAML_SIGNING, KeyPurpose.SAML_ENCRYPTION}


RSA_KEY_BITS = 3072


class KeyState(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as kept in the database: the private part sealed with the deployment secret."""

    kid: str
    purpose: KeyPurpose
    state: KeyState
    sealed_private_key: bytes
    public_jwk: str
    certificate_pem: str | None
    created_at: datetime
    retired_at: datetime | None = None
    publish_until: datetime | None = None
