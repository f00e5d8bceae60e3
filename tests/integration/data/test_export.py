"""Issue #8, export (GDPR Art. 15 and 20): the JSON holds every stored field of every table that holds the
account — compared against the database's own rows and columns — except the named secrets, which never
appear; the HTML view shows the same."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select
from starlette.testclient import TestClient

from servicekonto.domain.passkeys import Passkey
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.eid_cards import SqlEidCardRepository
from servicekonto.persistence.passkeys import SqlPasskeyRepository
from servicekonto.persistence.privacy import NOT_PERSONAL, SECRET_COLUMNS, SqlAccountData, exported_tables
from servicekonto.persistence.second_factors import SqlSecondFactorRepository
from servicekonto.settings import Settings
from tests.integration.data.test_transfers import citizen, saml_login
from tests.integration.oidc.helpers import code_flow, register_portal
from tests.integration.oidc.test_acting_for import organisation

CREATED = {"accounts", "account_attributes", "second_factors", "recovery_codes", "eid_cards", "passkeys", "consents",
           "oidc_grants", "oidc_refresh_tokens", "transfers", "audit_events", "known_devices", "account_preferences",
           "organisation_members"}


def everything(client: TestClient, settings: Settings, container: Any, database: Database) -> str:
    """An account with a row in every table that can hold one."""
    citizen(client, settings)
    account_id = str(container.account_repository.find_by_login("erika").id)
    now = datetime.now(UTC)
    factors = SqlSecondFactorRepository(database)
    factors.set_totp(account_id, b"sealed-secret-bytes", last_used_step=7, now=now)
    factors.replace_recovery_codes(account_id, ["code-hash-1", "code-hash-2"], now=now)
    SqlEidCardRepository(database).bind(account_id, "card-hash-value", now=now)
    SqlPasskeyRepository(database).add(Passkey(
        id=str(uuid.uuid4()), account_id=account_id, credential_id="cred-id-1", public_key=b"cose-public-key",
        sign_count=3, transports=("internal",), name="Mein Telefon", bound_to_eid=False, created_at=now,
        last_used_at=None))
    container.privacy.set_new_device_notice(container.account_repository.get(account_id), True)
    SqlAccountData(database).device_seen(account_id, "device-hash-value", "Firefox / Linux", now=now)
    code_flow(client, register_portal(container))
    saml_login(client, settings, container)
    organisation(container, account_id)  # a membership (issue #10)
    return account_id


def test_the_export_holds_every_stored_field_and_no_secret(client: TestClient, settings: Settings, container: Any,
                                                           database_for: Database) -> None:
    account_id = everything(client, settings, container, database_for)
    download = client.get("/konto/export.json")
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"].startswith("attachment;")
    data = download.json()
    assert data["format"] == "servicekonto-export/1" and data["account_id"] == account_id
    tables = data["tables"]

    inspector = inspect(database_for.engine)
    covered = {table.name for table, _column in exported_tables()}
    for name in inspector.get_table_names():
        columns = {c["name"] for c in inspector.get_columns(name)}
        if name == "alembic_version" or name in NOT_PERSONAL:
            continue
        assert name in covered, f"{name} holds account data but is not exported"
        assert tables[name] or name not in CREATED, f"no exported row of {name}"
        secret = SECRET_COLUMNS.get(name, frozenset())
        for row in tables[name]:
            assert set(row) == columns - secret, name  # every column in the database, minus the secrets
    for table, column in exported_tables():  # as many rows as the database holds for the account
        with database_for.autocommit_engine.connect() as connection:
            if column == "grant_id":
                grants = select(models.OidcGrant.id).where(models.OidcGrant.account_id == uuid.UUID(account_id))
                count = len(connection.execute(select(table).where(table.c.grant_id.in_(grants))).all())
            else:
                count = len(connection.execute(select(table).where(table.c[column] == uuid.UUID(account_id))).all())
        assert len(tables[table.name]) == count, table.name

    [attribute] = [a for a in tables["account_attributes"] if a["key"] == "postal_code"]
    assert (attribute["value"], attribute["source"], attribute["trust_level"]) == ("51147", "self_declared", 1)
    assert {t["protocol"] for t in tables["transfers"]} == {"oidc", "saml"}
    assert tables["passkeys"][0]["name"] == "Mein Telefon" and tables["eid_cards"][0]["created_at"]
    assert tables["account_preferences"][0]["new_device_notice"] is True
    assert data["sessions"] and data["sessions"][0]["device"]
    text = download.text
    for secret in ("sealed-secret-bytes", "c2VhbGVkLXNlY3JldC1ieXRlcw", "code-hash-1", "card-hash-value",
                   "device-hash-value", "Y29zZS1wdWJsaWMta2V5", "argon2"):
        assert secret not in text
    assert {(w["table"], w["column"]) for w in tables["withheld"]} >= {("accounts", "password_hash")}


def test_the_readable_view_shows_every_section(client: TestClient, settings: Settings, container: Any,
                                               database_for: Database) -> None:
    everything(client, settings, container, database_for)
    page = client.get("/konto/export")
    assert page.status_code == 200
    for table, _column in exported_tables():
        assert f'data-table="{table.name}"' in page.text
    assert "Mein Telefon" in page.text and "51147" in page.text and "accounts.password_hash" in page.text
    assert "argon2" not in page.text
    assert json.loads(client.get("/konto/export.json").text)["tables"]["accounts"][0]["username"] == "erika"
