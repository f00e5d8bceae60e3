"""The `servicekonto` command: JSON on stdout with --json, errors in German and English on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from servicekonto.cli import main
from tests.conftest import TEST_SECRET


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("SERVICEKONTO_"):
            monkeypatch.delenv(name)
    values = {"SERVICEKONTO_DATA_DIR": str(tmp_path), "SERVICEKONTO_SECRET_KEY": TEST_SECRET}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_migrate_is_idempotent(env: dict[str, str]) -> None:
    assert run("migrate", "--json")[:2] == (0, '{"status": "ok"}\n')
    assert run("migrate", "--json")[:2] == (0, '{"status": "ok"}\n')


def test_tenant_create_prints_one_json_object(env: dict[str, str]) -> None:
    run("migrate")
    code, out, err = run("tenant", "create", "--name", "Stadt  Köln ", "--json")
    assert code == 0, err
    created = json.loads(out)
    assert created["name"] == "Stadt Köln" and len(created["id"]) == 36


def test_duplicate_tenant_fails_in_both_languages(env: dict[str, str]) -> None:
    run("migrate")
    run("tenant", "create", "--name", "Bonn")
    code, out, err = run("tenant", "create", "--name", "Bonn", "--json")
    assert code == 1 and out == ""
    assert "Einen Mandanten mit diesem Namen gibt es bereits." in err
    assert "A tenant with this name already exists." in err


def test_empty_tenant_name_is_refused(env: dict[str, str]) -> None:
    run("migrate")
    code, _out, err = run("tenant", "create", "--name", "   ")
    assert code == 1 and "zwischen 1 und 200 Zeichen" in err


def test_demo_is_idempotent(env: dict[str, str]) -> None:
    run("migrate")
    first = json.loads(run("demo", "--json")[1])
    second = json.loads(run("demo", "--json")[1])
    assert first == second


def test_saml_sp_add_says_not_available_yet(env: dict[str, str]) -> None:
    code, _out, err = run("saml-sp", "add", "--tenant", "x", "--metadata", "m.xml")
    assert code == 3 and "noch nicht verfügbar" in err and "not available yet" in err


def test_oidc_client_create_prints_credentials_once(env: dict[str, str]) -> None:
    run("migrate")
    tenant = json.loads(run("tenant", "create", "--name", "Musterstadt", "--json")[1])["id"]
    code, out, _err = run("oidc-client", "create", "--tenant", tenant, "--name", "Portal", "--redirect-uri",
                          "http://127.0.0.1:9/cb", "--json")
    created = json.loads(out)
    assert code == 0 and len(created["client_secret"]) >= 43 and created["client_id"]
    machine = json.loads(run("oidc-client", "create", "--tenant", tenant, "--name", "Fachverfahren",
                             "--grant-type", "client_credentials", "--json")[1])
    assert machine["client_secret"]
    public = json.loads(run("oidc-client", "create", "--tenant", tenant, "--name", "App", "--public",
                            "--redirect-uri", "http://127.0.0.1:9/cb", "--json")[1])
    assert public["client_secret"] is None


def test_oidc_client_create_refuses_bad_registrations(env: dict[str, str]) -> None:
    run("migrate")
    tenant = json.loads(run("tenant", "create", "--name", "Musterstadt", "--json")[1])["id"]
    code, out, err = run("oidc-client", "create", "--tenant", tenant, "--name", "Portal", "--redirect-uri",
                         "http://portal.example.de/cb", "--json")
    assert code == 1 and out == "" and "nicht gültig" in err and "https required" in err
    code, _out, err = run("oidc-client", "create", "--tenant", "00000000-0000-0000-0000-000000000000",
                          "--name", "Portal", "--redirect-uri", "https://portal.example.de/cb")
    assert code == 1 and "Traceback" not in err
    code, _out, err = run("oidc-client", "create", "--tenant", tenant, "--name", "Portal")
    assert code == 1 and "redirect-uri" in err


def test_bad_configuration_is_a_message_not_a_traceback(env: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEKONTO_ENVIRONMENT", "production")
    code, _out, err = run("migrate")
    assert code == 1
    assert "Traceback" not in err and "https" in err


def test_serve_refuses_an_unmigrated_database(env: dict[str, str]) -> None:
    code, _out, err = run("serve", "--port", "1")
    assert code == 1 and "servicekonto migrate" in err


def test_python_dash_m_is_the_same_command(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "servicekonto", "--help"], capture_output=True, text=True,
                            check=True, env={**os.environ, **env})
    assert "tenant" in result.stdout and "keys" in result.stdout


def test_maintenance_removes_stale_registrations(env: dict[str, str]) -> None:
    from datetime import UTC, datetime, timedelta

    from servicekonto.app import build_container
    from servicekonto.domain.accounts import Account, AccountStatus
    from servicekonto.settings import load_settings

    run("migrate")
    container = build_container(load_settings())
    old = datetime.now(UTC) - timedelta(hours=49)
    for number, (name, created) in enumerate((("stale", old), ("fresh", datetime.now(UTC)))):
        container.account_repository.add(Account(id=f"00000000-0000-4000-8000-00000000000{number}", username=name,
                                                 email=f"{name}@example.de", status=AccountStatus.PENDING,
                                                 password_hash=None, locale="de", session_epoch=0, created_at=created))
    code, out, _err = run("maintenance", "--json")
    assert code == 0 and json.loads(out)["stale_registrations"] == 1
    assert container.account_repository.find_by_login("fresh") is not None
    assert container.account_repository.find_by_login("stale") is None
    container.close()
