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


@pytest.fixture
def saml_tenant(env: dict[str, str]) -> str:
    run("migrate")
    return str(json.loads(run("tenant", "create", "--name", "Musterstadt", "--json")[1])["id"])


def test_saml_sp_add_registers_from_a_file(saml_tenant: str, tmp_path: Path) -> None:
    from tests.support.saml import ENTITY_ID, sp_metadata

    metadata = tmp_path / "sp.xml"
    metadata.write_bytes(sp_metadata())
    code, out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", str(metadata), "--json")
    assert code == 0, err
    assert json.loads(out) == {"entity_id": ENTITY_ID, "name": "Bürgerportal Musterstadt", "tenant_id": saml_tenant,
                               "idp_metadata": "http://127.0.0.1:8000/saml/metadata"}
    code, out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", str(metadata), "--json")
    assert code == 1 and out == "" and "bereits registriert" in err and "already registered" in err


def test_saml_sp_add_refuses_bad_metadata_in_both_languages(saml_tenant: str, tmp_path: Path) -> None:
    from tests.support.saml import sp_metadata

    metadata = tmp_path / "sp.xml"
    metadata.write_bytes(sp_metadata(root_attributes=' validUntil="2030-01-01T00:00:00Z"'))
    code, out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", str(metadata), "--json")
    assert code == 1 and out == "" and "Traceback" not in err
    assert "Die SAML-Metadaten des Service-Providers sind nicht gültig. (the EntityDescriptor must not carry " \
           "validUntil)" in err
    assert "The SAML metadata of the service provider are not valid. (the EntityDescriptor must not carry " \
           "validUntil)" in err
    metadata.write_bytes(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    code, _out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", str(metadata))
    assert code == 1 and "DOCTYPE is not allowed" in err and "root:x" not in err
    code, _out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", str(tmp_path / "missing.xml"))
    assert code == 1 and "konnten nicht gelesen werden" in err and "could not be read" in err
    code, _out, err = run("saml-sp", "add", "--tenant", "00000000-0000-0000-0000-000000000000", "--metadata",
                          str(metadata))
    assert code == 1 and "Traceback" not in err


def test_saml_sp_add_fetches_metadata_from_a_url(saml_tenant: str) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.support.saml import acs, sp_metadata

    documents = {"/sp.xml": sp_metadata("http://127.0.0.1:8001/saml/metadata",
                                        endpoints=acs("http://127.0.0.1:8001/saml/acs")),
                 "/big.xml": b" " * (1024 * 1024 + 1)}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("location", "http://portal.example.de/sp.xml")
                self.end_headers()
                return
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("content-type", "application/samlmetadata+xml")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        code, out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", f"{base}/sp.xml", "--json")
        assert code == 0, err
        assert json.loads(out)["entity_id"] == "http://127.0.0.1:8001/saml/metadata"
        code, _out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", f"{base}/missing.xml")
        assert code == 1 and "HTTP 404" in err and "konnten nicht gelesen werden" in err
        code, _out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", f"{base}/big.xml")
        assert code == 1 and "larger than 1048576 bytes" in err
        code, _out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", f"{base}/moved")
        assert code == 1 and "'http://portal.example.de/sp.xml' must be an https URL" in err
    finally:
        server.shutdown()
        server.server_close()
    code, _out, err = run("saml-sp", "add", "--tenant", saml_tenant, "--metadata", "http://portal.example.de/sp.xml")
    assert code == 1 and "must be an https URL" in err


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
