"""What the OpenID Provider answers with: plain data for the web layer to turn into responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servicekonto.domain.accounts import Account
from servicekonto.domain.trust import TrustLevel

JSON_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]


@dataclass(frozen=True, slots=True)
class ProtocolResponse:
    status: int
    body: bytes | dict[str, Any] | str
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)


@dataclass(frozen=True, slots=True)
class ShowError:
    """An error the browser sees on our page: never redirected to an unverified URI (RFC 6749 §4.1.2.1)."""

    error: str
    description: str


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the authorization endpoint needs of the browser's login session."""

    id: str
    account: Account
    trust_level: TrustLevel
    methods: tuple[str, ...]
    auth_time: int
