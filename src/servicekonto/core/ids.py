"""Identifiers: random, unguessable, URL-safe."""

from __future__ import annotations

import secrets
import uuid


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


def parse_uuid(value: str) -> uuid.UUID | None:
    """A UUID from text, or None for anything that is not one (an id from a URL or a cookie)."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def random_token(nbytes: int = 32) -> str:
    """A URL-safe secret with `nbytes` of entropy (256 bit by default)."""
    return secrets.token_urlsafe(nbytes)


def error_id() -> str:
    """A short id a citizen can read out to the help desk; it finds the log line of the failure."""
    return secrets.token_hex(6)
