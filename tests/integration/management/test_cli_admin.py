"""`servicekonto admin grant`: the first operator comes from the command line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from servicekonto.app import build_container
from servicekonto.settings import load_settings
from tests.integration.test_cli import env, run  # noqa: F401  (env is a fixture)


def _account(username: str) -> None:
    container = build_container(load_settings())
    try:
        container.accounts.register(username=username, email=f"{username}@example.de", password="Heidestr17Köln!",
                                    password_repeat="Heidestr17Köln!", accepted_terms=True, locale="de")
    finally:
        container.close()


@pytest.mark.usefixtures("env")
def test_admin_grant_gives_roles_idempotently() -> None:
    assert run("migrate")[0] == 0
    _account("erika")
    code, out, err = run("admin", "grant", "--account", "erika", "--operator", "--json")
    assert code == 0, err
    assert json.loads(out)["role"] == "operator"
    assert run("admin", "grant", "--account", "erika", "--operator", "--json")[0] == 0
    tenant_id = json.loads(run("tenant", "create", "--name", "Musterstadt", "--json")[1])["id"]
    code, out, _ = run("admin", "grant", "--account", "erika", "--tenant", tenant_id, "--json")
    assert code == 0 and json.loads(out) == {"account_id": json.loads(out)["account_id"], "role": "tenant_admin",
                                             "tenant_id": tenant_id}
    container: Any = build_container(load_settings())
    try:
        roles = {r.role.value for r in container.admin._roles.for_account(json.loads(out)["account_id"])}
    finally:
        container.close()
    assert roles == {"operator", "tenant_admin"}


@pytest.mark.usefixtures("env")
def test_admin_grant_refuses_unknown_accounts_and_ambiguous_roles() -> None:
    assert run("migrate")[0] == 0
    code, _, err = run("admin", "grant", "--account", "nobody", "--operator")
    assert code == 1 and err
    _account("erika")
    assert run("admin", "grant", "--account", "erika")[0] == 1
    assert run("admin", "grant", "--account", "erika", "--tenant", "00000000-0000-0000-0000-000000000000")[0] == 1


def _events(tenant_id: str) -> list[tuple[str, str | None]]:
    container: Any = build_container(load_settings())
    try:
        records = container.admin._store.audit_for_tenant(tenant_id)
    finally:
        container.close()
    return [(r.event.value, r.actor) for r in records]


@pytest.mark.usefixtures("env")
def test_management_commands_go_through_the_admin_service_and_are_audited() -> None:
    """DESIGN.md §4's commands keep their output; the tenant's audit log records each of them."""
    assert run("migrate")[0] == 0
    tenant_id = json.loads(run("tenant", "create", "--name", "Musterstadt", "--json")[1])["id"]
    code, out, err = run("oidc-client", "create", "--tenant", tenant_id, "--name", "Portal", "--redirect-uri",
                         "https://portal.example.de/cb", "--allowed-attribute", "email", "--allowed-method", "eid",
                         "--json")
    assert code == 0, err
    created = json.loads(out)
    assert created["client_id"] and created["client_secret"]
    container: Any = build_container(load_settings())
    try:
        client = container.oidc_clients.registration(created["client_id"])
    finally:
        container.close()
    assert client.allowed_attributes == ("email",) and client.allowed_methods == ("eid",)
    code, _, err = run("oidc-client", "create", "--tenant", tenant_id, "--name", "X", "--allowed-attribute",
                       "shoe_size", "--redirect-uri", "https://portal.example.de/cb")
    assert code == 1 and err
    assert _events(tenant_id) == [("admin:oidc_client:created", "cli:operator"),
                                  ("admin:tenant:created", "cli:operator")]


@pytest.mark.usefixtures("env")
def test_admin_revoke_never_removes_the_last_operator() -> None:
    assert run("migrate")[0] == 0
    _account("erika")
    _account("max")
    assert run("admin", "grant", "--account", "erika", "--operator")[0] == 0
    code, _, err = run("admin", "revoke", "--account", "erika", "--operator")
    assert code == 1 and "operator" in err.lower()
    assert run("admin", "grant", "--account", "max", "--operator")[0] == 0
    code, out, err = run("admin", "revoke", "--account", "erika", "--operator", "--json")
    assert code == 0 and json.loads(out)["revoked"] == "operator", err
    tenant_id = json.loads(run("tenant", "create", "--name", "Musterstadt", "--json")[1])["id"]
    assert run("admin", "grant", "--account", "erika", "--tenant", tenant_id)[0] == 0
    assert run("admin", "revoke", "--account", "erika", "--tenant", tenant_id)[0] == 0
    assert run("admin", "revoke", "--account", "erika", "--tenant", tenant_id)[0] == 1  # held no more


@pytest.mark.usefixtures("env")
def test_maintenance_reports_the_metadata_it_fetched_again() -> None:
    assert run("migrate")[0] == 0
    code, out, err = run("maintenance", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["metadata_refreshed"], report["metadata_failed"]) == (0, 0)
