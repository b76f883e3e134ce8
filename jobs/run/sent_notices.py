"""The observe/record step for notices on sent articles (issue 16, point 1).

Observe (asks PubMed, writes nothing): at most once a day, `scan_notices` for the notice types
configured in `[sent] notices`.  A failure is kept as the source's error: the run goes on and the
next run searches the same window again (the cursor moves only on success).

Record (inside the run's transaction): the notice links, the source's health, then every reader
who was sent an article that has a notice they were not told of gets one "sent_notice" queue item
(`announcements.SentArticleNotice`).  The match runs every run,
so an article sent after its notice was read is reported too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from litwatch.jobs.config import Config
from litwatch.watchers.announcements import SentArticleNotice
from litwatch.watchers.entrez import EntrezClient, EntrezError
from litwatch.watchers.notices import NO_LINK, NoticeScan, check_window, scan_notices
from litwatch.watchers.store import Store
from litwatch.watchers.store.sources import NoticeLink

log = logging.getLogger("litwatch.run")

SOURCE = "pubmed-notices"
KIND = "sent_notice"


@dataclass
class NoticeObservation:
    scan: NoticeScan | None = None  # None: not due today, or failed
    error: str = ""
    cursor: str = ""  # the cursor to store on success


def observe_notices(config: Config, store: Store, client: EntrezClient, today: date) -> NoticeObservation:
    kinds = config.sent.notices
    if not kinds:
        return NoticeObservation()
    if store.sources.last_sent_any() is None:
        return NoticeObservation()  # nothing was ever sent: nothing to check
    state = store.sources.source_states().get(SOURCE)
    if state is not None and state.last_success and state.last_success[:10] >= today.isoformat() and state.cursor:
        return NoticeObservation()  # checked today already: once a day is enough
    since = check_window(state.cursor if state else "", today, config.sent.overlap_days)
    try:
        scan = scan_notices(
            client, kinds=kinds, since=since, today=today, already_read=store.sources.known_notices
        )
    except EntrezError as exc:
        log.warning("notices on sent articles: %s; the next run searches again", exc)
        return NoticeObservation(error=f"PubMed notice search: {exc}")
    if scan.left:
        log.info("notices on sent articles: %d of %d left for the next check", scan.left, scan.found)
    cursor = scan.covered_through.isoformat() if scan.covered_through else (state.cursor if state else "")
    return NoticeObservation(scan=scan, cursor=cursor)


def record_notices(config: Config, store: Store, obs: NoticeObservation, run_id: int, stamp: str) -> int:
    """Write what was observed and queue the notices due; returns how many items were queued."""
    if obs.error:
        store.sources.source_failed(SOURCE, obs.error, stamp=stamp)
    elif obs.scan is not None:
        linked = {n.notice_pmid for n in obs.scan.links}
        store.sources.add_notice_links(obs.scan.links)
        store.sources.add_notice_links([NoticeLink(p, "", NO_LINK, "", "", "") for p in sorted(obs.scan.read - linked)])
        store.sources.source_ok(SOURCE, cursor=obs.cursor, stamp=stamp)
    if not config.sent.notices:
        return 0
    readers = {r.email for r in config.recipients()}
    due = [d for d in store.sources.sent_notices_due() if d.recipient in readers and d.link.kind != NO_LINK]
    for d in due:
        n = d.link
        store.queue.add(d.recipient, [SentArticleNotice(d.pmid, n.kind, n.notice_pmid, n.notice_source, d.sent_at[:10])], run_id)
    store.sources.mark_sent_notices(due, run_id)
    return len(due)
