"""The tables of issue 16 (notices on sent articles, citing works outside PubMed, preprints, the
health of each outside source): one migration, kept apart from store.py so that it ports as a unit.

Written in the SQL subset SQLite and PostgreSQL share ({pk} / {blob} are not needed here).
"""

from __future__ import annotations

#: the tables the migration creates, with whether their `id` is auto-numbered (none is)
SOURCES_TABLES: tuple[tuple[str, bool], ...] = (
    ("notice_links", False),
    ("sent_notices", False),
    ("source_state", False),
    ("works", False),
    ("preprint_hits", False),
    ("citation_counts", False),
    ("openalex_ids", False),
)

SOURCES_MIGRATION: list[str] = [
    # Links read from PubMed notices (Retraction of Publication, Expression of Concern, ...):
    # every notice seen, whether or not it concerns an article litwatch sent.
    """CREATE TABLE notice_links (
        notice_pmid TEXT NOT NULL,
        target_pmid TEXT NOT NULL,
        kind TEXT NOT NULL,
        notice_source TEXT NOT NULL DEFAULT '',
        notice_title TEXT NOT NULL DEFAULT '',
        entrez_date TEXT NOT NULL DEFAULT '',
        first_seen TEXT NOT NULL,
        PRIMARY KEY (notice_pmid, target_pmid, kind)
    )""",
    "CREATE INDEX notice_links_target ON notice_links (target_pmid)",
    # Which reader was told of which notice on an article they were sent: each once.
    """CREATE TABLE sent_notices (
        recipient TEXT NOT NULL,
        pmid TEXT NOT NULL,
        notice_pmid TEXT NOT NULL,
        kind TEXT NOT NULL,
        run_id BIGINT NOT NULL,
        queued_at TEXT NOT NULL,
        PRIMARY KEY (recipient, pmid, notice_pmid, kind)
    )""",
    # Outside services: last success, last error, and a cursor (e.g. the Entrez date the notice
    # search has covered).  Secrets never reach this table (errors are redacted by the clients).
    """CREATE TABLE source_state (
        name TEXT PRIMARY KEY,
        last_success TEXT,
        last_error TEXT NOT NULL DEFAULT '',
        last_error_at TEXT,
        cursor TEXT NOT NULL DEFAULT ''
    )""",
    # Works that are not PubMed records (citing works known only to Europe PMC or OpenAlex,
    # preprints): keyed "doi:10.x/y" when a DOI is known, else "ppr:PPR123" / "openalex:W123".
    """CREATE TABLE works (
        work_key TEXT PRIMARY KEY,
        doi TEXT NOT NULL DEFAULT '',
        epmc_id TEXT NOT NULL DEFAULT '',
        openalex_id TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        year INTEGER,
        venue TEXT NOT NULL DEFAULT '',
        authors TEXT NOT NULL DEFAULT '',
        is_preprint INTEGER NOT NULL DEFAULT 0,
        published_pmid TEXT NOT NULL DEFAULT '',
        first_seen TEXT NOT NULL
    )""",
    "CREATE INDEX works_doi ON works (doi)",
    "CREATE INDEX works_epmc ON works (epmc_id)",
    # Preprints found by a watch's preprint_query (like watch_hits, for works).
    """CREATE TABLE preprint_hits (
        watch TEXT NOT NULL,
        work_key TEXT NOT NULL,
        run_id BIGINT NOT NULL,
        first_seen TEXT NOT NULL,
        baseline INTEGER NOT NULL,
        PRIMARY KEY (watch, work_key)
    )""",
    # What a source last said a paper's citation count was (Europe PMC's citedByCount): a paper
    # whose count has not changed is not asked for its citing works again.
    """CREATE TABLE citation_counts (
        source TEXT NOT NULL,
        pmid TEXT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (source, pmid)
    )""",
    # OpenAlex's id of each tracked paper (a free singleton lookup, asked once per paper).
    """CREATE TABLE openalex_ids (
        pmid TEXT PRIMARY KEY,
        openalex_id TEXT NOT NULL,
        looked_up TEXT NOT NULL
    )""",
]
