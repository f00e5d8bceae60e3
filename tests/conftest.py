"""Test backends: every database test runs on SQLite and PostgreSQL, every ephemeral-state test with and
without Redis. PostgreSQL gets a fresh database per test session; Redis a fresh key prefix.

Set SERVICEKONTO_TEST_BACKENDS=sqlite to run without PostgreSQL and Redis on a laptop; in CI (CI=true) an
unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from servicekonto.app import build_container, create_app
from servicekonto.persistence.database import Database
from servicekonto.persistence.migrate import upgrade
from servicekonto.persistence.models import Base
from servicekonto.settings import Settings
from tests.support.postgres import BACKENDS, IN_CI, fresh_postgres_database

REDIS_URL = os.environ.get("SERVICEKONTO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SECRET = "test-only-secret-" + "k7Qm2vXr9TzL4pWn8Ys3Hd6Jf1Bc5Ga0"


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if IN_CI:
        pytest.fail(message + "; CI must test against it", pytrace=False)
    pytest.skip(message + "; set SERVICEKONTO_TEST_BACKENDS=sqlite to skip it on purpose")


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A database of our own for this test session, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if "redis" not in BACKENDS:
        pytest.skip("Redis not in SERVICEKONTO_TEST_BACKENDS")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    yield REDIS_URL
    client.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'servicekonto.sqlite3'}"


def _migrated(url: str, cache: dict[str, bool]) -> str:
    if url not in cache:
        database = Database(url)
        upgrade(database)
        database.dispose()
        cache[url] = True
    return url


@pytest.fixture(scope="session")
def _migrations_done() -> dict[str, bool]:
    return {}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, _migrations_done: dict[str, bool]) -> str:
    """A migrated database URL; every test that uses it runs once per database."""
    url = request.getfixturevalue(f"{request.param}_url")
    return _migrated(url, _migrations_done)


def _empty_tables(database: Database) -> None:
    with database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        _empty_tables(db)
        db.dispose()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are removed afterwards."""
    prefix = f"sk-test-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": tmp_path,
        "secret_key": TEST_SECRET,
        "log_format": "json",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


STACKS = {
    "sqlite": ("sqlite", False),
    "postgresql+redis": ("postgresql", True),
}


@pytest.fixture(params=list(STACKS))
def settings(request: pytest.FixtureRequest, tmp_path: Path, _migrations_done: dict[str, bool]) -> Iterator[Settings]:
    """Settings of a whole stack: SQLite without Redis, and PostgreSQL with Redis."""
    db_kind, with_redis = STACKS[request.param]
    url = _migrated(request.getfixturevalue(f"{db_kind}_url"), _migrations_done)
    overrides: dict[str, object] = {"database_url": url}
    if with_redis:
        request.getfixturevalue("redis_url")
        overrides.update(redis_url=REDIS_URL, redis_prefix=request.getfixturevalue("redis_prefix"))
    configured = make_settings(tmp_path, **overrides)
    yield configured
    database = Database(url)
    _empty_tables(database)
    database.dispose()


@pytest.fixture
def container(settings: Settings) -> Iterator[object]:
    built = build_container(settings)
    yield built
    built.close()


@pytest.fixture
def client(settings: Settings, container: object) -> Iterator[TestClient]:
    app = create_app(settings, container=container)  # type: ignore[arg-type]
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def database_for(settings: Settings) -> Iterator[Database]:
    """The database behind the `settings` stack, to assert on rows."""
    db = Database(settings.effective_database_url)
    yield db
    db.dispose()
