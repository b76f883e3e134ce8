"""Tracked papers (`store.tracked`): the config's and the command line's, merged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from litwatch.watchers.store.table import Table, now_iso


@dataclass(frozen=True, slots=True)
class Tracked:
    pmid: str
    origin: str  # "config", "cli" or "announced"
    note: str
    added_at: str
    link_sources: str  # comma-separated cited-by sources whose baseline is stored
    checked_at: str | None

    @property
    def baselined_sources(self) -> set[str]:
        return {s for s in self.link_sources.split(",") if s}


class TrackedPapers(Table):
    def all(self) -> list[Tracked]:
        return [
            Tracked(*r)
            for r in self.db.rows(
                "SELECT pmid, origin, note, added_at, link_sources, checked_at FROM tracked ORDER BY added_at, pmid"
            )
        ]

    def add(self, pmid: str, origin: str, note: str = "") -> bool:
        """Track a paper; True when it was not tracked before.  A note given replaces the old one."""
        existed = self.db.value("SELECT 1 FROM tracked WHERE pmid = ?", (pmid,)) is not None
        if existed:
            if note:
                self.db.execute("UPDATE tracked SET note = ? WHERE pmid = ?", (note, pmid))
            if origin == "config":
                self.db.execute("UPDATE tracked SET origin = 'config' WHERE pmid = ?", (pmid,))
            return False
        self.db.execute(
            "INSERT INTO tracked (pmid, origin, note, added_at) VALUES (?, ?, ?, ?)", (pmid, origin, note, now_iso())
        )
        return True

    def remove(self, pmid: str) -> bool:
        return bool(self.db.execute("DELETE FROM tracked WHERE pmid = ?", (pmid,)).rowcount > 0)

    def set_link_sources(self, pmid: str, sources: Iterable[str]) -> None:
        self.db.execute("UPDATE tracked SET link_sources = ? WHERE pmid = ?", (",".join(sorted(set(sources))), pmid))

    def set_checked(self, pmids: Iterable[str], stamp: str) -> None:
        self.db.executemany("UPDATE tracked SET checked_at = ? WHERE pmid = ?", [(stamp, p) for p in pmids])
