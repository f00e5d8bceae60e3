"""Issue #10: the roles tenants define for their services (console, management API, CLI), organisation admins
giving them to members, and the operator's verification of an organisation's data with an evidence note."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from servicekonto.cli import main
from servicekonto.domain.attributes import AttributeSource
from servicekonto.settings import Settings
from tests.integration.management.helpers import problem, tenant_with_admin_client
from tests.integration.organisations.helpers import ORGANISATION, Person, create_organisation, member_of, person

LIST = "/konto/organisationen"


def portal(container: Any, tenant_id: str, name: str = "Gewerbeportal") -> str:
    host = name.lower().replace(" ", "")
    return str(container.oidc_clients.create(tenant_id=tenant_id, name=name,
                                             redirect_uris=(f"https://{host}.example.de/cb",)).client.client_id)


def tenant_admin(client: TestClient, container: Any, settings: Settings, tenant_id: str, username: str) -> Person:
    admin = person(client, container, settings, username)
    container.admin.grant(username, tenant_id=tenant_id)
    return admin


def test_tenant_admins_define_roles_and_organisation_admins_give_them(
        client: TestClient, container: Any, settings: Settings) -> None:
    tenant = container.tenants.ensure("Musterstadt")
    other = container.tenants.ensure("Nachbarstadt")
    gewerbe, foreign = portal(container, tenant.id), portal(container, other.id, "Fremdportal")
    tina = tenant_admin(client, container, settings, tenant.id, "tina")
    roles_page = f"/verwaltung/mandanten/{tenant.id}/dienstrollen"
    assert f'href="{roles_page}"' in tina.client.get(f"/verwaltung/mandanten/{tenant.id}").text
    assert "Gewerbeportal" in tina.client.get(roles_page).text
    added = tina.post(roles_page, {"service_id": gewerbe, "name": "antragsteller", "label": "Antragsteller"})
    assert added.headers["location"].endswith("hinweis=role_added")
    assert tina.post(roles_page, {"service_id": gewerbe, "name": "steuerberater", "label": ""}).status_code == 303
    bad = tina.post(roles_page, {"service_id": gewerbe, "name": "Großes Ding"})
    assert bad.status_code == 400 and 'data-message-id="service_role.invalid"' in bad.text
    assert tina.post(roles_page, {"service_id": foreign, "name": "x"}).status_code == 404  # not her tenant's
    assert tina.client.get(f"/verwaltung/mandanten/{other.id}/dienstrollen").status_code == 404
    assert 'data-role="antragsteller"' in tina.client.get(roles_page).text

    alice = person(client, container, settings, "alice")
    bob = person(client, container, settings, "bob")
    organisation_id = create_organisation(alice)
    member_of(alice, organisation_id, bob, settings)
    page = alice.client.get(f"{LIST}/{organisation_id}").text
    assert f'value="{gewerbe} antragsteller"' in page and "Gewerbeportal" in page
    given = alice.post(f"{LIST}/{organisation_id}/mitglieder/{bob.account_id}/dienstrollen",
                       {"sr_1_1": f"{gewerbe} antragsteller"})
    assert given.headers["location"].endswith("hinweis=service_roles_changed")
    membership = container.organisations._orgs.membership(organisation_id, bob.account_id)
    assert membership.roles_for(gewerbe) == ("member", "antragsteller") and membership.roles_for(foreign) == ("member",)
    unknown = alice.post(f"{LIST}/{organisation_id}/mitglieder/{bob.account_id}/dienstrollen",
                         {"sr_1_1": f"{gewerbe} chef"})
    assert unknown.status_code == 400 and 'data-message-id="organisation.service_role_unknown"' in unknown.text
    assert container.organisations._orgs.membership(organisation_id, bob.account_id).roles_for(gewerbe) == (
        "member", "antragsteller")

    removed = tina.post(f"{roles_page}/entfernen", {"service_id": gewerbe, "name": "antragsteller"})
    assert removed.headers["location"].endswith("hinweis=role_removed")
    assert container.organisations._orgs.membership(organisation_id, bob.account_id).roles_for(gewerbe) == ("member",)


def test_the_management_api_manages_service_roles_of_its_own_tenant_only(
        client: TestClient, container: Any, settings: Settings) -> None:
    mine = tenant_with_admin_client(client, container, "Musterstadt")
    theirs = tenant_with_admin_client(client, container, "Nachbarstadt")
    gewerbe, foreign = portal(container, mine.id), portal(container, theirs.id, "Fremdportal")
    url = f"/api/tenants/{mine.id}/service-roles"
    created = client.post(url, json={"service_id": gewerbe, "name": "antragsteller", "label": "Antragsteller"},
                          headers=mine.auth)
    assert created.status_code == 201 and created.json() == {"service_id": gewerbe, "name": "antragsteller",
                                                             "label": "Antragsteller"}
    assert client.get(url, headers=mine.auth).json() == [created.json()]
    problem(client.post(url, json={"service_id": foreign, "name": "x"}, headers=mine.auth), 404, "service.not_found")
    problem(client.get(url, headers=theirs.auth), 404, "tenant.not_found")
    problem(client.post(url, json={"service_id": gewerbe, "name": "Nicht Gültig"}, headers=mine.auth), 400,
            "request.invalid")
    problem(client.delete(url, params={"service_id": gewerbe, "name": "fehlt"}, headers=mine.auth), 400,
            "organisation.service_role_unknown")
    assert client.delete(url, params={"service_id": gewerbe, "name": "antragsteller"},
                         headers=mine.auth).status_code == 204
    assert client.get(url, headers=mine.auth).json() == []
    problem(client.get(url), 401, "admin.unauthenticated")
    assert "/tenants/{tenant_id}/service-roles" in client.get("/api/openapi.json").json()["paths"]


def test_the_cli_adds_a_service_role_through_the_same_service(
        client: TestClient, container: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = container.tenants.ensure("Musterstadt")
    gewerbe = portal(container, tenant.id)
    for name, value in {"SERVICEKONTO_DATA_DIR": str(settings.data_dir), "SERVICEKONTO_SECRET_KEY": settings.secret_key,
                        "SERVICEKONTO_DATABASE_URL": settings.effective_database_url,
                        "SERVICEKONTO_ENVIRONMENT": "test"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("SERVICEKONTO_REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["service-role", "add", "--tenant", tenant.id, "--service", gewerbe,
                                       "--role", "antragsteller", "--label", "Antragsteller", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"tenant_id": tenant.id, "service_id": gewerbe, "name": "antragsteller",
                                         "label": "Antragsteller"}
    assert [r.name for r in container.organisations._orgs.service_roles([gewerbe])] == ["antragsteller"]
    failed = CliRunner().invoke(main, ["service-role", "add", "--tenant", tenant.id, "--service", "unbekannt",
                                       "--role", "x"])
    assert failed.exit_code == 1 and "This service does not exist." in failed.stderr


def test_the_operator_verifies_with_an_evidence_note_and_a_later_edit_follows_the_rule(
        client: TestClient, container: Any, settings: Settings) -> None:
    alice = person(client, container, settings, "alice")
    organisation_id = create_organisation(alice)
    olga = person(client, container, settings, "olga")
    container.admin.grant("olga", operator=True)
    tenant = container.tenants.ensure("Musterstadt")
    tina = tenant_admin(client, container, settings, tenant.id, "tina")

    assert tina.client.get("/verwaltung/organisationen").status_code == 403
    assert tina.post(f"/verwaltung/organisationen/{organisation_id}/pruefen", {"note": "gesehen"}).status_code == 403
    assert alice.post(f"/verwaltung/organisationen/{organisation_id}/pruefen", {"note": "x"}).status_code == 403
    listing = olga.client.get("/verwaltung/organisationen")
    assert listing.status_code == 200 and 'data-verified="no"' in listing.text
    assert 'href="/verwaltung/organisationen"' in olga.client.get("/verwaltung").text
    missing = olga.post(f"/verwaltung/organisationen/{organisation_id}/pruefen", {"note": "  "})
    assert missing.status_code == 400 and 'data-message-id="organisation.verification_note_missing"' in missing.text
    assert container.organisations._orgs.get(organisation_id).source is AttributeSource.SELF_DECLARED
    verified = olga.post(f"/verwaltung/organisationen/{organisation_id}/pruefen",
                         {"note": "Handelsregisterauszug HRB 12345 vom 20.11.2026 gesehen"})
    assert verified.headers["location"] == "/verwaltung/organisationen?hinweis=verified"
    organisation = container.organisations._orgs.get(organisation_id)
    assert (organisation.source, organisation.verified_by) == (AttributeSource.OPERATOR, olga.account_id)
    assert organisation.verification_note.startswith("Handelsregisterauszug") and organisation.verified_at
    assert int(organisation.trust_level) == 3
    assert 'data-verified="yes"' in alice.client.get(f"{LIST}/{organisation_id}").text

    edit = f"{LIST}/{organisation_id}/bearbeiten"
    assert alice.post(edit, {**ORGANISATION, "contact_phone": "0221 654321"}).status_code == 303
    assert container.organisations._orgs.get(organisation_id).source is AttributeSource.OPERATOR
    assert alice.post(edit, {**ORGANISATION, "contact_phone": "0221 654321", "name": "Neu GmbH"}).status_code == 303
    changed = container.organisations._orgs.get(organisation_id)
    assert changed.source is AttributeSource.SELF_DECLARED and changed.verification_note is None
