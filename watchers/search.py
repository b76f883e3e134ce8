"""Searches that miss nothing.

esearch answers 20 ids unless asked for more, and PubMed's esearch serves only the first 9,999 ids
of a search.  `collect_ids` asks for 9,999 at a time and, when a search has more hits, splits it
by Entrez date into ranges that each hold at most 9,999, so every id is seen.

The split is found by counting, newest range first.  The first answer gives the total; each range
asked for gives its own count, so what is left below it is known exactly, and the last (oldest)
range is asked for once it is known to fit.  Where to cut is estimated from a model of how hits
are spread over time (exponential growth), refitted after every answer to the counts seen so far;
a range that still holds more than 9,999 is split the same way, knowing its count.  A single
Entrez date holding more than 9,999 hits cannot be split: that is an `EntrezError`.  When the
pieces' counts do not add up to the total (PubMed changed during the search), a warning is logged
and `SearchResult.complete` is False; the next run sees what was missed.

Searches are never narrowed to "records added since the last run": a record's Entrez date can be
weeks older than the day it first matches a query (MeSH indexing comes later, back-loaded records
keep old dates).  The caller diffs the whole result set, or a long window, against the store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from litwatch.watchers.entrez import MAX_SEARCH_POSITION, EntrezClient, EntrezError, SearchPage

log = logging.getLogger(__name__)

EARLIEST = date(1600, 1, 1)  # before any Entrez date
MODEL_START = date(1946, 1, 1)  # hardly any record is older (OLDMEDLINE starts in 1946)
FILL = 0.8  # aim for pieces this full, so that an estimate a little off still fits
GROWTH = 0.06  # prior growth of a search's hits a year, before any count is seen
_G_MIN, _G_MAX = -3.0, 4.0  # bounds of a fitted growth rate, per year
_DAY = timedelta(days=1)
_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class Piece:
    """One Entrez-date range asked for: [start, end], `end` None for open-ended."""

    start: date
    end: date | None
    count: int


@dataclass(slots=True)
class SearchResult:
    """Every id a query matches, with what PubMed said about the query."""

    ids: set[str] = field(default_factory=set)
    count: int = 0
    query_translation: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    requests: int = 0
    recent: set[str] | None = None  # with `since`: the ids whose Entrez date is on or after it
    pieces: list[Piece] = field(default_factory=list)  # the ranges whose ids were taken
    complete: bool = True  # the pieces' counts add up to the total

    @property
    def problems(self) -> list[str]:
        """PubMed's complaints about the query, as lines for the user."""
        out = [f"{k}: {', '.join(v)}" for k, v in self.errors.items()]
        return out + [w for w in self.warnings if not w.startswith("OutputMessage: No items found")]


def _fmt(d: date) -> str:
    return d.strftime("%Y/%m/%d")


def collect_ids(
    client: EntrezClient,
    query: str,
    *,
    window_days: int | None = None,
    today: date | None = None,
    since: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """All ids matching `query` (optionally only those with an Entrez date in the last `window_days`).

    With `since`, `result.recent` also holds the ids whose Entrez date is on or after `since`: for
    a search that is split anyway this costs no request of its own (a cut is put there).
    """
    today = today or date.today()
    lo = today - timedelta(days=window_days) if window_days else EARLIEST
    result = SearchResult()
    before = client.requests_made
    run = _Collector(client, query, today, result, progress)

    first = run.page(lo, None, plain=window_days is None)
    result.count = first.count
    result.query_translation = first.query_translation
    result.errors = first.errors
    result.warnings = first.warnings
    wants_recent = since is not None and since > lo
    if since is not None:
        result.recent = set()
    if first.count <= MAX_SEARCH_POSITION:
        run.take(first, lo, None, plain=window_days is None, recent=since is not None and not wants_recent)
        if wants_recent:
            assert since is not None
            page = run.page(since, None)
            if page.count <= MAX_SEARCH_POSITION:
                run.take(page, since, None, recent=True, also_ids=False)
            else:  # grew past 9,999 since the first answer
                run.sweep(since, None, page.count, recent_from=since, also_ids=False)
    else:
        run.sweep(lo, None, first.count, force=since if wants_recent else None, recent_from=since)
        found = sum(p.count for p in result.pieces)
        if found != first.count:
            result.complete = False
            log.warning(
                "search %r: PubMed counted %d hits but its Entrez-date ranges held %d; "
                "the next run sees what was missed", query, first.count, found,
            )
    result.requests = client.requests_made - before
    return result


def collect_remembered(
    client: EntrezClient,
    query: str,
    pieces: Sequence[Piece],
    *,
    today: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """All ids matching `query`, asking again the Entrez-date ranges of its last split (`pieces`:
    contiguous, from EARLIEST, the newest open-ended; see watchers.searches.usable_split).

    One esearch a range, newest first: no count of the whole is needed (the ranges cover every
    date, so their counts add up to it).  Only a range that grew past 9,999 is split, knowing its
    count.  The result's pieces are the ranges taken (for the next run to remember).
    """
    today = today or date.today()
    result = SearchResult()
    before = client.requests_made
    run = _Collector(client, query, today, result, progress)
    for k, piece in enumerate(sorted(pieces, key=lambda p: p.start, reverse=True)):
        page = run.page(piece.start, piece.end)
        if k == 0:
            result.query_translation = page.query_translation
            result.errors = page.errors
            result.warnings = page.warnings
        result.count += page.count
        if page.count <= MAX_SEARCH_POSITION:
            run.take(page, piece.start, piece.end)
        else:
            log.info("search %r: the range from %s grew to %d hits; splitting it", query, _fmt(piece.start), page.count)
            run.sweep(piece.start, piece.end, page.count)
    found = sum(p.count for p in result.pieces)
    if found != result.count:
        result.complete = False
        log.warning(
            "search %r: PubMed counted %d hits but its Entrez-date ranges held %d; "
            "the next run sees what was missed", query, result.count, found,
        )
    result.requests = client.requests_made - before
    return result


class _Collector:
    """The requests of one `collect_ids`, and the growth rate learnt from their counts."""

    def __init__(
        self,
        client: EntrezClient,
        query: str,
        today: date,
        result: SearchResult,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.client = client
        self.query = query
        self.today = today
        self.result = result
        self.progress = progress
        self.growth = GROWTH
        self.exact = True  # every count so far agrees with the totals
        self.above: tuple[int, int] | None = None  # (hits, days) of the last range taken: just above
        self.bisect = False  # cut the next range in the middle (the last count was all or nothing)

    # -- requests ---------------------------------------------------------------------------------

    def page(self, lo: date, hi: date | None, *, plain: bool = False, retstart: int = 0) -> SearchPage:
        """One esearch page of the hits with an Entrez date in [lo, hi] (hi None: no upper bound)."""
        if plain:
            return self.client.esearch(self.query, retstart=retstart)
        return self.client.esearch(
            self.query,
            retstart=retstart,
            datetype="edat",
            mindate=_fmt(lo),
            maxdate="3000/12/31" if hi is None else _fmt(hi),
        )

    def take(
        self,
        page: SearchPage,
        lo: date,
        hi: date | None,
        *,
        plain: bool = False,
        recent: bool = False,
        also_ids: bool = True,
    ) -> None:
        """Keep the ids of a range known to hold at most 9,999 (paging on if a server sent fewer)."""
        ids = list(page.ids)
        while len(ids) < page.count:
            nxt = self.page(lo, hi, plain=plain, retstart=len(ids))
            if not nxt.ids:
                raise EntrezError(f"esearch: {self.query!r} stopped at {len(ids)} of {page.count} ids")
            ids.extend(nxt.ids)
        if hi is not None:
            self.above = (page.count, (hi - lo).days + 1)
        if also_ids:
            self.result.ids.update(ids)
            self.result.pieces.append(Piece(lo, hi, page.count))
        if recent and self.result.recent is not None:
            self.result.recent.update(ids)
        if self.progress and also_ids:
            self.progress(len(self.result.ids), self.result.count)

    def sweep(
        self,
        lo: date,
        hi: date | None,
        total: int,
        *,
        force: date | None = None,
        recent_from: date | None = None,
        also_ids: bool = True,
    ) -> None:
        """Take every id of [lo, hi], known to hold `total` (> 9,999) hits, newest range first.

        `force`: a date to cut at first (so that the ranges on or after it are exactly the recent
        ones).  Ids of ranges starting on or after `recent_from` also go to `result.recent`.
        """
        remaining = total
        self.above = None  # the density above this range says little about how `total` is spread
        while True:
            top = hi if hi is not None else max(self.today, lo)  # the last date that can hold hits
            if force is not None and lo < force <= top:
                cut, force = force, None
            elif remaining == 0 and self.exact:
                return  # the counts so far account for every hit: nothing is left below
            elif remaining <= MAX_SEARCH_POSITION:
                page = self.page(lo, hi)
                if page.count <= MAX_SEARCH_POSITION:
                    self.take(page, lo, hi, recent=_recent(lo, recent_from), also_ids=also_ids)
                    return
                remaining = page.count  # more than the counts so far left room for: split it too
                cut = self._cut(lo, top, remaining)
            else:
                cut = self._cut(lo, top, remaining)
            if cut is None:
                raise EntrezError(
                    f"esearch: {self.query!r} has {remaining} hits with the Entrez date {_fmt(lo)}; "
                    f"PubMed serves only {MAX_SEARCH_POSITION} ids of a search and one date cannot be split"
                )
            page = self.page(cut, hi)
            self._learn(lo, cut, top, page.count, remaining - page.count)
            if page.count > MAX_SEARCH_POSITION:
                self.sweep(cut, hi, page.count, recent_from=recent_from, also_ids=also_ids)
            else:
                self.take(page, cut, hi, recent=_recent(cut, recent_from), also_ids=also_ids)
            if page.count > remaining:
                self.exact = False  # more than the total left room for: PubMed changed, count again
            remaining = max(remaining - page.count, 0)
            hi = cut - _DAY

    # -- where to cut -----------------------------------------------------------------------------

    def _start(self, lo: date, top: date) -> float:
        """Where the model of [lo, top] starts, in years before the end of `top` (negative)."""
        start = MODEL_START if lo < MODEL_START < top else lo
        return (start - (top + _DAY)).days / _YEAR

    def _cut(self, lo: date, top: date, remaining: int) -> date | None:
        """The first date of the next (newest) range to ask for, about `FILL` full by the model.

        None when [lo, top] is a single date.  Model coordinates: years, 0 at the end of `top`,
        hit density exp(growth * t).
        """
        if top <= lo:
            return None
        a = self._start(lo, top)
        want = remaining / max(2, math.ceil(remaining / (FILL * MAX_SEARCH_POSITION)))
        g = self.growth
        t = a / 2  # halve the range: the last count was nothing where the model put the most
        if not self.bisect:
            t = self._local(want, g)
            if not a < t < 0:  # no range just above, or it says nothing useful: the range's total
                share = want / remaining
                t = share * a if abs(g) < 1e-9 else math.log(1.0 - share * (1.0 - _exp(g * a))) / g
        self.bisect = False
        cut = top + _DAY - timedelta(days=max(1, round(-t * _YEAR)))
        return min(max(cut, lo + _DAY), top)

    def _local(self, want: float, g: float) -> float:
        """Where the next range would start if the density of the range just above went on (nan if unknown)."""
        if self.above is None or self.above[0] <= 0:
            return math.nan
        hits, days = self.above
        edge = hits / (days / _YEAR) * _exp(-g * days / _YEAR / 2)  # hits a year at the bottom of it
        if abs(g) < 1e-9:
            return -want / edge
        arg = 1.0 - want * g / edge
        return math.log(arg) / g if arg > 0 else math.nan

    def _learn(self, lo: date, cut: date, top: date, newer: int, older: int) -> None:
        """Refit the growth rate so the model puts `newer` hits in [cut, top] and `older` below."""
        self.bisect = newer <= 0  # nothing where the model put the most: halve the next range instead
        if newer <= 0 or older <= 0:
            return
        a = self._start(lo, top)
        c = (cut - (top + _DAY)).days / _YEAR
        if not a < c < 0:
            return
        want = newer / older
        lo_g, hi_g = _G_MIN, _G_MAX
        if want <= _ratio(lo_g, a, c):
            self.growth = lo_g
        elif want >= _ratio(hi_g, a, c):
            self.growth = hi_g
        else:
            for _ in range(50):
                mid = (lo_g + hi_g) / 2
                if _ratio(mid, a, c) < want:
                    lo_g = mid
                else:
                    hi_g = mid
            self.growth = (lo_g + hi_g) / 2


def _exp(x: float) -> float:
    return math.exp(min(x, 700.0))


def _ratio(g: float, a: float, c: float) -> float:
    """Model hits in [c, 0] over hits in [a, c] (a < c < 0, in years), for a density exp(g t)."""
    if abs(g) < 1e-9:
        return -c / (c - a)
    older = _exp(g * c) - _exp(g * a)
    return -math.expm1(g * c) / older if older else math.inf


def _recent(start: date, since: date | None) -> bool:
    return since is not None and start >= since
