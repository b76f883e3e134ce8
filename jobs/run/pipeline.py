"""One pass: search, look up citations and corrections, store, diff, deliver.

The order is what makes it safe:
1. Deliveries left "sending" by an earlier run (acceptance unknown) are resent unchanged.
2. Observe: everything is asked of NCBI first (the watch, citation and correction steps); nothing
   is written while asking.
3. Record: what was observed is written in one transaction: articles, hits, citations,
   corrections, and the queue of what each subscriber is still to be told.  A failure before this
   commit leaves the store as it was; the next run sees the same news again.
4. Deliver: the one delivery loop (jobs/run/deliver.py) sends each due subscriber (e-mail reader,
   chat target) their queue: recorded as "sending" first, delivered, only then marked sent.  A
   refused delivery puts its items back in the queue for the next run.

A department's run (more than 25 readers) goes through 2-4 once per reader group
(jobs/run/groups.py): a group's watches are observed, recorded in their own transaction and its
readers' digests sent while the later groups' watches are still searched.  Each group's
transaction holds its watches whole (hits, state, split, and the queue of every reader who follows
them); the first group's also holds the rest of the run's news, queued for every reader.  A run
that fails (or dies) after some groups were recorded leaves those recorded and their digests sent
or in doubt; the next run catches up on the rest, as after a failure before the first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from litwatch.jobs import terminal
from litwatch.jobs.config import Config, RecipientConfig, WatchConfig
from litwatch.jobs.parts import Clock, make_clock
from litwatch.jobs.run.alerts import alert_set_aside
from litwatch.jobs.run.crashpoints import crashpoint
from litwatch.jobs.run.deliver import DeliveryLoop
from litwatch.jobs.run.feeds import write_feeds
from litwatch.jobs.run.groups import Arrivals, ReaderGroup, prompt_handoffs, reader_groups
from litwatch.jobs.run.notify import enqueue_news
from litwatch.jobs.run.outside import (
    CitationSources,
    Clients,
    PreprintObservation,
    observe_citations,
    observe_preprints,
    record_citation_sources,
    source_note,
)
from litwatch.jobs.run.preprints import plan_preprints, queue_preprints, record_preprints
from litwatch.jobs.run.ranking import reference_pmids
from litwatch.jobs.run.sent_notices import NoticeObservation, observe_notices, record_notices
from litwatch.jobs.run.subscribers import chat_subscribers, email_subscribers, subscribed
from litwatch.jobs.run.summary import RunSummary
from litwatch.notifications.delivery import Deliverer
from litwatch.watchers.announcements import Citation, Correction, Hit, Item, Note, WorkCitation
from litwatch.watchers.articles import ArticleRecord
from litwatch.watchers.entrez import FETCH_BATCH, EntrezClient, EntrezError
from litwatch.watchers.icite import ICiteClient, ICiteError
from litwatch.watchers.search import SearchResult
from litwatch.watchers.searches import WatchSearch, load_splits, save_splits, search_watches
from litwatch.watchers.spool import ArticleSpool
from litwatch.watchers.store import Store, StoreError, Tracked, now_iso
from litwatch.watchers.tracked import correction_kind, correction_notices
from litwatch.watchers.wording import count

__all__ = ["Observation", "Pipeline", "RunSummary", "TrackedPlan", "WatchObservation"]

log = logging.getLogger("litwatch.run")


@dataclass
class WatchObservation:
    """What one watch's search found: the hits stored as a baseline (first run, or a changed
    query), or the hits new to it; those to announce; its notes."""

    result: SearchResult
    baselined: set[str] | None = None
    new_hits: set[str] | None = None
    announce: set[str] = field(default_factory=set)
    notes: list[Note] = field(default_factory=list)


@dataclass
class TrackedPlan:
    """The tracked papers this run looks at: stored ones (`tracked`), the config's new ones
    (`candidates`), and those whose record is re-read for corrections now (`due`)."""

    tracked: dict[str, Tracked]
    candidates: set[str]
    due: set[str]
    drop: set[str]  # config PMIDs no longer in the config

    @property
    def papers(self) -> set[str]:
        return set(self.tracked) | self.candidates


@dataclass
class Observation:
    """Everything one run learnt from NCBI, before anything is written."""

    watches: dict[str, WatchObservation] = field(default_factory=dict)
    citations: dict[str, set[tuple[str, str, str]]] = field(default_factory=dict)  # paper -> triples seen
    citation_baseline: dict[str, set[str]] = field(default_factory=dict)  # paper -> sources baselined now
    announce_citations: set[tuple[str, str]] = field(default_factory=set)  # (cited, citing)
    corrections: list[tuple[Correction, bool]] = field(default_factory=list)  # (notice, stored as baseline)
    checked: set[str] = field(default_factory=set)
    tracked_add: set[str] = field(default_factory=set)  # config PMIDs to store as tracked
    tracked_drop: set[str] = field(default_factory=set)
    unknown_tracked: set[str] = field(default_factory=set)
    articles: ArticleSpool = field(default_factory=ArticleSpool)  # pmid -> ArticleRecord, on disk past 2,000
    backfill_citations: set[tuple[str, str]] = field(default_factory=set)  # (cited, citing) to date-check
    backfill_from: date | None = None
    notes: list[Note] = field(default_factory=list)  # about the tracked papers (the watches' are theirs)
    notices: NoticeObservation = field(default_factory=NoticeObservation)  # notices on sent articles
    sources: CitationSources = field(default_factory=CitationSources)  # cited-by sources' answers
    preprints: PreprintObservation = field(default_factory=PreprintObservation)
    # the first group's: everything above besides `watches` and `articles` is observed then; a later
    # group's observation holds its watches and their records only
    first: bool = True

    @property
    def announce(self) -> dict[str, set[str]]:
        """Watch -> the hits it announces."""
        return {name: w.announce for name, w in self.watches.items()}

    @property
    def announce_corrections(self) -> list[Correction]:
        return [c for c, baseline in self.corrections if not baseline]

    def citation_items(self) -> list[Citation | WorkCitation]:
        """Citing PubMed articles, and citing works outside PubMed (keys that are not PMIDs)."""
        return [
            Citation(citing, cited) if citing.isdigit() else WorkCitation(citing, cited)
            for cited, citing in sorted(self.announce_citations)
        ]


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
        sources: Clients | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.deliverer = deliverer
        self.icite = icite
        self.sources = sources or Clients(icite=icite)
        self._sent_notices = 0  # notices on sent articles queued by the last record()
        self._follows: dict[str, list[str]] = {}  # reader -> the names of their watches (`_followed`)
        self._clock = clock or make_clock(config)

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> RunSummary:
        started = time.monotonic()
        before = self._requests()
        summary = RunSummary()
        self.store.runs.abandon_stale()
        summary.run_id = run_id = self.store.runs.start()
        summary.watches = len(self.config.watch)
        loop = self._delivery_loop(summary)
        try:
            loop.resend_in_doubt()
            recorded = 0
            groups = self.plan_groups()
            new_articles: set[str] = set()
            try:
                with closing(self.observe(groups)) as parts:
                    for obs, group in parts:
                        self.record(obs, run_id, summary, new_articles)
                        crashpoint("after_store")
                        recorded += 1
                        if recorded < len(groups):  # (the last group goes with everyone left, below)
                            loop.deliver_due(run_id, only=group.readers)
            except (EntrezError, ICiteError) as exc:
                summary.errors.append(str(exc))
                if recorded:
                    log.error("run %d: %s; the news of %d of %d reader groups was stored and is delivered, "
                              "the next run catches up on the rest", run_id, exc, recorded, len(groups))
                else:
                    log.error("run %d: %s; nothing was stored, the next run catches up", run_id, exc)
            if recorded:
                self._update_feeds(summary)
            loop.deliver_due(run_id)
        except Exception as exc:
            summary.errors.append(str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}")
            summary.outcome = "failed"
            self._finish(summary, started, before)
            raise
        summary.outcome = "failed" if summary.errors or summary.failed else "ok"
        self._finish(summary, started, before)
        return summary

    def _delivery_loop(self, summary: RunSummary) -> DeliveryLoop:
        cfg = self.config
        subscribers = email_subscribers(cfg, self.store, self.deliverer, self._clock)
        subscribers += chat_subscribers(cfg, self.store, self._clock)
        return DeliveryLoop(
            self.store,
            subscribers,
            summary,
            fallback=self.deliverer,
            sender=cfg.digest.sender,
            follow=cfg.tracked.follow == "announced",
            on_set_aside=self._tell_admin_set_aside,
        )

    def _tell_admin_set_aside(self, why: str) -> None:
        alert_set_aside(self.config, self.store, self.deliverer, why)

    def _requests(self) -> int:
        return self.client.requests_made + self.sources.requests()

    def _finish(self, summary: RunSummary, started: float, before: int) -> None:
        summary.duration = time.monotonic() - started
        summary.requests = self._requests() - before
        if summary.run_id is None:
            return
        try:
            self.store.runs.finish(
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

    def plan_groups(self) -> list[ReaderGroup]:
        """The run's reader groups (jobs/run/groups.py): one for a lab, halving ones for a department."""
        cfg = self.config
        search_of = {a.name: a.group for a in self._asks(cfg.watch)}
        readers = [(r.email, self._followed(r)) for r in subscribed(cfg, self.store)]
        return reader_groups(readers, [w.name for w in cfg.watch], search_of)

    def _followed(self, r: RecipientConfig) -> list[str]:
        """The names of `r`'s watches, in config order (worked out once a run: once per group)."""
        names = self._follows.get(r.email)
        if names is None:
            names = self._follows[r.email] = [w.name for w in self.config.watches_of(r)]
        return names

    def observe(self, groups: list[ReaderGroup]) -> Generator[tuple[Observation, ReaderGroup], None, None]:
        """Ask NCBI everything this run needs to know, group by group (jobs/run/groups.py): yields
        each group's observation once its watches' searches are answered and their new records
        fetched.  Writes nothing.  The first group's observation also holds everything else the run
        learnt (`Observation.first`).

        The watches' searches run in a background thread, in the groups' order, while this one asks
        what does not depend on them: the notices on sent articles, the citations of the tracked
        papers, the preprints, and the records of the tracked papers due for their re-check, of the
        citing papers and of the readers' references.  One pacer spaces them all; after a group's
        searches only the records of its new hits are fetched."""
        obs = Observation()
        stop = threading.Event()
        arrivals = Arrivals()
        by_name = {w.name: w for w in self.config.watch}
        ordered = [by_name[name] for g in groups for name in g.watches]
        with prompt_handoffs(), ThreadPoolExecutor(1, thread_name_prefix="litwatch-searches") as background:
            searches = background.submit(self._searcher(ordered, stop, arrivals.found))  # each distinct query once
            searches.add_done_callback(arrivals.ended)
            try:
                # notices on every article ever sent (at most once a day, at most 3 requests)
                obs.notices = observe_notices(self.config, self.store, self.client, self.today())
                plan = self.plan_tracked()
                obs.tracked_drop = plan.drop
                papers = plan.papers
                if papers:
                    self._observe_citations(obs, papers, plan.tracked, plan.candidates)
                # preprints (Europe PMC), for the watches that have a preprint_query
                obs.preprints = observe_preprints(self.config, self.sources)
                needed = self._needed(obs, plan)
                # whole efetch batches only: the rest goes with the searches' news (no extra request)
                missing = needed - (self.store.articles.known(needed) - plan.due)
                early = set(sorted(missing, key=int)[: len(missing) // FETCH_BATCH * FETCH_BATCH])
                unreadable = self._fetch_missing(obs, set(early), plan.due)
                to_fetch = needed - early  # (what the early fetch left: less than a batch)
                for name, error in obs.preprints.errors.items():
                    obs.notes.append(Note(name, f"Europe PMC's preprint search failed ({error}); searched again next run.", True))
                for group in groups:
                    results = arrivals.wait(group.watches, searches)
                    for name in group.watches:
                        obs.watches[name] = seen = self.observe_watch(by_name[name], results[name])
                        to_fetch |= seen.announce
                    if obs.first:
                        crashpoint("after_search")
                    # (a new hit may be a citing paper)
                    unreadable |= self._fetch_missing(obs, to_fetch - early, plan.due if obs.first else set())
                    if obs.first:
                        if obs.backfill_citations:
                            self._backfill_citations(obs)
                        if unreadable:
                            self._hold_back(obs, unreadable)
                        self._settle_tracked(obs, plan, unreadable)
                        self.observe_corrections(obs, plan)
                        crashpoint("after_fetch")
                    elif unreadable:
                        self._hold_back(obs, unreadable)
                    yield obs, group
                    obs, to_fetch, unreadable = Observation(first=False), set(), {}
            except BaseException:
                stop.set()  # (Ctrl-C, an error, a failed record): the searches not yet sent are not sent
                raise
            searches.result()

    def _needed(self, obs: Observation, plan: TrackedPlan) -> set[str]:
        """The records this run needs whatever its searches find: the tracked papers due for their
        re-check or not stored, the citing papers, the preprints' published versions, the readers'
        reference papers the store lacks."""
        papers = plan.papers
        needed = plan.due | (papers - self.store.articles.known(papers))
        # (works outside PubMed have no record to fetch)
        needed |= {c for _, c in obs.announce_citations | obs.backfill_citations if c.isdigit()}
        needed |= plan_preprints(self.store, obs.preprints, self.config)
        if self.config.ranking.enabled:  # the readers' reference papers (library files, ratings) the store lacks
            needed |= reference_pmids(self.config, self.store)
        return needed

    def _search(self, watches: list[WatchConfig]) -> dict[str, SearchResult]:
        """Every watch's hits, each distinct search asked once, overlapped within the pacing, a
        split past 9,999 hits asked as last time (watchers/searches.py)."""
        return self._searcher(watches)()

    def _asks(self, watches: list[WatchConfig]) -> list[WatchSearch]:
        """What each watch asks (a first run's backfill: its recent date too)."""
        today = self.today()
        asks = []
        for w in watches:
            first_run = w.backfill_days and not self.store.watches.baselined(w.name)
            # a backfill's recent hits come with the same search (one more esearch at most)
            since = today - timedelta(days=w.backfill_days) if first_run else None
            asks.append(WatchSearch(w.name, w.query, w.window_days, since))
        return asks

    def _searcher(
        self,
        watches: list[WatchConfig],
        stop: threading.Event | None = None,
        found: Callable[[list[str], SearchResult], None] | None = None,
    ) -> Callable[[], dict[str, SearchResult]]:
        """`_search`, with what it needs from the store read now: the searching itself asks only
        NCBI (it may run in another thread; `stop` set: the searches not yet sent are not sent;
        `found`: told of each search's result as it is answered)."""
        today = self.today()
        asks = self._asks(watches)

        def searching(name: str) -> terminal.ProgressFn | None:
            log.info("searching %r", name)
            terminal.status(f"searching {name!r}")
            return terminal.progress(f"searching {name!r}")

        remembered = load_splits(self.store.splits)
        return lambda: search_watches(
            self.client, asks, today=today, remembered=remembered, progress=searching, stop=stop, found=found
        )

    def observe_watch(self, watch: WatchConfig, result: SearchResult | None = None) -> WatchObservation:
        """The watch step: its search (`result`, when the run's searches are done already),
        diffed against its stored hits."""
        first_run = not self.store.watches.baselined(watch.name)
        if result is None:
            result = self._search([watch])[watch.name]
        seen = WatchObservation(result)
        seen.notes += [Note(watch.name, f"PubMed reported a problem with this query: {p}", True) for p in result.problems]
        if first_run:
            seen.baselined = result.ids
            if watch.backfill_days:
                recent = result.recent or set()
                seen.announce = recent if recent <= result.ids else recent & result.ids  # (no copy of 50,000)
            n = len(seen.announce)
            listed = (
                f"; {n} from the last {count(watch.backfill_days, 'day')} {'is' if n == 1 else 'are'} listed"
                if watch.backfill_days
                else ""
            )
            seen.notes.append(
                Note(
                    watch.name,
                    f"First run: {count(len(result.ids), 'current hit')} stored as the baseline{listed}. "
                    "New hits are announced from now on.",
                )
            )
        elif self.store.watches.query(watch.name) != watch.query:
            # The query was edited: what it finds now that the old one did not is a new
            # baseline, not news (a broadened query would otherwise flood the digest).
            seen.baselined = result.ids - self.store.watches.hits(watch.name)
            seen.notes.append(
                Note(
                    watch.name,
                    f"The query changed: {count(len(seen.baselined), 'hit')} it adds "
                    f"{'is' if len(seen.baselined) == 1 else 'are'} stored as the new baseline.",
                )
            )
        else:
            seen.new_hits = seen.announce = result.ids - self.store.watches.hits(watch.name)
        return seen

    def plan_tracked(self) -> TrackedPlan:
        """The tracked papers: the config's and the CLI's, merged."""
        tracked = {t.pmid: t for t in self.store.tracked.all()}
        configured = set(self.config.tracked.pmids)
        drop = {p for p, t in tracked.items() if t.origin == "config" and p not in configured}
        for p in drop:
            tracked.pop(p)
        candidates = configured - set(tracked)
        due = {p for p in set(tracked) | candidates if p in candidates or self._recheck_due(tracked[p])}
        return TrackedPlan(tracked, candidates, due, drop)

    def _fetch_missing(self, obs: Observation, to_fetch: set[str], due: set[str]) -> dict[str, str]:
        """Fetch the records this run needs and the store lacks (and the due tracked papers again)
        into `obs.articles`; returns the unreadable ones (PMID -> why), to hold back from this run."""
        missing = to_fetch  # (reused, not copied: a backfill's may hold 50,000)
        missing -= self.store.articles.known(to_fetch) - due
        if missing:
            log.info("fetching %s", count(len(missing), "record"))
            report = terminal.progress("fetching PubMed records")
            for n, record in enumerate(self._fetch(missing), 1):
                obs.articles.add(record)
                if report:
                    report(n, len(missing))
        return {p: why for p, why in self.client.unreadable.items() if p in missing}

    def _settle_tracked(self, obs: Observation, plan: TrackedPlan, unreadable: dict[str, str]) -> None:
        """The config's new PMIDs that PubMed does not know are not tracked (and said so)."""
        stored = self.store.articles.known(plan.candidates)
        obs.unknown_tracked = {
            p for p in plan.candidates if p not in obs.articles and p not in stored and p not in unreadable
        }
        for p in sorted(obs.unknown_tracked):
            obs.notes.append(Note(None, f"PMID {p} is not in PubMed; it is not tracked (check [tracked] pmids).", True))
            log.warning("tracked PMID %s is not in PubMed; not tracked", p)
        obs.tracked_add = plan.candidates - obs.unknown_tracked
        for p in obs.unknown_tracked:
            obs.citations.pop(p, None)
            obs.citation_baseline.pop(p, None)
        obs.announce_citations = {(c, g) for c, g in obs.announce_citations if c not in obs.unknown_tracked}

    def observe_corrections(self, obs: Observation, plan: TrackedPlan) -> None:
        """The correction step: the notices on the tracked papers re-read now."""
        recorded: dict[str, set[tuple[str, str]]] = {}  # one query for every paper re-checked
        for p, k, n in self.store.corrections.of(plan.due - obs.unknown_tracked):
            recorded.setdefault(p, set()).add((k, n))
        for p in sorted(plan.due - obs.unknown_tracked):
            article = obs.articles.get(p)
            if article is None:
                continue
            obs.checked.add(p)
            first_check = p in plan.candidates or plan.tracked[p].checked_at is None
            known = recorded.get(p, set())
            for kind, notice, source in sorted(correction_notices(article)):
                if (kind, notice) in known:
                    continue
                baseline = first_check and not correction_kind(kind).always_announce
                obs.corrections.append((Correction(p, kind, notice, source), baseline))

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
        for _, why in sorted(unreadable.items()):
            log.warning("%s; not announced until PubMed serves a readable record", why)
        held = set(unreadable)
        for seen in obs.watches.values():
            seen.announce -= held
            if seen.new_hits is not None:
                seen.new_hits -= held
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
        obs.sources = observe_citations(self.config, self.store, papers, self.client, self.sources)
        found = obs.sources.found  # source -> paper -> citing (a PMID, or the key of a work outside PubMed)
        for name, error in sorted(obs.sources.errors.items()):
            obs.notes.append(Note(None, source_note(name, error), True))
        stored = self.store.citations.of(papers)
        stored_pairs = {(c, g) for c, g, _ in stored}
        backfill_from = self.today() - timedelta(days=cfg.backfill_days) if cfg.backfill_days else None
        backfill_candidates: set[tuple[str, str]] = set()
        for paper in sorted(papers):
            baselined = set() if paper in candidates else tracked[paper].baselined_sources
            triples: set[tuple[str, str, str]] = set()
            new_sources: set[str] = set()
            for source, links in found.items():
                triples |= {(paper, g, source) for g in links.get(paper, set())}
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
        entrez_dates = self.store.articles.entrez_dates(need - set(obs.articles))
        for paper, citing in obs.backfill_citations:
            record = obs.articles.record(citing)
            entrez_date = record.entrez_date if record else entrez_dates.get(citing)
            if entrez_date and obs.backfill_from and date.fromisoformat(entrez_date) >= obs.backfill_from:
                obs.announce_citations.add((paper, citing))
        obs.backfill_citations = set()

    # -- 3. record --------------------------------------------------------------------------------

    def record(self, obs: Observation, run_id: int, summary: RunSummary, new_articles: set[str]) -> None:
        """Write what was observed of a group, and queue what each subscriber is to be told: one
        transaction.  `new_articles`: the run's articles new to someone so far (added to)."""
        with self.store.transaction():
            self._record_observed(obs, run_id, summary)
            new_articles |= self._record_queue(obs, run_id)
        summary.new_articles = len(new_articles)
        if not obs.first:
            return
        summary.new_citations = len(obs.announce_citations)
        summary.corrections = len(obs.announce_corrections) + self._sent_notices
        if obs.notices.error:
            summary.warnings.append(obs.notices.error)
        for p in obs.unknown_tracked:
            summary.warnings.append(f"PMID {p} is not in PubMed; not tracked")

    def _record_observed(self, obs: Observation, run_id: int, summary: RunSummary) -> None:
        store = self.store
        for batch in obs.articles.batches():
            store.articles.put(batch)
        watches = [w for w in self.config.watch if w.name in obs.watches]
        for watch in watches:
            seen = obs.watches[watch.name]
            summary.hits += len(seen.result.ids)
            if seen.baselined is not None:
                store.watches.add_hits(watch.name, seen.baselined, run_id, baseline=True)
            else:
                store.watches.add_hits(watch.name, seen.new_hits or set(), run_id, baseline=False)
        store.watches.save(
            (w.name, w.query, run_id, (r := obs.watches[w.name].result).count, r.query_translation, r.problems)
            for w in watches
        )
        save_splits(
            store.splits,
            {w.name: obs.watches[w.name].result for w in watches},
            {w.name: w.query for w in watches},
            run_id,
        )
        if obs.first:
            self._record_tracked(obs, run_id)

    def _record_tracked(self, obs: Observation, run_id: int) -> None:
        """The first group's: the tracked papers, their citations and corrections, the notices on
        sent articles, the citation sources' answers, the preprints."""
        store = self.store
        for p in obs.tracked_drop:
            store.tracked.remove(p)
        for p in sorted(obs.tracked_add):
            store.tracked.add(p, "config")
        sources_of: dict[str, set[str]] | None = None
        baselined: set[tuple[str, str, str]] = set()
        announced: set[tuple[str, str, str]] = set()
        for paper, triples in obs.citations.items():
            baseline_sources = obs.citation_baseline.get(paper, set())
            for t in triples:
                (baselined if t[2] in baseline_sources else announced).add(t)
            if baseline_sources:
                if sources_of is None:  # (read once: not once per paper, 5,000 papers on a first run)
                    sources_of = {t.pmid: t.baselined_sources for t in store.tracked.all()}
                known = sources_of.get(paper, set())
                store.tracked.set_link_sources(paper, known | baseline_sources)
        store.citations.add(sorted(baselined), run_id, baseline=True)  # (all papers' at once: one statement each)
        store.citations.add(sorted(announced), run_id, baseline=False)
        rows = [(c.pmid, c.kind, c.notice_pmid, c.source) for c, baseline in obs.corrections if baseline]
        store.corrections.add(rows, run_id, baseline=True)
        rows = [(c.pmid, c.kind, c.notice_pmid, c.source) for c in obs.announce_corrections]
        store.corrections.add(rows, run_id, baseline=False)
        store.tracked.set_checked(obs.checked, now_iso())
        stamp = self._clock().isoformat(timespec="seconds")
        self._sent_notices = record_notices(self.config, store, obs.notices, run_id, stamp)
        record_citation_sources(store, obs.sources, stamp)
        record_preprints(store, obs.preprints, run_id)

    def _record_queue(self, obs: Observation, run_id: int) -> set[str]:
        """Queue a group's news for every e-mail reader and chat target (the first group's: the
        rest of the run's news too); returns the articles new to someone."""
        cfg, store = self.config, self.store
        citations, corrections = obs.citation_items(), obs.announce_corrections
        notes = [n for seen in obs.watches.values() for n in seen.notes] + obs.notes
        new_articles: set[str] = set()
        for r in subscribed(cfg, store):  # an unsubscribed reader is queued nothing
            followed = self._followed(r)
            mine = [w for w in followed if w in obs.watches]
            if not mine and not obs.first:
                continue
            announce = {p for w in mine for p in obs.watches[w].announce}
            already = store.queue.announced_to(r.email, announce)
            queue: list[Item] = []
            for w in mine:
                for p in sorted(obs.watches[w].announce):
                    if p not in already:
                        queue.append(Hit(p, w))
                        new_articles.add(p)
                    elif not already[p]:  # still waiting for its digest: it names this watch too
                        queue.append(Hit(p, w))
            queue += [Note(n.watch, n.text, n.problem, run_id) for n in notes if n.watch is None or n.watch in followed]
            if obs.first:
                queue += queue_preprints(store, obs.preprints, r.email, followed)
                if r.citations:
                    queue += citations
                    queue += corrections
            store.queue.add(r.email, queue, run_id)
        if cfg.notify:
            pubmed_citations = [c for c in citations if isinstance(c, Citation)]  # chat: PubMed articles only
            enqueue_news(store, cfg, obs.announce, pubmed_citations, corrections, run_id)
        return new_articles

    # -- around the run ---------------------------------------------------------------------------

    def _update_feeds(self, summary: RunSummary) -> None:
        """Rewrite the Atom feeds ([feed]); a failure is reported, never stops the deliveries."""
        if self.config.feed is None:
            return
        try:
            write_feeds(self.config, self.store, now=self._clock())
        except Exception as exc:  # noqa: BLE001 - the digests go out whatever happens to the feeds
            summary.errors.append(f"feeds not updated: {exc}")
            log.error("feeds not updated: %s; the next run rewrites them", exc)


def _pmid_list(pmids: set[str], shown: int = 10) -> str:
    ordered = sorted(pmids, key=lambda p: (len(p), p))
    more = f" and {len(ordered) - shown} more" if len(ordered) > shown else ""
    return ", ".join(ordered[:shown]) + more
