"""Refresh-token rotation in one statement (PostgreSQL) or one transaction (SQLite): a token rotates once, a
second rotation with it loses and ends the grant; the async reads of the hot endpoints answer as the sync
ones, on the loop that opened them only."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from servicekonto.domain.accounts import Account, AccountStatus
from servicekonto.domain.grants import Grant, RefreshTokenState
from servicekonto.persistence.accounts import SqlAccountRepository
from servicekonto.persistence.database import Database
from servicekonto.persistence.oidc import SqlGrantRepository


def _grant(database: Database, name: str = "erika") -> Grant:
    account_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    SqlAccountRepository(database).add(Account(
        id=account_id, username=name, email=f"{name}@example.de", status=AccountStatus.ACTIVE, password_hash=None,
        locale="de", session_epoch=0, created_at=now))
    grant = Grant(id=f"grant-{name}", client_id="portal", account_id=account_id, session_hash=None, subject="sub",
                  scope="openid", claims=("email",), acr="STORK-QAA-Level-1", amr=("pwd",),
                  auth_time=int(now.timestamp()), created_at=now, expires_at=now + timedelta(hours=1))
    SqlGrantRepository(database).add(grant, "hash-0", refresh_expires_at=grant.expires_at)
    return grant


def test_a_token_rotates_once_and_a_second_rotation_ends_the_grant(database: Database) -> None:
    grants = SqlGrantRepository(database)
    grant = _grant(database)
    now = datetime.now(UTC)
    assert grants.use_refresh_token("hash-0", now=now)[0] == RefreshTokenState.VALID
    assert grants.rotate_refresh_token(grant, "hash-0", "hash-1", now=now)
    assert grants.use_refresh_token("hash-1", now=now)[0] == RefreshTokenState.VALID
    found = grants.grant_of_refresh_token("hash-1")
    assert found is not None and found.id == grant.id
    assert not grants.rotate_refresh_token(grant, "hash-0", "hash-2", now=now)  # raced with a used token
    assert grants.grant_of_refresh_token("hash-2") is None
    revoked = grants.get(grant.id)
    assert revoked is not None and revoked.revoked_at is not None
    assert grants.use_refresh_token("hash-1", now=now)[0] == RefreshTokenState.UNKNOWN


def test_async_reads_answer_as_the_sync_ones_on_their_own_loop(database: Database) -> None:
    if database.async_statements is None:
        pytest.skip("PostgreSQL only: SQLite keeps the thread path")
    grants = SqlGrantRepository(database)
    grant = _grant(database)
    async_statements = database.async_statements
    assert not grants.reads_on_loop()

    async def on_loop() -> tuple[Grant | None, object, object, bool]:
        await async_statements.open()
        try:
            return (await grants.get_on_loop(grant.id), await grants.with_account_on_loop(grant.id),
                    await grants.get_on_loop("nothing"), grants.reads_on_loop())
        finally:
            await async_statements.close()

    # A loop of its own on a thread of its own: the suite's browser tests keep one running on this thread.
    with ThreadPoolExecutor(1) as thread:
        found, with_account, nothing, ready = thread.submit(asyncio.run, on_loop()).result()
    assert found == grants.get(grant.id) and with_account == grants.with_account(grant.id)
    assert nothing is None and ready
    assert not grants.reads_on_loop()
