"""GET /jwks: the public OpenID Connect keys, pre-serialised and publicly cacheable (RFC 7517 §5)."""

from __future__ import annotations

import base64

from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.testclient import TestClient

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _bits(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))).bit_length()


def test_jwks_publishes_the_public_ec_and_rsa_keys_only(client: TestClient) -> None:
    response = client.get("/jwks")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=60"
    body = response.json()
    assert set(body) == {"keys"}
    keys = body["keys"]
    assert [key["kty"] for key in keys] == ["EC", "RSA"]  # ES256 first: the default for tokens
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key)
        assert key["use"] == "sig"
    kids = [key["kid"] for key in keys]
    assert len(set(kids)) == len(kids)

    key_set = KeySet.import_key_set(body)
    for key in key_set:
        assert not key.is_private
    ec_key = key_set.get_by_kid(kids[0])
    rsa_key = key_set.get_by_kid(kids[1])
    assert isinstance(ec_key, ECKey) and ec_key.curve_name == "P-256" and ec_key.alg == "ES256"
    assert isinstance(rsa_key, RSAKey) and rsa_key.alg is None and _bits(keys[1]["n"]) == 3072  # RS256 and PS256
    assert ec_key.thumbprint() == kids[0] and rsa_key.thumbprint() == kids[1]

    assert client.get("/jwks").content == response.content  # the same bytes from the process cache
