"""One pass: search, look up citations and corrections, store, diff, build digests, deliver.

The order is what makes it safe:
1. Deliveries left "sending" by an earlier run (acceptance unknown) are resent unchanged.
2. Everything is asked of NCBI first; nothing is written while asking.
3. What was observed is written in one transaction: articles, hits, citations, corrections, and
   the queue of what each recipient is still to be told.  A failure before this commit leaves the
   store as it was; the next run sees the same news again.
4. For each recipient whose digest is due, the digest is built from their queue, recorded as
   "sending" with its Message-ID, delivered, and only then marked sent.  A refused delivery puts
   its items back in the queue for the next run.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from litwatch.jobs.cli import terminal
from litwatch.jobs.config import Config, RecipientConfig, WatchConfig
from litwatch.jobs.run.crashpoints import crashpoint
from litwatch.notifications.delivery import Deliverer, DeliveryError
from litwatch.notifications.session import delivery_session
from litwatch.notifications.digest import Item, build_digest
from litwatch.notifications.render import ATTACH_MAX, render_digest
from litwatch.watchers.articles import Article, ArticleRecord, PubDate
from litwatch.watchers.entrez import EntrezClient, EntrezError
from litwatch.watchers.icite import ICiteClient, ICiteError
from litwatch.watchers.search import SearchResult
from litwatch.watchers.searches import WatchSearch, load_splits, save_splits, search_watches
from litwatch.watchers.spool import ArticleSpool
from litwatch.watchers.store import Store, StoreError, Tracked, now_iso
from litwatch.watchers.tracked import ALWAYS_ANNOUNCE, correction_notices, query_terms

log = logging.getLogger("litwatch.run")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TRACKED_NOTES = "Tracked papers"
FULL_RECORDS = ATTACH_MAX  # a digest loads at most this many full records (listed and attached)
ARTICLE_CACHE = 2000  # decoded articles kept across one run's digests
NOTIFY_METHOD = "notify"  # deliveries of chat messages (jobs/notify.py), not e-mail


@dataclass
class RunSummary:
    """What a run did; `line()` is the one summary line each run ends with."""

    run_id: int | None = None
    outcome: str = "ok"
    watches: int = 0
    hits: int = 0
    new_articles: int = 0
    new_citations: int = 0
    corrections: int = 0
    sent: int = 0
    failed: int = 0
    requests: int = 0
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"run {self.run_id}: {self.outcome}; watches={self.watches} hits={self.hits} "
            f"new_articles={self.new_articles} new_citations={self.new_citations} "
            f"corrections={self.corrections} digests_sent={self.sent} digests_failed={self.failed} "
            f"requests={self.requests} duration={self.duration:.1f}s"
        )


@dataclass
class Observation:
    """Everything one run learnt from NCBI, before anything is written."""

    results: dict[str, SearchResult] = field(default_factory=dict)
    baselined: dict[str, set[str]] = field(default_factory=dict)  # watch -> hits stored as baseline
    new_hits: dict[str, set[str]] = field(default_factory=dict)  # watch -> hits new to it
    announce: dict[str, set[str]] = field(default_factory=dict)  # watch -> hits to announce
    citations: dict[str, set[tuple[str, str, str]]] = field(default_factory=dict)  # paper -> triples seen
    citation_baseline: dict[str, set[str]] = field(default_factory=dict)  # paper -> sources baselined now
    announce_citations: set[tuple[str, str]] = field(default_factory=set)  # (cited, citing)
    corrections: list[tuple[str, str, str, str, bool]] = field(default_factory=list)  # + baseline flag
    announce_corrections: list[tuple[str, str, str, str]] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    tracked_add: set[str] = field(default_factory=set)  # config PMIDs to store as tracked
    tracked_drop: set[str] = field(default_factory=set)  # config PMIDs no longer in the config
    unknown_tracked: set[str] = field(default_factory=set)
    articles: ArticleSpool = field(default_factory=ArticleSpool)  # pmid -> ArticleRecord, on disk past 2,000
    backfill_citations: set[tuple[str, str]] = field(default_factory=set)  # (cited, citing) to date-check
    backfill_from: date | None = None
    notes: list[tuple[str | None, str, bool]] = field(default_factory=list)  # (watch or None, text, problem)


class Pipeline:
    """A run of litwatch over one config, store, Entrez client and deliverer."""

    def __init__(
        self,
        config: Config,
        store: Store,
        client: EntrezClient,
        deliverer: Deliverer,
        *,
        icite: ICiteClient | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.deliverer = deliverer
        self.icite = icite
        self.tz = ZoneInfo(config.schedule.timezone) if config.schedule.timezone else None
        self._clock = clock or (lambda: datetime.now(self.tz).astimezone())
        self._sending: Deliverer | None = None  # the open delivery session (_session)
        self._article_cache: dict[str, Article] = {}  # (_articles) cleared when the run records

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> RunSummary:
        started = time.monotonic()
        before = self._requests()
        summary = RunSummary()
        self.store.abandon_stale_runs()
        summary.run_id = run_id = self.store.start_run()
        summary.watches = len(self.config.watch)
        try:
            self._resend_in_doubt(summary)
            try:
                obs = self.observe()
                crashpoint("after_fetch")
            except (EntrezError, ICiteError) as exc:
                summary.errors.append(str(exc))
                log.error("run %d: %s; nothing was stored, the next run catches up", run_id, exc)
            else:
                self.record(obs, run_id, summary)
                crashpoint("after_store")
                self._update_feeds(summary)
            self._deliver_due(run_id, summary)
            self._notify(run_id, summary)
        except Exception as exc:
            summary.errors.append(str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}")
            summary.outcome = "failed"
            self._finish(summary, started, before)
            raise
        summary.outcome = "failed" if summary.errors or summary.failed else "ok"
        self._finish(summary, started, before)
        return summary

    def _requests(self) -> int:
        return self.client.requests_made + (self.icite.requests_made if self.icite else 0)

    def _finish(self, summary: RunSummary, started: float, before: int) -> None:
        summary.duration = time.monotonic() - started
        summary.requests = self._requests() - before
        if summary.run_id is None:
            return
        try:
            self.store.finish_run(
                summary.run_id,
                summary.outcome,
                watches=summary.watches,
                hits=summary.hits,
                new_articles=summary.new_articles,
                new_citations=summary.new_citations,
                corrections=summary.corrections,
                deliveries=summary.sent,
                requests=summary.requests,
                error="; ".join(summary.errors)[:2000],
            )
        except StoreError as exc:
            log.error("could not record the end of run %s: %s", summary.run_id, exc)

    # -- 2. observe -------------------------------------------------------------------------------

    def today(self) -> date:
        return self._clock().date()

    def observe(self) -> Observation:
        """Ask NCBI everything this run needs to know.  Writes nothing."""
        obs = Observation()
        store, cfg = self.store, self.config
        to_fetch: set[str] = set()

        results = self._search(cfg.watch)
        for watch in cfg.watch:
            first_run = not store.watch_baselined(watch.name)
            result = results[watch.name]
            obs.results[watch.name] = result
            for problem in result.problems:
                obs.notes.append((watch.name, f"PubMed reported a problem with this query: {problem}", True))
            if first_run:
                obs.baselined[watch.name] = result.ids
                announce: set[str] = set()
                if watch.backfill_days:
                    recent = result.recent or set()
                    announce = recent if recent <= result.ids else recent & result.ids  # (no copy of 50,000)
                obs.announce[watch.name] = announce
                obs.notes.append(
                    (
                        watch.name,
                        f"First run: {len(result.ids)} current hits stored as the baseline"
                        + (f"; {len(announce)} from the last {watch.backfill_days} days are listed" if watch.backfill_days else "")
                        + ". New hits are announced from now on.",
                        False,
                    )
                )
            elif store.watch_query(watch.name) != watch.query:
                # The query was edited: what it finds now that the old one did not is a new
                # baseline, not news (a broadened query would otherwise flood the digest).
                new = result.ids - store.watch_hits(watch.name)
                obs.baselined[watch.name] = new
                obs.announce[watch.name] = set()
                obs.notes.append(
                    (watch.name, f"The query changed: {len(new)} hits it adds are stored as the new baseline.", False)
                )
            else:
                new = result.ids - store.watch_hits(watch.name)
                obs.new_hits[watch.name] = new
                obs.announce[watch.name] = new
            to_fetch |= obs.announce[watch.name]
        crashpoint("after_search")

        # tracked papers: the config's and the CLI's, merged
        tracked = {t.pmid: t for t in store.tracked()}
        configured = set(cfg.tracked.pmids)
        obs.tracked_drop = {p for p, t in tracked.items() if t.origin == "config" and p not in configured}
        for p in obs.tracked_drop:
            tracked.pop(p)
        candidates = configured - set(tracked)
        papers = set(tracked) | candidates
        due = {p for p in papers if p in candidates or self._recheck_due(tracked[p])}
        to_fetch |= due | (papers - store.known_pmids(papers))

        if papers:
            self._observe_citations(obs, papers, tracked, candidates)
            for cited, citing in obs.announce_citations | obs.backfill_citations:
                to_fetch.add(citing)

        missing = to_fetch  # (reused, not copied: a backfill's may hold 50,000)
        missing -= store.known_pmids(to_fetch) - due
        if missing:
            log.info("fetching %d records", len(missing))
            report = terminal.progress("fetching PubMed records")
            for n, record in enumerate(self._fetch(missing), 1):
                obs.articles.add(record)
                if report:
                    report(n, len(missing))
        if obs.backfill_citations:
            self._backfill_citations(obs)
        unreadable = {p: why for p, why in self.client.unreadable.items() if p in missing}
        if unreadable:
            self._hold_back(obs, unreadable)

        stored = store.known_pmids(candidates)
        obs.unknown_tracked = {p for p in candidates if p not in obs.articles and p not in stored and p not in unreadable}
        for p in sorted(obs.unknown_tracked):
            obs.notes.append((None, f"PMID {p} is not in PubMed; it is not tracked (check [tracked] pmids).", True))
            log.warning("tracked PMID %s is not in PubMed; not tracked", p)
        obs.tracked_add = candidates - obs.unknown_tracked
        for p in obs.unknown_tracked:
            obs.citations.pop(p, None)
            obs.citation_baseline.pop(p, None)
        obs.announce_citations = {(c, g) for c, g in obs.announce_citations if c not in obs.unknown_tracked}

        # corrections of the tracked papers re-checked now
        recorded: dict[str, set[tuple[str, str]]] = {}  # one query for every paper re-checked
        for p, k, n in store.corrections(due - obs.unknown_tracked):
            recorded.setdefault(p, set()).add((k, n))
        for p in sorted(due - obs.unknown_tracked):
            article = obs.articles.get(p)
            if article is None:
                continue
            obs.checked.add(p)
            first_check = p in candidates or tracked[p].checked_at is None
            known = recorded.get(p, set())
            for kind, notice, source in sorted(correction_notices(article)):
                if (kind, notice) in known:
                    continue
                baseline = first_check and kind not in ALWAYS_ANNOUNCE
                obs.corrections.append((p, kind, notice, source, baseline))
                if not baseline:
                    obs.announce_corrections.append((p, kind, notice, source))
        return obs

    def _search(self, watches: list[WatchConfig]) -> dict[str, SearchResult]:
        """Every watch's hits, each distinct search asked once (watchers/searches.py)."""
        today = self.today()
        asks = []
        for w in watches:
            first_run = w.backfill_days and not self.store.watch_baselined(w.name)
            # a backfill's recent hits come with the same search (one more esearch at most)
            since = today - timedelta(days=w.backfill_days) if first_run else None
            asks.append(WatchSearch(w.name, w.query, w.window_days, since))

        def searching(name: str) -> terminal.ProgressFn | None:
            log.info("searching %r", name)
            terminal.status(f"searching {name!r}")
            return terminal.progress(f"searching {name!r}")

        return search_watches(self.client, asks, today=today, remembered=load_splits(self.store), progress=searching)

    def _fetch(self, pmids: set[str]) -> Iterator[ArticleRecord]:
        """`client.fetch_records`; when it fails, the error names the PMIDs asked for."""
        try:
            yield from self.client.fetch_records(pmids)
        except EntrezError as exc:
            raise EntrezError(f"{exc}; PMIDs asked for: {_pmid_list(pmids)}") from None

    def _hold_back(self, obs: Observation, unreadable: dict[str, str]) -> None:
        """Records PubMed served but that cannot be read: this run neither records nor announces
        them (the others go ahead), so the next run sees them as new again and announces them
        once PubMed serves a readable record."""
        for pmid, why in sorted(unreadable.items()):
            log.warning("%s; not announced until PubMed serves a readable record", why)
        held = set(unreadable)
        for name in obs.announce:
            obs.announce[name] -= held
        for name in obs.new_hits:
            obs.new_hits[name] -= held
        obs.announce_citations = {(c, g) for c, g in obs.announce_citations if g not in held}
        for paper, triples in obs.citations.items():
            baselined_now = obs.citation_baseline.get(paper, set())
            obs.citations[paper] = {t for t in triples if t[1] not in held or t[2] in baselined_now}

    def _recheck_due(self, t: Tracked) -> bool:
        if t.checked_at is None:
            return True
        days = self.config.tracked.recheck_days
        last = datetime.fromisoformat(t.checked_at)
        return datetime.now(last.tzinfo) - last >= timedelta(days=days) - timedelta(hours=2)

    def _observe_citations(
        self, obs: Observation, papers: set[str], tracked: dict[str, Tracked], candidates: set[str]
    ) -> None:
        cfg = self.config.tracked
        found: dict[str, dict[str, set[str]]] = {}  # source -> paper -> citing
        if "pubmed" in cfg.sources:
            found["pubmed"] = self.client.cited_by(papers)
        if "icite" in cfg.sources and self.icite is not None:
            try:
                found["icite"] = self.icite.cited_by(papers)
            except ICiteError as exc:
                obs.notes.append((None, f"iCite could not be reached ({exc}); citations from PubMed only.", True))
                log.warning("iCite failed: %s; using PubMed's cited-by only", exc)
        stored = self.store.citations(papers)
        stored_pairs = {(c, g) for c, g, _ in stored}
        backfill_from = self.today() - timedelta(days=cfg.backfill_days) if cfg.backfill_days else None
        backfill_candidates: set[tuple[str, str]] = set()
        for paper in sorted(papers):
            baselined = set() if paper in candidates else tracked[paper].baselined_sources
            triples: set[tuple[str, str, str]] = set()
            new_sources: set[str] = set()
            for source, links in found.items():
                citing = links.get(paper, set())
                triples |= {(paper, g, source) for g in citing}
                if source not in baselined:
                    new_sources.add(source)
            obs.citations[paper] = triples
            if new_sources:
                obs.citation_baseline[paper] = new_sources
            first_lookup = not baselined
            for _, citing, source in triples:
                if (paper, citing) in stored_pairs or citing == paper:
                    continue
                if source in baselined:
                    obs.announce_citations.add((paper, citing))
                elif first_lookup and backfill_from is not None:
                    backfill_candidates.add((paper, citing))
            # a pair already announced through another source is not news
        # citing papers entered in the backfill window are announced: `_backfill_citations` tells,
        # once their records are fetched with everything else
        obs.backfill_citations = backfill_candidates
        obs.backfill_from = backfill_from
        # announcing a pair once, whatever the number of sources that found it
        obs.announce_citations = {(c, g) for c, g in obs.announce_citations if (c, g) not in stored_pairs}

    def _backfill_citations(self, obs: Observation) -> None:
        """Announce the first-lookup citations whose citing paper was entered in the backfill window."""
        need = {g for _, g in obs.backfill_citations}
        entrez_dates = self.store.entrez_dates(need - set(obs.articles))
        for paper, citing in obs.backfill_citations:
            record = obs.articles.record(citing)
            entrez_date = record.entrez_date if record else entrez_dates.get(citing)
            if entrez_date and obs.backfill_from and date.fromisoformat(entrez_date) >= obs.backfill_from:
                obs.announce_citations.add((paper, citing))
        obs.backfill_citations = set()

    # -- 3. record --------------------------------------------------------------------------------

    def record(self, obs: Observation, run_id: int, summary: RunSummary) -> None:
        """Write what was observed, and queue what each recipient is to be told: one transaction."""
        store, cfg = self.store, self.config
        self._article_cache.clear()  # records may be replaced now
        recipients = cfg.recipients()
        with store.transaction():
            for batch in obs.articles.batches():
                store.put_articles(batch)
            for p in obs.tracked_drop:
                store.remove_tracked(p)
            for p in sorted(obs.tracked_add):
                store.add_tracked(p, "config")
            for watch in cfg.watch:
                result = obs.results[watch.name]
                summary.hits += len(result.ids)
                if watch.name in obs.baselined:
                    store.add_hits(watch.name, obs.baselined[watch.name], run_id, baseline=True)
                else:
                    store.add_hits(watch.name, obs.new_hits[watch.name], run_id, baseline=False)
                store.save_watch(
                    watch.name, watch.query, run_id, result.count, result.query_translation, result.problems
                )
            save_splits(store, obs.results, {w.name: w.query for w in cfg.watch}, run_id)
            sources_of: dict[str, set[str]] | None = None
            for paper, triples in obs.citations.items():
                baseline_sources = obs.citation_baseline.get(paper, set())
                store.add_citations({t for t in triples if t[2] in baseline_sources}, run_id, baseline=True)
                store.add_citations({t for t in triples if t[2] not in baseline_sources}, run_id, baseline=False)
                if baseline_sources:
                    if sources_of is None:  # (read once: not once per paper, 5,000 papers on a first run)
                        sources_of = {t.pmid: t.baselined_sources for t in store.tracked()}
                    known = sources_of.get(paper, set())
                    store.set_link_sources(paper, known | baseline_sources)
            baseline_rows = [(p, k, n, s) for p, k, n, s, b in obs.corrections if b]
            store.add_corrections(baseline_rows, run_id, baseline=True)
            store.add_corrections(obs.announce_corrections, run_id, baseline=False)
            store.set_checked(obs.checked, now_iso())

            # the queue
            new_articles: set[str] = set()
            for r in recipients:
                mine = [w.name for w in cfg.watch if r.watches is None or w.name in r.watches]
                announce = {p for w in mine for p in obs.announce.get(w, ())}
                already = store.announced_to(r.email, announce)
                queue: list[tuple[str, str, str]] = []
                for w in mine:
                    for p in sorted(obs.announce.get(w, ())):
                        if p not in already:
                            queue.append(("hit", p, w))
                            new_articles.add(p)
                        elif not already[p]:  # still waiting for its digest: it names this watch too
                            queue.append(("hit", p, w))
                for watch, text, problem in obs.notes:
                    if watch is None or watch in mine:
                        reason = f"{watch or TRACKED_NOTES}|{text}|{'problem' if problem else ''}"
                        queue.append(("note", str(run_id), reason))
                if r.citations:
                    queue += [("citation", citing, cited) for cited, citing in sorted(obs.announce_citations)]
                    queue += [("correction", p, f"{k}|{n}|{s}") for p, k, n, s in obs.announce_corrections]
                store.enqueue(r.email, queue, run_id)
            if cfg.notify:
                from litwatch.jobs.run.notify import enqueue_news

                enqueue_news(store, cfg, obs, run_id)
        summary.new_articles = len(new_articles)
        summary.new_citations = len(obs.announce_citations)
        summary.corrections = len(obs.announce_corrections)
        for p in obs.unknown_tracked:
            summary.warnings.append(f"PMID {p} is not in PubMed; not tracked")

    # -- 4. deliver -------------------------------------------------------------------------------

    def is_due(self, r: RecipientConfig) -> bool:
        if r.frequency == "daily":
            return True
        now = self._clock()
        last = self.store.last_sent(r.email)
        last_dt = datetime.fromisoformat(last).astimezone(now.tzinfo) if last else None
        if last_dt and now - last_dt >= timedelta(days=7):
            return True
        return WEEKDAYS[now.weekday()] == r.weekday and (last_dt is None or last_dt.date() < now.date())

    def digest_for(self, r: RecipientConfig, items: list[Item]):  # -> Digest
        cfg = self.config
        pmids = {i.pmid for i in items if i.kind in ("hit", "citation", "correction")}
        pmids |= {i.reason for i in items if i.kind == "citation"}
        sources: dict[tuple[str, str], list[str]] = {}
        cited = {i.reason for i in items if i.kind == "citation"}
        for c, g, s in self.store.citations(cited):
            sources.setdefault((c, g), []).append(s)
        watches = [w for w in cfg.watch if r.watches is None or w.name in r.watches]

        def build(articles: dict[str, Article]):  # noqa: ANN202
            return build_digest(
                r.email,
                items,
                articles,
                created=self._clock(),
                watch_order=[w.name for w in watches],
                watch_terms={w.name: tuple(w.terms) if w.terms else query_terms(w.query) for w in watches},
                watch_queries={w.name: w.query for w in watches},
                citation_sources=sources,
            )

        if len(pmids) <= FULL_RECORDS:
            return build(self._articles(pmids))
        # A huge digest (a large backfill): only what is listed or attached needs the full records.
        # Build it with light stand-ins (PMID and Entrez date, which is all the order needs; the
        # papers named in sentences, cited or corrected, in full), then put the full records into
        # the first FULL_RECORDS entries.  Stand-ins are never shown: entries beyond the listed and
        # attached ones are named by PMID only.
        no_date = PubDate()
        articles = {
            p: Article(pmid=p, title_html="", entrez_date=d, pub_date=no_date)
            for p, d in self.store.entrez_dates(pmids).items()
        }
        articles.update(self.store.articles({i.pmid for i in items if i.kind == "correction"} | cited))
        digest = build(articles)
        del articles
        head = digest.entries[:FULL_RECORDS]
        full = self.store.articles(e.article.pmid for e in head)
        head = tuple(replace(e, article=full.get(e.article.pmid, e.article)) for e in head)
        return replace(digest, entries=head + digest.entries[FULL_RECORDS:])

    def _articles(self, pmids: set[str]) -> dict[str, Article]:
        """`store.articles`, the last `ARTICLE_CACHE` decoded ones kept: readers' digests share
        articles (a citation of a tracked paper goes to every reader), decoded once."""
        cache = self._article_cache
        out = {p: cache[p] for p in pmids if p in cache}
        if len(out) < len(pmids):
            loaded = self.store.articles(p for p in pmids if p not in out)
            out.update(loaded)
            cache.update(loaded)
            while len(cache) > ARTICLE_CACHE:
                del cache[next(iter(cache))]
        return out

    def render(self, digest, message_id: str) -> bytes:  # noqa: ANN001
        msg = render_digest(
            digest,
            sender=self.config.digest.sender,
            message_id=message_id,
            max_items=self.config.digest.max_items,
            attach=tuple(self.config.digest.attach),
            templates_dir=self.config.templates_path,
        )
        return msg.as_bytes()

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Deliveries inside share one SMTP session (notifications/session.py)."""
        if self._sending is not None:
            yield
            return
        with delivery_session(self.deliverer) as sending:
            self._sending = sending
            try:
                yield
            finally:
                self._sending = None

    def _deliver_due(self, run_id: int, summary: RunSummary) -> None:
        """Each due digest in turn, in one SMTP session: built, recorded "sending", sent, marked,
        dropped before the next is built (never all of them in memory)."""
        with self._session():
            self._deliver_each(run_id, summary)

    def _deliver_each(self, run_id: int, summary: RunSummary) -> None:
        for r in self.config.recipients():
            if not self.is_due(r):
                log.info("%s: digest not due today (%s)", r.email, r.frequency)
                continue
            queued = self.store.pending(r.email)
            if not queued and not self.config.digest.send_empty:
                continue
            items = [Item(q.kind, q.pmid, q.reason) for q in queued]
            queue_ids = [q.id for q in queued]
            del queued
            digest = self.digest_for(r, items)
            domain = self.config.digest.sender.rpartition("@")[2]
            message_id = make_msgid(idstring=f"litwatch.{run_id}", domain=domain)
            message = self.render(digest, message_id)
            subject = _subject(message)
            with self.store.transaction():
                delivery_id = self.store.create_delivery(
                    r.email, message_id, subject, self.deliverer.method, message, run_id, queue_ids
                )
                self.store.delivery_attempted(delivery_id)  # (one commit, not two, before the send)
            self._attempt(delivery_id, r.email, message, summary, attempted=True)

    def _attempt(
        self,
        delivery_id: int,
        recipient: str,
        message: bytes,
        summary: RunSummary,
        *,
        resend: bool = False,
        attempted: bool = False,
    ) -> None:
        """Deliver, then record the outcome.  `resend`: a delivery an earlier run left in doubt; it may
        already be with the recipient, so a temporary refusal now keeps it "sending" (resent as it is
        next time), never puts its items back into a new message.  `attempted`: the attempt is
        already counted (with the delivery's creation)."""
        if not attempted:
            with self.store.transaction():
                self.store.delivery_attempted(delivery_id)
        try:
            crashpoint("before_data")
            (self._sending or self.deliverer).deliver(message, self.config.digest.sender, recipient)
        except DeliveryError as exc:
            summary.failed += 1
            summary.errors.append(f"digest to {recipient}: {exc}")
            log.error("digest to %s not delivered: %s", recipient, exc)
            with self.store.transaction():
                if exc.in_doubt or (resend and exc.temporary):
                    self.store.note_delivery_error(delivery_id, str(exc))
                else:
                    self.store.mark_failed(delivery_id, str(exc))
            return
        crashpoint("after_accept")
        with self.store.transaction():
            self.store.mark_sent(delivery_id)
            if self.config.tracked.follow == "announced":
                for item in self.store.queue_items(delivery_id):
                    if item.kind in ("hit", "citation"):
                        self.store.add_tracked(item.pmid, "announced")
        crashpoint("after_sent")
        summary.sent += 1
        log.info("digest to %s delivered (%s)", recipient, self.deliverer.describe())

    def _update_feeds(self, summary: RunSummary) -> None:
        """Rewrite the Atom feeds ([feed]); a failure is reported, never stops the deliveries."""
        if self.config.feed is None:
            return
        from litwatch.jobs.run.feeds import write_feeds

        try:
            write_feeds(self.config, self.store, now=self._clock())
        except Exception as exc:  # noqa: BLE001 - the digests go out whatever happens to the feeds
            summary.errors.append(f"feeds not updated: {exc}")
            log.error("feeds not updated: %s; the next run rewrites them", exc)

    def _notify(self, run_id: int, summary: RunSummary) -> None:
        """Chat messages ([[notify]]) of what is new, after the digests."""
        if not self.config.notify:
            return
        from litwatch.jobs.run.notify import send_notifications

        send_notifications(self.config, self.store, run_id, summary, now=self._clock())

    def _resend_in_doubt(self, summary: RunSummary) -> None:
        """Deliveries an earlier run left "sending": resend them unchanged, same Message-ID."""
        with self._session():
            self._resend_each(summary)

    def _resend_each(self, summary: RunSummary) -> None:
        for d in reversed(self.store.deliveries(status="sending")):
            if d.method == NOTIFY_METHOD:
                continue  # chat messages: jobs/notify.py
            log.warning("resending digest %s to %s: an earlier run did not see it accepted", d.message_id, d.recipient)
            self._attempt(d.id, d.recipient, d.message, summary, resend=True)


def _pmid_list(pmids: set[str], shown: int = 10) -> str:
    ordered = sorted(pmids, key=lambda p: (len(p), p))
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    return ", ".join(ordered[:shown]) + more


def _subject(message: bytes) -> str:
    import email
    import email.policy

    head = message.split(b"\r\n\r\n", 1)[0]
    parsed = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.default)
    return str(parsed["Subject"] or "")
