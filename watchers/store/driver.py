"""The driver-level API every domain module of the store is written against.

A driver is one connection to one database.  Its whole API:

    execute(sql, params)       -> cursor   (rowcount, description, fetchmany)
    executemany(sql, rows)
    rows(sql, params)          -> list of tuples
    value(sql, params)         -> the first column of the first row, or None
    rows_in(sql, ids, params)  -> rows of a `... IN ({ids})` query, 500 ids at a time
    transaction()              -> context manager; nested calls join the outer one

SQL is written once, with `?` placeholders, in the subset SQLite and PostgreSQL both speak;
each driver translates its database's errors into `StoreError` once, in `_errors()`.  Drivers:
`sqlite.SqliteDriver`, `postgres.PostgresDriver`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any


class Driver:
    """A connection with the API above; subclasses give `_errors`, `_begin`, `_commit`, `_rollback`."""

    dialect = ""
    pk = ""  # the spelling of an auto-numbered primary key ({pk} in migrations)
    blob = ""  # the spelling of a byte string column ({blob} in migrations)

    def __init__(self, conn: Any, location: str) -> None:
        self._conn = conn
        self.location = location  # shown in messages (a PostgreSQL URL without its password)
        self._depth = 0

    # -- what subclasses provide --------------------------------------------------------------------

    def _errors(self) -> AbstractContextManager[None]:
        """Turn this database's operational errors into `StoreError` (errors of the SQL itself stay)."""
        return nullcontext()

    def _sql(self, sql: str) -> str:
        return sql

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def migrating(self) -> AbstractContextManager[None]:
        """Held around the migrations (PostgreSQL: one transaction under an advisory lock)."""
        return nullcontext()

    def backup(self, version: int) -> None:
        """Keep a copy of the store before changing its schema from `version`."""

    def snapshot(self) -> AbstractContextManager[None]:
        """A transaction whose reads all see one state of the store (SQLite's transactions do)."""
        return self.transaction()

    def follow_ids(self, table: str) -> None:
        """After rows were copied in with their ids: the next auto-numbered id follows them."""

    def close(self) -> None:
        self._conn.close()

    # -- the API --------------------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._errors():
            return self._conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        params = [tuple(r) for r in rows]
        if not params:
            return
        with self._errors():
            self._executemany(self._sql(sql), params)

    def _executemany(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        self._conn.executemany(sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            return [tuple(r) for r in self._conn.execute(self._sql(sql), tuple(params)).fetchall()]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._errors():
            row = self._conn.execute(self._sql(sql), tuple(params)).fetchone()
        return None if row is None else row[0]

    def rows_in(self, sql: str, ids: Iterable[str], params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql`, whose `{ids}` stands for a list of `?`, for every id, 500 at a time
        (SQLite limits the parameters of one statement); `params` come before the ids."""
        items = list(ids)
        for i in range(0, len(items), 500):
            chunk = items[i : i + 500]
            yield from self.rows(sql.format(ids=",".join("?" * len(chunk))), [*params, *chunk])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All changes inside commit together, or none do."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self._commit()
