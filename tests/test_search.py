"""`collect_ids`: every id of a search, split by Entrez date past PubMed's 9,999 cap.

Against `MemoryESearch`, an in-memory esearch with PubMed's rules (the cap, "retstart cannot be
larger than 9998", inclusive date ranges, newest first), so the edge cases run in milliseconds.
tests/test_big_search.py runs a 30,000-hit watch end to end against the fake E-utilities server.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import random
from datetime import date, timedelta

import pytest

from litwatch.watchers.entrez import EntrezError, SearchPage
from litwatch.watchers.search import EARLIEST, collect_ids

TODAY = date(2026, 11, 25)
CAP = 9999


def _day(text: str) -> date:
    y, m, d = (int(x) for x in text.split("/"))
    return date(y, m, d)


class MemoryESearch:
    """The `EntrezClient` surface `collect_ids` uses: `esearch(...)` and `requests_made`."""

    def __init__(self, edats: list[date], *, page_size: int = CAP, first_pmid: int = 30_000_000) -> None:
        self.items = sorted((d.toordinal(), str(first_pmid + i)) for i, d in enumerate(edats))
        self.keys = [k for k, _ in self.items]
        self.page_size = page_size  # a server that sends fewer ids than asked for
        self.requests_made = 0
        self.calls: list[dict] = []
        self.count_bias = 0  # added to the unranged count: PubMed changing between requests

    def edat_of(self, pmid: str) -> date:
        return next(date.fromordinal(k) for k, p in self.items if p == pmid)

    def esearch(self, term, *, retstart=0, retmax=CAP, datetype=None, mindate=None, maxdate=None, reldate=None):
        self.requests_made += 1
        self.calls.append({"retstart": retstart, "datetype": datetype, "mindate": mindate, "maxdate": maxdate})
        if retstart >= CAP:
            raise EntrezError("esearch: Search Backend failed: 'retstart' cannot be larger than 9998")
        if datetype == "edat" and mindate:
            lo, hi = _day(mindate).toordinal(), _day(maxdate).toordinal()
            i, j = bisect.bisect_left(self.keys, lo), bisect.bisect_right(self.keys, hi)
            bias = 0
        else:
            i, j, bias = 0, len(self.keys), self.count_bias
        newest_first = [p for _, p in reversed(self.items[i:j])]
        n = min(retmax, CAP - retstart, self.page_size)
        return SearchPage(count=j - i + bias, ids=newest_first[retstart : retstart + n])

    @property
    def ranged(self) -> list[dict]:
        return [c for c in self.calls if c["mindate"]]


def growth_dates(n: int, *, rate: float = 0.06, start: int = 1965, seed: int = 1) -> list[date]:
    """`n` Entrez dates from `start` to TODAY, yearly counts growing by `rate`."""
    rng = random.Random(seed)
    years = list(range(start, TODAY.year + 1))
    out = []
    for y in rng.choices(years, [math.exp(rate * (y - start)) for y in years], k=n):
        out.append(min(date(y, 1, 1) + timedelta(days=rng.randrange(365)), TODAY))
    return out


def check_complete(client: MemoryESearch, result) -> None:
    assert result.ids == {p for _, p in client.items}
    assert result.complete
    assert sum(p.count for p in result.pieces) == result.count == len(client.items)
    assert all(c["retstart"] < CAP for c in client.calls), "never asks past position 9,998"


# -- at and around the cap ---------------------------------------------------------------------


def test_9999_hits_need_one_request() -> None:
    client = MemoryESearch(growth_dates(9999))
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)
    assert result.requests == 1
    assert client.calls[0]["datetype"] is None, "the first request is the plain query"


def test_10000_hits_are_split_by_entrez_date() -> None:
    client = MemoryESearch(growth_dates(10_000))
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)
    assert result.requests == 3, "the count, then two date ranges"
    assert all(c["datetype"] == "edat" for c in client.calls[1:])
    assert client.ranged[-1]["mindate"] == "1600/01/01", "the oldest range reaches back to the start"
    assert client.ranged[0]["maxdate"] == "3000/12/31", "the newest range is open-ended"


def test_a_server_that_sends_fewer_ids_than_asked_is_paged() -> None:
    client = MemoryESearch(growth_dates(12_000), page_size=5000)
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)


@pytest.mark.parametrize("hits", [20_000, 30_000, 100_000])
@pytest.mark.parametrize("rate", [0.0, 0.04, 0.08, 0.15])
def test_big_searches_take_few_requests(hits: int, rate: float) -> None:
    client = MemoryESearch(growth_dates(hits, rate=rate, seed=hits))
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)
    floor = 1 + math.ceil(hits / CAP)
    assert floor <= result.requests <= floor + 2 + hits // 40_000, [(c["mindate"], c["maxdate"]) for c in client.calls]
    if hits == 20_000:
        assert result.requests <= 6


# -- what cannot be split, and what needs splitting again --------------------------------------


def test_more_than_9999_hits_on_one_entrez_date_is_a_clear_error() -> None:
    client = MemoryESearch([date(2010, 5, 5)] * 12_000)
    with pytest.raises(EntrezError) as info:
        collect_ids(client, "q", today=TODAY)
    message = str(info.value)
    assert "12000 hits with the Entrez date 2010/05/05" in message
    assert "one date cannot be split" in message
    assert client.requests_made <= 20, "the date is found by halving, not day by day"


def test_more_than_9999_hits_today_is_a_clear_error() -> None:
    client = MemoryESearch([TODAY] * 10_500)
    with pytest.raises(EntrezError, match="10500 hits with the Entrez date 2026/11/25"):
        collect_ids(client, "q", today=TODAY)


def test_9999_hits_on_one_date_plus_others_are_all_collected() -> None:
    others = [d for d in growth_dates(3000) if d != date(2010, 5, 5)]
    client = MemoryESearch([date(2010, 5, 5)] * 9999 + others)
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)
    day = date(2010, 5, 5)
    assert any(p.start <= day and p.end is not None and day <= p.end and p.count == 9999 for p in result.pieces), (
        "the date's 9,999 hits in one range (with no other hit)"
    )


def test_a_range_that_still_overflows_is_split_again() -> None:
    # a burst: 14,000 hits in the last 60 days on top of 8,000 over decades; the growth model
    # expects far fewer so recently, so the first date range comes back with more than 9,999
    recent = [TODAY - timedelta(days=i % 60) for i in range(14_000)]
    client = MemoryESearch(recent + growth_dates(8000))
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)
    overflowed = [c for c in client.ranged if c is not client.calls[0]]
    counts = []
    for call in overflowed:
        lo, hi = _day(call["mindate"]), _day(call["maxdate"]) if call["maxdate"] != "3000/12/31" else date.max
        counts.append(sum(1 for k in client.keys if lo.toordinal() <= k <= hi.toordinal()))
    assert max(counts) > CAP, "some range held more than 9,999 and was split again"
    assert all(p.count <= CAP for p in result.pieces)


def test_pieces_do_not_overlap_and_cover_every_date() -> None:
    client = MemoryESearch(growth_dates(45_000, rate=0.1))
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)
    pieces = sorted(result.pieces, key=lambda p: p.start)
    assert pieces[0].start == EARLIEST and pieces[-1].end is None
    for a, b in itertools.pairwise(pieces):
        assert a.end is not None and a.end + timedelta(days=1) == b.start


def test_counts_that_do_not_add_up_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    client = MemoryESearch(growth_dates(15_000))
    client.count_bias = 3  # PubMed counted 3 hits the date ranges do not hold
    with caplog.at_level(logging.WARNING, logger="litwatch.watchers.search"):
        result = collect_ids(client, "q", today=TODAY)
    assert result.ids == {p for _, p in client.items}
    assert not result.complete
    assert "PubMed counted 15003 hits but its Entrez-date ranges held 15000" in caplog.text


# -- window_days and since -----------------------------------------------------------------------


def test_window_days_limits_the_search_to_recent_entrez_dates() -> None:
    edats = growth_dates(5000) + [TODAY - timedelta(days=i % 40) for i in range(400)]
    client = MemoryESearch(edats)
    result = collect_ids(client, "q", today=TODAY, window_days=90)
    start = TODAY - timedelta(days=90)
    expected = {p for k, p in client.items if k >= start.toordinal()}
    assert result.ids == expected and result.count == len(expected)
    assert result.requests == 1
    assert client.calls[0] == {"retstart": 0, "datetype": "edat", "mindate": "2026/08/27", "maxdate": "3000/12/31"}


def test_a_window_with_more_than_9999_hits_is_split_inside_the_window() -> None:
    start = TODAY - timedelta(days=60)
    older = [d for d in growth_dates(3000) if d < start]
    client = MemoryESearch([TODAY - timedelta(days=i % 50) for i in range(25_000)] + older)
    result = collect_ids(client, "q", today=TODAY, window_days=60)
    assert result.ids == {p for k, p in client.items if k >= start.toordinal()}
    assert result.complete and len(result.ids) == 25_000
    assert all(_day(c["mindate"]) >= start for c in client.calls)
    assert result.requests <= 1 + math.ceil(25_000 / CAP) + 2


def test_since_on_a_small_search_costs_one_more_request() -> None:
    edats = growth_dates(3000) + [TODAY - timedelta(days=i % 20) for i in range(300)]
    client = MemoryESearch(edats)
    since = TODAY - timedelta(days=30)
    result = collect_ids(client, "q", today=TODAY, since=since)
    assert result.requests == 2
    assert result.recent == {p for k, p in client.items if k >= since.toordinal()}
    assert len(result.ids) == 3300


def test_since_on_a_split_search_costs_no_search_of_its_own() -> None:
    edats = growth_dates(20_000) + [TODAY - timedelta(days=i % 30) for i in range(4000)]
    client = MemoryESearch(edats)
    since = TODAY - timedelta(days=30)
    result = collect_ids(client, "q", today=TODAY, since=since)
    check_complete(client, result)
    assert result.recent == {p for k, p in client.items if k >= since.toordinal()}
    assert client.ranged[0]["mindate"] == "2026/10/26", "the first cut is the backfill's start"
    assert result.requests <= 1 + 1 + math.ceil(20_000 / CAP) + 1


def test_since_before_the_window_means_every_hit() -> None:
    client = MemoryESearch([TODAY - timedelta(days=i % 50) for i in range(500)])
    result = collect_ids(client, "q", today=TODAY, window_days=60, since=TODAY - timedelta(days=365))
    assert result.requests == 1 and result.recent == result.ids and len(result.ids) == 500


def test_progress_is_reported_per_range() -> None:
    seen: list[tuple[int, int]] = []
    client = MemoryESearch(growth_dates(21_000))
    collect_ids(client, "q", today=TODAY, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (21_000, 21_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
