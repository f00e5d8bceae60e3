"""Small crypto helpers on top of `cryptography`: derived subkeys and authenticated encryption at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEALED_VERSION = b"\x01"


def derive_key(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """A subkey of the deployment secret for one purpose (HKDF-SHA-256, RFC 5869), so one secret never
    serves two algorithms."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(secret)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM with a random 96-bit nonce; the associated data binds the ciphertext to its row."""
    nonce = os.urandom(12)
    return _SEALED_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def unseal(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    if sealed[:1] != _SEALED_VERSION:
        raise ValueError("unknown sealed format")
    return AESGCM(key).decrypt(sealed[1:13], sealed[13:], associated_data)


def keyed_hash(key: bytes, value: str | bytes) -> str:
    """HMAC-SHA-256 as base64url without padding: for high-entropy secrets and lookup keys."""
    data = value.encode() if isinstance(value, str) else value
    digest = hmac.new(key, data, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
