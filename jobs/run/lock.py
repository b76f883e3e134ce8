"""At most one run per store at a time, whoever starts it (serve, cron, or by hand).

SQLite: an exclusive lock on a file beside the database (`litwatch.db.lock`), taken with
`filelock` (flock), so the OS releases it if the process dies.  PostgreSQL: a session-level
advisory lock, so instances on different hosts can share one database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import filelock

from litwatch.watchers.errors import LockBusy, StoreError
from litwatch.watchers.pgstore import pg_error, redact_url

ADVISORY_KEY = 0x6C697477  # "litw"


@contextmanager
def file_lock(store_path: Path) -> Iterator[None]:
    path = store_path.with_name(store_path.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockBusy(f"another litwatch run holds {path}") from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def advisory_lock(url: str) -> Iterator[None]:
    """A session-level advisory lock on its own connection, held for the run's duration.

    The key is (ADVISORY_KEY, hash of the schema the store lives in), so stores in different
    schemas of one database do not block each other.  Connection errors are `StoreError`s with
    the URL's password redacted; if the connection dies, the server releases the lock.
    """
    import psycopg  # an optional extra (litwatch[postgres]): imported only for a PostgreSQL store

    location = redact_url(url)
    key_sql = "%s, hashtext(COALESCE(current_schema(), ''))"
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="litwatch-lock")
    except psycopg.Error as exc:
        raise pg_error(location, url, exc, connecting=True) from None
    except Exception as exc:  # e.g. a malformed URL
        raise StoreError(f"{location}: cannot connect to PostgreSQL: {type(exc).__name__}") from None
    try:
        try:
            got = conn.execute(f"SELECT pg_try_advisory_lock({key_sql})", (ADVISORY_KEY,)).fetchone()
        except psycopg.Error as exc:
            raise pg_error(location, url, exc) from None
        if not got or not got[0]:
            raise LockBusy("another litwatch run holds the store's advisory lock")
        try:
            yield
        finally:
            try:
                conn.execute(f"SELECT pg_advisory_unlock({key_sql})", (ADVISORY_KEY,))
            except psycopg.Error:  # the connection is gone, and with it the lock
                pass
    finally:
        conn.close()


def run_lock(*, store_path: Path | None = None, url: str | None = None) -> AbstractContextManager[None]:
    """The lock of this store."""
    if url:
        return advisory_lock(url)
    assert store_path is not None
    return file_lock(store_path)
