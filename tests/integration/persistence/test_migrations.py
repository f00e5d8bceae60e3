"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and running
them again changes nothing."""

from __future__ import annotations

from sqlalchemy import inspect, text

from servicekonto.persistence.database import Database
from servicekonto.persistence.migrate import check, is_current, upgrade


def test_upgrade_head_then_alembic_check(database: Database) -> None:
    upgrade(database)  # second run: idempotent
    assert is_current(database)
    check(database)  # raises when models and migrations disagree


def test_constraint_names_follow_the_convention(database: Database) -> None:
    inspector = inspect(database.engine)
    assert inspector.get_pk_constraint("tenants")["name"] == "pk_tenants"
    uniques = {c["name"] for c in inspector.get_unique_constraints("tenants")}
    assert "uq_tenants_name" in uniques


def test_sqlite_runs_in_wal_mode_with_foreign_keys(database: Database) -> None:
    if database.dialect != "sqlite":
        return
    with database.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
