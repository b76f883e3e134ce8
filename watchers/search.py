"""Searches that miss nothing.

esearch answers 20 ids unless asked for more, and PubMed's esearch serves only the first 9,999 ids
of a search.  `collect_ids` asks for 9,999 at a time and, when a search has more hits, splits it
by Entrez date into ranges that each hold fewer than 9,999, so every id is seen.

Searches are never narrowed to "records added since the last run": a record's Entrez date can be
weeks older than the day it first matches a query (MeSH indexing comes later, back-loaded records
keep old dates).  The caller diffs the whole result set, or a long window, against the store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from watchers.entrez import MAX_SEARCH_POSITION, EntrezClient, EntrezError, SearchPage

log = logging.getLogger(__name__)

EARLIEST = date(1600, 1, 1)  # before any Entrez date
FILL = 0.75  # aim for pieces this full, so that an estimate a little off still fits
GROWTH = 0.05  # PubMed grows about 5 % a year: the density model used to place split dates


@dataclass(slots=True)
class SearchResult:
    """Every id a query matches, with what PubMed said about the query."""

    ids: set[str] = field(default_factory=set)
    count: int = 0
    query_translation: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    requests: int = 0

    @property
    def problems(self) -> list[str]:
        """PubMed's complaints about the query, as lines for the user."""
        out = [f"{k}: {', '.join(v)}" for k, v in self.errors.items()]
        return out + [w for w in self.warnings if not w.startswith("OutputMessage: No items found")]


def _fmt(d: date) -> str:
    return d.strftime("%Y/%m/%d")


def _weight(d: date) -> float:
    """Expected share of records up to `d` (unnormalised), under exponential growth."""
    return math.exp(GROWTH * (d.toordinal() - date(2000, 1, 1).toordinal()) / 365.25)


def _unweight(w: float) -> date:
    days = math.log(w) / GROWTH * 365.25 + date(2000, 1, 1).toordinal()
    return date.fromordinal(max(1, min(int(days), date.max.toordinal())))


def _split_dates(lo: date, hi: date, pieces: int) -> list[date]:
    """`pieces - 1` dates strictly between lo and hi that cut it into pieces of equal expected count."""
    wl, wh = _weight(lo), _weight(hi)
    cuts: list[date] = []
    for i in range(1, pieces):
        d = _unweight(wl + (wh - wl) * i / pieces)
        if lo < d < hi and (not cuts or d > cuts[-1]):
            cuts.append(d)
    if not cuts and (hi - lo).days >= 2:
        cuts = [lo + (hi - lo) / 2]
    return cuts


def collect_ids(
    client: EntrezClient,
    query: str,
    *,
    window_days: int | None = None,
    today: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """All ids matching `query` (optionally only those with an Entrez date in the last `window_days`)."""
    today = today or date.today()
    hi = today + timedelta(days=1)
    lo = today - timedelta(days=window_days) if window_days else EARLIEST
    result = SearchResult()
    before = client.requests_made

    first = _page(client, query, lo, hi, window=window_days is not None, open_ended=True)
    result.count = first.count
    result.query_translation = first.query_translation
    result.errors = first.errors
    result.warnings = first.warnings
    if first.count <= MAX_SEARCH_POSITION:
        result.ids.update(_complete(client, query, first, lo, hi, window=window_days is not None, open_ended=True))
    else:
        seen = _split(client, query, lo, hi, first.count, result, open_ended=True, progress=progress)
        if seen < first.count:
            log.warning("search %r: %d of %d hits reachable by Entrez date", query, seen, first.count)
    result.requests = client.requests_made - before
    return result


def _page(
    client: EntrezClient, query: str, lo: date, hi: date, *, window: bool, open_ended: bool, retstart: int = 0
) -> SearchPage:
    if not window and lo == EARLIEST and open_ended:
        return client.esearch(query, retstart=retstart)
    return client.esearch(
        query,
        retstart=retstart,
        datetype="edat",
        mindate=_fmt(lo),
        maxdate="3000/12/31" if open_ended else _fmt(hi),
    )


def _complete(
    client: EntrezClient, query: str, page: SearchPage, lo: date, hi: date, *, window: bool, open_ended: bool
) -> list[str]:
    """The ids of a range known to hold at most 9,999 hits (pages further if a server sent fewer)."""
    ids = list(page.ids)
    while len(ids) < page.count:
        nxt = _page(client, query, lo, hi, window=window, open_ended=open_ended, retstart=len(ids))
        if not nxt.ids:
            raise EntrezError(f"esearch: {query!r} stopped at {len(ids)} of {page.count} ids")
        ids.extend(nxt.ids)
    return ids


def _split(
    client: EntrezClient,
    query: str,
    lo: date,
    hi: date,
    count: int,
    result: SearchResult,
    *,
    open_ended: bool,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Collect the ids of [lo, hi] (hi open-ended for the last range), known to hold `count` hits."""
    pieces = max(2, math.ceil(count / (FILL * MAX_SEARCH_POSITION)))
    cuts = _split_dates(lo, hi, pieces)
    if not cuts:
        raise EntrezError(f"esearch: {query!r} has {count} hits on one Entrez date; cannot split under 9,999")
    bounds = [lo, *cuts, hi]
    seen = 0
    for i in range(len(bounds) - 1):
        a, b = bounds[i], bounds[i + 1] - timedelta(days=1)
        last = i == len(bounds) - 2
        page = _page(client, query, a, b, window=True, open_ended=open_ended and last)
        if page.count > MAX_SEARCH_POSITION:
            seen += _split(client, query, a, b + timedelta(days=1), page.count, result,
                           open_ended=open_ended and last, progress=progress)
        else:
            ids = _complete(client, query, page, a, b, window=True, open_ended=open_ended and last)
            result.ids.update(ids)
            seen += page.count
            if progress:
                progress(len(result.ids), result.count)
    return seen
