"""`litwatch migrate-store --to URL_OR_PATH`: copy the store into a new, empty store.

Either way round: SQLite -> PostgreSQL, PostgreSQL -> SQLite (or SQLite -> SQLite, PostgreSQL ->
PostgreSQL).  Runs under the source's run lock, so no run changes it meanwhile, and reads it in one
snapshot.  The target is created (or opened) at the same schema version and must be empty; every
table is copied with its ids in one target transaction (all or nothing), PostgreSQL identity
sequences are moved past the copied ids, and the row counts of both are compared and printed.
The config is not changed: point `[store]` at the new store afterwards.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from litwatch.jobs.config import Config
from litwatch.jobs import parts
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, UsageError
from litwatch.watchers.store import Store, identity_tables, open_store, tables

log = logging.getLogger(__name__)

BATCH = 500


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


def migrate_store(config: Config, to: str, *, out: TextIO | None = None) -> int:
    """Copy the configured store into `to` (a postgresql:// URL or a SQLite path); exit code."""
    out = out or sys.stdout
    if not to.strip():
        raise UsageError("migrate-store: --to is empty (give a postgresql:// URL or a SQLite file path)")
    url: str | None = to if is_url(to) else None
    path: Path | None = None if url else Path(to).expanduser().resolve()
    if path is not None and not config.store.url and path == config.store_path.resolve():
        raise UsageError(f"migrate-store: --to {path} is the current store")
    if path is not None and path.is_dir():
        raise UsageError(f"migrate-store: --to {path} is a folder; give the SQLite file to create")

    with parts.make_lock(config):
        with parts.make_store(config) as source:
            with open_store(path=path, url=url) as target:
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


def command(args: argparse.Namespace, config: Config) -> int:
    return migrate_store(config, args.to)
