"""Stored articles (`store.articles`): the records fetched from PubMed, and what exports, feeds
and `litwatch show` read of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litwatch.watchers.articles import Article, ArticleRecord
from litwatch.watchers.store.table import Table, now_iso
from litwatch.watchers.store.tracked import Tracked


class Articles(Table):
    def known(self, pmids: Iterable[str]) -> set[str]:
        return {r[0] for r in self.db.rows_in("SELECT pmid FROM articles WHERE pmid IN ({ids})", pmids)}

    def get(self, pmids: Iterable[str]) -> dict[str, Article]:
        return {
            pmid: Article.from_json(data)
            for pmid, data in self.db.rows_in("SELECT pmid, data FROM articles WHERE pmid IN ({ids})", pmids)
        }

    def entrez_dates(self, pmids: Iterable[str]) -> dict[str, str]:
        """The Entrez date of each stored PMID (cheap: no record is decoded)."""
        return dict(self.db.rows_in("SELECT pmid, entrez_date FROM articles WHERE pmid IN ({ids})", pmids))

    def put(self, records: Iterable[ArticleRecord]) -> None:
        """Store (or replace) these records (`ArticleRecord.of(article)` for an Article)."""
        stamp = now_iso()
        rows = [(r.pmid, r.data, r.entrez_date, stamp) for r in records]
        self.db.executemany(
            "INSERT INTO articles (pmid, data, entrez_date, fetched_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (pmid) DO UPDATE SET data = excluded.data, entrez_date = excluded.entrez_date, "
            "fetched_at = excluded.fetched_at",
            rows,
        )

    def count(self) -> int:
        return int(self.db.value("SELECT COUNT(*) FROM articles"))

    def latest(self, count: int) -> list[str]:
        """The PMIDs of the `count` articles fetched last (`litwatch send-test`'s sample)."""
        return [r[0] for r in self.db.rows("SELECT pmid FROM articles ORDER BY fetched_at DESC, pmid DESC LIMIT ?", (count,))]

    def stored(self, *, watch: str | None = None, since: str | None = None) -> list[tuple[Article, str]]:
        """Stored articles with when litwatch first saw each, oldest first.

        First seen: the earliest of its watch hits, its citations of tracked papers, its tracking
        and its first fetch.  With `watch`: only the articles that watch found, first seen by it.
        With `since` (an ISO date or time, UTC): only those first seen then or later.
        """
        if watch is not None:
            rows = [
                (pmid, data, seen)
                for pmid, data, seen in self.db.rows(
                    "SELECT a.pmid, a.data, h.first_seen FROM watch_hits h JOIN articles a ON a.pmid = h.pmid "
                    "WHERE h.watch = ?",
                    (watch,),
                )
            ]
        else:
            rows = [
                (pmid, data, min(s for s in stamps if s))
                for pmid, data, *stamps in self.db.rows(
                    "SELECT a.pmid, a.data, a.fetched_at, "
                    "(SELECT MIN(h.first_seen) FROM watch_hits h WHERE h.pmid = a.pmid), "
                    "(SELECT MIN(c.first_seen) FROM citations c WHERE c.citing = a.pmid), "
                    "(SELECT t.added_at FROM tracked t WHERE t.pmid = a.pmid) FROM articles a"
                )
            ]
        out = [(Article.from_json(data), seen) for _, data, seen in rows if not since or seen >= since]
        return sorted(out, key=lambda r: (r[1], int(r[0].pmid)))

    def context(self, pmid: str) -> dict[str, Any]:
        """Why an article is in the store: watch hits, tracked papers it cites, tracking, citing papers."""
        tracked = self.db.rows(
            "SELECT pmid, origin, note, added_at, link_sources, checked_at FROM tracked WHERE pmid = ?", (pmid,)
        )
        from_tracked = Tracked(*tracked[0]) if tracked else None
        return {
            "watches": self.db.rows(
                "SELECT watch, first_seen, baseline FROM watch_hits WHERE pmid = ? ORDER BY first_seen, watch", (pmid,)
            ),
            "cites": self.db.rows(
                "SELECT cited, source, first_seen FROM citations WHERE citing = ? ORDER BY first_seen, cited", (pmid,)
            ),
            "cited_by": int(self.db.value("SELECT COUNT(DISTINCT citing) FROM citations WHERE cited = ?", (pmid,)) or 0),
            "tracked": from_tracked,
            "corrections": self.db.rows(
                "SELECT kind, notice_pmid, notice_source, first_seen FROM corrections WHERE pmid = ? "
                "ORDER BY first_seen",
                (pmid,),
            ),
            "announced": self.db.rows(
                "SELECT DISTINCT q.recipient, d.sent_at FROM queue q JOIN deliveries d ON d.id = q.delivery_id "
                "WHERE q.pmid = ? AND q.kind IN ('hit', 'citation') AND d.status = 'sent' ORDER BY d.sent_at",
                (pmid,),
            ),
        }
