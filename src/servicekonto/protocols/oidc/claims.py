"""Scopes, the `claims` request parameter and `acr_values` turned into catalogue keys and a trust level, and
released attributes turned back into claims. Names come from the attribute catalogue only."""

from __future__ import annotations

import json
from typing import Any

from servicekonto.domain.attributes import BY_KEY, ORGANISATION_KEYS, AttributeSource
from servicekonto.domain.auth_request import ReleasedAttribute, RequestedAttribute
from servicekonto.domain.trust import TrustLevel, Vocabulary

# OIDC Core §5.4 plus the German e-government claims of the catalogue.
SCOPE_KEYS: dict[str, tuple[str, ...]] = {
    "profile": ("academic_title", "given_name", "family_name", "birth_name", "birthdate", "place_of_birth",
                "nationality", "gender"),
    "email": ("email",),
    "address": ("street_address", "postal_code", "locality", "country"),
    "phone": ("phone",),
    "de_mail": ("de_mail",),
    # Acting for an organisation (issue #10): the scope offers the choice; the `organisation` claim requested
    # as essential admits organisations only (docs/integration/oidc.md).
    "organisation": tuple(k for k in ORGANISATION_KEYS if BY_KEY[k].oidc_claim),
}
ORGANISATION_CLAIM = "organisation"
ORGANISATION_PART = ORGANISATION_CLAIM + "."
ADDRESS_PART = "address."
CLAIM_TO_KEY = {d.oidc_claim: d.key for d in BY_KEY.values()
                if (d.oidc_claim and d.master_data) or d.key == "email"}
CLAIM_TO_KEY.update({d.oidc_claim.removeprefix(ADDRESS_PART): d.key for d in BY_KEY.values()
                     if d.oidc_claim and d.oidc_claim.startswith(ADDRESS_PART)})
CLAIMS_SUPPORTED = sorted({"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
                           "email_verified", "address", "verified_claims", ORGANISATION_CLAIM,
                           *(d.oidc_claim.split(".")[0] for d in BY_KEY.values()
                             if d.oidc_claim and (d.master_data or d.key == "email"))})
VERIFIED_SOURCES = {AttributeSource.EID.value, AttributeSource.EIDAS.value, AttributeSource.OPERATOR.value}


_EIDAS_SHORT = {TrustLevel.LOW: "low", TrustLevel.SUBSTANTIAL: "substantial", TrustLevel.HIGH: "high"}


class ClaimsParameterInvalid(ValueError):
    pass


def parse_claims_parameter(raw: str | None) -> dict[str, Any]:
    """The `claims` parameter (OIDC Core §5.5): a JSON object with `userinfo` and `id_token` members."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ClaimsParameterInvalid("claims is not JSON") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict | None) for v in value.values()):
        raise ClaimsParameterInvalid("claims must be an object of objects")
    return value


def requested_attributes(scope: str, claims: dict[str, Any]) -> list[RequestedAttribute]:
    """Catalogue keys asked for by scope (voluntary) and by the claims parameter (essential when marked)."""
    wanted: dict[str, bool] = {}
    for name in scope.split():
        for key in SCOPE_KEYS.get(name, ()):
            wanted.setdefault(key, False)
    for member in ("userinfo", "id_token"):
        for claim, spec in (claims.get(member) or {}).items():
            if claim == ORGANISATION_CLAIM:  # essential: the organisation itself, and so organisation login only
                for key in SCOPE_KEYS[ORGANISATION_CLAIM]:
                    essential = key == "org_pseudonym" and isinstance(spec, dict) and bool(spec.get("essential"))
                    wanted[key] = wanted.get(key, False) or essential
                continue
            names = (spec or {}).keys() if claim == "address" else [claim]
            for name in (["street_address", "postal_code", "locality", "country"] if claim == "address" and not spec
                         else names):
                key = CLAIM_TO_KEY.get(name)
                if key:
                    essential = bool(isinstance(spec, dict) and spec.get("essential"))
                    wanted[key] = wanted.get(key, False) or essential
    return [RequestedAttribute(key, essential) for key, essential in wanted.items()]


def requested_level(acr_values: str | None, claims: dict[str, Any]) -> tuple[TrustLevel, Vocabulary, bool] | None:
    """The lowest acceptable level asked for, in which vocabulary, and whether it is essential. `acr_values`
    is voluntary (OIDC Core §3.1.2.1); `claims.id_token.acr` with `essential: true` is not (§5.5.1.1).
    None: no level asked for. Unknown values are ignored; if nothing known is left, the level is unmet."""
    spec = (claims.get("id_token") or {}).get("acr") or {}
    essential = bool(isinstance(spec, dict) and spec.get("essential"))
    values: list[str] = []
    if isinstance(spec, dict):
        values = [spec["value"]] if isinstance(spec.get("value"), str) else list(spec.get("values") or [])
    if not values and acr_values:
        values = acr_values.split()
    if not values:
        return None
    parsed = [p for p in (TrustLevel.parse(v) for v in values if isinstance(v, str)) if p is not None]
    if not parsed:
        return TrustLevel.HIGH, Vocabulary.STORK, essential  # none known: as strict as possible
    level, vocabulary = min(parsed, key=lambda p: int(p[0]))
    return level, vocabulary, essential


def user_claims(attributes: dict[str, ReleasedAttribute]) -> dict[str, Any]:
    """Released attributes as claims: the address as one object (§5.1.1); values from a verified source
    also in `verified_claims` (OpenID Connect for Identity Assurance 1.0)."""
    claims: dict[str, Any] = {}
    verified: dict[str, dict[str, Any]] = {}  # by source
    levels: dict[str, TrustLevel] = {}
    for key, attribute in attributes.items():
        claim = BY_KEY[key].oidc_claim
        if not claim:
            continue
        if claim.startswith(ORGANISATION_PART):
            _organisation_claim(claims, claim, attribute)
            continue
        target = claims
        if claim.startswith(ADDRESS_PART):
            target = claims.setdefault("address", {})
            claim = claim.removeprefix(ADDRESS_PART)
        target[claim] = [attribute.value] if claim == "nationalities" else attribute.value
        if attribute.source in VERIFIED_SOURCES:
            group = verified.setdefault(attribute.source, {})
            if target is claims:
                group[claim] = target[claim]
            else:
                group.setdefault("address", {})[claim] = target[claim]
            levels[attribute.source] = max(levels.get(attribute.source, TrustLevel.BASIC), attribute.trust_level)
    if "email" in claims:
        claims["email_verified"] = True
    if verified:
        groups = [{"verification": _verification(source, levels[source]), "claims": values}
                  for source, values in verified.items()]
        claims["verified_claims"] = groups[0] if len(groups) == 1 else groups
    return claims


def _organisation_claim(claims: dict[str, Any], claim: str, attribute: ReleasedAttribute) -> None:
    """One value into the `organisation` object (its path is the claim name); the roles as an array; whether
    the operator verified the organisation's data, beside them."""
    *path, name = claim.split(".")
    target = claims
    for part in path:
        target = target.setdefault(part, {})
    target[name] = attribute.value.split() if name == "roles" else attribute.value
    claims[ORGANISATION_CLAIM]["verified"] = attribute.source == AttributeSource.OPERATOR.value


def _verification(source: str, level: TrustLevel) -> dict[str, Any]:
    """How the values of one source were verified (OpenID Connect for Identity Assurance 1.0 §5.1; one
    `verified_claims` object per source, an array when there are several, §5.2). Values read from the ID card
    carry their evidence: the document, checked by its chip's cryptographic features (`vcrypt`, IDA
    predefined values), an ID card or residence permit."""
    verification: dict[str, Any] = {"trust_framework": "eidas",
                                    "assurance_level": _EIDAS_SHORT.get(level, "low")}
    if source == AttributeSource.EID.value:
        verification["evidence"] = [{"type": "document", "check_details": [{"check_method": "vcrypt"}]}]
    return verification
