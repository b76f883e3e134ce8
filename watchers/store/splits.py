"""Remembered splits (`store.splits`): the Entrez-date ranges and counts of the last split of a
search past PubMed's 9,999-id cap, keyed by the search's `query_key` (watchers/searches.py), so
that the next run asks those ranges again instead of estimating a split afresh."""

from __future__ import annotations

from collections.abc import Iterable

from litwatch.watchers.store.table import Table


class Splits(Table):
    def all(self) -> dict[str, str]:
        """query_key -> the ranges, as stored (JSON: [[start, end or null, count], ...])."""
        return {str(key): str(data) for key, data in self.db.rows("SELECT query_key, pieces FROM search_splits")}

    def save(self, key: str, pieces: str, total: int, run_id: int) -> None:
        self.db.execute(
            "INSERT INTO search_splits (query_key, pieces, total, run_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (query_key) DO UPDATE SET pieces = excluded.pieces, total = excluded.total, "
            "run_id = excluded.run_id",
            (key, pieces, total, run_id),
        )

    def forget(self, keys: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM search_splits WHERE query_key = ?", [(key,) for key in keys])
