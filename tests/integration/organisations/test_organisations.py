"""Issue #10, organisation accounts through the pages: creation at trust level 3 or higher, invitations by
mail (single-use, expiring, only for the invited address), roles, leaving and removal, the last-admin rule,
dissolving, account deletion, the organisation's transfer history — on SQLite and on PostgreSQL with Redis."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from servicekonto.domain.attributes import AttributeSource
from servicekonto.domain.organisations import INVITATION_DAYS, MAX_OPEN_INVITATIONS, OrganisationRole
from servicekonto.domain.transfers import Transfer
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import PASSWORD, form_action
from tests.integration.organisations.helpers import (
    ORGANISATION,
    accept,
    create_organisation,
    invite,
    member_of,
    person,
)
from tests.support.outbox import last_link, mails, template_of, text_of

LIST = "/konto/organisationen"


def events(database: Database) -> list[str]:
    with database.autocommit_engine.connect() as connection:
        return [row.event for row in connection.execute(models.AuditEntry.__table__.select()
                                                        .order_by(models.AuditEntry.id))]


def organisation_rows(database: Database) -> list[Any]:
    with database.autocommit_engine.connect() as connection:
        return list(connection.execute(models.Organisation.__table__.select()).all())


# -- creation ---------------------------------------------------------------------------------------------------

def test_creating_needs_trust_level_3_and_the_page_says_how_to_get_there(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    basic = person(client, container, settings, "erika", level=TrustLevel.BASIC)
    page = basic.client.get(LIST)
    assert 'data-message-id="organisation.trust_level_too_low"' in page.text
    assert "/konto/vertrauensniveau?return_to=/konto/organisationen/neu" in page.text
    refused = basic.post(f"{LIST}/neu", ORGANISATION)
    assert refused.status_code == 403 and 'data-message-id="organisation.trust_level_too_low"' in refused.text
    low = person(client, container, settings, "lothar", level=TrustLevel.LOW)
    assert low.post(f"{LIST}/neu", ORGANISATION).status_code == 403
    assert organisation_rows(database_for) == []

    substantial = person(client, container, settings, "sabine", level=TrustLevel.SUBSTANTIAL)
    organisation_id = create_organisation(substantial)
    page = substantial.client.get(f"{LIST}/{organisation_id}")
    assert page.status_code == 200 and "Muster &amp; Söhne GmbH" in page.text
    assert 'data-verified="no"' in page.text and 'data-member="sabine" data-role="admin"' in page.text
    membership = container.organisations._orgs.membership(organisation_id, substantial.account_id)
    assert membership.role is OrganisationRole.ADMIN
    organisation = membership.organisation
    assert organisation.source is AttributeSource.SELF_DECLARED and organisation.trust_level == TrustLevel.BASIC
    assert (organisation.postal_code, organisation.contact_phone, organisation.country) == ("51147", "+49221123456",
                                                                                          "DE")
    assert "organisation:organisation:created" in events(database_for)
    assert f'href="{LIST}/{organisation_id}"' in substantial.client.get(LIST).text


def test_bad_input_shows_every_message_and_creates_nothing(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    founder = person(client, container, settings, "erika")
    answer = founder.post(f"{LIST}/neu", {**ORGANISATION, "name": "", "postal_code": "5114",
                                          "contact_email": "kein-at", "register_number": ""})
    assert answer.status_code == 400
    for code in ("field.name.invalid", "field.postal_code.invalid", "field.contact_email.invalid",
                 "field.register_number.invalid"):
        assert f'data-message-id="{code}"' in answer.text
    assert 'value="Heidestraße 17"' in answer.text  # the entries stay in the form
    assert organisation_rows(database_for) == []


def test_the_create_form_labels_every_field_with_its_autocomplete_token(
        client: TestClient, container: Any, settings: Settings) -> None:
    founder = person(client, container, settings, "erika")
    page = founder.client.get(f"{LIST}/neu").text
    for name in ORGANISATION:
        assert f'<label for="f-{name}">' in page
    for token in ("organization", "street-address", "postal-code", "address-level2", "country", "email", "tel"):
        assert f'autocomplete="{token}"' in page


# -- invitations ------------------------------------------------------------------------------------------------

def test_an_invitation_is_mailed_and_accepted_once_by_the_invited_address(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    organisation_id = create_organisation(alice)
    sent = alice.post(f"{LIST}/{organisation_id}/einladen", {"email": "BOB@Example.de", "role": "member"})
    assert sent.headers["location"].endswith("hinweis=invited")
    link = last_link(settings.data_dir / "outbox", to="BOB@example.de", containing="/konto/organisationen/einladung/")

    mail = mails(settings.data_dir / "outbox", to="BOB@example.de")[-1]
    assert template_of(mail) == "organisation_invitation" and "Muster & Söhne GmbH" in text_of(mail)
    with database_for.autocommit_engine.connect() as connection:
        row = connection.execute(models.OrganisationInvitation.__table__.select()).one()
    token = link.rsplit("/", 1)[1]
    assert token not in (row.token_hash, row.email) and len(row.token_hash) == 43  # only a keyed hash is stored
    assert row.expires_at - row.created_at == timedelta(days=INVITATION_DAYS)
    assert 'data-testid="invitation"' in alice.client.get(f"{LIST}/{organisation_id}").text

    logged_out = TestClient(client.app, base_url="http://127.0.0.1:8000")
    path = link.split("127.0.0.1:8000", 1)[1]
    login_first = logged_out.get(path, follow_redirects=False)
    assert login_first.status_code == 303 and "return_to=%2Fkonto%2Forganisationen%2Feinladung%2F" in \
        login_first.headers["location"]

    joined = accept(bob, link)  # the account's address differs in case only: it is the invited one
    assert joined.headers["location"] == f"{LIST}/{organisation_id}?hinweis=joined"
    assert container.organisations._orgs.membership(organisation_id, bob.account_id).role is OrganisationRole.MEMBER
    assert 'data-member="bob" data-role="member"' in alice.client.get(f"{LIST}/{organisation_id}").text
    assert "organisation:member:joined" in events(database_for)

    again = bob.client.get(path)
    assert again.status_code == 400 and 'data-message-id="organisation.invitation_invalid"' in again.text
    action_page = bob.post(path)
    assert action_page.status_code == 400 and 'data-message-id="organisation.invitation_invalid"' in action_page.text


def test_an_invitation_for_another_address_is_refused_and_stays_usable(
        client: TestClient, container: Any, settings: Settings) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    carol = person(client, container, settings, "carol", level=TrustLevel.BASIC)
    organisation_id = create_organisation(alice)
    link = invite(alice, organisation_id, bob, settings)
    path = link.split("127.0.0.1:8000", 1)[1]
    page = carol.client.get(path)
    action, token = form_action(page.text, "/konto/organisationen/einladung/")
    refused = carol.client.post(action, data={"csrf_token": token})
    assert refused.status_code == 403 and 'data-message-id="organisation.invitation_other_address"' in refused.text
    assert container.organisations._orgs.membership(organisation_id, carol.account_id) is None
    assert accept(bob, link).status_code == 303


def test_an_expired_or_withdrawn_invitation_no_longer_works(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    organisation_id = create_organisation(alice)
    link = invite(alice, organisation_id, bob, settings)
    path = link.split("127.0.0.1:8000", 1)[1]
    table = models.OrganisationInvitation
    with database_for.transaction() as session:  # seven days later
        session.execute(update(table).values(expires_at=container.clock.now() - timedelta(seconds=1)))
    expired = bob.client.get(path)
    assert expired.status_code == 400 and 'data-message-id="organisation.invitation_invalid"' in expired.text
    assert bob.post(path).status_code == 400
    assert container.organisations._orgs.membership(organisation_id, bob.account_id) is None

    second = invite(alice, organisation_id, bob, settings)
    invitation_id = str(container.organisations.open_invitations(
        container.account_repository.get(alice.account_id), organisation_id)[0].id)
    withdrawn = alice.post(f"{LIST}/{organisation_id}/einladungen/{invitation_id}/zurueckziehen")
    assert withdrawn.headers["location"].endswith("hinweis=invitation_withdrawn")
    assert bob.client.get(second.split("127.0.0.1:8000", 1)[1]).status_code == 400


# -- roles, leaving, removal, the last admin --------------------------------------------------------------------

def test_admins_change_roles_and_hand_over_and_an_organisation_never_ends_without_an_admin(
        client: TestClient, container: Any, settings: Settings) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    organisation_id = create_organisation(alice)
    base = f"{LIST}/{organisation_id}"
    member_of(alice, organisation_id, bob, settings)
    repository = container.organisations._orgs

    for action, data in ((f"{base}/verlassen", {}), (f"{base}/mitglieder/{alice.account_id}/rolle", {"role": "member"}),
                         (f"{base}/mitglieder/{alice.account_id}/entfernen", {})):
        refused = alice.post(action, data)
        assert refused.status_code == 409 and 'data-message-id="organisation.last_admin"' in refused.text, action
    assert repository.membership(organisation_id, alice.account_id).role is OrganisationRole.ADMIN
    assert 'data-message-id="organisation.last_admin_hint"' in alice.client.get(base).text

    granted = alice.post(f"{base}/mitglieder/{bob.account_id}/rolle", {"role": "admin"})
    assert granted.headers["location"].endswith("hinweis=role_changed")
    assert repository.membership(organisation_id, bob.account_id).role is OrganisationRole.ADMIN
    assert alice.post(f"{base}/mitglieder/{bob.account_id}/rolle", {"role": "member"}).status_code == 303
    handed = alice.post(f"{base}/uebergeben", {"member_id": bob.account_id})
    assert handed.headers["location"].endswith("hinweis=admin_transferred")
    assert repository.membership(organisation_id, bob.account_id).role is OrganisationRole.ADMIN
    assert repository.membership(organisation_id, alice.account_id).role is OrganisationRole.MEMBER
    left = alice.post(f"{base}/verlassen")
    assert left.headers["location"] == f"{LIST}?hinweis=left"
    assert repository.membership(organisation_id, alice.account_id) is None

    alone = bob.post(f"{base}/verlassen")  # the only member and admin: dissolving is the explicit way out
    assert alone.status_code == 409
    unconfirmed = bob.post(f"{base}/aufloesen")
    assert unconfirmed.status_code == 400 and 'data-message-id="organisation.dissolve_unconfirmed"' in unconfirmed.text
    dissolved = bob.post(f"{base}/aufloesen", {"confirm": "yes"})
    assert dissolved.headers["location"] == f"{LIST}?hinweis=dissolved"
    assert repository.get(organisation_id) is None


def test_a_removed_member_no_longer_belongs_to_the_organisation(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    organisation_id = create_organisation(alice)
    member_of(alice, organisation_id, bob, settings)
    assert [m.organisation.id for m in container.organisations._orgs.memberships_of(bob.account_id)] == [
        organisation_id]
    removed = alice.post(f"{LIST}/{organisation_id}/mitglieder/{bob.account_id}/entfernen")
    assert removed.headers["location"].endswith("hinweis=member_removed")
    assert container.organisations._orgs.membership(organisation_id, bob.account_id) is None
    assert container.organisations._orgs.memberships_of(bob.account_id) == []
    assert bob.client.get(f"{LIST}/{organisation_id}").status_code == 404
    assert organisation_id not in bob.client.get(LIST).text
    assert "organisation:member:removed" in events(database_for)


def test_leaving_as_a_member(client: TestClient, container: Any, settings: Settings) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    organisation_id = create_organisation(alice)
    member_of(alice, organisation_id, bob, settings)
    page = bob.client.get(f"{LIST}/{organisation_id}").text
    assert f"{LIST}/{organisation_id}/einladen" not in page and "/entfernen" not in page  # no admin controls
    assert bob.post(f"{LIST}/{organisation_id}/verlassen").headers["location"] == f"{LIST}?hinweis=left"
    assert container.organisations._orgs.membership(organisation_id, bob.account_id) is None


# -- the organisation's data and history ------------------------------------------------------------------------

def test_admins_edit_the_data_and_see_the_transfer_history(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    organisation_id = create_organisation(alice)
    member_of(alice, organisation_id, bob, settings)
    edit = f"{LIST}/{organisation_id}/bearbeiten"
    assert 'value="Muster &amp; Söhne GmbH"' in alice.client.get(edit).text
    saved = alice.post(edit, {**ORGANISATION, "locality": "Köln-Porz"})
    assert saved.headers["location"].endswith("hinweis=saved")
    assert container.organisations._orgs.get(organisation_id).locality == "Köln-Porz"
    assert alice.post(edit, {**ORGANISATION, "locality": "Köln-Porz"}).headers["location"].endswith(
        "hinweis=nothing_changed")
    bad = alice.post(edit, {**ORGANISATION, "country": "XX"})
    assert bad.status_code == 400 and container.organisations._orgs.get(organisation_id).country == "DE"

    tenant = container.tenants.ensure("Musterstadt")
    container.transfers._log.record(Transfer(
        account_id=bob.account_id, occurred_at=container.clock.now(), tenant_id=tenant.id, protocol="oidc",
        service_id="portal-1", service_name="Gewerbeportal", attributes=("given_name",),
        trust_level=TrustLevel.SUBSTANTIAL, methods=("eid",), organisation_id=organisation_id))
    container.transfers._log.record(Transfer(
        account_id=bob.account_id, occurred_at=container.clock.now(), tenant_id=tenant.id, protocol="oidc",
        service_id="portal-2", service_name="Privat", attributes=(), trust_level=TrustLevel.BASIC, methods=("pwd",)))
    history = alice.client.get(f"{LIST}/{organisation_id}/datenuebermittlungen")
    assert history.status_code == 200 and history.text.count('data-testid="transfer"') == 1
    assert "Gewerbeportal" in history.text and "Privat" not in history.text and ">bob<" in history.text
    assert bob.client.get(f"{LIST}/{organisation_id}/datenuebermittlungen").status_code == 403
    entries, _more = container.transfers._log.of_organisation(organisation_id)
    assert [e.organisation_id for e in entries] == [organisation_id]


def test_account_deletion_waits_for_a_hand_over_and_takes_a_sole_member_organisation_along(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob", level=TrustLevel.BASIC)
    shared = create_organisation(alice)
    own = create_organisation(alice, name="Alice Einzelunternehmen", legal_form="Einzelunternehmen",
                              register_type="", register_court="", register_number="")
    member_of(alice, shared, bob, settings)

    page = alice.client.get("/konto/loeschen")
    action, token = form_action(page.text, "/konto/loeschen")
    refused = alice.client.post(action, data={"password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 409 and "Muster &amp; Söhne GmbH" in refused.text
    assert "organisation.last_admin_account" in refused.text and 'name="password"' in refused.text  # the form again
    assert container.account_repository.get(alice.account_id) is not None
    assert container.organisations._orgs.get(own) is not None

    assert alice.post(f"{LIST}/{shared}/uebergeben", {"member_id": bob.account_id}).status_code == 303
    page = alice.client.get("/konto/loeschen")
    action, token = form_action(page.text, "/konto/loeschen")
    deleted = alice.client.post(action, data={"password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert deleted.status_code == 303
    assert container.account_repository.get(alice.account_id) is None
    assert container.organisations._orgs.get(own) is None  # dissolved with its only member
    assert [m.username for m in container.organisations._orgs.members(shared)] == ["bob"]


def test_unknown_ids_are_not_found(client: TestClient, container: Any, settings: Settings) -> None:
    alice = person(client, container, settings, "alice")
    assert alice.client.get(f"{LIST}/{uuid.uuid4()}").status_code == 404
    assert alice.client.get(f"{LIST}/kein-uuid").status_code == 404
    assert alice.client.get(f"{LIST}/einladung/{'x' * 43}").status_code == 400


def test_open_invitations_are_capped_so_the_service_sends_no_mass_mail(
        client: TestClient, container: Any, settings: Settings, database_for: Database) -> None:
    alice = person(client, container, settings, "alice")
    organisation_id = create_organisation(alice)
    for number in range(MAX_OPEN_INVITATIONS):
        sent = alice.post(f"{LIST}/{organisation_id}/einladen", {"email": f"person{number}@example.de"})
        assert sent.status_code == 303, number
    refused = alice.post(f"{LIST}/{organisation_id}/einladen", {"email": "one.more@example.de"})
    assert refused.status_code == 429 and 'data-message-id="organisation.too_many_invitations"' in refused.text
    assert not mails(settings.data_dir / "outbox", to="one.more@example.de")
    with database_for.autocommit_engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(models.OrganisationInvitation)).scalar()
    assert count == MAX_OPEN_INVITATIONS
