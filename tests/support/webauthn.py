"""A software authenticator for tests over HTTP: an EC P-256 key per credential, attestation "none"
(WebAuthn §8.7), assertions signed over authenticatorData ‖ SHA-256(clientDataJSON) (§6.3.3). It answers
the JSON options the server hands to `navigator.credentials.create/get` with the JSON a browser would
send back (PublicKeyCredential.toJSON()), so the tests drive exactly what `static/passkeys.js` does."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers.encode_cbor import encode_cbor

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})


@dataclass
class SoftAuthenticator:
    """`origin` is what the browser would put into clientDataJSON (the page's origin)."""

    origin: str
    user_verification: bool = True
    counter_step: int = 1  # 0: an authenticator that never counts (as many synced passkeys)
    credentials: list[SoftCredential] = field(default_factory=list)

    def _client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verification else 0) | extra

    def create(self, options: dict[str, Any], *, origin: str | None = None) -> str:
        """navigator.credentials.create({publicKey: options}) → the credential as JSON text."""
        rp_id = options["rp"]["id"]
        excluded = {d["id"] for d in options.get("excludeCredentials", [])}
        if any(b64url(c.credential_id) in excluded for c in self.credentials if c.rp_id == rp_id):
            raise RuntimeError("InvalidStateError: a credential of this authenticator is excluded")
        credential = SoftCredential(credential_id=os.urandom(32), key=ec.generate_private_key(ec.SECP256R1()),
                                    rp_id=rp_id, user_handle=unb64url(options["user"]["id"]))
        self.credentials.append(credential)
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags(AT)])
                     + struct.pack(">I", credential.sign_count) + bytes(16)
                     + struct.pack(">H", len(credential.credential_id)) + credential.credential_id
                     + credential.cose_public_key())
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return json.dumps({"id": b64url(credential.credential_id), "rawId": b64url(credential.credential_id),
                           "type": "public-key", "clientExtensionResults": {},
                           "authenticatorAttachment": "platform",
                           "response": {"clientDataJSON": b64url(client_data),
                                        "attestationObject": b64url(attestation), "transports": ["internal"]}})

    def get(self, options: dict[str, Any], *, credential: SoftCredential | None = None, origin: str | None = None,
            sign_count: int | None = None) -> str:
        """navigator.credentials.get({publicKey: options}) → the assertion as JSON text. Without an
        allow-list (a discoverable credential) it uses the newest credential for the RP."""
        rp_id = options["rpId"]
        allowed = {d["id"] for d in options.get("allowCredentials", [])}
        if credential is None:
            candidates = [c for c in self.credentials if c.rp_id == rp_id
                          and (not allowed or b64url(c.credential_id) in allowed)]
            if not candidates:
                raise RuntimeError("NotAllowedError: no credential for this request")
            credential = candidates[-1]
        credential.sign_count = credential.sign_count + self.counter_step if sign_count is None else sign_count
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags()])
                     + struct.pack(">I", credential.sign_count))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({"id": b64url(credential.credential_id), "rawId": b64url(credential.credential_id),
                           "type": "public-key", "clientExtensionResults": {},
                           "authenticatorAttachment": "platform",
                           "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                                        "signature": b64url(signature),
                                        "userHandle": b64url(credential.user_handle)}})
