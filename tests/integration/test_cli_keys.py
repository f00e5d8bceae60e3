"""`servicekonto keys rotate` on a migrated database: one JSON object on stdout (DESIGN.md §4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from servicekonto.cli import main
from servicekonto.domain.keys import KeyPurpose, KeyState
from servicekonto.persistence.database import Database
from servicekonto.persistence.keys import SqlKeyRepository
from servicekonto.persistence.models import SigningKey
from tests.conftest import TEST_SECRET


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A test system whose SQLite database lives under DATA_DIR (the default), nothing else configured."""
    for name in list(os.environ):
        if name.startswith("SERVICEKONTO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SERVICEKONTO_ENVIRONMENT", "test")
    monkeypatch.setenv("SERVICEKONTO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICEKONTO_SECRET_KEY", TEST_SECRET)
    return tmp_path / "servicekonto.sqlite3"


def test_keys_rotate_prints_the_new_kids_as_one_json_object(environment: Path) -> None:
    runner = CliRunner()
    migrated = runner.invoke(main, ["migrate", "--json"], catch_exceptions=False)
    assert migrated.exit_code == 0, migrated.stderr
    assert json.loads(migrated.stdout) == {"status": "ok"}

    database = Database(f"sqlite:///{environment}")
    try:
        repository = SqlKeyRepository(database)
        before = {purpose: repository.active(purpose) for purpose in KeyPurpose}
        assert all(before.values())  # `migrate` created the keys

        result = runner.invoke(main, ["keys", "rotate", "--json"], catch_exceptions=False)

        assert result.exit_code == 0, result.stderr
        assert result.stdout.count("\n") == 1
        output = json.loads(result.stdout)
        assert set(output) == {"kids"}
        after = {purpose: repository.active(purpose) for purpose in KeyPurpose}
        assert output["kids"] == [key.kid for key in after.values() if key is not None]
        with database.sessions() as session:
            for old in before.values():
                assert old is not None
                row = session.get(SigningKey, old.kid)
                assert row is not None and row.state == KeyState.RETIRED
                assert row.publish_until is not None and row.publish_until > row.created_at
    finally:
        database.dispose()
