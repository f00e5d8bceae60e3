"""Registering SAML service providers from their metadata (the operator's CLI, later the console)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from servicekonto.core.clock import Clock
from servicekonto.core.errors import Conflict, NotFound
from servicekonto.core.ids import new_uuid
from servicekonto.domain.admins import TenantNotActive
from servicekonto.domain.ports import TenantRepository
from servicekonto.domain.saml_sp import (
    SamlServiceProvider,
    SamlServiceProviderRepository,
    SpAlreadyRegistered,
    SpMetadataInvalid,
    SpMetadataReader,
)
from servicekonto.domain.tenants import TenantStatus

TENANT_CACHE_SECONDS = 30.0


class SamlSpService:
    def __init__(self, *, sps: SamlServiceProviderRepository, tenants: TenantRepository,
                 read_metadata: SpMetadataReader, clock: Clock) -> None:
        self._sps = sps
        self._tenants = tenants
        self._read_metadata = read_metadata
        self._clock = clock
        self._tenant_cache: dict[str, tuple[bool, float]] = {}

    def add(self, tenant_id: str, metadata_xml: bytes | str, *, signing_methods: Sequence[str] | None = None,
            encryption_methods: Sequence[str] | None = None, metadata_url: str | None = None) -> SamlServiceProvider:
        """Check the metadata against BundID's rules and register the SP for the tenant. An entityID is
        registered once: its host is the SP's pseudonym sector, so it cannot move to another tenant.
        `signing_methods`/`encryption_methods` are the operator's override: stored in place of what the
        metadata declare (the original metadata are kept as supplied)."""
        if self._tenants.get(tenant_id) is None:
            raise NotFound(f"tenant {tenant_id}")
        data = metadata_xml.encode() if isinstance(metadata_xml, str) else metadata_xml
        metadata = self._read_metadata(data)
        if signing_methods is not None:
            metadata = replace(metadata, signing_methods=tuple(signing_methods))
        if encryption_methods is not None:
            metadata = replace(metadata, encryption_methods=tuple(encryption_methods))
        if self._sps.get(metadata.entity_id) is not None:
            raise SpAlreadyRegistered(metadata.entity_id)
        sp = SamlServiceProvider.registered(metadata, id=str(new_uuid()), tenant_id=tenant_id,
                                            created_at=self._clock.now())
        if metadata_url is not None:  # fetched again by `servicekonto maintenance`
            sp = replace(sp, metadata_url=metadata_url, metadata_fetched_at=sp.created_at,
                         metadata_checked_at=sp.created_at)
        try:
            self._sps.add(sp)
        except Conflict:  # registered at the same moment by someone else
            raise SpAlreadyRegistered(metadata.entity_id) from None
        return sp

    def reread(self, sp: SamlServiceProvider, metadata_xml: bytes) -> SamlServiceProvider:
        """`sp` with fresh metadata, checked by the same rules as at registration; the entityID must not
        change (it is the pseudonym sector). Names and algorithm choices stay as registered."""
        metadata = self._read_metadata(metadata_xml)
        if metadata.entity_id != sp.entity_id:
            raise SpMetadataInvalid(f"the metadata now name the entityID {metadata.entity_id[:200]!r}, "
                                    f"not {sp.entity_id[:200]!r}")
        now = self._clock.now()
        return replace(sp, acs=metadata.acs, slo=metadata.slo, signing_certificates=metadata.signing_certificates,
                       encryption_certificates=metadata.encryption_certificates,
                       want_assertions_signed=metadata.want_assertions_signed,
                       authn_requests_signed=metadata.authn_requests_signed, metadata_xml=metadata.metadata_xml,
                       metadata_fetched_at=now, metadata_checked_at=now, metadata_error=None)

    def get(self, entity_id: str) -> SamlServiceProvider | None:
        """A suspended tenant's SPs stop answering with a clear error (issue #7)."""
        sp = self._sps.get(entity_id)
        if sp is not None and not self._tenant_active(sp.tenant_id):
            raise TenantNotActive(f"tenant {sp.tenant_id}")
        return sp

    def _tenant_active(self, tenant_id: str) -> bool:
        """Kept `TENANT_CACHE_SECONDS` per process, so the SP lookup of every AuthnRequest stays one query."""
        now = time.monotonic()
        cached = self._tenant_cache.get(tenant_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        tenant = self._tenants.get(tenant_id)
        active = tenant is None or tenant.status is TenantStatus.ACTIVE
        if len(self._tenant_cache) >= 10_000:
            self._tenant_cache.clear()
        self._tenant_cache[tenant_id] = (active, now + TENANT_CACHE_SECONDS)
        return active

    def forget_tenants(self) -> None:
        """A tenant's status changed: this process asks again at once; others within `TENANT_CACHE_SECONDS`."""
        self._tenant_cache.clear()

    def registration(self, entity_id: str) -> SamlServiceProvider | None:
        """The SP whatever its tenant's status (the citizen's own pages; see OidcClientService.registration)."""
        return self._sps.get(entity_id)

    def for_tenant(self, tenant_id: str) -> Sequence[SamlServiceProvider]:
        return self._sps.for_tenant(tenant_id)
