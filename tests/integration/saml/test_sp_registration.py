"""Registering SAML SPs through the service, on SQLite and PostgreSQL: what the metadata say is stored and
read back as it was; an entityID is registered once; broken metadata leave nothing behind."""

from __future__ import annotations

from typing import Any

import pytest

from servicekonto.core.errors import NotFound
from servicekonto.domain.saml_sp import SpAlreadyRegistered, SpMetadataInvalid
from tests.support.saml import ALG_EXTENSIONS, ENTITY_ID, sp_metadata


def test_an_sp_is_stored_and_read_back_as_registered(container: Any) -> None:
    tenant = container.tenants.create("Musterstadt")
    xml = sp_metadata(extensions=ALG_EXTENSIONS)

    sp = container.saml_sps.add(tenant.id, xml)

    stored = container.saml_sps.get(ENTITY_ID)
    assert stored == sp
    assert stored.tenant_id == tenant.id and stored.name == "Bürgerportal Musterstadt"
    assert stored.metadata_xml == xml.decode() and stored.created_at is not None
    assert stored.default_acs.location == "https://portal.example.de/saml/acs"
    assert len(stored.signing_methods) == 2 and len(stored.encryption_methods) == 2
    assert container.saml_sps.for_tenant(tenant.id) == [sp]
    assert container.saml_sps.for_tenant("not-a-uuid") == []


def test_an_entity_id_is_registered_once(container: Any) -> None:
    first = container.tenants.create("Musterstadt")
    other = container.tenants.create("Nachbarstadt")
    container.saml_sps.add(first.id, sp_metadata())
    with pytest.raises(SpAlreadyRegistered) as caught:
        container.saml_sps.add(other.id, sp_metadata())
    assert caught.value.code == "saml_sp.entity_id_taken" and caught.value.detail == ENTITY_ID
    assert container.saml_sps.for_tenant(other.id) == []


def test_an_unknown_tenant_or_broken_metadata_store_nothing(container: Any) -> None:
    with pytest.raises(NotFound):
        container.saml_sps.add("00000000-0000-0000-0000-000000000000", sp_metadata())
    tenant = container.tenants.create("Musterstadt")
    with pytest.raises(SpMetadataInvalid):
        container.saml_sps.add(tenant.id, sp_metadata(root_attributes=' validUntil="2030-01-01T00:00:00Z"'))
    assert container.saml_sps.get(ENTITY_ID) is None
    assert container.saml_sps.get("") is None and container.saml_sps.get("x" * 2000) is None
