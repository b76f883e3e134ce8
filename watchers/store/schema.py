"""The store's schema: numbered migrations, each a `Migration`, and the tables they declare.

To change the schema, append one `Migration` to `MIGRATIONS` (never edit one that shipped): its
SQL statements (written once for both databases; `{pk}` is an auto-numbered primary key, `{blob}`
a byte string column), the tables it creates (name, whether `id` is auto-numbered) or drops, and
optionally a Python `convert(db)` step that rewrites rows through the driver API.  Each migration
runs in its own transaction (on PostgreSQL all of them in one, under an advisory lock); a SQLite
store is backed up beside its file first.  A store newer than `SCHEMA_VERSION` is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from litwatch.watchers.announcements import convert_v2_row
from litwatch.watchers.errors import StoreError
from litwatch.watchers.store.driver import Driver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema version: SQL statements, then (optionally) a Python step that converts rows.

    `tables`: the tables this version creates, with whether their `id` is auto-numbered (for
    `migrate-store`, which copies them in this order); `dropped`: tables it removes.
    """

    statements: tuple[str, ...]
    tables: tuple[tuple[str, bool], ...] = ()
    convert: Callable[[Driver], None] | None = None
    dropped: tuple[str, ...] = ()


def _convert_queue_v3(db: Driver) -> None:
    """Queue rows of corrections and notes: from "K|N|S" and "W|T|problem" to the JSON of
    `announcements.encode` (notes no longer keep the run id in `pmid`)."""
    rows = db.rows("SELECT id, kind, pmid, reason, run_id FROM queue WHERE kind IN ('correction', 'note')")
    db.executemany(
        "UPDATE queue SET pmid = ?, reason = ? WHERE id = ?",
        [(*convert_v2_row(kind, pmid, reason, int(run)), i) for i, kind, pmid, reason, run in rows],
    )


MIGRATIONS: list[Migration] = [
    # 1: the first schema
    Migration(
     (
        """CREATE TABLE articles (
            pmid TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            entrez_date TEXT NOT NULL DEFAULT '',
            fetched_at TEXT NOT NULL
        )""",
        """CREATE TABLE watches (
            name TEXT PRIMARY KEY,
            query TEXT NOT NULL,
            baseline_run BIGINT,
            last_count BIGINT,
            last_translation TEXT NOT NULL DEFAULT '',
            last_problems TEXT NOT NULL DEFAULT '[]'
        )""",
        """CREATE TABLE watch_hits (
            watch TEXT NOT NULL,
            pmid TEXT NOT NULL,
            run_id BIGINT NOT NULL,
            first_seen TEXT NOT NULL,
            baseline INTEGER NOT NULL,
            PRIMARY KEY (watch, pmid)
        )""",
        "CREATE INDEX watch_hits_pmid ON watch_hits (pmid)",
        """CREATE TABLE tracked (
            pmid TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            added_at TEXT NOT NULL,
            link_sources TEXT NOT NULL DEFAULT '',
            checked_at TEXT
        )""",
        """CREATE TABLE citations (
            cited TEXT NOT NULL,
            citing TEXT NOT NULL,
            source TEXT NOT NULL,
            run_id BIGINT NOT NULL,
            first_seen TEXT NOT NULL,
            baseline INTEGER NOT NULL,
            PRIMARY KEY (cited, citing, source)
        )""",
        "CREATE INDEX citations_citing ON citations (citing)",
        """CREATE TABLE corrections (
            pmid TEXT NOT NULL,
            kind TEXT NOT NULL,
            notice_pmid TEXT NOT NULL,
            notice_source TEXT NOT NULL DEFAULT '',
            run_id BIGINT NOT NULL,
            first_seen TEXT NOT NULL,
            baseline INTEGER NOT NULL,
            PRIMARY KEY (pmid, kind, notice_pmid)
        )""",
        """CREATE TABLE runs (
            id {pk},
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT NOT NULL,
            watches INTEGER NOT NULL DEFAULT 0,
            hits INTEGER NOT NULL DEFAULT 0,
            new_articles INTEGER NOT NULL DEFAULT 0,
            new_citations INTEGER NOT NULL DEFAULT 0,
            corrections INTEGER NOT NULL DEFAULT 0,
            deliveries INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE deliveries (
            id {pk},
            recipient TEXT NOT NULL,
            message_id TEXT NOT NULL UNIQUE,
            subject TEXT NOT NULL,
            method TEXT NOT NULL,
            status TEXT NOT NULL,
            run_id BIGINT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT '',
            message {blob} NOT NULL
        )""",
        "CREATE INDEX deliveries_status ON deliveries (status)",
        """CREATE TABLE queue (
            id {pk},
            recipient TEXT NOT NULL,
            kind TEXT NOT NULL,
            pmid TEXT NOT NULL,
            reason TEXT NOT NULL,
            run_id BIGINT NOT NULL,
            delivery_id BIGINT,
            UNIQUE (recipient, kind, pmid, reason)
        )""",
        "CREATE INDEX queue_recipient ON queue (recipient, delivery_id)",
        "CREATE INDEX queue_pmid ON queue (pmid)",
     ),
     tables=(
        ("articles", False),
        ("watches", False),
        ("watch_hits", False),
        ("tracked", False),
        ("citations", False),
        ("corrections", False),
        ("runs", True),
        ("deliveries", True),
        ("queue", True),
     ),
    ),
    # 2: failure alerts sent to [digest] admin (jobs/run/alerts.py)
    Migration(
        (
            """CREATE TABLE alerts (
                id {pk},
                kind TEXT NOT NULL,
                sent_at TEXT NOT NULL,
                text TEXT NOT NULL
            )""",
            "CREATE INDEX alerts_kind ON alerts (kind, sent_at)",
        ),
        tables=(("alerts", True),),
    ),
    # 3: typed announcements: correction and note reasons as JSON (watchers/announcements.py)
    Migration((), convert=_convert_queue_v3),
    # 4: each reader's ratings of articles, up (+1) or down (-1) (watchers/store/ratings.py)
    Migration(
        (
            """CREATE TABLE ratings (
                recipient TEXT NOT NULL,
                pmid TEXT NOT NULL,
                value INTEGER NOT NULL,
                rated_at TEXT NOT NULL,
                source TEXT NOT NULL DEFAULT 'cli',
                PRIMARY KEY (recipient, pmid)
            )""",
        ),
        tables=(("ratings", False),),
    ),
    # 5: notices on sent articles, citing works outside PubMed, preprints, source health (issue 16;
    # store.sources)
    Migration(
        (
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
        ),
        tables=(
        ("notice_links", False),
        ("sent_notices", False),
        ("source_state", False),
        ("works", False),
        ("preprint_hits", False),
        ("citation_counts", False),
        ("openalex_ids", False),
    ),
    ),
    # 6: the Entrez-date ranges of a search's last split past 9,999 hits (issue 17; store.splits)
    Migration(
        (
            """CREATE TABLE search_splits (
                query_key TEXT PRIMARY KEY,
                pieces TEXT NOT NULL,
                total BIGINT NOT NULL,
                run_id BIGINT NOT NULL
            )""",
        ),
        tables=(("search_splits", False),),
    ),
    # 7: indexes of a department's hot queries (issue 17): a recipient's last digest (is_due,
    # failing deliveries), a delivery's queue items (mark_failed, queue_items, history)
    Migration(
        (
            "CREATE INDEX deliveries_recipient ON deliveries (recipient, status, sent_at)",
            "CREATE INDEX queue_delivery ON queue (delivery_id)",
        ),
    ),
    # 8: the web companion (store.readers): unsubscribes, used one-time links, papers each reader tracks
    Migration(
        (
            """CREATE TABLE subscription_events (
                id {pk},
                recipient TEXT NOT NULL,
                event TEXT NOT NULL,
                at TEXT NOT NULL,
                via TEXT NOT NULL
            )""",
            "CREATE INDEX subscription_events_recipient ON subscription_events (recipient, id)",
            """CREATE TABLE used_links (
                token_id TEXT PRIMARY KEY,
                recipient TEXT NOT NULL,
                action TEXT NOT NULL,
                pmid TEXT NOT NULL,
                used_at TEXT NOT NULL
            )""",
            """CREATE TABLE reader_tracked (
                recipient TEXT NOT NULL,
                pmid TEXT NOT NULL,
                added_at TEXT NOT NULL,
                PRIMARY KEY (recipient, pmid)
            )""",
        ),
        tables=(("subscription_events", True), ("used_links", False), ("reader_tracked", False)),
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)


def tables() -> list[str]:
    """Every table of the current schema but schema_version, in the order the migrations create them
    (there are no foreign keys, so any order loads; this one keeps parents first should some appear)."""
    out: list[str] = []
    for migration in MIGRATIONS:
        out = [t for t in out if t not in migration.dropped] + [name for name, _ in migration.tables]
    return out


def identity_tables() -> list[str]:
    """Tables whose `id` is auto-numbered: PostgreSQL's sequences must follow copied ids."""
    current = set(tables())
    return [name for m in MIGRATIONS for name, numbered in m.tables if numbered and name in current]


def schema_version(db: Driver) -> int:
    return int(db.value("SELECT version FROM schema_version") or 0)


def migrate(db: Driver, *, backup: bool = True) -> None:
    """Bring the store to SCHEMA_VERSION (a backup first when it holds data)."""
    with db.migrating():
        with db.transaction():
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            if db.value("SELECT COUNT(*) FROM schema_version") == 0:
                db.execute("INSERT INTO schema_version (version) VALUES (0)")
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{db.location}: schema version {current} is newer than this litwatch knows "
                f"({SCHEMA_VERSION}); upgrade litwatch"
            )
        if current == SCHEMA_VERSION:
            return
        if backup and current > 0:
            db.backup(current)
        for number in range(current + 1, SCHEMA_VERSION + 1):
            with db.transaction():
                migration = MIGRATIONS[number - 1]
                for statement in migration.statements:
                    db.execute(statement.format(pk=db.pk, blob=db.blob))
                if migration.convert is not None:
                    migration.convert(db)
                db.execute("UPDATE schema_version SET version = ?", (number,))
            log.info("store %s: migrated to schema version %d", db.location, number)
