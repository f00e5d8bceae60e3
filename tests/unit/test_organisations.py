"""Issue #10's rules without I/O: the organisation's data in its standard spellings (every message at once),
which edits keep an operator's verification, service-role names, and what a portal sees of a membership."""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.organisations import (
    DATA_FIELDS,
    Membership,
    Organisation,
    OrganisationDataInvalid,
    OrganisationMemberships,
    OrganisationRepository,
    OrganisationRole,
    ServiceRoleInvalid,
    check_organisation,
    check_service_role,
    only_contact_changed,
)
from servicekonto.domain.trust import TrustLevel

FORM = {"name": "  Muster  &  Söhne GmbH ", "legal_form": "GmbH", "register_type": "HRB",
        "register_court": "Amtsgericht Köln", "register_number": "HRB 12345", "street_address": "Heidestraße 17",
        "postal_code": "51147", "locality": "Köln", "country": "de", "contact_email": "Info@Muster.EXAMPLE",
        "contact_phone": "0221 123456"}


def organisation(**changes: object) -> Organisation:
    clean = check_organisation(FORM)
    base = Organisation(id="o1", source=AttributeSource.OPERATOR, created_at=datetime(2026, 11, 29, tzinfo=UTC),
                        **{k: v for k, v in clean.items()})  # type: ignore[arg-type]
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_data_is_brought_into_its_standard_spellings() -> None:
    clean = check_organisation(FORM)
    assert clean["name"] == "Muster & Söhne GmbH" and clean["country"] == "DE"
    assert clean["contact_email"].endswith("@muster.example") and clean["contact_phone"] == "+49221123456"
    assert set(clean) == set(DATA_FIELDS)


def test_every_invalid_field_is_named_at_once() -> None:
    with pytest.raises(OrganisationDataInvalid) as caught:
        check_organisation({**FORM, "name": "", "postal_code": "1234", "register_court": "", "country": "XX"})
    assert set(caught.value.errors) >= {"name", "postal_code", "register_court", "country"}


def test_an_unregistered_organisation_names_no_register() -> None:
    clean = check_organisation({**FORM, "register_type": "", "register_court": "", "register_number": "",
                                "contact_phone": ""})
    assert (clean["register_type"], clean["register_court"], clean["register_number"], clean["contact_phone"]) == (
        None, None, None, None)


def test_only_a_change_of_the_contact_fields_keeps_the_verification() -> None:
    before = organisation()
    same = check_organisation(FORM)
    assert only_contact_changed(before, {**same, "contact_phone": "+4922199999", "contact_email": "neu@x.example"})
    assert not only_contact_changed(before, {**same, "name": "Andere GmbH"})
    assert not only_contact_changed(before, {**same, "street_address": "Hauptstraße 1"})


def test_service_role_names_are_what_a_portal_can_rely_on() -> None:
    assert check_service_role("antragsteller", "") == ("antragsteller", "antragsteller")
    assert check_service_role("tax.adviser:2", "  Steuer   Beratung ") == ("tax.adviser:2", "Steuer Beratung")
    for bad in ("", "Antragsteller", "mit leerzeichen", "-start", "x" * 65):
        with pytest.raises(ServiceRoleInvalid):
            check_service_role(bad, "")


def test_a_portal_sees_the_organisation_role_and_only_its_own_service_roles() -> None:
    membership = Membership(organisation=organisation(), account_id="a1", role=OrganisationRole.MEMBER,
                            service_roles=frozenset({("portal-a", "zeichnen"), ("portal-a", "antragsteller"),
                                                     ("portal-b", "chef")}))
    assert membership.roles_for("portal-a") == ("member", "antragsteller", "zeichnen")
    assert membership.roles_for("portal-c") == ("member",)
    assert organisation().trust_level == TrustLevel.SUBSTANTIAL
    assert organisation(source=AttributeSource.SELF_DECLARED).trust_level == TrustLevel.BASIC


def test_the_sql_repository_satisfies_the_ports() -> None:
    """Every method of the ports, with the same parameters (the login codes against OrganisationMemberships)."""
    from servicekonto.persistence.organisations import SqlOrganisationRepository

    for port in (OrganisationMemberships, OrganisationRepository):
        for name, method in vars(port).items():
            if callable(method) and not name.startswith("_"):
                implemented = getattr(SqlOrganisationRepository, name)
                assert list(inspect.signature(implemented).parameters) == list(
                    inspect.signature(method).parameters), name
    assert {"memberships_of", "membership"} <= set(vars(OrganisationMemberships))
