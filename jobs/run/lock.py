"""At most one run per store at a time, whoever starts it (serve, cron, or by hand).

SQLite: an exclusive lock on a file beside the database (`litwatch.db.lock`), taken with
`filelock` (flock), so the OS releases it if the process dies.  PostgreSQL: a session-level
advisory lock, so instances on different hosts can share one database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

EX_TEMPFAIL = 75
ADVISORY_KEY = 0x6C697477  # "litw"


class LockBusy(Exception):
    """Another run holds the lock."""


def lock_path(store_path: Path) -> Path:
    """The lock file of a SQLite store: beside the database itself, symbolic links resolved, so
    that every config reaching the same file (through a link, or another relative path) takes
    the same lock."""
    real = store_path.resolve()
    return real.with_name(real.name + ".lock")


@contextmanager
def file_lock(store_path: Path) -> Iterator[None]:
    from litwatch.watchers.store import StoreError

    path = lock_path(store_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"{store_path}: cannot create the store's folder: a file is in the way in {path.parent}") from None
    except OSError as exc:
        raise StoreError(f"{store_path}: cannot create the store's folder {path.parent}: {exc.strerror or exc}") from None
    lock = filelock.FileLock(str(path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockBusy(f"another litwatch run holds {path}") from None
    except OSError as exc:
        raise StoreError(f"{store_path}: cannot take the run lock {path}: {exc.strerror or exc}") from None
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
    from litwatch.watchers.store import StoreError, require_psycopg

    psycopg = require_psycopg()
    from litwatch.watchers.pgstore import pg_error, redact_url

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


def run_lock(*, store_path: Path | None = None, url: str | None = None):  # -> ContextManager[None]
    """The lock of this store."""
    if url:
        return advisory_lock(url)
    assert store_path is not None
    return file_lock(store_path)
