"""Pseudonyms per sector (DESIGN.md §3): one function for OIDC's pairwise `sub` and SAML's bPK2, so a portal
that speaks both from one host sees one pseudonym, and two portals can never correlate a citizen."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit


def pseudonym(key: bytes, account_id: str, sector: str) -> str:
    """HMAC-SHA-256(deployment key, account id ‖ sector), base64url without padding: 43 characters.
    A separator byte keeps `("ab", "c")` and `("a", "bc")` apart."""
    digest = hmac.new(key, f"{account_id}\x00{sector}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sector_of(uri: str) -> str:
    """The sector of a redirect URI, a `sector_identifier_uri` or a SAML entityID: its host, lower case
    (OIDC Core §8.1: the host component; ports and paths do not make a new sector)."""
    host = urlsplit(uri).hostname
    if not host:
        raise ValueError("a sector needs a URI with a host")
    return host.lower()
