"""The hot-statement path (persistence/statements.py) answers as SQLAlchemy's own would, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from psycopg.errors import UniqueViolation
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.persistence.statements import Statements

_TENANT = models.Tenant
_BY_NAME = select(_TENANT.id, _TENANT.name.label("label")).where(_TENANT.name == bindparam("name"))
_BY_ID = select(_TENANT.id, _TENANT.name, _TENANT.created_at).where(_TENANT.id == bindparam("id"))
_INSERT = insert(_TENANT)


def _tenant_row(name: str) -> dict[str, object]:
    return {"id": uuid.uuid4(), "name": name, "status": "active", "created_at": datetime.now(UTC)}


def test_rows_come_back_by_name_and_writes_count(database: Database) -> None:
    statements = database.statements
    row = _tenant_row("Musterstadt")
    with database.transaction() as session:
        session.add(models.Tenant(**row))  # type: ignore[arg-type]
    found = statements.first(_BY_NAME, {"name": "Musterstadt"})
    assert found is not None and found.id == row["id"] and found.label == "Musterstadt"
    assert statements.first(_BY_NAME, {"name": "nobody"}) is None
    assert [r.label for r in statements.all(_BY_NAME, {"name": "Musterstadt"})] == ["Musterstadt"]


def test_a_failed_transaction_leaves_nothing(database: Database) -> None:
    statements = database.statements
    with pytest.raises(RuntimeError), statements.transaction() as inside:
        inside.run(insert(_TENANT), _tenant_row("Beispieldorf"))
        assert inside.first(_BY_NAME, {"name": "Beispieldorf"}) is not None
        raise RuntimeError("half-way")
    assert statements.first(_BY_NAME, {"name": "Beispieldorf"}) is None
    with statements.transaction() as inside:
        inside.run(insert(_TENANT), _tenant_row("Beispieldorf"))
    assert statements.first(_BY_NAME, {"name": "Beispieldorf"}) is not None


def test_naive_timestamps_are_refused_as_on_the_orm_path(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        database.statements.run(insert(_TENANT), _tenant_row("Naiv") | {"created_at": datetime(2026, 1, 1)})  # noqa: DTZ001
    assert database.statements.first(_BY_NAME, {"name": "Naiv"}) is None


def test_the_direct_path_converts_and_fails_as_sqlalchemy_does(database: Database) -> None:
    """`direct=True` on SQLite too: UUIDs and timestamps converted by the statement's own types, the
    driver's errors as SQLAlchemy's (PostgreSQL's direct path raises psycopg's, as it always has)."""
    direct = Statements(database.autocommit_engine, database.engine, direct=True)
    row = _tenant_row("Direktdorf")
    assert direct.run(_INSERT, row) == 1
    found = direct.first(_BY_ID, {"id": row["id"]})
    with database.autocommit_engine.connect() as connection:
        expected = connection.execute(_BY_ID, {"id": row["id"]}).first()
    assert found is not None and expected is not None
    assert tuple(found) == tuple(expected) == (row["id"], "Direktdorf", row["created_at"])
    assert isinstance(found.id, uuid.UUID) and found.created_at.tzinfo is not None
    with pytest.raises((IntegrityError, UniqueViolation)):
        direct.run(_INSERT, row)
    with pytest.raises(RuntimeError), direct.transaction() as inside:
        inside.run(_INSERT, _tenant_row("Halbweg"))
        raise RuntimeError("half-way")
    assert direct.first(_BY_NAME, {"name": "Halbweg"}) is None
