"""Copying a whole store into another, empty one (`litwatch migrate-store`), either way round."""

from __future__ import annotations

import logging
from typing import Any

from litwatch.watchers.store.driver import Driver
from litwatch.watchers.store.schema import identity_tables, tables

log = logging.getLogger(__name__)

BATCH = 500


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def counts(db: Driver) -> dict[str, int]:
    """Rows of each table of the schema."""
    return {t: int(db.value(f"SELECT COUNT(*) FROM {t}")) for t in tables()}


def copy_tables(source: Driver, target: Driver) -> None:
    """Insert every row of `source` into `target`, ids included (inside the caller's target
    transaction); auto-numbered ids then continue after the copied ones."""
    for table in tables():
        cur = source.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cur.description]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        copied = 0
        while batch := cur.fetchmany(BATCH):
            target.executemany(sql, [tuple(_plain(v) for v in row) for row in batch])
            copied += len(batch)
        log.info("migrate-store: %s: %d rows copied", table, copied)
    for table in identity_tables():
        target.follow_ids(table)
