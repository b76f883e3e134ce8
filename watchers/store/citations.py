"""Citations of tracked papers (`store.citations`) and their correction notices (`store.corrections`)."""

from __future__ import annotations

from collections.abc import Iterable

from litwatch.watchers.store.table import Table, now_iso


class Citations(Table):
    def of(self, cited: Iterable[str] | None = None) -> set[tuple[str, str, str]]:
        """(cited, citing, source) triples, of every tracked paper or of those in `cited`."""
        if cited is None:
            return {(c, g, s) for c, g, s in self.db.rows("SELECT cited, citing, source FROM citations")}
        sql = "SELECT cited, citing, source FROM citations WHERE cited IN ({ids})"
        return {(c, g, s) for c, g, s in self.db.rows_in(sql, cited)}

    def add(self, triples: Iterable[tuple[str, str, str]], run_id: int, *, baseline: bool) -> None:
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO citations (cited, citing, source, run_id, first_seen, baseline) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (cited, citing, source) DO NOTHING",
            [(c, g, s, run_id, stamp, int(baseline)) for c, g, s in triples],
        )

    def counts(self) -> dict[str, int]:
        return {
            r[0]: int(r[1]) for r in self.db.rows("SELECT cited, COUNT(DISTINCT citing) FROM citations GROUP BY cited")
        }

    def announced(self, limit: int) -> list[tuple[str, str, list[str]]]:
        """(citing pmid, first_seen, [cited tracked pmids]) of announced citing articles, newest first."""
        seen: dict[str, tuple[str, str, set[str]]] = {}
        for citing, cited, first, edat in self.db.rows(
            "SELECT c.citing, c.cited, c.first_seen, a.entrez_date FROM citations c JOIN articles a "
            "ON a.pmid = c.citing WHERE c.baseline = 0 OR EXISTS (SELECT 1 FROM queue q "
            "WHERE q.kind = 'citation' AND q.pmid = c.citing AND q.reason = c.cited)"
        ):
            stamp, _, papers = seen.get(citing, (first, edat, set()))
            seen[citing] = (min(stamp, first), edat, papers | {cited})
        rows = sorted(seen.items(), key=lambda r: (r[1][0], r[1][1], int(r[0])), reverse=True)[:limit]
        return [(p, stamp, sorted(papers, key=int)) for p, (stamp, _, papers) in rows]


class Corrections(Table):
    def of(self, pmids: Iterable[str]) -> set[tuple[str, str, str]]:
        """(pmid, kind, notice_pmid) already recorded."""
        sql = "SELECT pmid, kind, notice_pmid FROM corrections WHERE pmid IN ({ids})"
        return {(p, k, n) for p, k, n in self.db.rows_in(sql, pmids)}

    def add(self, rows: Iterable[tuple[str, str, str, str]], run_id: int, *, baseline: bool) -> None:
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO corrections (pmid, kind, notice_pmid, notice_source, run_id, first_seen, baseline) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pmid, kind, notice_pmid) DO NOTHING",
            [(p, k, n, s, run_id, stamp, int(baseline)) for p, k, n, s in rows],
        )
