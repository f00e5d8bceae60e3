"""A PostgreSQL database of a test's own, created before and dropped after (with its connections)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get(
    "SERVICEKONTO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = set(os.environ.get("SERVICEKONTO_TEST_BACKENDS", "sqlite,postgresql,redis").split(","))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@contextmanager
def fresh_postgres_database(label: str = "sk_test") -> Iterator[str]:
    """The URL of a new, empty database; skipped (failed in CI) when PostgreSQL is not reachable."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL not in SERVICEKONTO_TEST_BACKENDS")
    name = f"{label}_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable ({type(exc).__name__})"
        if IN_CI:
            pytest.fail(message + "; CI must test against it", pytrace=False)
        pytest.skip(message)
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
