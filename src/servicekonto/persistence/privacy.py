"""AccountData on SQLAlchemy (issue #8). Reads the account's rows across the tables that carry its id; the
export is generic over the schema, so a column added later is exported unless it is named a secret here
(and a test checks that every column is one or the other)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from servicekonto.core.ids import parse_uuid
from servicekonto.domain.grants import Grant
from servicekonto.domain.privacy import ConsentEntry, KnownDevice
from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.statements import Statements

# Never in an export: secrets and keyed hashes (they identify nothing to the citizen and must not leave).
SECRET_COLUMNS: dict[str, frozenset[str]] = {
    "accounts": frozenset({"password_hash"}),
    "second_factors": frozenset({"sealed_secret"}),
    "recovery_codes": frozenset({"code_hash"}),
    "eid_cards": frozenset({"card_hash"}),
    "passkeys": frozenset({"public_key"}),
    "known_devices": frozenset({"device_hash"}),
    "oidc_refresh_tokens": frozenset({"token_hash"}),
    "organisation_invitations": frozenset({"token_hash"}),
}
# Columns holding JSON text: exported decoded.
JSON_COLUMNS = {("consents", "attributes"), ("oidc_grants", "claims"), ("transfers", "attributes"),
                ("audit_events", "details")}
# Tables that are not about one account, or are reached only through another table.
# An organisation's own data and a service's roles are not a person's; the account's memberships, roles in
# them and the invitations it sent are (issue #10).
NOT_PERSONAL = frozenset({"tenants", "signing_keys", "ephemeral_entries", "oidc_clients", "saml_service_providers",
                          "organisations", "service_roles"})

_GRANT = models.OidcGrant
_DEVICE = select(models.KnownDevice.label, models.KnownDevice.last_seen_at).where(
    models.KnownDevice.account_id == bindparam("account_id"),
    models.KnownDevice.device_hash == bindparam("device_hash"))
_KNOWN = models.KnownDevice
_OF_DEVICE = (_KNOWN.account_id == bindparam("a"), _KNOWN.device_hash == bindparam("h"))
_NEW_DEVICE = {dialect: insert(_KNOWN).values(account_id=bindparam("a"), device_hash=bindparam("h"),
                                              label=bindparam("l"), first_seen_at=bindparam("now"),
                                              last_seen_at=bindparam("now"))
               .on_conflict_do_nothing().returning(_KNOWN.device_hash)
               for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}
_TOUCH_DEVICE = update(_KNOWN).where(*_OF_DEVICE).values(last_seen_at=bindparam("now"), label=bindparam("l"))
_DEVICES = (select(_KNOWN.label, _KNOWN.first_seen_at, _KNOWN.last_seen_at)
            .where(_KNOWN.account_id == bindparam("account_id")).order_by(_KNOWN.last_seen_at.desc()))
_NOTICE = select(models.AccountPreference.new_device_notice).where(
    models.AccountPreference.account_id == bindparam("account_id"))
DEVICE_TOUCH = timedelta(days=1)
_GRANT_COLUMNS = [c for c in _GRANT.__table__.columns]  # type: ignore[attr-defined]


def _grant(row: Any) -> Grant:
    return Grant(id=row.id, client_id=row.client_id, account_id=str(row.account_id), session_hash=row.session_hash,
                 subject=row.subject, scope=row.scope, claims=tuple(json.loads(row.claims)), acr=row.acr,
                 amr=tuple(row.amr.split()), auth_time=row.auth_time, created_at=row.created_at,
                 expires_at=row.expires_at, revoked_at=row.revoked_at)


def _json_safe(table: str, column: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if (table, column) in JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def exported_tables() -> list[tuple[Table, str]]:
    """(table, the column naming the account) of every table with rows about one account."""
    found: list[tuple[Table, str]] = []
    for table in models.Base.metadata.sorted_tables:
        if table.name in NOT_PERSONAL:
            continue
        if table.name == "accounts":
            found.append((table, "id"))
        elif "account_id" in table.c:
            found.append((table, "account_id"))
        elif table.name == "oidc_refresh_tokens":
            found.append((table, "grant_id"))
        elif table.name == "organisation_invitations":
            found.append((table, "invited_by"))
    return found


class SqlAccountData:
    def __init__(self, database: Database) -> None:
        self._db = database
        # On the login path: straight through the driver on SQLite too (persistence/statements.py).
        self._statements = Statements(database.autocommit_engine, database.engine, direct=True)

    def consents(self, account_id: str) -> Sequence[ConsentEntry]:
        account = parse_uuid(account_id)
        if account is None:
            return []
        table = models.Consent
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(select(table.service_id, table.attributes, table.granted_at)
                                      .where(table.account_id == account)
                                      .order_by(table.granted_at.desc(), table.service_id)).all()
        return [ConsentEntry(service_id=r.service_id, attributes=tuple(json.loads(r.attributes)),
                             granted_at=r.granted_at) for r in rows]

    def _live(self, account: uuid.UUID, now: datetime, client_id: str | None) -> Any:
        condition = [_GRANT.account_id == account, _GRANT.revoked_at.is_(None), _GRANT.expires_at > now]
        if client_id is not None:
            condition.append(_GRANT.client_id == client_id)
        return condition

    def live_grants(self, account_id: str, *, now: datetime, client_id: str | None = None) -> list[Grant]:
        account = parse_uuid(account_id)
        if account is None:
            return []
        with self._db.autocommit_engine.connect() as connection:
            rows = connection.execute(select(*_GRANT_COLUMNS).where(*self._live(account, now, client_id))).all()
        return [_grant(row) for row in rows]

    def revoke_grants(self, account_id: str, *, now: datetime, client_id: str | None = None) -> list[Grant]:
        account = parse_uuid(account_id)
        if account is None:
            return []
        with self._db.transaction() as session:
            rows = session.execute(select(*_GRANT_COLUMNS).where(*self._live(account, now, client_id))).all()
            if rows:
                session.execute(update(_GRANT).where(_GRANT.id.in_([r.id for r in rows]),
                                                     _GRANT.revoked_at.is_(None)).values(revoked_at=now))
        return [_grant(row) for row in rows]

    def device_seen(self, account_id: str, device_hash: str, label: str, *, now: datetime) -> bool:
        # Every login asks: one prebuilt read, and a write only for a new device, a new label, or a
        # last-seen time more than a day old (not a durable write on every login).
        known = self._statements.first(_DEVICE, {"account_id": uuid.UUID(account_id), "device_hash": device_hash})
        if known is not None and known.label == label[:64] and now - known.last_seen_at < DEVICE_TOUCH:
            return False
        # Each statement is atomic on its own: of two requests racing with a new device, one inserts (and is
        # told "new"), the other touches the row.
        params = {"a": uuid.UUID(account_id), "h": device_hash, "l": label[:64], "now": now}
        if self._statements.first(_NEW_DEVICE[self._db.dialect], params) is not None:
            return True
        self._statements.run(_TOUCH_DEVICE, params)
        return False

    def devices(self, account_id: str) -> Sequence[KnownDevice]:
        account = parse_uuid(account_id)
        if account is None:
            return []
        rows = self._statements.all(_DEVICES, {"account_id": account})
        return [KnownDevice(label=r.label, first_seen_at=r.first_seen_at, last_seen_at=r.last_seen_at) for r in rows]

    def new_device_notice(self, account_id: str) -> bool:
        account = parse_uuid(account_id)
        if account is None:
            return False
        row = self._statements.first(_NOTICE, {"account_id": account})
        return bool(row.new_device_notice) if row is not None else False

    def set_new_device_notice(self, account_id: str, enabled: bool, *, now: datetime) -> None:
        with self._db.transaction() as session:
            row = session.get(models.AccountPreference, uuid.UUID(account_id))
            if row is None:
                session.add(models.AccountPreference(account_id=uuid.UUID(account_id), new_device_notice=enabled,
                                                     updated_at=now))
            else:
                row.new_device_notice = enabled
                row.updated_at = now

    def export(self, account_id: str) -> dict[str, list[dict[str, Any]]]:
        account = parse_uuid(account_id)
        if account is None:
            return {}
        result: dict[str, list[dict[str, Any]]] = {}
        with self._db.autocommit_engine.connect() as connection:
            grant_ids = list(connection.scalars(select(_GRANT.id).where(_GRANT.account_id == account)))
            for table, column in exported_tables():
                secret = SECRET_COLUMNS.get(table.name, frozenset())
                shown = [c for c in table.c if c.name not in secret]
                key = table.c[column]
                condition: ColumnElement[bool]
                if column == "grant_id":
                    if not grant_ids:
                        result[table.name] = []
                        continue
                    condition = key.in_(grant_ids)
                else:
                    condition = key == account
                order = table.c.id if "id" in table.c and table.name != "accounts" else shown[0]
                rows = connection.execute(select(*shown).where(condition).order_by(order)).all()
                result[table.name] = [{c.name: _json_safe(table.name, c.name, getattr(r, c.name)) for c in shown}
                                      for r in rows]
        result["withheld"] = [{"table": table, "column": column} for table, columns in sorted(SECRET_COLUMNS.items())
                              for column in sorted(columns)]
        return result
