"""The SQLite driver: the embedded default, one file created readable by its owner only.

Locked, full or damaged databases ("database disk image is malformed" can come from any read,
when the first row is stepped or a later one is fetched) become a `StoreError`, here and only
here; errors of the SQL itself (integrity, programming) stay what they are.  The run lock is an
exclusive `filelock` (flock) on a file beside the database, released by the OS if the process dies.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from litwatch.watchers.errors import LockBusy, StoreError
from litwatch.watchers.store.driver import Driver

log = logging.getLogger(__name__)

_PROGRAMMING_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def _store_error(location: str, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(f"{location}: the database is locked by another process ({text})")
    if "malformed" in text or "not a database" in text:
        return StoreError(f"{location}: the database file is damaged ({text}); restore it from a backup")
    if "disk" in text or "full" in text:
        return StoreError(f"{location}: cannot write the store: {text}")
    return StoreError(f"{location}: {text}")


class SqliteDriver(Driver):
    dialect = "sqlite"
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT"
    blob = "BLOB"

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        """`timeout`: the busy timeout, seconds to wait for a lock another process holds."""
        self.path = path
        if path.is_dir():
            raise StoreError(f"{path}: is a folder; [store] path names the SQLite database file (e.g. litwatch.db)")
        new = not path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if new:
                fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
                os.close(fd)
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a usable SQLite database ({exc}); nothing was changed") from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the store: {exc.strerror or exc}") from None
        super().__init__(conn, str(path))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except _PROGRAMMING_ERRORS:
            raise
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.location, exc) from None

    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _store_error(self.location, exc) from None

    def _commit(self) -> None:
        try:
            self._conn.commit()
        except sqlite3.DatabaseError as exc:  # e.g. SQLITE_FULL when the WAL cannot grow
            try:
                self._conn.rollback()
            except sqlite3.Error:
                pass
            raise _store_error(self.location, exc) from None

    def _rollback(self) -> None:
        self._conn.rollback()

    @contextmanager
    def migrating(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.location}: not a usable database ({exc}); nothing was changed") from None

    def backup(self, version: int) -> None:
        """A copy beside the file, `NAME.vVERSION.bak`, readable by its owner only."""
        target = self.path.with_name(f"{self.path.name}.v{version}.bak")
        dest = sqlite3.connect(target)
        try:
            self._conn.backup(dest)
        finally:
            dest.close()
        os.chmod(target, 0o600)
        log.info("store %s: backed up to %s before migrating", self.location, target)


def lock_path(store_path: Path) -> Path:
    """The lock file of a SQLite store: beside the database itself, symbolic links resolved, so
    that every config reaching the same file (through a link, or another relative path) takes
    the same lock."""
    real = store_path.resolve()
    return real.with_name(real.name + ".lock")


@contextmanager
def file_lock(store_path: Path) -> Iterator[None]:
    """The run lock of a SQLite store: `NAME.lock` beside it; `LockBusy` when another run holds it."""
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
