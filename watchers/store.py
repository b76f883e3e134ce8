"""The store the watchers diff against: articles, watch hits, tracked papers, citations,
corrections, what each recipient is still to be told (the queue), deliveries and runs.

SQLite by default (one file; backed up before a migration), PostgreSQL with `[store] url`.  The
schema is versioned with numbered migrations applied at start.  A store whose schema is newer than
this code is refused.  All SQL is written once, in the subset both databases speak.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litwatch.watchers.articles import Article, ArticleRecord

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be used: unreadable, corrupt, locked, or from a newer litwatch."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# Each migration is a list of statements.  {pk} is the auto-numbered primary key, {blob} a byte
# string column: the only spellings SQLite and PostgreSQL do not share here.
MIGRATIONS: list[list[str]] = [
    # 1: the first schema
    [
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
    ],
    # 2: failure alerts sent to [digest] admin (jobs/alerts.py)
    [
        """CREATE TABLE alerts (
            id {pk},
            kind TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            text TEXT NOT NULL
        )""",
        "CREATE INDEX alerts_kind ON alerts (kind, sent_at)",
    ],
    # 3: the Entrez-date ranges of a search's last split past 9,999 hits (watchers/searches.py)
    [
        """CREATE TABLE search_splits (
            query_key TEXT PRIMARY KEY,
            pieces TEXT NOT NULL,
            total BIGINT NOT NULL,
            run_id BIGINT NOT NULL
        )""",
    ],
    # 4: indexes of a department's hot queries: a recipient's last digest (Pipeline.is_due,
    # failing_deliveries), a delivery's queue items (mark_failed, queue_items, history)
    [
        "CREATE INDEX deliveries_recipient ON deliveries (recipient, status, sent_at)",
        "CREATE INDEX queue_delivery ON queue (delivery_id)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


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


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    recipient: str
    kind: str  # "hit", "citation", "correction"
    pmid: str
    reason: str  # watch name; cited PMID; "KIND|NOTICE_PMID|SOURCE"
    run_id: int
    delivery_id: int | None


def _queue_items(rows: Iterable[Sequence[Any]]) -> list[QueueItem]:
    """Queue rows as QueueItems, one string object for each recipient, kind and reason however
    often it repeats (a backfill's queue holds 50,000 rows naming a handful of each)."""
    shared: dict[str, str] = {}
    return [
        QueueItem(i, shared.setdefault(who, who), shared.setdefault(kind, kind), pmid, shared.setdefault(why, why), run, d)
        for i, who, kind, pmid, why, run, d in rows
    ]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    recipient: str
    message_id: str
    subject: str
    method: str
    status: str  # "sending" (accepted unknown), "sent", "failed"
    run_id: int
    created_at: str
    sent_at: str | None
    attempts: int
    error: str
    message: bytes


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: str  # "runs" (consecutive failed runs), "delivery" (digests failing for over a day)
    sent_at: str
    text: str


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


class Store:
    """One connection to the store.  Use `with store.transaction():` around a unit of change."""

    dialect = "sqlite"
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT"
    blob = "BLOB"

    def __init__(self, conn: Any, location: str) -> None:
        self._conn = conn
        self.location = location
        self._depth = 0

    # -- plumbing ---------------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(self._sql(sql), [tuple(r) for r in rows])

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.execute(sql, params).fetchall()]

    def rows_in(self, sql: str, ids: Iterable[str], params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql`, whose `{ids}` stands for a list of `?`, for every id, 500 at a time
        (SQLite limits the parameters of one statement); `params` come before the ids."""
        for chunk in _chunks(list(ids), 500):
            yield from self.rows(sql.format(ids=",".join("?" * len(chunk))), [*params, *chunk])

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All changes inside commit together, or none do."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self._conn.rollback()
            raise
        self._depth = 0
        self._commit()

    def _commit(self) -> None:
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        return int(self.value("SELECT version FROM schema_version") or 0)

    def _create_version_table(self) -> None:
        self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        if self.value("SELECT COUNT(*) FROM schema_version") == 0:
            self.execute("INSERT INTO schema_version (version) VALUES (0)")

    def migrate(self, backup: bool = True) -> None:
        with self.transaction():
            self._create_version_table()
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location}: schema version {current} is newer than this litwatch knows "
                f"({SCHEMA_VERSION}); upgrade litwatch"
            )
        if current == SCHEMA_VERSION:
            return
        if backup and current > 0:
            self._backup(current)
        for number in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in MIGRATIONS[number - 1]:
                    self.execute(statement.format(pk=self.pk, blob=self.blob))
                self.execute("UPDATE schema_version SET version = ?", (number,))
            log.info("store %s: migrated to schema version %d", self.location, number)

    def _backup(self, version: int) -> None:
        """Keep a copy of the store before changing its schema (SQLite: a file beside it)."""

    # -- articles ---------------------------------------------------------------------------------

    def known_pmids(self, pmids: Iterable[str]) -> set[str]:
        return {r[0] for r in self.rows_in("SELECT pmid FROM articles WHERE pmid IN ({ids})", pmids)}

    def articles(self, pmids: Iterable[str]) -> dict[str, Article]:
        return {
            pmid: Article.from_json(data)
            for pmid, data in self.rows_in("SELECT pmid, data FROM articles WHERE pmid IN ({ids})", pmids)
        }

    def entrez_dates(self, pmids: Iterable[str]) -> dict[str, str]:
        """The Entrez date of each stored PMID (cheap: no record is decoded)."""
        return dict(self.rows_in("SELECT pmid, entrez_date FROM articles WHERE pmid IN ({ids})", pmids))

    def put_articles(self, records: Iterable[ArticleRecord]) -> None:
        """Store (or replace) these records (`ArticleRecord.of(article)` for an Article)."""
        stamp = now_iso()
        rows = [(r.pmid, r.data, r.entrez_date, stamp) for r in records]
        self.executemany(
            "INSERT INTO articles (pmid, data, entrez_date, fetched_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (pmid) DO UPDATE SET data = excluded.data, entrez_date = excluded.entrez_date, "
            "fetched_at = excluded.fetched_at",
            rows,
        )

    def article_count(self) -> int:
        return int(self.value("SELECT COUNT(*) FROM articles"))

    # -- watches ----------------------------------------------------------------------------------

    def watch_baselined(self, name: str) -> bool:
        return self.value("SELECT baseline_run FROM watches WHERE name = ?", (name,)) is not None

    def watch_query(self, name: str) -> str | None:
        """The query the watch had at its last run (None before its first)."""
        return self.value("SELECT query FROM watches WHERE name = ?", (name,))

    def watch_hits(self, name: str) -> set[str]:
        return {r[0] for r in self.rows("SELECT pmid FROM watch_hits WHERE watch = ?", (name,))}

    def save_watch(self, name: str, query: str, run_id: int, count: int, translation: str, problems: list[str]) -> None:
        self.execute(
            "INSERT INTO watches (name, query, baseline_run, last_count, last_translation, last_problems) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET query = excluded.query, "
            "last_count = excluded.last_count, last_translation = excluded.last_translation, "
            "last_problems = excluded.last_problems",
            (name, query, run_id, count, translation, json.dumps(problems)),
        )

    def add_hits(self, watch: str, pmids: Iterable[str], run_id: int, *, baseline: bool) -> None:
        stamp = now_iso()
        self.executemany(
            "INSERT INTO watch_hits (watch, pmid, run_id, first_seen, baseline) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (watch, pmid) DO NOTHING",
            [(watch, p, run_id, stamp, int(baseline)) for p in pmids],
        )

    def watch_counts(self) -> dict[str, int | None]:
        """Hits of each baselined watch at its last run (for estimating a run's requests)."""
        return {
            name: (None if count is None else int(count))
            for name, count in self.rows("SELECT name, last_count FROM watches WHERE baseline_run IS NOT NULL")
        }

    def watches_of(self, pmids: Iterable[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for watch, pmid in self.rows_in("SELECT watch, pmid FROM watch_hits WHERE pmid IN ({ids}) ORDER BY watch", pmids):
            out.setdefault(pmid, []).append(watch)
        return out

    # -- tracked papers ---------------------------------------------------------------------------

    def tracked(self) -> list[Tracked]:
        return [
            Tracked(*r)
            for r in self.rows(
                "SELECT pmid, origin, note, added_at, link_sources, checked_at FROM tracked ORDER BY added_at, pmid"
            )
        ]

    def add_tracked(self, pmid: str, origin: str, note: str = "") -> bool:
        """Track a paper; True when it was not tracked before.  A note given replaces the old one."""
        existed = self.value("SELECT 1 FROM tracked WHERE pmid = ?", (pmid,)) is not None
        if existed:
            if note:
                self.execute("UPDATE tracked SET note = ? WHERE pmid = ?", (note, pmid))
            if origin == "config":
                self.execute("UPDATE tracked SET origin = 'config' WHERE pmid = ?", (pmid,))
            return False
        self.execute(
            "INSERT INTO tracked (pmid, origin, note, added_at) VALUES (?, ?, ?, ?)", (pmid, origin, note, now_iso())
        )
        return True

    def remove_tracked(self, pmid: str) -> bool:
        return self.execute("DELETE FROM tracked WHERE pmid = ?", (pmid,)).rowcount > 0

    def set_link_sources(self, pmid: str, sources: Iterable[str]) -> None:
        self.execute("UPDATE tracked SET link_sources = ? WHERE pmid = ?", (",".join(sorted(set(sources))), pmid))

    def set_checked(self, pmids: Iterable[str], stamp: str) -> None:
        self.executemany("UPDATE tracked SET checked_at = ? WHERE pmid = ?", [(stamp, p) for p in pmids])

    # -- citations and corrections ----------------------------------------------------------------

    def citations(self, cited: Iterable[str] | None = None) -> set[tuple[str, str, str]]:
        """(cited, citing, source) triples."""
        if cited is None:
            return {tuple(r) for r in self.rows("SELECT cited, citing, source FROM citations")}  # type: ignore[misc]
        return set(self.rows_in("SELECT cited, citing, source FROM citations WHERE cited IN ({ids})", cited))  # type: ignore[arg-type]

    def add_citations(self, triples: Iterable[tuple[str, str, str]], run_id: int, *, baseline: bool) -> None:
        stamp = now_iso()
        self.executemany(
            "INSERT INTO citations (cited, citing, source, run_id, first_seen, baseline) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (cited, citing, source) DO NOTHING",
            [(c, g, s, run_id, stamp, int(baseline)) for c, g, s in triples],
        )

    def citation_counts(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.rows("SELECT cited, COUNT(DISTINCT citing) FROM citations GROUP BY cited")}

    def corrections(self, pmids: Iterable[str]) -> set[tuple[str, str, str]]:
        """(pmid, kind, notice_pmid) already recorded."""
        return set(self.rows_in("SELECT pmid, kind, notice_pmid FROM corrections WHERE pmid IN ({ids})", pmids))  # type: ignore[arg-type]

    def add_corrections(self, rows: Iterable[tuple[str, str, str, str]], run_id: int, *, baseline: bool) -> None:
        stamp = now_iso()
        self.executemany(
            "INSERT INTO corrections (pmid, kind, notice_pmid, notice_source, run_id, first_seen, baseline) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pmid, kind, notice_pmid) DO NOTHING",
            [(p, k, n, s, run_id, stamp, int(baseline)) for p, k, n, s in rows],
        )

    # -- the queue: what each recipient is still to be told ---------------------------------------

    def announced_to(self, recipient: str, pmids: Iterable[str]) -> dict[str, bool]:
        """Of these PMIDs, those already queued for this recipient as an article: PMID -> True when
        a digest (or chat message) has taken it, False while it still waits for one."""
        sql = (
            "SELECT pmid, MAX(CASE WHEN delivery_id IS NULL THEN 0 ELSE 1 END) FROM queue "
            "WHERE recipient = ? AND kind IN ('hit', 'citation') AND pmid IN ({ids}) GROUP BY pmid"
        )
        return {pmid: bool(taken) for pmid, taken in self.rows_in(sql, pmids, [recipient])}

    def enqueue(self, recipient: str, items: Iterable[tuple[str, str, str]], run_id: int) -> None:
        """Queue (kind, pmid, reason) items for `recipient`, in this order (one already queued is kept)."""
        self.executemany(
            "INSERT INTO queue (recipient, kind, pmid, reason, run_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (recipient, kind, pmid, reason) DO NOTHING",
            [(recipient, kind, pmid, reason, run_id) for kind, pmid, reason in items],
        )

    def pending(self, recipient: str | None = None) -> list[QueueItem]:
        """Queued items not (yet) in a delivery, oldest first."""
        sql = "SELECT id, recipient, kind, pmid, reason, run_id, delivery_id FROM queue WHERE delivery_id IS NULL"
        params: list[Any] = []
        if recipient is not None:
            sql += " AND recipient = ?"
            params.append(recipient)
        return _queue_items(self.rows(sql + " ORDER BY id", params))

    def queue_items(self, delivery_id: int) -> list[QueueItem]:
        return _queue_items(
            self.rows(
                "SELECT id, recipient, kind, pmid, reason, run_id, delivery_id FROM queue WHERE delivery_id = ? ORDER BY id",
                (delivery_id,),
            )
        )

    def history(self, since: str | None = None, watch: str | None = None) -> list[tuple[Any, ...]]:
        """(sent_at, recipient, kind, pmid, reason, message_id) of what was delivered."""
        sql = (
            "SELECT d.sent_at, q.recipient, q.kind, q.pmid, q.reason, d.message_id FROM queue q "
            "JOIN deliveries d ON d.id = q.delivery_id WHERE d.status = 'sent'"
        )
        params: list[Any] = []
        if since:
            sql += " AND d.sent_at >= ?"
            params.append(since)
        if watch:
            sql += " AND q.kind = 'hit' AND q.reason = ?"
            params.append(watch)
        return self.rows(sql + " ORDER BY d.sent_at, q.id", params)

    # -- exports, feeds, `litwatch show` ----------------------------------------------------------

    def stored_articles(self, *, watch: str | None = None, since: str | None = None) -> list[tuple[Article, str]]:
        """Stored articles with when litwatch first saw each, oldest first.

        First seen: the earliest of its watch hits, its citations of tracked papers, its tracking
        and its first fetch.  With `watch`: only the articles that watch found, first seen by it.
        With `since` (an ISO date or time, UTC): only those first seen then or later.
        """
        if watch is not None:
            rows = [
                (pmid, data, seen)
                for pmid, data, seen in self.rows(
                    "SELECT a.pmid, a.data, h.first_seen FROM watch_hits h JOIN articles a ON a.pmid = h.pmid "
                    "WHERE h.watch = ?",
                    (watch,),
                )
            ]
        else:
            rows = [
                (pmid, data, min(s for s in stamps if s))
                for pmid, data, *stamps in self.rows(
                    "SELECT a.pmid, a.data, a.fetched_at, "
                    "(SELECT MIN(h.first_seen) FROM watch_hits h WHERE h.pmid = a.pmid), "
                    "(SELECT MIN(c.first_seen) FROM citations c WHERE c.citing = a.pmid), "
                    "(SELECT t.added_at FROM tracked t WHERE t.pmid = a.pmid) FROM articles a"
                )
            ]
        out = [(Article.from_json(data), seen) for _, data, seen in rows if not since or seen >= since]
        return sorted(out, key=lambda r: (r[1], int(r[0].pmid)))

    def announced_hits(self, watch: str, limit: int) -> list[tuple[str, str]]:
        """(pmid, first_seen) of the stored articles a watch announced (its new hits and backfill), newest
        first (first seen, then Entrez date)."""
        rows = self.rows(
            "SELECT h.pmid, h.first_seen, a.entrez_date FROM watch_hits h JOIN articles a ON a.pmid = h.pmid "
            "WHERE h.watch = ? AND (h.baseline = 0 OR EXISTS (SELECT 1 FROM queue q WHERE q.kind = 'hit' "
            "AND q.pmid = h.pmid AND q.reason = h.watch))",
            (watch,),
        )
        rows.sort(key=lambda r: (r[1], r[2], int(r[0])), reverse=True)
        return [(p, seen) for p, seen, _ in rows[:limit]]

    def announced_citations(self, limit: int) -> list[tuple[str, str, list[str]]]:
        """(citing pmid, first_seen, [cited tracked pmids]) of announced citing articles, newest first."""
        seen: dict[str, tuple[str, str, set[str]]] = {}
        for citing, cited, first, edat in self.rows(
            "SELECT c.citing, c.cited, c.first_seen, a.entrez_date FROM citations c JOIN articles a "
            "ON a.pmid = c.citing WHERE c.baseline = 0 OR EXISTS (SELECT 1 FROM queue q "
            "WHERE q.kind = 'citation' AND q.pmid = c.citing AND q.reason = c.cited)"
        ):
            stamp, _, papers = seen.get(citing, (first, edat, set()))
            seen[citing] = (min(stamp, first), edat, papers | {cited})
        rows = sorted(seen.items(), key=lambda r: (r[1][0], r[1][1], int(r[0])), reverse=True)[:limit]
        return [(p, stamp, sorted(papers, key=int)) for p, (stamp, _, papers) in rows]

    def article_context(self, pmid: str) -> dict[str, Any]:
        """Why an article is in the store: watch hits, tracked papers it cites, tracking, citing papers."""
        tracked = next((t for t in self.tracked() if t.pmid == pmid), None)
        return {
            "watches": self.rows(
                "SELECT watch, first_seen, baseline FROM watch_hits WHERE pmid = ? ORDER BY first_seen, watch", (pmid,)
            ),
            "cites": self.rows(
                "SELECT cited, source, first_seen FROM citations WHERE citing = ? ORDER BY first_seen, cited", (pmid,)
            ),
            "cited_by": int(self.value("SELECT COUNT(DISTINCT citing) FROM citations WHERE cited = ?", (pmid,)) or 0),
            "tracked": tracked,
            "corrections": self.rows(
                "SELECT kind, notice_pmid, notice_source, first_seen FROM corrections WHERE pmid = ? "
                "ORDER BY first_seen",
                (pmid,),
            ),
            "announced": self.rows(
                "SELECT DISTINCT q.recipient, d.sent_at FROM queue q JOIN deliveries d ON d.id = q.delivery_id "
                "WHERE q.pmid = ? AND q.kind IN ('hit', 'citation') AND d.status = 'sent' ORDER BY d.sent_at",
                (pmid,),
            ),
        }

    # -- deliveries -------------------------------------------------------------------------------

    _DELIVERY_COLS = (
        "id, recipient, message_id, subject, method, status, run_id, created_at, sent_at, attempts, error, message"
    )

    def create_delivery(
        self,
        recipient: str,
        message_id: str,
        subject: str,
        method: str,
        message: bytes,
        run_id: int,
        item_ids: Sequence[int],
    ) -> int:
        """Record a digest as "sending" (before the first byte goes out) and claim its queue items."""
        delivery_id = int(
            self.value(
                "INSERT INTO deliveries (recipient, message_id, subject, method, status, run_id, created_at, message) "
                "VALUES (?, ?, ?, ?, 'sending', ?, ?, ?) RETURNING id",
                (recipient, message_id, subject, method, run_id, now_iso(), message),
            )
        )
        self.executemany("UPDATE queue SET delivery_id = ? WHERE id = ?", [(delivery_id, i) for i in item_ids])
        return delivery_id

    def delivery_attempted(self, delivery_id: int) -> None:
        self.execute("UPDATE deliveries SET attempts = attempts + 1 WHERE id = ?", (delivery_id,))

    def mark_sent(self, delivery_id: int) -> None:
        self.execute(
            "UPDATE deliveries SET status = 'sent', sent_at = ?, error = '' WHERE id = ?", (now_iso(), delivery_id)
        )

    def mark_failed(self, delivery_id: int, error: str) -> None:
        """Not accepted: the delivery is closed and its items go back to the queue."""
        self.execute("UPDATE deliveries SET status = 'failed', error = ? WHERE id = ?", (error, delivery_id))
        self.execute("UPDATE queue SET delivery_id = NULL WHERE delivery_id = ?", (delivery_id,))

    def note_delivery_error(self, delivery_id: int, error: str) -> None:
        """Acceptance unknown: the delivery stays "sending" and is resent as it is next time."""
        self.execute("UPDATE deliveries SET error = ? WHERE id = ?", (error, delivery_id))

    def deliveries(self, status: str | None = None, limit: int | None = None) -> list[Delivery]:
        sql = f"SELECT {self._DELIVERY_COLS} FROM deliveries"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [Delivery(*r[:-1], bytes(r[-1])) for r in self.rows(sql, params)]

    def last_sent(self, recipient: str) -> str | None:
        return self.value(
            "SELECT MAX(sent_at) FROM deliveries WHERE recipient = ? AND status = 'sent'", (recipient,)
        )

    def failing_deliveries(self, *, method_not: str = "") -> dict[str, str]:
        """Recipient -> when their deliveries started failing: their oldest failed (or in doubt)
        delivery since their last one that was sent.  Each recipient is judged on their own, so
        one mailbox that keeps refusing is seen while the others receive theirs.  `method_not`:
        a delivery method left out (chat messages, judged apart from e-mail)."""
        return dict(
            self.rows(
                "SELECT d.recipient, MIN(d.created_at) FROM deliveries d "
                "WHERE d.status IN ('failed', 'sending') AND d.method != ? AND d.created_at > COALESCE("
                "(SELECT MAX(s.sent_at) FROM deliveries s WHERE s.recipient = d.recipient "
                "AND s.status = 'sent' AND s.method != ?), '') "
                "GROUP BY d.recipient",
                (method_not, method_not),
            )
        )

    # -- runs -------------------------------------------------------------------------------------

    def start_run(self) -> int:
        with self.transaction():
            return int(
                self.value(
                    "INSERT INTO runs (started_at, outcome) VALUES (?, 'running') RETURNING id", (now_iso(),)
                )
            )

    def finish_run(self, run_id: int, outcome: str, **counts: Any) -> None:
        allowed = {"watches", "hits", "new_articles", "new_citations", "corrections", "deliveries", "requests", "error"}
        sets = ", ".join(f"{k} = ?" for k in counts if k in allowed)
        values = [counts[k] for k in counts if k in allowed]
        with self.transaction():
            self.execute(
                f"UPDATE runs SET finished_at = ?, outcome = ?{', ' + sets if sets else ''} WHERE id = ?",
                (now_iso(), outcome, *values, run_id),
            )

    def runs(self, limit: int = 10) -> list[Run]:
        return [
            Run(*r)
            for r in self.rows(
                "SELECT id, started_at, finished_at, outcome, watches, hits, new_articles, new_citations, "
                f"corrections, deliveries, requests, error FROM runs ORDER BY id DESC LIMIT {int(limit)}"
            )
        ]

    def last_success(self) -> str | None:
        """When the last successful run finished, or None."""
        return self.value("SELECT MAX(finished_at) FROM runs WHERE outcome = 'ok'")

    def abandon_stale_runs(self) -> int:
        """Runs left "running" by a process that died; called under the run lock."""
        with self.transaction():
            return self.execute(
                "UPDATE runs SET outcome = 'abandoned', finished_at = ? WHERE outcome = 'running'", (now_iso(),)
            ).rowcount

    # -- failure alerts ---------------------------------------------------------------------------

    def record_alert(self, kind: str, text: str, sent_at: str | None = None) -> int:
        with self.transaction():
            return int(
                self.value(
                    "INSERT INTO alerts (kind, sent_at, text) VALUES (?, ?, ?) RETURNING id",
                    (kind, sent_at or now_iso(), text),
                )
            )

    def last_alert(self, kind: str) -> Alert | None:
        rows = self.rows(
            "SELECT id, kind, sent_at, text FROM alerts WHERE kind = ? ORDER BY sent_at DESC, id DESC LIMIT 1", (kind,)
        )
        return Alert(*rows[0]) if rows else None

    def alerts(self, limit: int = 10) -> list[Alert]:
        return [
            Alert(*r)
            for r in self.rows(f"SELECT id, kind, sent_at, text FROM alerts ORDER BY id DESC LIMIT {int(limit)}")
        ]


class SqliteStore(Store):
    """The embedded default: one SQLite file, created readable by its owner only."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        new = not path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if new:
                fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
                os.close(fd)
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a usable SQLite database ({exc}); nothing was changed") from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the store: {exc.strerror or exc}") from None
        super().__init__(conn, str(path))

    # Locked, full, damaged ("database disk image is malformed" can come from any read, when the
    # first row is stepped or a later one is fetched): a StoreError.  Errors of the SQL itself stay.
    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        try:
            yield
        except _PROGRAMMING_ERRORS:
            raise
        except sqlite3.DatabaseError as exc:
            raise _sqlite_error(self.location, exc) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._store_errors():
            return super().execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._store_errors():
            super().executemany(sql, rows)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._store_errors():
            return super().rows(sql, params)

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._store_errors():
            return super().value(sql, params)

    def _commit(self) -> None:
        try:
            self._conn.commit()
        except sqlite3.DatabaseError as exc:  # e.g. SQLITE_FULL when the WAL cannot grow
            try:
                self._conn.rollback()
            except sqlite3.Error:
                pass
            raise _sqlite_error(self.location, exc) from None

    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _sqlite_error(self.location, exc) from None

    def _backup(self, version: int) -> None:
        target = self.path.with_name(f"{self.path.name}.v{version}.bak")
        dest = sqlite3.connect(target)
        try:
            self._conn.backup(dest)
        finally:
            dest.close()
        os.chmod(target, 0o600)
        log.info("store %s: backed up to %s before migrating", self.location, target)


_PROGRAMMING_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def _sqlite_error(location: str, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(f"{location}: the database is locked by another process ({text})")
    if "malformed" in text or "not a database" in text:
        return StoreError(f"{location}: the database file is damaged ({text}); restore it from a backup")
    if "disk" in text or "full" in text:
        return StoreError(f"{location}: cannot write the store: {text}")
    return StoreError(f"{location}: {text}")


def open_store(
    *, path: Path | None = None, url: str | None = None, migrate: bool = True, timeout: float = 30.0
) -> Store:
    """Open (and migrate) the store: PostgreSQL when `url` is given, else SQLite at `path`.

    `timeout`: SQLite's busy timeout, seconds to wait for a lock another process holds.
    """
    if url:
        from litwatch.watchers.pgstore import PostgresStore

        store: Store = PostgresStore(url)
    else:
        assert path is not None
        store = SqliteStore(path, timeout=timeout)
    if migrate:
        try:
            store.migrate()
        except StoreError:
            store.close()
            raise
        except sqlite3.DatabaseError as exc:
            store.close()
            raise StoreError(f"{store.location}: not a usable database ({exc}); nothing was changed") from None
    return store


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
