"""Searches that miss nothing.

esearch answers 20 ids unless asked for more, and PubMed's esearch serves only the first 9,999 ids
of a search.  `collect_ids` asks for 9,999 at a time and, when a search has more hits, splits it
by Entrez date into ranges that each hold at most 9,999, so every id is seen.

The split is found by counting, newest range first.  The first answer gives the total; each range
asked for gives its own count, so what is left below it is known exactly, and the rest is asked
for in one range as soon as it fits.  A range that comes back with more than 9,999 hits gives no
ids but a count, a known point below which the next cut is placed.  How full each range should be
is planned against the floor (the count, then ceil(total / 9,999) ranges) with one request to
spare: each range aims at the geometric middle of what it may hold, so that an estimate off by the
same factor either way still fits.  Where to cut is estimated from a model of how hits are spread
over time (exponential growth, refitted after every answer to the counts seen so far) and from
the density of the range just above; within the budget the nearest of these estimates is taken
(a range that comes back too full costs a request, one too small rarely does).  On hits spread
evenly, in bursts or mostly in recent years, searches of up to 20,000 hits stay within one request
of the floor (tests/test_shared_searches.py); watchers/searches.py remembers a split, so that it is
estimated once.  A single Entrez date holding more than 9,999 hits cannot be split: that is an
`EntrezError`.  When the pieces' counts do not add up to the total (PubMed changed during the
search), a warning is logged and `SearchResult.complete` is False; the next run sees what was
missed.

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
FILL = 0.8  # past the floor, aim for pieces this full, so that an estimate a little off still fits
SPAN = 4  # a range at most this many times as long as the range just above (hits come in bursts)
MIDDLE = 0.7  # how full the ranges between the first and the last are planned
WINDOW = 1.6  # the least ratio of the largest to the smallest count a range may come back with
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
        _check_pieces(result, query, first.count)
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
    _check_pieces(result, query, result.count)
    result.requests = client.requests_made - before
    return result


def _check_pieces(result: SearchResult, query: str, counted: int) -> None:
    """A split whose Entrez-date ranges do not add up to PubMed's count is incomplete (the next run
    sees what was missed)."""
    found = sum(p.count for p in result.pieces)
    if found != counted:
        result.complete = False
        log.warning(
            "search %r: PubMed counted %d hits but its Entrez-date ranges held %d; "
            "the next run sees what was missed", query, counted, found,
        )


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

        A range that comes back with more than 9,999 hits gives no ids, but its count: a date at
        which the hits above are known.  It is kept (`known`), and the next cut is placed below
        the newest such date that holds more than the target; what is left below the ranges
        taken is asked for in one request as soon as it fits, however the counts came.
        """
        remaining = total
        self.above = None  # the density above this range says little about how `total` is spread
        floor = math.ceil(total / MAX_SEARCH_POSITION)  # ranges, were every cut right
        asked = 0
        known: list[tuple[date, int]] = []  # (date, hits in [date, hi]) of ranges that held too many
        while True:
            top = hi if hi is not None else max(self.today, lo)  # the last date that can hold hits
            forced = force is not None and lo < force <= top
            if forced:
                assert force is not None
                cut, force = force, None
            elif remaining == 0 and self.exact:
                return  # the counts so far account for every hit: nothing is left below
            elif remaining <= MAX_SEARCH_POSITION:
                page = self.page(lo, hi)
                asked += 1
                if page.count <= MAX_SEARCH_POSITION:
                    self.take(page, lo, hi, recent=_recent(lo, recent_from), also_ids=also_ids)
                    return
                remaining, known = page.count, []  # more than the counts so far left room for
                cut = self._cut(lo, top, remaining, known, floor - asked, floor + 1 - asked)
            else:
                cut = self._cut(lo, top, remaining, known, floor - asked, floor + 1 - asked)
            page = self.page(cut, hi)
            asked += 1
            self._learn(lo, cut, top, page.count, remaining - page.count)
            if page.count > MAX_SEARCH_POSITION and not forced and page.count <= remaining:
                # no ids, but a count: the next cut goes below `cut`
                base = max((n for c, n in known if c < cut), default=remaining)
                self.bisect = page.count >= base  # nothing was older: halve instead of the model
                known.append((cut, page.count))
                continue
            if page.count > MAX_SEARCH_POSITION:
                self.sweep(cut, hi, page.count, recent_from=recent_from, also_ids=also_ids)
            else:
                self.take(page, cut, hi, recent=_recent(cut, recent_from), also_ids=also_ids)
                self.above = (page.count, (top - cut).days + 1)
            if page.count > remaining:
                self.exact = False  # more than the total left room for: PubMed changed, count again
            known = [(c, n - page.count) for c, n in known if c < cut]
            remaining = max(remaining - page.count, 0)
            hi = cut - _DAY

    # -- where to cut -----------------------------------------------------------------------------

    def _start(self, lo: date, top: date) -> float:
        """Where the model of [lo, top] starts, in years before the end of `top` (negative)."""
        start = MODEL_START if lo < MODEL_START < top else lo
        return (start - (top + _DAY)).days / _YEAR

    @staticmethod
    def _target(remaining: int, at_floor: int, with_spare: int) -> tuple[float, bool]:
        """How many hits the next (newest) range should hold.

        A range may hold anything up to 9,999 if what is left below it can still be taken in the
        ranges left: at the floor (`at_floor` more requests) or with one to spare (`with_spare`).
        Aim at the geometric middle of that window (never below a quarter of 9,999): a count off
        by the same factor either way still fits.  The window assumes the ranges between this one
        and the last (which takes what is left, exactly) come back `MIDDLE` full.  The flag: a
        window was found (cut carefully: a range that comes back too full costs a request).  Past the budget: ranges about `FILL` full.
        """
        cap = MAX_SEARCH_POSITION
        for ranges in (at_floor, with_spare):
            if ranges < 2:
                continue
            least = max(remaining - cap - (ranges - 2) * MIDDLE * cap, cap / 4)
            if cap / least >= WINDOW:
                return math.sqrt(least * cap), True
        return remaining / max(2, math.ceil(remaining / (FILL * cap))), False

    def _cut(
        self, lo: date, top: date, remaining: int, known: list[tuple[date, int]], at_floor: int, with_spare: int
    ) -> date:
        """The first date of the next (newest) range to ask for.

        Below the newest known date holding more than the target (or `lo`), three estimates: the
        growth model scaled to the hits known to lie above that date, and the density of the range
        just above carried on (as the model would have it fall, and flat).  Within the budget the
        nearest cut (the smallest range) is taken, and a range at most `SPAN` times as long as the
        one above, as a range that comes back too full costs a request and one too small rarely
        does; past the budget, the density just above.  Model coordinates: years, 0
        at the end of `top`, hit density exp(growth * t).
        """
        want, careful = self._target(remaining, at_floor, with_spare)
        base, hits = lo, remaining
        for c, n in known:
            if n > want and c > base:
                base, hits = c, n
        if top <= base:
            raise EntrezError(
                f"esearch: {self.query!r} has {hits} hits with the Entrez date {_fmt(base)}; "
                f"PubMed serves only {MAX_SEARCH_POSITION} ids of a search and one date cannot be split"
            )
        a = self._start(base, top)
        g = self.growth
        if self.bisect:
            t = a / 2  # halve the range: the last count was all or nothing where the model put it
        else:
            share = min(want / hits, 1.0)
            t = share * a if abs(g) < 1e-9 else math.log(1.0 - share * (1.0 - _exp(g * a))) / g
            local = self._local(want, g)
            if not careful:  # past the budget: the density just above, else the model (as the old split)
                t = local if a < local < 0 else t
            else:
                for est in (local, self._local(want, 0.0)):
                    if a < est < 0:
                        t = max(t, est)
                if self.above is not None and self.above[0] > 0:  # at most SPAN times the range above
                    t = max(t, -SPAN * self.above[1] / _YEAR)
        self.bisect = False
        cut = top + _DAY - timedelta(days=max(1, round(-t * _YEAR)))
        return min(max(cut, base + _DAY), top)

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
