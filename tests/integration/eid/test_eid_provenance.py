"""What the card's provenance looks like in the OIDC claims (OpenID Connect for Identity Assurance 1.0): values
read from the ID card carry their evidence; values of several verified sources come as one `verified_claims`
object per source; self-declared values are never verified. Pure functions, no server."""

from __future__ import annotations

from servicekonto.domain.auth_request import ReleasedAttribute
from servicekonto.domain.trust import TrustLevel
from servicekonto.protocols.oidc.claims import user_claims

EVIDENCE = [{"type": "document", "check_details": [{"check_method": "vcrypt"}]}]


def test_card_values_carry_the_document_evidence_and_the_address_stays_an_object() -> None:
    claims = user_claims({
        "family_name": ReleasedAttribute("family_name", "MUSTERMANN", "eid", TrustLevel.HIGH),
        "locality": ReleasedAttribute("locality", "KÖLN", "eid", TrustLevel.HIGH),
        "phone": ReleasedAttribute("phone", "+49221123456", "self_declared", TrustLevel.BASIC),
    })
    assert claims["verified_claims"] == {
        "verification": {"trust_framework": "eidas", "assurance_level": "high", "evidence": EVIDENCE},
        "claims": {"family_name": "MUSTERMANN", "address": {"locality": "KÖLN"}},
    }
    assert claims["phone_number"] == "+49221123456"


def test_two_verified_sources_give_one_verified_claims_object_each() -> None:
    claims = user_claims({
        "family_name": ReleasedAttribute("family_name", "MUSTERMANN", "eid", TrustLevel.HIGH),
        "gender": ReleasedAttribute("gender", "2", "operator", TrustLevel.SUBSTANTIAL),
    })
    by_level = {group["verification"]["assurance_level"]: group for group in claims["verified_claims"]}
    assert by_level["high"]["verification"]["evidence"] == EVIDENCE
    assert "evidence" not in by_level["substantial"]["verification"]
    assert by_level["substantial"]["claims"] == {"gender": "2"}
