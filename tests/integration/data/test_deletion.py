"""Issue #8, deletion: portals that registered a back-channel logout URI hear of it for every live grant
of the account; a wrong password tells nobody; the history goes with the account."""

from __future__ import annotations

import time
from typing import Any

from starlette.testclient import TestClient

from servicekonto.persistence import models
from servicekonto.persistence.database import Database
from servicekonto.settings import Settings
from tests.integration.accounts.helpers import PASSWORD, submit
from tests.integration.data.test_transfers import citizen, rows
from tests.integration.oidc.helpers import code_flow, register_portal, verify
from tests.integration.oidc.test_client_options import logout_receiver  # noqa: F401 - fixture


def test_deleting_the_account_sends_a_backchannel_logout_for_every_live_grant(
        client: TestClient, settings: Settings, container: Any, database_for: Database,
        logout_receiver: tuple[str, list[Any]]) -> None:  # noqa: F811
    uri, received = logout_receiver
    citizen(client, settings)
    portal = register_portal(container, backchannel_logout_uri=uri)
    silent = register_portal(container, name="Portal ohne Back-Channel")
    first, second = code_flow(client, portal), code_flow(client, portal)
    code_flow(client, silent)
    assert rows(database_for)

    wrong = submit(client, "/konto/loeschen", {"password": "wrong-password-123"}, action_prefix="/konto/loeschen")
    assert wrong.status_code == 400
    time.sleep(0.3)
    assert received == []  # a failed deletion tells nobody

    deleted = submit(client, "/konto/loeschen", {"password": PASSWORD}, action_prefix="/konto/loeschen")
    assert deleted.headers["location"] == "/?hinweis=deleted"
    deadline = time.monotonic() + 10
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    tokens = [verify(client, r["logout_token"][0]) for r in received]
    assert len(tokens) == 2 and {t["aud"] for t in tokens} == {portal.client_id}
    assert {t["sub"] for t in tokens} == {verify(client, first["id_token"])["sub"]}
    assert verify(client, second["id_token"])["sid"] in {t["sid"] for t in tokens}
    assert rows(database_for) == []
    with database_for.autocommit_engine.connect() as connection:
        assert connection.execute(models.OidcGrant.__table__.select()).first() is None
