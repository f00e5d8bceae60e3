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


MAX_TENANT_NAME = 200


def normalise_tenant_name(name: str) -> str:
    """Trimmed, single-spaced; empty or over-long names are refused by the service."""
    return " ".join(name.split())
