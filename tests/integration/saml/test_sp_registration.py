"""Registering SAML SPs through the service, on SQLite and PostgreSQL: what the metadata say is stored and
read back as it was; an entityID is registered once; broken metadata leave nothing behind; the operator may
force the algorithms an SP gets (`servicekonto saml-sp add --signature-algorithm/--encryption`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from servicekonto.core.errors import NotFound
from servicekonto.domain.saml_sp import SpAlreadyRegistered, SpMetadataInvalid
from servicekonto.protocols.saml.encryption import AES256_CBC, AES256_GCM, RSA_OAEP, RSA_OAEP_MGF1P
from servicekonto.protocols.saml.response import choose_algorithms
from tests.integration.test_cli import env, run  # noqa: F401  (env is a fixture)
from tests.support.saml import ALG_EXTENSIONS, ENTITY_ID, PSS, RSA_SHA256, sp_metadata


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


@pytest.mark.parametrize(("signing", "encryption", "expected"), [
    ((RSA_SHA256,), None, (RSA_SHA256, AES256_GCM, RSA_OAEP)),
    ((PSS,), (AES256_CBC, RSA_OAEP_MGF1P), (PSS, AES256_CBC, RSA_OAEP_MGF1P)),
])
def test_the_operator_override_of_algorithms_is_stored_in_place_of_the_declared_ones(
        container: Any, signing: tuple[str, ...], encryption: tuple[str, ...] | None,
        expected: tuple[str, str, str]) -> None:
    """The metadata declare PSS, rsa-sha256, aes256-gcm and rsa-oaep; the operator's choice wins, the original
    metadata stay as supplied."""
    tenant = container.tenants.create("Musterstadt")
    xml = sp_metadata(extensions=ALG_EXTENSIONS)
    container.saml_sps.add(tenant.id, xml, signing_methods=signing, encryption_methods=encryption)
    stored = container.saml_sps.get(ENTITY_ID)
    chosen = choose_algorithms(stored)
    assert (chosen.signature, chosen.encryption.content, chosen.encryption.key_transport) == expected
    assert stored.metadata_xml == xml.decode()


@pytest.mark.usefixtures("env")
def test_saml_sp_add_takes_the_algorithm_override(tmp_path: Path) -> None:
    run("migrate")
    tenant = json.loads(run("tenant", "create", "--name", "Musterstadt", "--json")[1])["id"]
    metadata = tmp_path / "sp.xml"
    metadata.write_bytes(sp_metadata(extensions=ALG_EXTENSIONS))
    code, out, err = run("saml-sp", "add", "--tenant", tenant, "--metadata", str(metadata), "--json",
                         "--signature-algorithm", "rsa-sha256", "--encryption", "aes256-cbc+rsa-oaep-mgf1p")
    assert code == 0, err
    assert json.loads(out) | {"tenant_id": "…"} == {
        "entity_id": ENTITY_ID, "name": "Bürgerportal Musterstadt", "tenant_id": "…",
        "idp_metadata": "http://127.0.0.1:8000/saml/metadata", "signature_algorithm": RSA_SHA256,
        "encryption": AES256_CBC, "key_transport": RSA_OAEP_MGF1P}
    code, _out, err = run("saml-sp", "add", "--tenant", tenant, "--metadata", str(metadata),
                          "--signature-algorithm", "rsa-sha1")
    assert code == 2 and "rsa-sha1" in err  # only the offered choices
