"""URL helpers the protocols and pages share."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit


def origin(uri: str) -> str:
    """scheme://host[:port] of an absolute URI (what a Content Security Policy source names)."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def add_query(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` appended to whatever query it already has."""
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}"
