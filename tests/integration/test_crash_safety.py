"""`kill -9` in the middle of writing, then a restart, loses nothing that was committed.

There is no HTTP write endpoint yet, so the writer is a process of its own that creates tenants through the
service layer (`tests.support.crash_writer`) and prints each id only after its commit. It is killed with
SIGKILL while its threads are inside their next transactions, several times over the same database; then
the real server starts on that database, must be ready, and every printed id must be there.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicekonto.app import Container, build_container
from servicekonto.services.tenants import TenantNotFound
from servicekonto.settings import Settings
from tests.support.postgres import fresh_postgres_database
from tests.support.server import (
    CLEAN_EXIT,
    PROJECT_ROOT,
    http_status,
    random_secret,
    run_command,
    serve_command,
    server_environment,
    servicekonto_command,
    start_server,
)

pytestmark = pytest.mark.slow

ROUNDS = 3
WRITER_THREADS = 2
LINE_TIMEOUT = 30.0
UUID_LINE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None means the default: SQLite in DATA_DIR, as a single-machine deployment runs it."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_postgres_database("sk_crash") as url:
        yield url


def kill_writer_after(env: dict[str, str], prefix: str, acknowledged: int, log: Path) -> list[str]:
    """Start a writer, SIGKILL it once it has acknowledged `acknowledged` commits; every id it printed."""
    with log.open("ab") as stderr:
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.support.crash_writer", prefix, str(WRITER_THREADS)],
            env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()
    assert writer.stdout is not None
    stdout = writer.stdout

    def read_all() -> None:
        for raw in stdout:  # a killed writer's pipe still holds what it flushed; read it to the end
            lines.put(raw.decode("ascii", errors="replace"))

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    printed: list[str] = []
    try:
        while len(printed) < acknowledged:
            try:
                printed.append(lines.get(timeout=LINE_TIMEOUT))
            except queue.Empty:
                pytest.fail(f"the writer acknowledged nothing for {LINE_TIMEOUT} s (exit code "
                            f"{writer.poll()})\n{log.read_text(errors='replace')}")
    finally:
        os.kill(writer.pid, signal.SIGKILL)  # no chance to finish the transaction it is in
        writer.wait(timeout=30)
        reader.join(timeout=30)
        stdout.close()
    assert writer.returncode == -signal.SIGKILL, log.read_text(errors="replace")
    while not lines.empty():
        printed.append(lines.get_nowait())
    complete = [line for line in printed if UUID_LINE.fullmatch(line)]
    assert len(complete) >= acknowledged
    return [line.strip() for line in complete]


def test_sigkill_during_writes_loses_no_committed_tenant(tmp_path: Path, database_url: str | None) -> None:
    data_dir = tmp_path / "data"
    secret = random_secret()
    extra = {"SERVICEKONTO_DATABASE_URL": database_url} if database_url else {}
    env = server_environment(data_dir, "http://127.0.0.1:8000", secret_key=secret, extra=extra)
    data_dir.mkdir()
    run_command(servicekonto_command("migrate"), env)

    committed: list[str] = []
    rng = random.Random()  # the kill lands at a different moment each round and each run
    for round_number in range(ROUNDS):
        committed += kill_writer_after(env, f"crash {round_number}", rng.randint(40, 120),
                                       tmp_path / "writer.log")
    assert len(set(committed)) == len(committed)

    server = start_server(data_dir, serve_command, extra_env=extra, migrate=False, secret_key=secret,
                          ready_path="/readyz", name="after-crash")
    try:
        assert http_status(server.url("/readyz")) == 200
        settings = Settings(environment="test", data_dir=data_dir, secret_key=secret,  # type: ignore[arg-type]
                            database_url=database_url)
        container = build_container(settings)
        try:
            missing = [tenant_id for tenant_id in committed if _absent(container, tenant_id)]
            stored = len(container.tenants.list())
        finally:
            container.close()
    finally:
        assert server.stop() in CLEAN_EXIT, server.output()

    assert not missing, f"{len(missing)} of {len(committed)} committed tenants are gone: {missing[:5]}"
    # Beyond the acknowledged ones, at most the commits each thread made just before the kill.
    assert len(committed) <= stored <= len(committed) + ROUNDS * WRITER_THREADS
    if database_url is None:
        _assert_sqlite_intact(data_dir / "servicekonto.sqlite3")


def _absent(container: Container, tenant_id: str) -> bool:
    try:
        container.tenants.get(tenant_id)
    except TenantNotFound:
        return True
    return False


def _assert_sqlite_intact(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()
