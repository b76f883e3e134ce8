"""Runs (`store.runs`) and the failure alerts sent about them (`store.alerts`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litwatch.watchers.store.table import Table, now_iso


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    started_at: str
    finished_at: str | None
    outcome: str
    watches: int
    hits: int
    new_articles: int
    new_citations: int
    corrections: int
    deliveries: int
    requests: int
    error: str


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: str  # "runs" (consecutive failed runs), "delivery" (digests failing for over a day)
    sent_at: str
    text: str


class Runs(Table):
    COUNTS = ("watches", "hits", "new_articles", "new_citations", "corrections", "deliveries", "requests", "error")

    def start(self) -> int:
        with self.db.transaction():
            return int(self.db.value("INSERT INTO runs (started_at, outcome) VALUES (?, 'running') RETURNING id", (now_iso(),)))

    def finish(self, run_id: int, outcome: str, **counts: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in counts if k in self.COUNTS)
        values = [counts[k] for k in counts if k in self.COUNTS]
        with self.db.transaction():
            self.db.execute(
                f"UPDATE runs SET finished_at = ?, outcome = ?{', ' + sets if sets else ''} WHERE id = ?",
                (now_iso(), outcome, *values, run_id),
            )

    def recent(self, limit: int = 10) -> list[Run]:
        return [
            Run(*r)
            for r in self.db.rows(
                "SELECT id, started_at, finished_at, outcome, watches, hits, new_articles, new_citations, "
                f"corrections, deliveries, requests, error FROM runs ORDER BY id DESC LIMIT {int(limit)}"
            )
        ]

    def last_success(self) -> str | None:
        """When the last successful run finished, or None."""
        value = self.db.value("SELECT MAX(finished_at) FROM runs WHERE outcome = 'ok'")
        return None if value is None else str(value)

    def abandon_stale(self, error: str | None = None) -> int:
        """Runs left "running" by a process that died; called under the run lock.

        With `error` (why the process died, when it is known: "killed by SIGSEGV"), they are
        recorded as failed with that error; else as abandoned.  Both count as failed runs for the
        admin alert."""
        with self.db.transaction():
            if error is not None:
                cur = self.db.execute(
                    "UPDATE runs SET outcome = 'failed', finished_at = ?, error = ? WHERE outcome = 'running'",
                    (now_iso(), error),
                )
            else:
                cur = self.db.execute(
                    "UPDATE runs SET outcome = 'abandoned', finished_at = ? WHERE outcome = 'running'", (now_iso(),)
                )
            return int(cur.rowcount)


class Alerts(Table):
    def record(self, kind: str, text: str, sent_at: str | None = None) -> int:
        with self.db.transaction():
            return int(
                self.db.value(
                    "INSERT INTO alerts (kind, sent_at, text) VALUES (?, ?, ?) RETURNING id",
                    (kind, sent_at or now_iso(), text),
                )
            )

    def last(self, kind: str) -> Alert | None:
        rows = self.db.rows(
            "SELECT id, kind, sent_at, text FROM alerts WHERE kind = ? ORDER BY sent_at DESC, id DESC LIMIT 1", (kind,)
        )
        return Alert(*rows[0]) if rows else None

    def recent(self, limit: int = 10) -> list[Alert]:
        return [
            Alert(*r)
            for r in self.db.rows(f"SELECT id, kind, sent_at, text FROM alerts ORDER BY id DESC LIMIT {int(limit)}")
        ]
