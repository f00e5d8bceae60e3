"""Issue #8, transfer history: every release from an account to a portal, OIDC and SAML, is in the
citizen's history with time, service, attribute names (never values), trust level and method; filtered by
service and period, paged; purged after the retention by `maintenance`."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from servicekonto.domain.transfers import Transfer
from servicekonto.domain.trust import TrustLevel
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.transfers import SqlTransferLog
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import form_action, login, register_and_verify, submit
from tests.integration.oidc.helpers import code_flow, register_portal
from tests.integration.saml.test_requested_authn_context import send, status_at_acs
from tests.support.saml import ENTITY_ID, authn_context, sp_metadata

HISTORY = "/konto/datenuebermittlungen"


def citizen(client: TestClient, settings: Settings) -> None:
    register_and_verify(client, settings.data_dir / "outbox")
    assert login(client).status_code == 303
    assert submit(client, "/konto/stammdaten", {"given_name": "Erika", "family_name": "Mustermann",
                                                "postal_code": "51147"}).status_code == 303


def saml_login(client: TestClient, settings: Settings, container: Any) -> None:
    container.saml_sps.add(container.tenants.ensure("Musterstadt").id,
                           sp_metadata(sp_attributes='AuthnRequestsSigned="false"'))
    request_id = "_" + secrets.token_hex(12)
    first = send(client, settings, authn_context("STORK-QAA-Level-1", comparison="minimum"), request_id)
    consent = client.get(first.headers["location"], follow_redirects=False).text
    action, token = form_action(consent, "/anmeldung/")
    answer = client.post(action, data={"decision": "allow", "csrf_token": token}, follow_redirects=False)
    assert status_at_acs(answer, request_id)[0] == "urn:oasis:names:tc:SAML:2.0:status:Success"


def rows(database: Database) -> list[Any]:
    with database.autocommit_engine.connect() as connection:
        return list(connection.execute(models.Transfer.__table__.select().order_by(models.Transfer.id)).all())


def test_oidc_and_saml_releases_are_in_the_history_with_names_never_values(
        client: TestClient, settings: Settings, container: Any, database_for: Database) -> None:
    citizen(client, settings)
    portal = register_portal(container)
    code_flow(client, portal)
    saml_login(client, settings, container)

    oidc_row, saml_row = rows(database_for)
    assert (oidc_row.protocol, oidc_row.service_id, oidc_row.service_name) == (
        "oidc", portal.client_id, "Bürgerportal Musterstadt")
    assert {"given_name", "family_name", "postal_code", "email"} <= set(json.loads(oidc_row.attributes))
    assert oidc_row.trust_level == int(TrustLevel.BASIC) and oidc_row.methods == "pwd"
    assert (saml_row.protocol, saml_row.service_id) == ("saml", ENTITY_ID)
    stored = json.dumps([list(r) for r in rows(database_for)], default=str)
    assert "Erika" not in stored and "Mustermann" not in stored and "51147" not in stored

    page = client.get(HISTORY)
    assert page.status_code == 200
    assert page.text.count('data-testid="transfer"') == 2
    assert "Bürgerportal Musterstadt" in page.text and "Postcode" not in page.text  # German by default
    assert "Postleitzahl" in page.text and "51147" not in page.text and "Mustermann" not in page.text

    only_oidc = client.get(HISTORY, params={"dienst": portal.client_id})
    assert only_oidc.text.count('data-testid="transfer"') == 1
    assert f'data-service="{portal.client_id}"' in only_oidc.text
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert 'data-testid="transfer"' not in client.get(HISTORY, params={"von": tomorrow}).text
    assert client.get(HISTORY, params={"bis": tomorrow}).text.count('data-testid="transfer"') == 2


def test_the_history_is_paged_and_refuses_a_backwards_period(
        client: TestClient, settings: Settings, container: Any, database_for: Database) -> None:
    citizen(client, settings)
    account_id = str(container.account_repository.find_by_login("erika").id)
    log = SqlTransferLog(database_for)
    start = datetime.now(UTC) - timedelta(days=3)
    for i in range(25):
        log.record(Transfer(account_id=account_id, occurred_at=start + timedelta(minutes=i),
                            tenant_id=container.tenants.ensure("Musterstadt").id, protocol="oidc",
                            service_id=f"client-{i % 2}", service_name=f"Portal {i % 2}", attributes=("email",),
                            trust_level=TrustLevel.BASIC, methods=("pwd",)))
    first = client.get(HISTORY).text
    assert first.count('data-testid="transfer"') == 20 and 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get(HISTORY, params={"seite": "2"}).text
    assert second.count('data-testid="transfer"') == 5 and 'rel="prev"' in second and 'rel="next"' not in second
    filtered = client.get(HISTORY, params={"dienst": "client-1"}).text
    assert filtered.count('data-testid="transfer"') == 12
    backwards = client.get(HISTORY, params={"von": "2026-02-01", "bis": "2026-01-01"}).text
    assert 'data-message-id="transfers.period_invalid"' in backwards


def test_history_needs_a_login_and_shows_only_the_own_entries(client: TestClient, settings: Settings,
                                                              container: Any) -> None:
    assert client.get(HISTORY, follow_redirects=False).headers["location"].startswith("/anmelden")
    citizen(client, settings)
    code_flow(client, register_portal(container))
    client.post("/abmelden", data={"csrf_token": form_action(client.get("/konto").text, "/abmelden")[1]})
    register_and_verify(client, settings.data_dir / "outbox", username="max", email="max@example.de")
    login(client, "max")
    assert 'data-testid="transfer"' not in client.get(HISTORY).text


def test_retention_purges_old_entries(container: Any, database_for: Database, client: TestClient,
                                      settings: Settings) -> None:
    citizen(client, settings)
    account_id = str(container.account_repository.find_by_login("erika").id)
    log = SqlTransferLog(database_for)
    tenant = container.tenants.ensure("Musterstadt").id
    for days in (800, 700):
        log.record(Transfer(account_id=account_id, occurred_at=datetime.now(UTC) - timedelta(days=days),
                            tenant_id=tenant, protocol="saml", service_id=ENTITY_ID, service_name="Portal",
                            attributes=(), trust_level=TrustLevel.BASIC, methods=("pwd",)))
    assert container.transfers.purge() == 1
    assert [r.occurred_at.date() for r in rows(database_for)] == [(datetime.now(UTC) - timedelta(days=700)).date()]
