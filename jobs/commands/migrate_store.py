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
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from litwatch.jobs import parts
from litwatch.jobs.config import Config, store_url_problem, url_has_password
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, StoreError, UsageError
from litwatch.watchers.store import Store
from litwatch.watchers.store.copy import copy_tables, counts

log = logging.getLogger(__name__)


def is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


PASSWORD_ENV = "PGPASSWORD"


def _check_target(to: str, url: str | None) -> None:
    """The target as `[store] url` is checked; a password in it is refused (it would be in the
    process list, for every user of the machine to read): PGPASSWORD, ~/.pgpass or a prompt."""
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


def _open_target(config: Config, path: Path | None, url: str | None) -> Store:
    """The target; when a PostgreSQL server wants a password that neither PGPASSWORD nor
    ~/.pgpass gives, it is asked for on the terminal (not echoed) and kept in this process only."""
    try:
        return parts.make_store_at(config, path=path, url=url)
    except StoreError as exc:
        if url is None or "no password supplied" not in str(exc) or not sys.stdin.isatty():
            raise
    os.environ[PASSWORD_ENV] = getpass.getpass("PostgreSQL password for the target: ")
    return parts.make_store_at(config, path=path, url=url)


def migrate_store(config: Config, to: str, *, out: TextIO | None = None) -> int:
    """Copy the configured store into `to` (a postgresql:// URL or a SQLite path); exit code."""
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

    with parts.make_lock(config):
        with parts.make_store(config) as source:
            with _open_target(config, path, url) as target:
                busy = {t: n for t, n in counts(target.db).items() if n}
                if busy:
                    detail = ", ".join(f"{t}: {n}" for t, n in busy.items())
                    raise UsageError(
                        f"migrate-store: the target {target.location} is not empty ({detail} rows); "
                        "it copies into an empty store only"
                    )
                with source.db.snapshot():  # one state of every table
                    before = counts(source.db)
                    with target.transaction():
                        copy_tables(source.db, target.db)
                after = counts(target.db)

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
