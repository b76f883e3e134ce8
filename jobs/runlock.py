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
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()
        if not got or not got[0]:
            raise LockBusy("another litwatch run holds the store's advisory lock")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
    finally:
        conn.close()


def run_lock(*, store_path: Path | None = None, url: str | None = None):  # -> ContextManager[None]
    """The lock of this store."""
    if url:
        return advisory_lock(url)
    assert store_path is not None
    return file_lock(store_path)
