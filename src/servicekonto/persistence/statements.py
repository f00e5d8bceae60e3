"""Hot statements straight through the driver on PostgreSQL.

SQLAlchemy builds each statement (once, at import) and compiles it once per set of parameter names; on
PostgreSQL the compiled SQL then runs on psycopg directly. SQLAlchemy's execution and result layers cost
about four times the driver's own work (≈ 450 µs against ≈ 100 µs of CPU for a point query here,
bench/_profile_login.py), and these statements sit on every login, every page of a logged-in citizen and
every token request.

Only for statements over plain types (text, integers, UUIDs, timestamps, booleans): nothing converts the
values on this path, and on PostgreSQL nothing needs to (psycopg returns what SQLAlchemy would, timestamps
aware and in UTC: the connections' TimeZone is UTC). SQLite keeps
SQLAlchemy's path, whose conversions its driver needs (UUIDs stored as text), unless the caller asks for the
direct path (`direct=True`): there the statement's own type conversions (SQLAlchemy's bind and result
processors, taken from the compiled statement once) run on the values and rows, and the driver's errors
come back as SQLAlchemy's (IntegrityError and the like), as on SQLAlchemy's path."""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import UpdateBase

from servicekonto.persistence.loop_bound import LoopBoundConnections

# SQL, default values, row type, then for SQLite: the parameters' order, bind and result processors.
_Compiled = tuple[str, dict[str, Any], Any, tuple[str, ...] | None, tuple[tuple[str, Any], ...],
                  tuple[Any, ...] | None]


class Statements:
    """`engine` runs each statement on its own (autocommit); `transactions`, SQLAlchemy's transactions on
    SQLite (which take the write lock at BEGIN)."""

    def __init__(self, engine: Engine, transactions: Engine, *, direct: bool | None = None) -> None:
        self._engine = engine
        self._transactions = transactions
        self._direct = engine.dialect.name == "postgresql" if direct is None else direct
        self._compiled: dict[tuple[int, tuple[str, ...]], _Compiled] = {}

    def first(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        """The first row (fields by name, as SQLAlchemy's rows), or None."""
        if not self._direct:
            with self._engine.connect() as connection:
                return connection.execute(statement, params).first()
        rows, _ = self._run(statement, params, fetch=1)
        return rows[0] if rows else None

    def all(self, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
        if not self._direct:
            with self._engine.connect() as connection:
                return list(connection.execute(statement, params).all())
        rows, _ = self._run(statement, params, fetch=-1)
        return rows

    def run(self, statement: Executable, params: Mapping[str, Any]) -> int:
        """A write on its own (atomic without a transaction around it); the number of rows it touched."""
        if not self._direct:
            with self._engine.connect() as connection:
                return int(connection.execute(statement, params).rowcount)  # type: ignore[attr-defined]
        _, count = self._run(statement, params, fetch=0)
        return count

    @contextmanager
    def transaction(self) -> Iterator[Statements]:
        """Several statements on one connection, committed together or not at all."""
        if not self._direct:
            with self._transactions.begin() as connection:
                yield _InTransaction(self, connection)
            return
        fairy = self._engine.raw_connection()
        try:
            driver = fairy.driver_connection
            if self._engine.dialect.name == "sqlite":
                with _sqlite_transaction(driver):
                    yield _InTransaction(self, driver)
                return
            with driver.transaction():  # type: ignore[union-attr]
                yield _InTransaction(self, driver)
        except BaseException:
            _invalidate_if_broken(fairy)
            raise
        finally:
            fairy.close()

    def _compile(self, statement: Executable, keys: tuple[str, ...]) -> _Compiled:
        cache_key = (id(statement), keys)
        found = self._compiled.get(cache_key)
        if found is None:
            compiled = statement.compile(dialect=self._engine.dialect, column_keys=list(keys))  # type: ignore[attr-defined]
            defaults = {k: v for k, v in compiled.params.items() if k not in keys}
            columns = (statement.exported_columns if isinstance(statement, UpdateBase)
                       else getattr(statement, "selected_columns", None))
            row_type = namedtuple("Row", list(columns.keys()), rename=True) if columns else None  # type: ignore[misc]
            # SQLite's driver takes `?` in the order SQLAlchemy lists them; psycopg takes names.
            positions = tuple(compiled.positiontup) if compiled.positional else None
            binds: tuple[tuple[str, Any], ...] = ()
            results: tuple[Any, ...] | None = None
            if self._engine.dialect.name == "sqlite":  # its driver needs SQLAlchemy's conversions (UUIDs, times)
                binds = tuple(compiled._bind_processors.items())
                dialect = self._engine.dialect
                processors = tuple(entry.type._cached_result_processor(dialect, None)
                                   for entry in compiled._result_columns)
                results = processors if any(processors) else None
            # The statement stays referenced by the cache key's owner (module constants), so its id is stable.
            found = self._compiled[cache_key] = (compiled.string, defaults, row_type, positions, binds, results)
        return found

    def _run(self, statement: Executable, params: Mapping[str, Any], *, fetch: int,
             driver: Any = None) -> tuple[list[Any], int]:
        sql, defaults, row_type, positions, binds, results = self._compile(statement, tuple(params))
        values = {**defaults, **params} if defaults else params
        for value in values.values():  # the one check of models.UtcDateTime that matters on this path
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError("naive datetime")
        if binds:
            values = dict(values)
            for name, process in binds:
                if name in values:
                    values[name] = process(values[name])
        arguments: Any = values if positions is None else tuple(values[name] for name in positions)
        fairy = None
        if driver is None:
            fairy = self._engine.raw_connection()
            driver = fairy.driver_connection
        try:
            with closing(driver.cursor()) as cursor:  # SQLite's cursors are no context managers
                cursor.execute(sql, arguments)
                if fetch == 0 or row_type is None:
                    return [], cursor.rowcount
                if positions is not None and isinstance(statement, UpdateBase):
                    raw = cursor.fetchall()[:fetch] if fetch > 0 else cursor.fetchall()  # the write runs to its end
                else:
                    raw = cursor.fetchall() if fetch < 0 else [row for row in [cursor.fetchone()] if row is not None]
                if results is not None:
                    raw = [[value if process is None else process(value)
                            for process, value in zip(results, row, strict=True)] for row in raw]
                return [row_type._make(row) for row in raw], cursor.rowcount
        except sqlite3.Error as exc:
            if fairy is not None:
                _invalidate_if_broken(fairy)
            raise DBAPIError.instance(sql, arguments, exc, sqlite3.Error) from exc
        except BaseException:
            if fairy is not None:
                _invalidate_if_broken(fairy)
            raise
        finally:
            if fairy is not None:
                fairy.close()


class _InTransaction(Statements):
    """The same calls, on the connection of an open transaction."""

    def __init__(self, owner: Statements, connection: Any) -> None:
        self._engine = owner._engine
        self._transactions = owner._transactions
        self._direct = owner._direct
        self._compiled = owner._compiled
        self._connection = connection

    def first(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        if not self._direct:
            return self._connection.execute(statement, params).first()
        rows, _ = self._run(statement, params, fetch=1, driver=self._connection)
        return rows[0] if rows else None

    def all(self, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
        if not self._direct:
            return list(self._connection.execute(statement, params).all())
        rows, _ = self._run(statement, params, fetch=-1, driver=self._connection)
        return rows

    def run(self, statement: Executable, params: Mapping[str, Any]) -> int:
        if not self._direct:
            return int(self._connection.execute(statement, params).rowcount)
        _, count = self._run(statement, params, fetch=0, driver=self._connection)
        return count


@contextmanager
def _sqlite_transaction(driver: Any) -> Iterator[None]:
    """BEGIN IMMEDIATE takes the write lock at once, so a read-then-write transaction is serialised with every
    other writer (the driver runs in autocommit mode: persistence/database.py)."""
    _sqlite_execute(driver, "BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        _sqlite_execute(driver, "ROLLBACK")
        raise
    _sqlite_execute(driver, "COMMIT")


def _sqlite_execute(driver: Any, sql: str) -> None:
    try:
        driver.execute(sql)
    except sqlite3.Error as exc:  # as SQLAlchemy's path raises it (a lock timeout, a full disk)
        raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _invalidate_if_broken(fairy: Any) -> None:
    """A connection whose server went away must not go back to the pool (SQLAlchemy's own path does this)."""
    driver = fairy.driver_connection
    if driver is None or getattr(driver, "closed", False) or getattr(driver, "broken", False):
        fairy.invalidate()


class AsyncStatements(LoopBoundConnections[asyncpg.Connection]):
    """The same prebuilt statements on asyncpg (PostgreSQL only), for the few endpoints that answer on the
    event loop: for them a worker-thread hop, and the pool churn of 32 hops at once, cost more than the query
    (userinfo, introspection). asyncpg, not psycopg's AsyncConnection: its protocol and row decoding are
    compiled, a point query costs a third of psycopg's CPU under load (≈ 22 against 66 µs here), and it
    prepares each statement once per connection. SQLAlchemy's SQL for psycopg (`%(name)s`) is renumbered
    for it (`$1`) once per statement. A few connections of its own, opened on demand and bounded.

    Bound to the loop that opened it, the server's lifespan (app.py): `ready()` is False on any other loop
    (a test client without a lifespan), and its callers keep the thread path there."""

    def __init__(self, statements: Statements, conninfo: str, *, size: int = 10) -> None:
        super().__init__(size=size)
        self._statements = statements
        self._conninfo = conninfo
        self._numbered: dict[int, tuple[str, tuple[str, ...]]] = {}

    async def _disconnect(self, connection: asyncpg.Connection) -> None:
        await connection.close()

    async def first(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        rows, _ = await self._run(statement, params, fetch=1)
        return rows[0] if rows else None

    async def all(self, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
        rows, _ = await self._run(statement, params, fetch=-1)
        return rows

    async def run(self, statement: Executable, params: Mapping[str, Any]) -> int:
        _, count = await self._run(statement, params, fetch=0)
        return count

    def _sql(self, compiled: _Compiled) -> tuple[str, tuple[str, ...]]:
        found = self._numbered.get(id(compiled))
        if found is None:
            found = self._numbered[id(compiled)] = _numbered(compiled[0])
        return found

    async def _run(self, statement: Executable, params: Mapping[str, Any], *, fetch: int) -> tuple[list[Any], int]:
        compiled = self._statements._compile(statement, tuple(params))
        sql, names = self._sql(compiled)
        defaults, row_type = compiled[1], compiled[2]
        values = {**defaults, **params} if defaults else params
        for value in values.values():
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError("naive datetime")
        arguments = [values[name] for name in names]
        assert self._slots is not None, "opened by the lifespan"
        async with self._slots:
            connection = self._idle.pop() if self._idle else await asyncpg.connect(
                self._conninfo, server_settings={"timezone": "UTC"})
            try:
                if fetch == 0 or row_type is None:
                    status = await connection.execute(sql, *arguments)
                    result: tuple[list[Any], int] = ([], _row_count(status))
                elif fetch < 0:
                    rows = await connection.fetch(sql, *arguments)
                    result = ([row_type._make(row) for row in rows], len(rows))
                else:
                    row = await connection.fetchrow(sql, *arguments)
                    result = ([] if row is None else [row_type._make(row)], 0 if row is None else 1)
            except BaseException:
                # Broken, cancelled mid-query or failed: never reused (the socket closes at once, no await).
                connection.terminate()
                raise
            if self._loop is not None:
                self._idle.append(connection)
            else:  # closed meanwhile
                connection.terminate()
            return result


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """psycopg's named placeholders as asyncpg's numbered ones, and the names in their order."""
    if "POSTCOMPILE" in sql:
        raise ValueError("expanding parameters are not supported on the event loop")
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


def _row_count(status: str) -> int:
    """The number at the end of a command tag ("UPDATE 3"), 0 where there is none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
