"""The store the watchers diff against: articles, watch hits, tracked papers, citations,
corrections, what each subscriber is still to be told (the queue), deliveries, runs and alerts.

SQLite by default (one file; backed up before a migration), PostgreSQL with `[store] url`.
No SQL lives outside this package.  Its parts:

- `driver.py`: the driver-level API (execute, executemany, rows, value, rows_in, transaction);
  `sqlite.py`, `postgres.py`: one driver per database, each translating its errors into
  `StoreError` once and providing the run lock.
- `schema.py`: the numbered `MIGRATIONS` (SQL plus an optional Python conversion step) and the
  tables they declare.
- Domain modules, each one class over the driver, composed into `Store`:
  `store.articles`, `store.watches`, `store.tracked`, `store.citations`, `store.corrections`,
  `store.queue`, `store.deliveries`, `store.runs`, `store.alerts`, `store.ratings`, `store.sources`,
  `store.splits`, `store.readers`.

A new domain module is one file with a `Table` subclass and one line in `Store.__init__`; a new
migration is one `Migration` appended to `schema.MIGRATIONS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from litwatch.watchers.errors import StoreError
from litwatch.watchers.store import schema
from litwatch.watchers.store.articles import Articles
from litwatch.watchers.store.citations import Citations, Corrections
from litwatch.watchers.store.driver import Driver
from litwatch.watchers.store.postgres import PostgresDriver, advisory_lock
from litwatch.watchers.store.queue import Deliveries, Delivery, Queue, Queued
from litwatch.watchers.store.ratings import Ratings
from litwatch.watchers.store.readers import Readers, SubscriptionEvent
from litwatch.watchers.store.runs import Alert, Alerts, Run, Runs
from litwatch.watchers.store.schema import SCHEMA_VERSION, Migration, identity_tables, tables
from litwatch.watchers.store.sources import Sources
from litwatch.watchers.store.splits import Splits
from litwatch.watchers.store.sqlite import SqliteDriver, file_lock
from litwatch.watchers.store.table import Table, now_iso
from litwatch.watchers.store.tracked import Tracked, TrackedPapers
from litwatch.watchers.store.watches import Watches

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "Delivery",
    "Driver",
    "Migration",
    "Queued",
    "Run",
    "Store",
    "StoreError",
    "SubscriptionEvent",
    "Table",
    "Tracked",
    "identity_tables",
    "now_iso",
    "open_store",
    "run_lock",
    "tables",
]


class Store:
    """One connection to the store: the domain modules, and the driver-level API for the few
    callers (tests, migrations) that need it.  Use `with store.transaction():` around a unit of
    change; a domain method that writes on its own (runs.start, ...) joins an open transaction."""

    def __init__(self, db: Driver) -> None:
        self.db = db
        self.location = db.location
        self.dialect = db.dialect
        self.articles = Articles(db)
        self.watches = Watches(db)
        self.tracked = TrackedPapers(db)
        self.citations = Citations(db)
        self.corrections = Corrections(db)
        self.queue = Queue(db)
        self.deliveries = Deliveries(db)
        self.runs = Runs(db)
        self.alerts = Alerts(db)
        self.ratings = Ratings(db)
        self.sources = Sources(db)  # issue 16: sent-article notices, works outside PubMed, source health
        self.splits = Splits(db)  # issue 17: remembered splits of searches past 9,999 hits
        self.readers = Readers(db)

    # -- the driver-level API ---------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.rows(sql, params)

    def rows_in(self, sql: str, ids: Iterable[str], params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        return self.db.rows_in(sql, ids, params)

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.value(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All changes inside commit together, or none do; nested calls join the outer one."""
        with self.db.transaction():
            yield self

    # -- the schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        return schema.schema_version(self.db)

    def migrate(self, backup: bool = True) -> None:
        schema.migrate(self.db, backup=backup)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(
    *, path: Path | None = None, url: str | None = None, migrate: bool = True, timeout: float = 30.0
) -> Store:
    """Open (and migrate) the store: PostgreSQL when `url` is given, else SQLite at `path`.

    `timeout`: SQLite's busy timeout, seconds to wait for a lock another process holds.
    Callers in `jobs` use `litwatch.jobs.parts.make_store(config)`, which passes the config's.
    """
    if url:
        db: Driver = PostgresDriver(url)
    else:
        assert path is not None
        db = SqliteDriver(path, timeout=timeout)
    store = Store(db)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store


def run_lock(*, store_path: Path | None = None, url: str | None = None) -> AbstractContextManager[None]:
    """The run lock of this store: at most one run per store at a time, whoever starts it (serve,
    cron, or by hand).  Entering it raises `LockBusy` when another run holds it."""
    if url:
        return advisory_lock(url)
    assert store_path is not None
    return file_lock(store_path)
