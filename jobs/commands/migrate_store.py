"""`litwatch migrate-store --to URL_OR_PATH`: copy the store into a new, empty store.

Either way round: SQLite -> PostgreSQL, PostgreSQL -> SQLite (or SQLite -> SQLite, PostgreSQL ->
PostgreSQL).  Runs under the source's run lock, so no run changes it meanwhile, and reads it in one
snapshot.  The target is created (or opened) at the same schema version and must be empty; every
table is copied with its ids in one target transaction (all or nothing), PostgreSQL identity
sequences are moved past the copied ids, and the row counts of both are compared and printed.
The config is not changed: point `[store]` at the new store afterwards.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from litwatch.jobs.config import Config
from litwatch.jobs.run.lock import run_lock
import litwatch.watchers.store as store_schema
from litwatch.watchers.store import Store, open_store

log = logging.getLogger(__name__)

BATCH = 500


def tables() -> list[str]:
    """Every table of the current schema but schema_version (the target is created at the same
    version), in the order the migrations create them: there are no foreign keys, so any order
    loads, and this one keeps parents before the rows that name them should some appear."""
    out: list[str] = []
    for migration in store_schema.MIGRATIONS:
        for statement in migration:
            if m := re.match(r"\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", statement, re.IGNORECASE):
                out.append(m.group(1).lower())
            elif m := re.match(r"\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)", statement, re.IGNORECASE):
                out = [t for t in out if t != m.group(1).lower()]
    return out


def identity_tables() -> list[str]:
    """Tables whose `id` is auto-numbered (`id {pk}`): their sequences follow the copied ids."""
    out: list[str] = []
    for migration in store_schema.MIGRATIONS:
        for statement in migration:
            m = re.match(r"\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", statement, re.IGNORECASE)
            if m and re.search(r"\bid\s+\{pk\}", statement):
                out.append(m.group(1).lower())
    return [t for t in out if t in tables()]


def is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def counts(store: Store) -> dict[str, int]:
    return {t: int(store.value(f"SELECT COUNT(*) FROM {t}")) for t in tables()}


def copy_tables(source: Store, target: Store) -> None:
    """Insert every row of `source` into `target` (inside the caller's target transaction)."""
    for table in tables():
        cur = source.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cur.description]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        copied = 0
        while batch := cur.fetchmany(BATCH):
            target.executemany(sql, [tuple(_plain(v) for v in row) for row in batch])
            copied += len(batch)
        log.info("migrate-store: %s: %d rows copied", table, copied)
    if target.dialect == "postgresql":
        for table in identity_tables():
            # The next id is one past the largest copied (1 when the table is empty).
            target.value(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            )


PASSWORD_ENV = "PGPASSWORD"


def _check_target(to: str, url: str | None) -> None:
    """The target as `[store] url` is checked; a password in it is refused (it would be in the
    process list, for every user of the machine to read): PGPASSWORD, ~/.pgpass or a prompt."""
    from litwatch.jobs.cli.main import UsageError
    from litwatch.jobs.config import store_url_problem, url_has_password

    if url is None:
        if "://" in to:
            scheme = to.split("://", 1)[0][:20]
            raise UsageError(
                f"migrate-store: --to {scheme}://...: not a store litwatch can write; "
                "give a postgresql:// URL or a SQLite file path"
            )
        return
    if problem := store_url_problem(url):
        raise UsageError(f"migrate-store: --to: {problem}")
    if url_has_password(url):
        raise UsageError(
            "migrate-store: --to: leave the password out of the URL (every user can read a command line); "
            f"set {PASSWORD_ENV} or use ~/.pgpass, or run it on a terminal and type it when asked"
        )


def _open_target(url: str) -> Store:
    """The PostgreSQL target; when the server wants a password that neither PGPASSWORD nor
    ~/.pgpass gives, it is asked for on the terminal (not echoed) and kept in this process only."""
    from litwatch.watchers.store import StoreError

    try:
        return open_store(url=url)
    except StoreError as exc:
        if "no password supplied" not in str(exc) or not sys.stdin.isatty():
            raise
    import getpass
    import os

    os.environ[PASSWORD_ENV] = getpass.getpass("PostgreSQL password for the target: ")
    return open_store(url=url)


def migrate_store(config: Config, to: str, *, out: TextIO | None = None) -> int:
    """Copy the configured store into `to` (a postgresql:// URL or a SQLite path); exit code."""
    from litwatch.jobs.cli.main import EXIT_FAILED, EXIT_OK, UsageError

    out = out or sys.stdout
    if not to.strip():
        raise UsageError("migrate-store: --to is empty (give a postgresql:// URL or a SQLite file path)")
    url: str | None = to if is_url(to) else None
    _check_target(to, url)
    path: Path | None = None if url else Path(to).expanduser().resolve()
    if path is not None and not config.store.url and path == config.store_path.resolve():
        raise UsageError(f"migrate-store: --to {path} is the current store")
    if path is not None and path.is_dir():
        raise UsageError(f"migrate-store: --to {path} is a folder; give the SQLite file to create")

    with run_lock(store_path=config.store_path, url=config.store.url):
        with open_store(path=config.store_path, url=config.store.url) as source:
            with _open_target(url) if url else open_store(path=path) as target:
                busy = {t: n for t, n in counts(target).items() if n}
                if busy:
                    detail = ", ".join(f"{t}: {n}" for t, n in busy.items())
                    raise UsageError(
                        f"migrate-store: the target {target.location} is not empty ({detail} rows); "
                        "it copies into an empty store only"
                    )
                with source.transaction():
                    if source.dialect == "postgresql":  # one snapshot of every table
                        source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    before = counts(source)
                    with target.transaction():
                        copy_tables(source, target)
                after = counts(target)

                width = max(len(t) for t in before)
                print(f"{'table':<{width}}  {'source':>8}  {'target':>8}", file=out)
                for table in before:
                    flag = "" if before[table] == after[table] else "  MISMATCH"
                    print(f"{table:<{width}}  {before[table]:>8}  {after[table]:>8}{flag}", file=out)
                if before != after:
                    print(
                        f"litwatch: migrate-store: row counts differ between {source.location} and "
                        f"{target.location}; do not switch to the new store",
                        file=sys.stderr,
                    )
                    return EXIT_FAILED
                print(
                    f"copied {sum(after.values())} rows from {source.location} to {target.location}; "
                    "now point [store] in the config at the new store",
                    file=out,
                )
    return EXIT_OK
