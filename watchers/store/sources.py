"""Issue 16's tables (`store.sources`): notices on sent articles, works outside PubMed (citing
works, preprints), preprint hits, the health of each outside source, cached citation counts and
OpenAlex ids.  The tables come from migration 4 (`schema.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from litwatch.watchers.store.table import Table, now_iso

# -- the health of outside sources --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    last_success: str | None
    last_error: str
    last_error_at: str | None
    cursor: str

    @property
    def healthy(self) -> bool:
        """No error since the last success."""
        if not self.last_error_at:
            return True
        return bool(self.last_success and self.last_success >= self.last_error_at)


# -- notices on sent articles ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticeLink:
    notice_pmid: str
    target_pmid: str
    kind: str  # RetractionOf, ExpressionOfConcernFor, ErratumFor, ...
    notice_source: str  # the notice's citation, e.g. "Blood. 2026;148(3):200"
    notice_title: str
    entrez_date: str


@dataclass(frozen=True, slots=True)
class SentNoticeDue:
    recipient: str
    pmid: str  # the article the reader was sent
    sent_at: str  # when it was first sent to them
    link: NoticeLink


# -- works outside PubMed -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Work:
    """A citing work or a preprint that is not (or not yet) a PubMed record."""

    key: str  # "doi:10.1101/x" (lower case), "ppr:PPR123", "openalex:W123"
    doi: str = ""
    epmc_id: str = ""  # "PPR123" or "SRC:ID" for other Europe PMC sources
    openalex_id: str = ""
    title: str = ""
    year: int | None = None
    venue: str = ""  # journal, or preprint server
    authors: str = ""
    is_preprint: bool = False
    published_pmid: str = ""

    @property
    def url(self) -> str:
        if self.doi:
            return "https://doi.org/" + self.doi
        if self.epmc_id.startswith("PPR"):
            return f"https://europepmc.org/article/PPR/{self.epmc_id}"
        if self.openalex_id:
            return "https://openalex.org/" + self.openalex_id
        return ""


_WORK_COLS = "work_key, doi, epmc_id, openalex_id, title, year, venue, authors, is_preprint, published_pmid"


def _work(row: tuple[object, ...]) -> Work:
    key, doi, epmc, oa, title, year, venue, authors, pre, pub = row
    return Work(
        str(key), str(doi), str(epmc), str(oa), str(title), None if year is None else int(str(year)),
        str(venue), str(authors), bool(pre), str(pub),
    )


class Sources(Table):
    """Issue 16's tables: source health, notices on sent articles, works, preprint hits, caches."""

    # -- the health of outside sources (and their cursors) ----------------------------------------

    def source_states(self) -> dict[str, SourceState]:
        return {
            r[0]: SourceState(r[0], r[1], r[2], r[3], r[4])
            for r in self.db.rows("SELECT name, last_success, last_error, last_error_at, cursor FROM source_state ORDER BY name")
        }

    def _ensure_source(self, name: str) -> None:
        self.db.execute("INSERT INTO source_state (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))

    def source_ok(self, name: str, *, cursor: str | None = None, stamp: str | None = None) -> None:
        self._ensure_source(name)
        self.db.execute("UPDATE source_state SET last_success = ? WHERE name = ?", (stamp or now_iso(), name))
        if cursor is not None:
            self.db.execute("UPDATE source_state SET cursor = ? WHERE name = ?", (cursor, name))

    def source_failed(self, name: str, error: str, *, stamp: str | None = None) -> None:
        """Record an error; the cursor (what the source has covered) is left as it was."""
        self._ensure_source(name)
        self.db.execute(
            "UPDATE source_state SET last_error = ?, last_error_at = ? WHERE name = ?",
            (" ".join(error.split())[:500], stamp or now_iso(), name),
        )

    # -- notices on sent articles ------------------------------------------------------------------

    def last_sent_any(self) -> str | None:
        """When a digest (to anyone) was last sent, or None."""
        value = self.db.value("SELECT MAX(sent_at) FROM deliveries WHERE status = 'sent'")
        return None if value is None else str(value)

    def add_notice_links(self, links: Iterable[NoticeLink]) -> None:
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO notice_links (notice_pmid, target_pmid, kind, notice_source, notice_title, entrez_date, "
            "first_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notice_pmid, target_pmid, kind) DO NOTHING",
            [(n.notice_pmid, n.target_pmid, n.kind, n.notice_source, n.notice_title, n.entrez_date, stamp) for n in links],
        )

    def known_notices(self, notice_pmids: Iterable[str]) -> set[str]:
        return {r[0] for r in self.db.rows_in("SELECT DISTINCT notice_pmid FROM notice_links WHERE notice_pmid IN ({ids})", notice_pmids)}

    def sent_notices_due(self) -> list[SentNoticeDue]:
        """Notices on articles a reader was sent (a hit or a citing paper, in a digest that went out)
        that this reader has not been told of yet.  One indexed join: the cost grows with the notices
        litwatch has read (a few a day), not with the store."""
        rows = self.db.rows(
            "SELECT q.recipient, q.pmid, MIN(d.sent_at), n.notice_pmid, n.kind, n.notice_source, n.notice_title, "
            "n.entrez_date FROM notice_links n JOIN queue q ON q.pmid = n.target_pmid "
            "JOIN deliveries d ON d.id = q.delivery_id "
            "WHERE q.kind IN ('hit', 'citation', 'published') AND d.status = 'sent' AND NOT EXISTS ("
            "SELECT 1 FROM sent_notices s WHERE s.recipient = q.recipient AND s.pmid = q.pmid "
            "AND s.notice_pmid = n.notice_pmid AND s.kind = n.kind) "
            "GROUP BY q.recipient, q.pmid, n.notice_pmid, n.kind, n.notice_source, n.notice_title, n.entrez_date "
            "ORDER BY q.recipient, q.pmid, n.notice_pmid"
        )
        return [SentNoticeDue(r[0], r[1], r[2], NoticeLink(r[3], r[1], r[4], r[5], r[6], r[7])) for r in rows]

    def mark_sent_notices(self, due: Iterable[SentNoticeDue], run_id: int) -> None:
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO sent_notices (recipient, pmid, notice_pmid, kind, run_id, queued_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (recipient, pmid, notice_pmid, kind) DO NOTHING",
            [(d.recipient, d.pmid, d.link.notice_pmid, d.link.kind, run_id, stamp) for d in due],
        )

    # -- works outside PubMed, preprint hits ---------------------------------------------------------

    def works(self, keys: Iterable[str]) -> dict[str, Work]:
        return {w.key: w for w in map(_work, self.db.rows_in(f"SELECT {_WORK_COLS} FROM works WHERE work_key IN ({{ids}})", keys))}

    def works_by_doi(self, dois: Iterable[str]) -> dict[str, Work]:
        return {w.doi: w for w in map(_work, self.db.rows_in(f"SELECT {_WORK_COLS} FROM works WHERE doi IN ({{ids}})", dois))}

    def works_by_epmc(self, ids: Iterable[str]) -> dict[str, Work]:
        return {w.epmc_id: w for w in map(_work, self.db.rows_in(f"SELECT {_WORK_COLS} FROM works WHERE epmc_id IN ({{ids}})", ids))}

    def put_works(self, items: Iterable[Work]) -> None:
        """Insert, or fill in what a stored work lacks (a DOI, a title, a journal version)."""
        stamp = now_iso()
        self.db.executemany(
            f"INSERT INTO works ({_WORK_COLS}, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (work_key) DO UPDATE SET "
            "doi = CASE WHEN works.doi = '' THEN excluded.doi ELSE works.doi END, "
            "epmc_id = CASE WHEN works.epmc_id = '' THEN excluded.epmc_id ELSE works.epmc_id END, "
            "openalex_id = CASE WHEN works.openalex_id = '' THEN excluded.openalex_id ELSE works.openalex_id END, "
            "title = CASE WHEN works.title = '' THEN excluded.title ELSE works.title END, "
            "year = COALESCE(works.year, excluded.year), "
            "venue = CASE WHEN works.venue = '' THEN excluded.venue ELSE works.venue END, "
            "authors = CASE WHEN works.authors = '' THEN excluded.authors ELSE works.authors END, "
            "published_pmid = CASE WHEN excluded.published_pmid != '' THEN excluded.published_pmid "
            "ELSE works.published_pmid END",
            [
                (w.key, w.doi, w.epmc_id, w.openalex_id, w.title, w.year, w.venue, w.authors, int(w.is_preprint),
                 w.published_pmid, stamp)
                for w in items
            ],
        )

    def preprint_baselined(self, watch: str) -> bool:
        return self.db.value("SELECT 1 FROM source_state WHERE name = ?", (f"preprints:{watch}",)) is not None

    def preprint_hits(self, watch: str) -> set[str]:
        return {r[0] for r in self.db.rows("SELECT work_key FROM preprint_hits WHERE watch = ?", (watch,))}

    def add_preprint_hits(self, watch: str, keys: Iterable[str], run_id: int, *, baseline: bool) -> None:
        stamp = now_iso()
        self.db.executemany(
            "INSERT INTO preprint_hits (watch, work_key, run_id, first_seen, baseline) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (watch, work_key) DO NOTHING",
            [(watch, k, run_id, stamp, int(baseline)) for k in keys],
        )

    def announced_to_any(self, recipient: str, pmids: Iterable[str]) -> set[str]:
        """Of these PMIDs, those already queued for this recipient as an article in any form."""
        return {
            r[0]
            for r in self.db.rows_in(
                "SELECT DISTINCT pmid FROM queue WHERE recipient = ? AND kind IN ('hit', 'citation', 'published') "
                "AND pmid IN ({ids})",
                pmids,
                [recipient],
            )
        }

    # -- caches: citation counts (papers whose citing works did not change), OpenAlex ids ----------

    def citation_counts(self, source: str, pmids: Iterable[str]) -> dict[str, int]:
        return {
            r[0]: int(r[1])
            for r in self.db.rows_in("SELECT pmid, count FROM citation_counts WHERE source = ? AND pmid IN ({ids})", pmids, [source])
        }

    def put_citation_counts(self, source: str, counts: dict[str, int]) -> None:
        self.db.executemany(
            "INSERT INTO citation_counts (source, pmid, count) VALUES (?, ?, ?) ON CONFLICT (source, pmid) "
            "DO UPDATE SET count = excluded.count",
            [(source, p, n) for p, n in counts.items()],
        )

    def openalex_ids(self, pmids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """PMID -> (OpenAlex id or "" when OpenAlex did not know it, when it was looked up)."""
        return {
            r[0]: (r[1], r[2])
            for r in self.db.rows_in("SELECT pmid, openalex_id, looked_up FROM openalex_ids WHERE pmid IN ({ids})", pmids)
        }

    def put_openalex_ids(self, ids: dict[str, str], stamp: str | None = None) -> None:
        stamp = stamp or now_iso()
        self.db.executemany(
            "INSERT INTO openalex_ids (pmid, openalex_id, looked_up) VALUES (?, ?, ?) ON CONFLICT (pmid) DO UPDATE "
            "SET openalex_id = excluded.openalex_id, looked_up = excluded.looked_up",
            [(p, w, stamp) for p, w in ids.items()],
        )
