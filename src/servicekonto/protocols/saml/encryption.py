"""XML Encryption of a signed Assertion for one SP (XML Encryption Syntax and Processing 1.1), in process with
`cryptography` (DESIGN.md §7: never the xmlsec1 command line).

The form is the one every SP library we know reads: `xenc:EncryptedData Type="…#Element"` with the
`xenc:EncryptedKey` inline in its `ds:KeyInfo` (XML Enc §3.5.1; python3-saml requires a `ds:KeyInfo` there,
xmlsec1 finds the key through it, OpenSAML and xmlseclibs accept it).

Algorithms per SP (DESIGN.md §5): the strongest content and key-transport algorithm the SP declared in its
metadata (`md:EncryptionMethod`), else **aes256-gcm + rsa-oaep-mgf1p** — the pair Debian's xmlsec1 1.2.37
(behind pysaml2 and python-xmlsec there) and the BundID php-saml fork both decrypt; xmlsec1 1.2 has no
`xmlenc11#rsa-oaep`. rsa-oaep-mgf1p runs with its default SHA-1 digest and MGF1-SHA-1 (XML Enc §5.4.2):
xmlseclibs (php-saml, SimpleSAMLphp) cannot use another digest, and OAEP's security does not rest on the
collision resistance SHA-1 lacks. `xmlenc11#rsa-oaep`, when declared, runs with SHA-256 and MGF1-SHA-256 as
BSI TR-03116-4 points (egov-interfaces.md §8.7). AES-CBC remains for older SPs that declare only it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from servicekonto.protocols.saml.xml import DS

XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"

AES128_CBC = f"{XENC}aes128-cbc"
AES256_CBC = f"{XENC}aes256-cbc"
AES128_GCM = f"{XENC11}aes128-gcm"
AES256_GCM = f"{XENC11}aes256-gcm"
RSA_OAEP_MGF1P = f"{XENC}rsa-oaep-mgf1p"
RSA_OAEP = f"{XENC11}rsa-oaep"
DIGEST_SHA1 = f"{DS}sha1"
DIGEST_SHA256 = f"{XENC}sha256"
MGF1_SHA256 = f"{XENC11}mgf1sha256"
TYPE_ELEMENT = f"{XENC}Element"

# Strongest first: what `choose_encryption` picks from an SP's declaration.
CONTENT_ALGORITHMS = (AES256_GCM, AES128_GCM, AES256_CBC, AES128_CBC)
KEY_TRANSPORT_ALGORITHMS = (RSA_OAEP, RSA_OAEP_MGF1P)

_KEY_BYTES = {AES256_GCM: 32, AES128_GCM: 16, AES256_CBC: 32, AES128_CBC: 16}
_GCM_NONCE_BYTES = 12  # XML Enc 1.1 §5.2.4: a 96-bit IV, then the ciphertext, then the 128-bit tag
_CBC_IV_BYTES = 16  # XML Enc §5.2.2: the IV precedes the ciphertext


@dataclass(frozen=True, slots=True)
class EncryptionAlgorithms:
    content: str  # encrypts the Assertion (EncryptedData)
    key_transport: str  # encrypts the content key to the SP's RSA key (EncryptedKey)


DEFAULT_ENCRYPTION = EncryptionAlgorithms(content=AES256_GCM, key_transport=RSA_OAEP_MGF1P)


def choose_encryption(declared: Sequence[str]) -> EncryptionAlgorithms:
    """The strongest declared content and key-transport algorithms we support, each on its own; where the SP
    declared none we support, the interoperable default (module docstring). SAML metadata §2.4.1.1 lists
    both kinds in the same `md:EncryptionMethod` elements."""
    content = next((a for a in CONTENT_ALGORITHMS if a in declared), DEFAULT_ENCRYPTION.content)
    key_transport = next((a for a in KEY_TRANSPORT_ALGORITHMS if a in declared), DEFAULT_ENCRYPTION.key_transport)
    return EncryptionAlgorithms(content=content, key_transport=key_transport)


@lru_cache(maxsize=256)
def _public_key(certificate_pem: str) -> Any:
    """An SP's encryption key, parsed once per certificate (parsing cost more than the RSA operation)."""
    return x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()


def encrypted_data(plaintext: bytes, *, certificate_pem: str, algorithms: EncryptionAlgorithms) -> bytes:
    """`xenc:EncryptedData`, serialised, holding `plaintext` (one serialised element, UTF-8, no XML declaration)
    for the RSA key of `certificate_pem`, with a fresh content key (XML Enc §4.1 steps 1–3, 4.2). Written as
    text: every value in it is an algorithm URI of ours or base64, and the caller splices it into the Response
    without parsing it again."""
    public_key = _public_key(certificate_pem)
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("an encryption certificate must hold an RSA key")
    content_key = os.urandom(_KEY_BYTES[algorithms.content])
    wrapped = public_key.encrypt(content_key, oaep_padding(algorithms.key_transport))
    ciphertext = encrypt_content(content_key, plaintext, algorithms.content)
    return (f'<xenc:EncryptedData xmlns:xenc="{XENC}" xmlns:ds="{DS}" Type="{TYPE_ELEMENT}">'
            f'<xenc:EncryptionMethod Algorithm="{algorithms.content}"/><ds:KeyInfo><xenc:EncryptedKey>'
            f"{_KEY_TRANSPORT_METHODS[algorithms.key_transport]}{_cipher_data(wrapped)}</xenc:EncryptedKey>"
            f"</ds:KeyInfo>{_cipher_data(ciphertext)}</xenc:EncryptedData>").encode()


def encrypt_content(key: bytes, plaintext: bytes, algorithm: str) -> bytes:
    """The CipherValue octets: IV ‖ ciphertext ‖ tag for AES-GCM (XML Enc 1.1 §5.2.4), IV ‖ ciphertext for
    AES-CBC with the padding of XML Enc §5.2 (PKCS#7 is one valid choice of its arbitrary pad bytes)."""
    if algorithm in (AES128_GCM, AES256_GCM):
        nonce = os.urandom(_GCM_NONCE_BYTES)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, None)
    if algorithm in (AES128_CBC, AES256_CBC):
        iv = os.urandom(_CBC_IV_BYTES)
        padder = padding.PKCS7(algorithms.AES.block_size).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return iv + encryptor.update(padded) + encryptor.finalize()
    raise ValueError(f"unsupported content encryption algorithm {algorithm!r}")


def oaep_padding(algorithm: str) -> asymmetric_padding.OAEP:
    """rsa-oaep-mgf1p: SHA-1 digest, MGF1-SHA-1 (XML Enc §5.4.2); xmlenc11#rsa-oaep: SHA-256 digest with
    MGF1-SHA-256 (XML Enc 1.1 §5.5.2), both named in the EncryptedKey by `_KEY_TRANSPORT_METHODS`."""
    if algorithm == RSA_OAEP_MGF1P:  # SHA-1 inside OAEP needs no collision resistance (module docstring)
        sha1 = hashes.SHA1()  # noqa: S303
        return asymmetric_padding.OAEP(mgf=asymmetric_padding.MGF1(sha1), algorithm=sha1, label=None)
    if algorithm == RSA_OAEP:
        return asymmetric_padding.OAEP(mgf=asymmetric_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                       label=None)
    raise ValueError(f"unsupported key transport algorithm {algorithm!r}")


# The EncryptedKey's method with its parameters spelled out (XML Enc §3.5.1), so no reader relies on a default.
_KEY_TRANSPORT_METHODS = {
    RSA_OAEP_MGF1P: f'<xenc:EncryptionMethod Algorithm="{RSA_OAEP_MGF1P}"><ds:DigestMethod Algorithm="{DIGEST_SHA1}"/>'
                    "</xenc:EncryptionMethod>",
    RSA_OAEP: f'<xenc:EncryptionMethod Algorithm="{RSA_OAEP}"><ds:DigestMethod Algorithm="{DIGEST_SHA256}"/>'
              f'<xenc11:MGF xmlns:xenc11="{XENC11}" Algorithm="{MGF1_SHA256}"/></xenc:EncryptionMethod>',
}


def _cipher_data(octets: bytes) -> str:
    return (f"<xenc:CipherData><xenc:CipherValue>{base64.b64encode(octets).decode('ascii')}</xenc:CipherValue>"
            "</xenc:CipherData>")
