"""The PostgreSQL store: the same schema, migrations and behaviour as the SQLite one, with psycopg 3.

`[store] url = "postgresql://user@host/db"` selects it.  The connection runs in autocommit mode, so a
read outside `Store.transaction()` holds no snapshot or lock between statements; `transaction()`
sends an explicit BEGIN and COMMIT (or ROLLBACK), and nested `transaction()` calls join the outer one.
Migrations run as one transaction under a transaction-level advisory lock, so several instances
starting at once migrate the schema exactly once.  Every psycopg error becomes a one-line
`StoreError` in which the URL's password is never shown.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from litwatch.watchers.store import Store, StoreError

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key held while migrating ("litm"); distinct from the run lock's key.
MIGRATE_LOCK_KEY = 0x6C69746D


def redact_url(url: str) -> str:
    """The URL with any password (`user:PASSWORD@`, `?password=`) replaced by `***`."""
    # up to the last `@` of the authority: a password with an unencoded `@` is hidden whole
    out = re.sub(r"^([a-z][a-z0-9+.-]*://[^/?#@:]*):[^/?#]*@", r"\1:***@", url, flags=re.IGNORECASE)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", out, flags=re.IGNORECASE)


def _secrets(url: str) -> list[str]:
    """The password spellings found in a URL (as written and percent-decoded)."""
    found: list[str] = []
    try:
        raw = urlsplit(url).netloc.rpartition("@")[0]
    except ValueError:
        raw = ""
    if ":" in raw:
        found.append(raw.split(":", 1)[1])
    found += re.findall(r"[?&]password=([^&#]*)", url, flags=re.IGNORECASE)
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """One line of `text` with the URL and its password never shown in clear."""
    line = " ".join(str(text).split())
    if url:
        line = line.replace(url, redact_url(url))
    for secret in _secrets(url):
        line = line.replace(secret, "***")
    return line


def pg_error(location: str, url: str, exc: BaseException, *, connecting: bool = False) -> StoreError:
    """A one-line `StoreError` for a psycopg error, the password redacted."""
    import psycopg

    text = scrub(str(exc), url) or type(exc).__name__
    if connecting or (isinstance(exc, psycopg.OperationalError) and "connection" in text.lower()):
        return StoreError(f"{location}: cannot connect to PostgreSQL: {text}")
    if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected):
        return StoreError(f"{location}: the database is locked by another process ({text})")
    if isinstance(exc, psycopg.errors.DiskFull):
        return StoreError(f"{location}: cannot write the store: {text}")
    return StoreError(f"{location}: {text}")


@functools.lru_cache(maxsize=512)
def qmark_to_format(sql: str) -> str:
    """`?` placeholders -> `%s`, and a literal `%` -> `%%`, leaving quoted text's `?` alone."""
    out: list[str] = []
    quote: str | None = None  # inside '...' or "..."
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None  # a doubled quote ('') closes and reopens: same result
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class _Connection:
    """What `Store.transaction()` and `Store.close()` call, with psycopg errors made `StoreError`."""

    def __init__(self, store: PostgresStore, pg: Any) -> None:
        self._store = store
        self.pg = pg

    def commit(self) -> None:
        from psycopg import pq

        try:
            if self.pg.info.transaction_status == pq.TransactionStatus.INERROR:
                self.pg.execute("ROLLBACK")
                raise StoreError(f"{self._store.location}: a statement failed inside the transaction; rolled back")
            self.pg.execute("COMMIT")
        except StoreError:
            raise
        except Exception as exc:
            raise self._store._error(exc) from None

    def rollback(self) -> None:
        # Called while another exception propagates: never replace it.
        try:
            if not self.pg.closed:
                self.pg.execute("ROLLBACK")
        except Exception as exc:  # the connection is gone: the server rolls back anyway
            log.debug("store %s: rollback failed: %s", self._store.location, scrub(str(exc), self._store._url))

    def close(self) -> None:
        try:
            self.pg.close()
        except Exception:  # pragma: no cover - closing a broken connection
            pass


class PostgresStore(Store):
    """One psycopg 3 connection (autocommit; explicit BEGIN/COMMIT in `transaction()`)."""

    dialect = "postgresql"
    pk = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    blob = "BYTEA"

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the installation
            raise StoreError(
                "[store] url needs psycopg: pip install 'litwatch[postgres]' (or psycopg[binary])"
            ) from None
        self._url = url
        location = redact_url(url)
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in url:
            kwargs["connect_timeout"] = connect_timeout
        if "application_name" not in url:
            kwargs["application_name"] = "litwatch"
        try:
            pg = psycopg.connect(url, **kwargs)
        except psycopg.Error as exc:
            raise pg_error(location, url, exc, connecting=True) from None
        except Exception as exc:  # e.g. a malformed URL (ProgrammingError is a psycopg.Error)
            raise StoreError(f"{location}: cannot connect to PostgreSQL: {scrub(str(exc), url)}") from None
        super().__init__(_Connection(self, pg), location)

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def _pg(self) -> Any:
        return self._conn.pg

    def _error(self, exc: BaseException) -> StoreError:
        return pg_error(self.location, self._url, exc)

    def _sql(self, sql: str) -> str:
        return qmark_to_format(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        import psycopg

        try:
            return self._pg.execute(self._sql(sql), tuple(params))
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        import psycopg

        params = [tuple(r) for r in rows]
        if not params:
            return
        try:
            with self._pg.cursor() as cur:
                cur.executemany(self._sql(sql), params)
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            return [tuple(r) for r in self.execute(sql, params).fetchall()]
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        import psycopg

        try:
            row = self.execute(sql, params).fetchone()
        except psycopg.Error as exc:
            raise self._error(exc) from None
        return None if row is None else row[0]

    def _begin(self) -> None:
        import psycopg

        try:
            self._pg.execute("BEGIN")
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        self._conn.close()

    def migrate(self, backup: bool = True) -> None:
        """Every migration in one transaction, under an advisory lock: concurrent starts are safe."""
        with self.transaction():
            self.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATE_LOCK_KEY,))
            super().migrate(backup)

    def _backup(self, version: int) -> None:
        log.warning(
            "store %s: migrating from schema version %d; a backup first is advised "
            "(pg_dump --format=custom --file=litwatch-v%d.dump DBNAME)",
            self.location,
            version,
            version,
        )
