"""The HTTP-Redirect binding (SAML bindings §3.4): a message travels DEFLATE-compressed and base64-encoded in
the query string, and its signature covers the query string itself, not the XML (§3.4.4.1).

Generic over the message (`SAMLRequest` or `SAMLResponse`), so single logout can use it as well. Errors are
`RedirectBindingError`s with a detail for the operator; the caller turns them into its own error.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
RSA_PSS_SHA256 = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
RSA_PSS_SHA384 = "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1"
RSA_PSS_SHA512 = "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ECDSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"

# URI → (key scheme, hash). SHA-1 is not offered (BSI TR-03116-4); RSASSA-PSS is BundID's announced default.
SIGNATURE_ALGORITHMS: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    RSA_SHA256: ("rsa", hashes.SHA256),
    RSA_SHA384: ("rsa", hashes.SHA384),
    RSA_SHA512: ("rsa", hashes.SHA512),
    RSA_PSS_SHA256: ("rsa-pss", hashes.SHA256),
    RSA_PSS_SHA384: ("rsa-pss", hashes.SHA384),
    RSA_PSS_SHA512: ("rsa-pss", hashes.SHA512),
    ECDSA_SHA256: ("ecdsa", hashes.SHA256),
    ECDSA_SHA384: ("ecdsa", hashes.SHA384),
    ECDSA_SHA512: ("ecdsa", hashes.SHA512),
}
_BINDING_PARAMETERS = ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature")
MAX_SIGNATURE_CHARS = 4096  # base64 of a 16384-bit RSA signature fits easily


class RedirectBindingError(ValueError):
    """The query string does not follow the binding; the text says which rule was broken."""


class MessageTooLarge(RedirectBindingError):
    """The message inflates beyond the limit (a DEFLATE bomb, or simply too large)."""


class RedirectSignatureInvalid(RedirectBindingError):
    """No registered certificate verifies the query signature, or its algorithm is not accepted."""


@dataclass(frozen=True, slots=True)
class RedirectQuery:
    """The binding's parameters, URL-decoded, and the octets the signature covers (§3.4.4.1)."""

    message: str
    relay_state: str | None
    sig_alg: str | None
    signature: str | None
    signed_octets: bytes

    @property
    def signed(self) -> bool:
        return self.signature is not None


def parse_query(raw_query: str, *, message: str = "SAMLRequest") -> RedirectQuery:
    """Split the query string exactly as received. Each binding parameter may appear once: a second
    `SAMLRequest` or `Signature` would let the reader and the verifier look at different values."""
    raw: dict[str, str] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote_plus(name)
        if name in _BINDING_PARAMETERS:
            if name in raw:
                raise RedirectBindingError(f"the query parameter {name} appears more than once")
            raw[name] = value
    if message not in raw:
        raise RedirectBindingError(f"the query parameter {message} is missing")
    if ("SigAlg" in raw) != ("Signature" in raw):
        raise RedirectSignatureInvalid("SigAlg and Signature must be sent together (SAML bindings §3.4.4.1)")
    parts = [f"{message}={raw[message]}"]
    if "RelayState" in raw:
        parts.append(f"RelayState={raw['RelayState']}")
    if "SigAlg" in raw:
        parts.append(f"SigAlg={raw['SigAlg']}")
    octets = "&".join(parts)
    try:
        signed_octets = octets.encode("latin-1")  # a WSGI/ASGI query string is bytes read as latin-1
    except UnicodeEncodeError:
        signed_octets = octets.encode("utf-8")
    return RedirectQuery(
        message=unquote_plus(raw[message]),
        relay_state=unquote_plus(raw["RelayState"]) if "RelayState" in raw else None,
        sig_alg=unquote_plus(raw["SigAlg"]).strip() if "SigAlg" in raw else None,
        signature=unquote_plus(raw["Signature"]) if "Signature" in raw else None,
        signed_octets=signed_octets,
    )


def decode_base64(value: str) -> bytes:
    """Lenient about what transports do to base64 (line breaks, a `+` decoded to a space, missing
    padding), strict about the alphabet."""
    compact = "".join(value.replace(" ", "+").split())
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise RedirectBindingError("the value is not valid base64") from None


def inflate(data: bytes, *, limit: int) -> bytes:
    """Raw DEFLATE (RFC 1951, SAML bindings §3.4.4.1), at most `limit` bytes out: a bomb stops at the limit
    instead of filling the memory. A zlib-wrapped stream, which some SP libraries send, is tolerated."""
    for wbits in (-15, 15):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise MessageTooLarge(f"the message inflates to more than {limit} bytes")
        if not inflater.eof:
            raise RedirectBindingError("the DEFLATE stream is incomplete")
        return out
    raise RedirectBindingError("the message is not DEFLATE-compressed (SAML bindings §3.4.4.1)")


def verify_query_signature(query: RedirectQuery, certificates: Sequence[str]) -> str:
    """Check `Signature` over the signed octets with the SP's registered certificates (PEM); returns the
    certificate that verified. Certificates are key containers here: their validity period is not checked
    (SAML V2.0 Metadata Interoperability Profile)."""
    if query.sig_alg is None or query.signature is None:
        raise RedirectSignatureInvalid("the query carries no signature")
    algorithm = SIGNATURE_ALGORITHMS.get(query.sig_alg)
    if algorithm is None:
        raise RedirectSignatureInvalid(f"the signature algorithm {query.sig_alg[:200]!r} is not accepted "
                                       f"(accepted: {', '.join(SIGNATURE_ALGORITHMS)})")
    if len(query.signature) > MAX_SIGNATURE_CHARS:
        raise RedirectSignatureInvalid("the signature is too long")
    try:
        signature = decode_base64(query.signature)
    except RedirectBindingError:
        raise RedirectSignatureInvalid("the signature is not valid base64") from None
    scheme, hash_type = algorithm
    for pem in certificates:
        try:
            key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        except ValueError:
            continue
        if _verifies(key, scheme, hash_type, signature, query.signed_octets):
            return pem
    raise RedirectSignatureInvalid("no registered signing certificate of the service provider verifies the "
                                   "query signature")


def _verifies(key: object, scheme: str, hash_type: type[hashes.HashAlgorithm], signature: bytes,
              octets: bytes) -> bool:
    try:
        if scheme == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, octets, padding.PKCS1v15(), hash_type())
            return True
        if scheme == "rsa-pss" and isinstance(key, rsa.RSAPublicKey):
            # RFC 6931 §2.3.10 fixes the salt to the hash length by default; any salt length verifies safely.
            key.verify(signature, octets, padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=padding.PSS.AUTO),
                       hash_type())
            return True
        if scheme == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            return any(_ecdsa_verifies(key, candidate, octets, hash_type) for candidate in _ecdsa_forms(key, signature))
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return False


def _ecdsa_forms(key: ec.EllipticCurvePublicKey, signature: bytes) -> list[bytes]:
    """DER (what Java's and OpenSSL's signers give) and XML-DSig's r‖s (RFC 4050), both seen in the wild."""
    forms = [signature]
    size = (key.curve.key_size + 7) // 8
    if len(signature) == 2 * size:
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        forms.append(encode_dss_signature(r, s))
    return forms


def _ecdsa_verifies(key: ec.EllipticCurvePublicKey, signature: bytes, octets: bytes,
                    hash_type: type[hashes.HashAlgorithm]) -> bool:
    try:
        key.verify(signature, octets, ec.ECDSA(hash_type()))
    except (InvalidSignature, ValueError):
        return False
    return True
