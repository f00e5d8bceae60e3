"""Tenants (Mandanten): the organisations whose portals use the service."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class TenantStatus(enum.StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    status: TenantStatus
    created_at: datetime
    organisation: str = ""  # a tenant requested through the console or API says who it is and why
    contact: str = ""
    purpose: str = ""


MAX_TENANT_NAME = 200


def normalise_tenant_name(name: str) -> str:
    """Trimmed, single-spaced; empty or over-long names are refused by the service."""
    return " ".join(name.split())
