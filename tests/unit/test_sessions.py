"""The stored form of a session (services/sessions.py): written by hand for speed, so it must keep every field."""

from __future__ import annotations

import json
from dataclasses import fields

from servicekonto.domain.trust import TrustLevel
from servicekonto.services.sessions import Session


def _session() -> Session:
    return Session(id="sid", account_id="acc", trust_level=TrustLevel.BASIC, methods=["pwd", "otp"], auth_time=1.5,
                   created_at=1.0, last_seen=2.0, epoch=3, csrf_secret="secret", data={"device": "Firefox / Linux"})


def test_stored_session_keeps_every_field_but_id_and_account() -> None:
    stored = json.loads(_session().to_json())
    assert set(stored) == {f.name for f in fields(Session)} - {"id", "account"}
    assert stored["trust_level"] == int(TrustLevel.BASIC)


def test_stored_session_reads_back_equal() -> None:
    session = _session()
    assert Session.from_json("sid", session.to_json()) == session
