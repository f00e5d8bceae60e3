"""Hot statements straight through the driver on PostgreSQL.

SQLAlchemy builds each statement (once, at import) and compiles it once per set of parameter names; on
PostgreSQL the compiled SQL then runs on psycopg directly. SQLAlchemy's execution and result layers cost
about four times the driver's own work (≈ 450 µs against ≈ 100 µs of CPU for a point query here,
bench/_profile_login.py), and these statements sit on every login, every page of a logged-in citizen and
every token request.

Only for statements over plain types (text, integers, UUIDs, timestamps, booleans): nothing converts the
values on this path, and on PostgreSQL nothing needs to (psycopg returns what SQLAlchemy would, timestamps
aware and in UTC: the connections' TimeZone is UTC). SQLite keeps
SQLAlchemy's path, whose conversions its driver needs (UUIDs stored as text)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import UpdateBase

_Compiled = tuple[str, dict[str, Any], Any]


class Statements:
    """`engine` runs each statement on its own (autocommit); `transactions`, SQLAlchemy's transactions on
    SQLite (which take the write lock at BEGIN)."""

    def __init__(self, engine: Engine, transactions: Engine) -> None:
        self._engine = engine
        self._transactions = transactions
        self._direct = engine.dialect.name == "postgresql"
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
            # The statement stays referenced by the cache key's owner (module constants), so its id is stable.
            found = self._compiled[cache_key] = (compiled.string, defaults, row_type)
        return found

    def _run(self, statement: Executable, params: Mapping[str, Any], *, fetch: int,
             driver: Any = None) -> tuple[list[Any], int]:
        sql, defaults, row_type = self._compile(statement, tuple(params))
        values = {**defaults, **params} if defaults else params
        for value in values.values():  # the one check of models.UtcDateTime that matters on this path
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError("naive datetime")
        fairy = None
        if driver is None:
            fairy = self._engine.raw_connection()
            driver = fairy.driver_connection
        try:
            with driver.cursor() as cursor:
                cursor.execute(sql, values)
                if fetch == 0 or row_type is None:
                    return [], cursor.rowcount
                raw = cursor.fetchall() if fetch < 0 else [row for row in [cursor.fetchone()] if row is not None]
                return [row_type._make(row) for row in raw], cursor.rowcount
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


def _invalidate_if_broken(fairy: Any) -> None:
    """A connection whose server went away must not go back to the pool (SQLAlchemy's own path does this)."""
    driver = fairy.driver_connection
    if driver is None or getattr(driver, "closed", False) or getattr(driver, "broken", False):
        fairy.invalidate()
