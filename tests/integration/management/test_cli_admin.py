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
