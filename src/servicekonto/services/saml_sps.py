"""Registering SAML service providers from their metadata (the operator's CLI, later the console)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from servicekonto.core.clock import Clock
from servicekonto.core.errors import Conflict, NotFound
from servicekonto.core.ids import new_uuid
from servicekonto.domain.ports import TenantRepository
from servicekonto.domain.saml_sp import (
    SamlServiceProvider,
    SamlServiceProviderRepository,
    SpAlreadyRegistered,
    SpMetadataReader,
)


class SamlSpService:
    def __init__(self, *, sps: SamlServiceProviderRepository, tenants: TenantRepository,
                 read_metadata: SpMetadataReader, clock: Clock) -> None:
        self._sps = sps
        self._tenants = tenants
        self._read_metadata = read_metadata
        self._clock = clock

    def add(self, tenant_id: str, metadata_xml: bytes | str, *, signing_methods: Sequence[str] | None = None,
            encryption_methods: Sequence[str] | None = None) -> SamlServiceProvider:
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
        try:
            self._sps.add(sp)
        except Conflict:  # registered at the same moment by someone else
            raise SpAlreadyRegistered(metadata.entity_id) from None
        return sp

    def get(self, entity_id: str) -> SamlServiceProvider | None:
        return self._sps.get(entity_id)

    def for_tenant(self, tenant_id: str) -> Sequence[SamlServiceProvider]:
        return self._sps.for_tenant(tenant_id)
