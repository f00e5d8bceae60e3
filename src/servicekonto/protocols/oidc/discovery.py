"""The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414): built once, served as bytes."""

from __future__ import annotations

import json
from typing import Any

from servicekonto.domain.clients import SIGNING_ALGORITHMS, STANDARD_SCOPES
from servicekonto.domain.trust import TrustLevel, Vocabulary
from servicekonto.protocols.oidc.claims import CLAIMS_SUPPORTED, SCOPE_KEYS

PATHS = {
    "authorization_endpoint": "/oidc/authorize",
    "token_endpoint": "/oidc/token",
    "userinfo_endpoint": "/oidc/userinfo",
    "jwks_uri": "/jwks",
    "revocation_endpoint": "/oidc/revoke",
    "introspection_endpoint": "/oidc/introspect",
    "pushed_authorization_request_endpoint": "/oidc/par",
    "end_session_endpoint": "/oidc/logout",
}
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def acr_values() -> list[str]:
    """Every name of every level in the three vocabularies (DESIGN.md §2)."""
    names: list[str] = []
    for level in TrustLevel:
        for vocabulary in Vocabulary:
            name = level.name_in(vocabulary)
            if name and name not in names:
                names.append(name)
    return names


def metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        **{name: f"{issuer}{path}" for name, path in PATHS.items()},
        "scopes_supported": list(dict.fromkeys([*STANDARD_SCOPES, *SCOPE_KEYS])),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "userinfo_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:3],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_pushed_authorization_requests": False,
        "acr_values_supported": acr_values(),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["de", "en"],
        "claims_locales_supported": ["de"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "verified_claims_supported": True,
        "trust_frameworks_supported": ["eidas"],
        "claims_in_verified_claims_supported": ["given_name", "family_name", "birthdate", "place_of_birth",
                                                "nationalities", "address", "birth_family_name"],
    }


def metadata_bytes(issuer: str) -> bytes:
    return json.dumps(metadata(issuer), separators=(",", ":")).encode()
