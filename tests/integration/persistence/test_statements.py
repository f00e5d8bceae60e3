"""The hot-statement path (persistence/statements.py) answers as SQLAlchemy's own would, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select

from servicekonto.persistence import models
from servicekonto.persistence.database import Database

_TENANT = models.Tenant
_BY_NAME = select(_TENANT.id, _TENANT.name.label("label")).where(_TENANT.name == bindparam("name"))


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
