"""Engine and session factory: SQLite (WAL, foreign keys, full sync) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from servicekonto.persistence.statements import AsyncStatements, Statements


def make_engine(url: str, *, pool_size: int = 10, read_only: bool = False, durable: bool = True) -> Engine:
    """`read_only`: the engine for statements that run on their own, without a transaction around them.
    `durable=False`: its commits do not wait for the disk (state that may be lost in a crash of the machine,
    never corrupted: sessions, flows, counters)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas if durable else _sqlite_pragmas_not_durable)
        # Writers: SQLAlchemy issues BEGIN IMMEDIATE itself, so a transaction starts where the code says and
        # takes the write lock at once (no deadlock when two read-then-write transactions meet). Readers run
        # each statement on its own (autocommit): no lock, no BEGIN/ROLLBACK per read.
        if not read_only:
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    # No pre-ping (a round trip before every checkout); connections are recycled before servers or
    # firewalls drop idle ones, and a dead connection fails one request, not every one.
    # A pool holds up to twice `pool_size` and keeps what it opened: with overflow connections instead,
    # every checkout beyond `pool_size` under a burst opened a connection and closed it again on return (a
    # server process forked per request: refresh grants ran at two thirds of the speed).
    # Timestamps come back in UTC whatever the server's TimeZone (persistence/statements.py reads them
    # without SQLAlchemy's conversion).
    options = "-c timezone=UTC" + ("" if durable else " -c synchronous_commit=off")
    if read_only:  # its own pool in autocommit: no isolation switch and no reset at every checkout
        return create_engine(url, pool_size=2 * pool_size, max_overflow=0, pool_recycle=1800,
                             isolation_level="AUTOCOMMIT", pool_reset_on_return=None,
                             connect_args={"options": options})
    return create_engine(url, pool_size=2 * pool_size, max_overflow=0, pool_recycle=1800,
                         connect_args={"options": options})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, synchronous: str = "FULL") -> None:
    """WAL lets readers run beside the writer; synchronous=FULL makes every commit survive a crash
    (of the process and of the machine); foreign keys are off in SQLite unless asked for."""
    dbapi_connection.isolation_level = None  # the "begin" listener above opens transactions
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_pragmas_not_durable(dbapi_connection: Any, record: Any) -> None:
    """synchronous=NORMAL in WAL mode: a commit survives a crash of the process, and one of the machine
    unless it came after the last checkpoint; the database is never corrupted. An fsync per commit cost
    about 150 µs of CPU and 400 µs of waiting here, several times per login."""
    _sqlite_pragmas(dbapi_connection, record, synchronous="NORMAL")


class Database:
    """The engines and session factories: `transaction()` writes and commits or rolls back as a whole;
    `sessions()` and `autocommit_engine` run one statement at a time without a transaction around it (reads,
    and single-statement writes that are atomic on their own). On SQLite that engine never takes the write
    lock for a read, so pages that only read never wait for a writer (WAL)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.autocommit_engine = make_engine(url, pool_size=pool_size, read_only=True)
        # Ephemeral state (sessions, flows, one-time codes, counters) when there is no Redis: as durable as
        # Redis is, and no more; the system of record keeps waiting for the disk.
        self.ephemeral_engine = make_engine(url, pool_size=pool_size, read_only=True, durable=False)
        self.statements = Statements(self.autocommit_engine, self.engine)
        # The hot endpoints' reads on the event loop (PostgreSQL only; opened by the server's lifespan).
        self.async_statements = (AsyncStatements(self.statements, _libpq_url(url), size=pool_size)
                                 if self.engine.dialect.name == "postgresql" else None)
        self._writers = sessionmaker(self.engine, expire_on_commit=False)
        self.sessions = sessionmaker(self.autocommit_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._writers.begin() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.autocommit_engine.dispose()
        self.ephemeral_engine.dispose()


def _libpq_url(url: str) -> str:
    """SQLAlchemy's URL (`postgresql+psycopg://…`) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
