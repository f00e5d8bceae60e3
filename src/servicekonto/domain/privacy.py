"""What the citizen's data-sovereignty pages need from storage beyond the other ports (issue #8): the
account's consents as a list, its live OIDC grants (to end them when a consent is withdrawn or the account
deleted), the browsers it logged in from, its preferences, and every stored row for the export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from servicekonto.domain.grants import Grant

# User-Agent → browser and OS family, first match wins: only this reduced label is kept (never the full
# header, never an address). Order matters: Edge and Opera carry "Chrome/", Chrome carries "Safari/",
# Android carries "Linux", iOS carries "Mac OS X".
BROWSERS = (("Edg", "Edge"), ("OPR/", "Opera"), ("Opera", "Opera"), ("SamsungBrowser", "Samsung Internet"),
            ("Firefox/", "Firefox"), ("FxiOS", "Firefox"), ("CriOS", "Chrome"), ("Chromium", "Chromium"),
            ("Chrome/", "Chrome"), ("Safari/", "Safari"))
SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("CrOS", "ChromeOS"),
           ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))
UNKNOWN = "?"


def device_label(user_agent: str | None) -> str:
    """"Firefox / Linux": enough for a citizen to recognise a device, too little to single it out."""
    agent = (user_agent or "")[:512]
    browser = next((name for token, name in BROWSERS if token in agent), UNKNOWN)
    system = next((name for token, name in SYSTEMS if token in agent), UNKNOWN)
    return f"{browser} / {system}"


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    service_id: str
    attributes: tuple[str, ...]
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class KnownDevice:
    label: str  # "Firefox on Linux": browser and OS family only
    first_seen_at: datetime
    last_seen_at: datetime


class AccountData(Protocol):
    def consents(self, account_id: str) -> Sequence[ConsentEntry]:
        """Every consent of the account, newest first."""

    def live_grants(self, account_id: str, *, now: datetime, client_id: str | None = None) -> list[Grant]:
        """The account's grants that are neither revoked nor expired (of one client when named)."""

    def revoke_grants(self, account_id: str, *, now: datetime, client_id: str | None = None) -> list[Grant]:
        """Revoke the live grants (of one client when named) in one transaction; the grants revoked."""

    def device_seen(self, account_id: str, device_hash: str, label: str, *, now: datetime) -> bool:
        """Remember a login from this device; True when the account had not seen it before."""

    def devices(self, account_id: str) -> Sequence[KnownDevice]: ...

    def new_device_notice(self, account_id: str) -> bool:
        """Whether the account wants a mail after a login from an unknown device (default: no)."""

    def set_new_device_notice(self, account_id: str, enabled: bool, *, now: datetime) -> None: ...

    def export(self, account_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every row stored about the account, by table, values made JSON-safe; secrets (password hash,
        sealed TOTP secret, hashes of recovery codes, cards, devices and tokens) are left out and named in
        `withheld`."""
