"""Watches and their hits (`store.watches`): what each search found, and when."""

from __future__ import annotations

import json
from collections.abc import Iterable

from litwatch.watchers.store.table import Table, now_iso


class Watches(Table):
    def baselined(self, name: str) -> bool:
        return self.db.value("SELECT baseline_run FROM watches WHERE name = ?", (name,)) is not None

    def query(self, name: str) -> str | None:
        """The query the watch had at its last run (None before its first)."""
        value = self.db.value("SELECT query FROM watches WHERE name = ?", (name,))
        return None if value is None else str(value)

    def hits(self, name: str) -> set[str]:
        return {r[0] for r in self.db.rows("SELECT pmid FROM watch_hits WHERE watch = ?", (name,))}

    def save(self, states: Iterable[tuple[str, str, int, int, str, list[str]]]) -> None:
        """Each watch's state after a run: (name, query, run_id, count, query translation, problems)."""
        self.db.executemany(
            "INSERT INTO watches (name, query, baseline_run, last_count, last_translation, last_problems) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET query = excluded.query, "
            "last_count = excluded.last_count, last_translation = excluded.last_translation, "
            "last_problems = excluded.last_problems",
            [(name, query, run_id, count, translation, json.dumps(problems))
             for name, query, run_id, count, translation, problems in states],
        )

    def add_hits(self, watch: str, pmids: Iterable[str], run_id: int, *, baseline: bool) -> None:
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO watch_hits (watch, pmid, run_id, first_seen, baseline) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (watch, pmid) DO NOTHING",
            [(watch, p, run_id, stamp, int(baseline)) for p in pmids],
        )

    def counts(self) -> dict[str, int | None]:
        """Hits of each baselined watch at its last run (for estimating a run's requests)."""
        return {
            name: (None if count is None else int(count))
            for name, count in self.db.rows("SELECT name, last_count FROM watches WHERE baseline_run IS NOT NULL")
        }

    def of(self, pmids: Iterable[str]) -> dict[str, list[str]]:
        """PMID -> the watches that found it."""
        out: dict[str, list[str]] = {}
        sql = "SELECT watch, pmid FROM watch_hits WHERE pmid IN ({ids}) ORDER BY watch"
        for watch, pmid in self.db.rows_in(sql, pmids):
            out.setdefault(pmid, []).append(watch)
        return out

    def announced(self, watch: str, limit: int) -> list[tuple[str, str]]:
        """(pmid, first_seen) of the stored articles a watch announced (its new hits and backfill),
        newest first (first seen, then Entrez date)."""
        rows = self.db.rows(
            "SELECT h.pmid, h.first_seen, a.entrez_date FROM watch_hits h JOIN articles a ON a.pmid = h.pmid "
            "WHERE h.watch = ? AND (h.baseline = 0 OR EXISTS (SELECT 1 FROM queue q WHERE q.kind = 'hit' "
            "AND q.pmid = h.pmid AND q.reason = h.watch))",
            (watch,),
        )
        rows.sort(key=lambda r: (r[1], r[2], int(r[0])), reverse=True)
        return [(p, seen) for p, seen, _ in rows[:limit]]
