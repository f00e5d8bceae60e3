"""Issue #10, authorisation: a member who is no admin can never change members, roles, invitations or the
organisation's data (every operation), and a member of organisation A can never touch organisation B — not by
B's URLs, and not by naming B's members or invitations in A's URLs. Codes and state, not wording."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from servicekonto.domain.admins import Principal
from servicekonto.domain.organisations import OrganisationRole
from servicekonto.domain.trust import TrustLevel
from servicekonto.settings import Settings
from tests.integration.organisations.helpers import ORGANISATION, create_organisation, invite, member_of, person

LIST = "/konto/organisationen"


def admin_operations(base: str, *, admin_id: str, member_id: str, invitation_id: str,
                     service: tuple[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """Every operation of an organisation's admins, as (method, path, form)."""
    return [
        ("POST", f"{base}/einladen", {"email": "mallory@example.de", "role": "admin"}),
        ("POST", f"{base}/einladungen/{invitation_id}/zurueckziehen", {}),
        ("POST", f"{base}/mitglieder/{member_id}/rolle", {"role": "admin"}),
        ("POST", f"{base}/mitglieder/{admin_id}/rolle", {"role": "member"}),
        ("POST", f"{base}/mitglieder/{member_id}/dienstrollen", {"sr_1_1": f"{service[0]} {service[1]}"}),
        ("POST", f"{base}/mitglieder/{admin_id}/dienstrollen", {}),
        ("POST", f"{base}/mitglieder/{admin_id}/entfernen", {}),
        ("POST", f"{base}/uebergeben", {"member_id": member_id}),
        ("POST", f"{base}/aufloesen", {"confirm": "yes"}),
        ("GET", f"{base}/bearbeiten", {}),
        ("POST", f"{base}/bearbeiten", {**ORGANISATION, "name": "Übernommen GmbH"}),
        ("GET", f"{base}/datenuebermittlungen", {}),
    ]


def state(container: Any, organisation_id: str) -> tuple[Any, ...]:
    repository = container.organisations._orgs
    from datetime import UTC, datetime
    return (repository.get(organisation_id),
            sorted((m.account_id, m.role.value, tuple(sorted(m.service_roles)))
                   for m in repository.members(organisation_id)),
            [i.id for i in repository.open_invitations(organisation_id, now=datetime.now(UTC))])


def portal_with_role(container: Any) -> tuple[str, str]:
    tenant = container.tenants.ensure("Musterstadt")
    client_id = container.oidc_clients.create(tenant_id=tenant.id, name="Gewerbeportal",
                                              redirect_uris=("https://gewerbe.example.de/cb",)).client.client_id
    container.organisations.define_service_role(Principal(kind="cli", id="cli", operator=True), tenant.id, client_id,
                                                "antragsteller", "Antragsteller")
    return client_id, "antragsteller"


def test_a_member_who_is_no_admin_can_change_nothing(client: TestClient, container: Any, settings: Settings) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.HIGH)
    organisation_id = create_organisation(alice)
    member_of(alice, organisation_id, bob, settings)
    invite(alice, organisation_id, person(client, container, settings, "carol", level=TrustLevel.BASIC), settings)
    service = portal_with_role(container)
    invitation_id = container.organisations._orgs.open_invitations(
        organisation_id, now=container.clock.now())[0].id
    before = state(container, organisation_id)
    operations = admin_operations(f"{LIST}/{organisation_id}", admin_id=alice.account_id, member_id=bob.account_id,
                                  invitation_id=invitation_id, service=service)
    for method, path, form in operations:
        answer = bob.post(path, form) if method == "POST" else bob.client.get(path)
        assert answer.status_code == 403, (method, path, answer.status_code)
    assert state(container, organisation_id) == before
    assert container.organisations._orgs.membership(organisation_id, bob.account_id).role is OrganisationRole.MEMBER
    page = bob.client.get(f"{LIST}/{organisation_id}").text
    assert 'data-testid="member"' not in page and "/einladen" not in page and "/bearbeiten" not in page


def test_a_member_of_one_organisation_can_never_touch_another(
        client: TestClient, container: Any, settings: Settings) -> None:
    carol = person(client, container, settings, "carol")
    dave = person(client, container, settings, "dave")
    erin = person(client, container, settings, "erin", level=TrustLevel.BASIC)
    mine = create_organisation(carol, name="Carols GmbH")
    theirs = create_organisation(dave, name="Daves GmbH")
    member_of(dave, theirs, erin, settings)
    invite(dave, theirs, person(client, container, settings, "frank", level=TrustLevel.BASIC), settings)
    service = portal_with_role(container)
    invitation_id = container.organisations._orgs.open_invitations(theirs, now=container.clock.now())[0].id
    before = state(container, theirs)

    # by B's own URLs: B does not exist for carol
    assert carol.client.get(f"{LIST}/{theirs}").status_code == 404
    assert carol.post(f"{LIST}/{theirs}/verlassen").status_code == 404
    for method, path, form in admin_operations(f"{LIST}/{theirs}", admin_id=dave.account_id,
                                               member_id=erin.account_id, invitation_id=invitation_id,
                                               service=service):
        answer = carol.post(path, form) if method == "POST" else carol.client.get(path)
        assert answer.status_code == 404, (method, path, answer.status_code)
    # by A's URLs naming B's members and invitation: not members of A, so nothing happens to them
    for path, form in ((f"{LIST}/{mine}/mitglieder/{erin.account_id}/rolle", {"role": "admin"}),
                       (f"{LIST}/{mine}/mitglieder/{dave.account_id}/entfernen", {}),
                       (f"{LIST}/{mine}/mitglieder/{erin.account_id}/dienstrollen",
                        {"sr_1_1": f"{service[0]} {service[1]}"}),
                       (f"{LIST}/{mine}/uebergeben", {"member_id": erin.account_id})):
        assert carol.post(path, form).status_code == 404, path
    carol.post(f"{LIST}/{mine}/einladungen/{invitation_id}/zurueckziehen")
    assert state(container, theirs) == before
    assert container.organisations._orgs.membership(mine, erin.account_id) is None
    assert carol.client.get(LIST).text.count('data-testid="organisation"') == 1
