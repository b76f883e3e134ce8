"""A run's searches: each distinct query once, overlapped within the pacing, its split remembered.

A department's instance holds many watches that ask PubMed the same thing (a shared topic, copied
into each reader's list).  `search_watches` groups the watches by `query_key` (and by what else
shapes the answer: `window_days`, and the backfill date of a first run), asks each group's query
once, and gives every watch of the group the same `SearchResult`.  Independent searches are sent
from a few threads: the process-wide pacer still spaces their starts (3/s, 10/s with an API key),
but a request no longer waits for the previous answer (its latency) before it may start.

A search past PubMed's 9,999-id cap is split by Entrez date (`watchers.search`).  The ranges and
counts of its last split are stored (`store.splits`, keyed by `query_key`) and asked again next
time, one esearch each (`collect_remembered`): a 20,000-hit watch costs 3 esearch a day instead of
a count and a fresh estimate of where to cut.  Only a range that grew past the cap is split again.

How queries are normalised (`query_key`): PubMed ignores runs of white space and letter case in
search terms, field tags and quoted phrases, but Boolean operators are operators only in capitals
(`AND`, `OR`, `NOT`; a lower-case "and" is a search term).  So:

* outside double quotes: runs of white space become one space (none after "(" or before ")"),
  ends are stripped, and every word is lower-cased except the operators `AND`, `OR` and `NOT` as
  written in capitals (`And` and `and` are the same term, `AND` is not);
* field tags (`[Title/Abstract]`, `[tiab]`, `[MeSH Terms]`) are lower-cased as they stand: an
  abbreviation and the full name are not treated as one (`[tiab]` and `[Title/Abstract]` are two
  queries: equal in PubMed, but never wrongly shared);
* inside a quoted phrase only letter case is folded: its white space is kept as written (a phrase
  is matched as written; no assumption about how PubMed tokenises it), and an unclosed quote runs
  to the end of the query.

Two queries with the same key are sent once, as the first watch (in config order) writes it.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from litwatch.watchers.entrez import MAX_SEARCH_POSITION, EntrezClient
from litwatch.watchers.search import EARLIEST, Piece, SearchResult, collect_ids, collect_remembered

log = logging.getLogger(__name__)

OPERATORS = frozenset({"AND", "OR", "NOT"})
SEARCH_THREADS_WITH_KEY = 3  # searches in flight with an API key (10/s: a 200 ms answer spans 2 starts)
SEARCH_THREADS = 1  # without one (3/s) an answer rarely outlasts the 0.34 s spacing: one at a time
MERGE_UP_TO = 9_500  # remembered ranges are merged while they hold at most this many (room to grow)

_WORD = re.compile(r"[^\s()\[\]]+")


def query_key(query: str) -> str:
    """The spelling of `query` that PubMed cannot tell apart from it (see the module's notes)."""
    out: list[str] = []
    for k, part in enumerate(query.split('"')):
        if k % 2:  # inside a quoted phrase (an unclosed one runs to the end)
            out.append('"' + part.lower() + ('"' if k < query.count('"') else ""))
            continue
        text = re.sub(r"\s+", " ", part)
        text = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", text))
        out.append(_WORD.sub(lambda m: m[0] if m[0] in OPERATORS else m[0].lower(), text))
    return "".join(out).strip()


@dataclass(frozen=True, slots=True)
class WatchSearch:
    """What one watch asks: its query, its window and (first run with a backfill) its recent date."""

    name: str
    query: str
    window_days: int | None = None
    since: date | None = None

    @property
    def group(self) -> tuple[str, int | None, date | None]:
        return (query_key(self.query), self.window_days, self.since)


def search_watches(
    client: EntrezClient,
    watches: Sequence[WatchSearch],
    *,
    today: date,
    remembered: Mapping[str, Sequence[Piece]] | None = None,
    threads: int | None = None,
    progress: Callable[[str], Callable[[int, int], None] | None] | None = None,
    stop: threading.Event | None = None,
    found: Callable[[list[str], SearchResult], None] | None = None,
) -> dict[str, SearchResult]:
    """Each watch's result, each distinct search asked once, in the order of `watches` (first
    appearance); `remembered`: query_key -> the ranges of its last split (searches over the whole
    result set, without a backfill date, use them).
    `progress(name)`: called as a search starts (with the name of the first watch asking it); it
    returns the `(ids so far, hits)` reporter of that search, or None.  `stop`: once it is set, no
    further search is sent (SearchesStopped is raised).  `found(names, result)`: called as each
    search's result is known (in the searching thread), with the names of the watches asking it."""
    groups: dict[tuple[str, int | None, date | None], list[WatchSearch]] = {}
    for w in watches:
        groups.setdefault(w.group, []).append(w)
    remembered = remembered or {}
    if threads is None:
        threads = SEARCH_THREADS_WITH_KEY if getattr(client, "api_key", None) else SEARCH_THREADS
    threads = max(1, min(threads, len(groups)))

    def one(key: tuple[str, int | None, date | None], first: WatchSearch) -> SearchResult:
        if stop is not None and stop.is_set():
            raise SearchesStopped("the run stopped before its searches were done")
        report = progress(first.name) if progress else None
        pieces = remembered.get(key[0])
        if pieces and first.window_days is None and first.since is None and usable_split(pieces):
            return collect_remembered(client, first.query, pieces, today=today, progress=report)
        return collect_ids(
            client, first.query, window_days=first.window_days, today=today, since=first.since, progress=report
        )

    out: dict[str, SearchResult] = {}

    def answered(members: list[WatchSearch], result: SearchResult) -> None:
        out.update((m.name, result) for m in members)
        if found is not None:
            found([m.name for m in members], result)

    if len(groups) < len(watches):
        log.info("%d watches ask %d distinct searches", len(watches), len(groups))
    if threads == 1:
        for key, members in groups.items():
            answered(members, one(key, members[0]))
        return out
    with ThreadPoolExecutor(threads, thread_name_prefix="litwatch-esearch") as pool:
        futures: list[tuple[list[WatchSearch], Future[SearchResult]]] = [
            (members, pool.submit(one, key, members[0])) for key, members in groups.items()
        ]
        try:
            for members, future in futures:
                answered(members, future.result())
        finally:
            for _, future in futures:
                future.cancel()  # an error: the searches not yet started are not sent
    return out


class SearchesStopped(Exception):
    """The run stopped (Ctrl-C, an error elsewhere) while searches were still to be sent."""


def usable_split(pieces: Sequence[Piece]) -> bool:
    """Ranges that cover every Entrez date once: from EARLIEST, contiguous, open-ended at the top."""
    ordered = sorted(pieces, key=lambda p: p.start)
    if len(ordered) < 2 or ordered[0].start != EARLIEST or ordered[-1].end is not None:
        return False
    for older, newer in itertools.pairwise(ordered):
        if older.end is None or (newer.start - older.end).days != 1:
            return False
    return True


def merged(pieces: Iterable[Piece], up_to: int = MERGE_UP_TO) -> list[Piece]:
    """Adjacent ranges merged, oldest first, while together they hold at most `up_to` hits (the
    counts add up exactly): next time they cost one esearch, not two.  The newest range (open
    ended, where new hits arrive) is merged too only when there is room."""
    out: list[Piece] = []
    for p in sorted(pieces, key=lambda p: p.start):
        if out and out[-1].count + p.count <= up_to:
            last = out.pop()
            out.append(Piece(last.start, p.end, last.count + p.count))
        else:
            out.append(p)
    return out


# -- the stored splits (store.splits, store migration 6) ---------------------------------------------


class _SplitTable(Protocol):
    def all(self) -> dict[str, str]: ...

    def save(self, key: str, pieces: str, total: int, run_id: int) -> None: ...

    def forget(self, keys: Iterable[str]) -> None: ...


def load_splits(splits: _SplitTable) -> dict[str, list[Piece]]:
    """query_key -> the Entrez-date ranges and counts of its last split (`store.splits`)."""
    out: dict[str, list[Piece]] = {}
    for key, data in splits.all().items():
        try:
            out[key] = [
                Piece(date.fromisoformat(s), None if e is None else date.fromisoformat(e), int(c))
                for s, e, c in json.loads(data)
            ]
        except (ValueError, TypeError):
            log.warning("search_splits: unreadable ranges of %r; the search is split afresh", key)
    return out


def save_splits(
    splits: _SplitTable, results: Mapping[str, SearchResult], queries: Mapping[str, str], run_id: int
) -> None:
    """Remember the split of every search past the cap (whole result set, complete); forget the
    splits of searches that no longer need one.  `queries`: watch name -> query."""
    keep: dict[str, list[Piece]] = {}
    drop: set[str] = set()
    for name, result in results.items():
        if not result.pieces or min(p.start for p in result.pieces) != EARLIEST:
            continue  # a window's search: its ranges move every day
        key = query_key(queries[name])
        if result.count > MAX_SEARCH_POSITION and result.complete and usable_split(result.pieces):
            keep[key] = merged(result.pieces)
        elif result.count <= MAX_SEARCH_POSITION:
            drop.add(key)
    splits.forget(sorted(drop - set(keep)))
    for key, pieces in keep.items():
        data = json.dumps([[p.start.isoformat(), None if p.end is None else p.end.isoformat(), p.count] for p in pieces])
        splits.save(key, data, sum(p.count for p in pieces), run_id)
