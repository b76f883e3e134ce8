"""What every domain module of the store shares: the driver, and the time stamp it writes."""

from __future__ import annotations

from datetime import UTC, datetime

from litwatch.watchers.store.driver import Driver


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Table:
    """A domain module's object: its SQL, run through `self.db` (the driver-level API)."""

    def __init__(self, db: Driver) -> None:
        self.db = db
