"""A department's run at the fewest requests (issue 17): identical queries searched once whoever's
watches they are, tracked papers and efetch batches shared, a split past 9,999 hits remembered,
searches overlapped within the pacing.  Request counts are what the fake E-utilities server saw."""

from __future__ import annotations

import math
import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from litwatch.watchers.entrez import EntrezClient, Pacer
from litwatch.watchers.search import EARLIEST, Piece, collect_ids, collect_remembered
from litwatch.watchers.searches import WatchSearch, merged, query_key, search_watches, usable_split
from tests.conftest import API_KEY, add_itp_article, scenario_config, seed_tracked, toml_str, write_config
from tests.test_search import TODAY, MemoryESearch, check_complete

CAP = 9999


# -- the normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("zanubrutinib AND thrombocytopenia", "  Zanubrutinib   AND\tTHROMBOCYTOPENIA "),
        ("rilzabrutinib[Title/Abstract]", "Rilzabrutinib[title/abstract]"),
        ("(a OR b) AND c", "( a OR b ) AND c"),
        ('"immune thrombocytopenia"[tiab]', '"Immune Thrombocytopenia"[TIAB]'),
        ("and", "And"),  # a lower-case "and" is a search term, whatever its case
    ],
)
def test_spellings_pubmed_cannot_tell_apart_share_a_key(a: str, b: str) -> None:
    assert query_key(a) == query_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("zanubrutinib AND itp", "zanubrutinib and itp"),  # AND is an operator only in capitals
        ("itp NOT children", "itp not children"),
        ('"immune  thrombocytopenia"', '"immune thrombocytopenia"'),  # a phrase is kept as written
        ("itp[tiab]", "itp[Title/Abstract]"),  # same in PubMed, but abbreviations are not expanded
        ("itp [tiab]", "itp[tiab]"),
        ('"a b" c', '"a b c"'),
    ],
)
def test_spellings_that_may_differ_are_not_shared(a: str, b: str) -> None:
    assert query_key(a) != query_key(b)


def test_an_unclosed_quote_runs_to_the_end() -> None:
    assert query_key('itp AND "Immune  Throm') == 'itp AND "immune  throm'


# -- shared searches, tracked papers and fetches, end to end --------------------------------------------

QUERIES = ['zanubrutinib[tiab] AND "immune thrombocytopenia"', "rilzabrutinib[tiab]", "eltrombopag AND itp"]
VARIANTS = [  # how readers copied them into their own watches
    ["Zanubrutinib[TIAB] AND  \"Immune Thrombocytopenia\"", 'zanubrutinib[tiab]   AND "immune thrombocytopenia"'],
    ["Rilzabrutinib[tiab]", " rilzabrutinib[TIAB] "],
    ["Eltrombopag AND ITP", "eltrombopag  AND  itp"],
]
READERS = 10


def watch_searches(ncbi, queries: list[str]) -> int:  # noqa: ANN001
    """esearch requests for these queries (not the daily search for notices on sent articles)."""
    return sum(1 for r in ncbi.requests_for("esearch") if r.get("term") in queries)


def department(tmp_path: Path, ncbi, tracked: list[str]) -> Path:
    """30 watches of 10 readers (3 each) asking 3 distinct queries, in different spellings."""
    lines = ["[ncbi]", 'email = "lab@example.org"', f"base_url = {toml_str(ncbi.base_url)}", "timeout = 5",
             "retries = 0", ""]
    for r in range(READERS):
        for q in range(3):
            spelling = ([QUERIES[q]] + VARIANTS[q])[r % 3]
            lines += ["[[watch]]", f'name = "r{r}-q{q}"', f"query = {toml_str(spelling)}", ""]
    lines += ["[tracked]", "pmids = [" + ", ".join(toml_str(p) for p in tracked) + "]", ""]
    lines += ["[digest]", 'sender = "litwatch@example.org"', 'outbox = "digests"', ""]
    for r in range(READERS):
        lines += ["[[recipient]]", f'email = "reader{r}@example.org"',
                  "watches = [" + ", ".join(f'"r{r}-q{q}"' for q in range(3)) + "]", ""]
    return write_config(tmp_path, "\n".join(lines))


def test_identical_queries_are_searched_once_whoever_watches_them(tmp_path: Path, ncbi, litwatch) -> None:
    hits: list[list[str]] = []
    for q, query in enumerate(QUERIES):
        ids = [str(41_000_000 + 100 * q + k) for k in range(5)]
        for k, p in enumerate(ids):
            add_itp_article(ncbi, p, days_ago=300 + k)
        ncbi.add_search(query, ids)  # only the first spelling: any other sent would find nothing
        hits.append(ids)
    seed_tracked(ncbi, citing=[hits[0][0]])
    cfg = department(tmp_path, ncbi, tracked=["39973148"])

    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert ncbi.count("esearch") == 3, "30 watches, 3 distinct queries"
    assert {s.get("term") for s in ncbi.requests_for("esearch")} == set(QUERIES), "as the first watch writes it"
    assert ncbi.count("elink") == 1, "the tracked paper of 10 readers: one lookup"
    db = sqlite3.connect(cfg.parent / "litwatch.db")
    for r_ in range(READERS):
        for q in range(3):
            stored = {p for (p,) in db.execute("SELECT pmid FROM watch_hits WHERE watch = ?", (f"r{r_}-q{q}",))}
            assert stored == set(hits[q])
    assert db.execute("SELECT COUNT(*) FROM watches WHERE last_problems != '[]'").fetchone()[0] == 0

    # the next day: a new paper found by two queries, one found by the third
    ncbi.clear()
    first_digests = len(list((cfg.parent / "digests").glob("*.eml")))
    add_itp_article(ncbi, "41999001", days_ago=1)
    add_itp_article(ncbi, "41999002", days_ago=1)
    ncbi.searches[QUERIES[0]].append("41999001")
    ncbi.searches[QUERIES[1]].append("41999001")
    ncbi.searches[QUERIES[2]].append("41999002")
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert watch_searches(ncbi, QUERIES) == 3 and ncbi.count("efetch") == 1, "one fetch for every reader's news"
    fetched = [i for req in ncbi.requests_for("efetch") for v in req.params["id"] for i in v.split(",")]
    assert sorted(fetched) == ["41999001", "41999002"], "each record asked for once"
    queued = db.execute("SELECT recipient, pmid, reason FROM queue WHERE kind = 'hit' AND pmid LIKE '41999%'").fetchall()
    assert len(queued) == READERS * 3, "every reader told of both papers, 41999001 labelled with two watches"
    assert len(list((cfg.parent / "digests").glob("*.eml"))) == first_digests + READERS


def test_the_same_query_with_a_different_window_is_its_own_search(tmp_path: Path, ncbi, litwatch) -> None:
    ids = [str(41_000_000 + k) for k in range(3)]
    for k, p in enumerate(ids):
        add_itp_article(ncbi, p, days_ago=10 + 100 * k)
    ncbi.add_search("itp", ids)
    cfg = scenario_config(tmp_path, ncbi, watches=[("All", "itp"), ("Recent", "itp")], tracked=[])
    cfg.write_text(cfg.read_text().replace('name = "Recent"', 'name = "Recent"\nwindow_days = 60'))
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert ncbi.count("esearch") == 2
    db = sqlite3.connect(cfg.parent / "litwatch.db")
    assert db.execute("SELECT COUNT(*) FROM watch_hits WHERE watch = 'Recent'").fetchone()[0] == 1


def test_searches_overlap_within_the_pacing(ncbi) -> None:
    """With an API key (10/s) and answers slower than 0.1 s, several searches are in flight at
    once, while the starts stay at least 0.1 s apart (the fake would answer 429 otherwise)."""
    ncbi.latency = 0.5
    ncbi.rate_limit_with_key = 10
    for k in range(8):
        ncbi.add_search(f"topic {k}", [str(41_000_000 + k)])
    client = EntrezClient(email="lab@example.org", api_key=API_KEY, base_url=ncbi.base_url, retries=0, pacer=Pacer())
    asks = [WatchSearch(f"w{k}", f"topic {k}") for k in range(8)]
    results = search_watches(client, asks, today=ncbi.today)
    assert {name: r.ids for name, r in results.items()} == {f"w{k}": {str(41_000_000 + k)} for k in range(8)}
    arrivals = sorted(r.time for r in ncbi.requests_for("esearch"))
    assert len(arrivals) == 8 and all(r.status == 200 for r in ncbi.requests)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= 0.1 - 0.005, "NCBI's spacing with a key"
    assert any(g < ncbi.latency for g in gaps), "a search started before the previous one was answered"


def test_the_citations_are_asked_while_the_searches_run(tmp_path: Path, ncbi, litwatch) -> None:
    """The tracked papers' cited-by lookup does not wait for the watches' searches: it is sent
    between them (one pacer for all: no start closer than NCBI's spacing, nothing answered 429)."""
    ncbi.latency = 0.2
    ncbi.rate_limit_with_key = 10
    queries = [f"topic{k}[tiab]" for k in range(15)]
    for k, q in enumerate(queries):
        add_itp_article(ncbi, str(41_000_000 + k), days_ago=30)
        ncbi.add_search(q, [str(41_000_000 + k)])
    seed_tracked(ncbi, citing=["41000000"])
    cfg = scenario_config(tmp_path, ncbi, watches=[(f"w{k}", q) for k, q in enumerate(queries)])
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert all(x.status == 200 for x in ncbi.requests), "paced: nothing answered 429"
    searches = [x.time for x in ncbi.requests_for("esearch") if x.get("term") in queries]
    (elink,) = [x.time for x in ncbi.requests_for("elink")]
    assert len(searches) == len(queries)
    assert elink < max(searches), "the citations were asked while searches were still to be sent"
    arrivals = sorted(x.time for x in ncbi.requests)
    assert min(b - a for a, b in zip(arrivals, arrivals[1:])) >= 0.1 - 0.01


def test_the_tracked_papers_records_are_fetched_while_the_searches_run(
    tmp_path: Path, ncbi, litwatch, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    """Records that do not depend on the searches (the tracked papers) are fetched while they run,
    in whole batches only: the rest goes with the searches' news, so the efetch count stays at
    the floor (here batches of 5: 12 tracked papers and 3 new hits, 3 efetch)."""
    from litwatch.jobs.run import pipeline
    from litwatch.watchers import entrez

    monkeypatch.setattr(entrez, "FETCH_BATCH", 5)
    monkeypatch.setattr(pipeline, "FETCH_BATCH", 5)
    ncbi.latency = 0.2
    ncbi.rate_limit_with_key = 10
    tracked = [str(40_000_000 + k) for k in range(12)]
    for p in tracked:
        add_itp_article(ncbi, p, days_ago=400)
    queries = [f"topic{k}[tiab]" for k in range(12)]
    for k, q in enumerate(queries):
        add_itp_article(ncbi, str(41_000_000 + k), days_ago=30)
        ncbi.add_search(q, [str(41_000_000 + k)])
    cfg = scenario_config(tmp_path, ncbi, watches=[(f"w{k}", q) for k, q in enumerate(queries)], tracked=tracked)
    assert litwatch("run", "--config", str(cfg)).code == 0
    for k in range(3):  # the next day: three new hits, every tracked paper due for its re-check
        add_itp_article(ncbi, str(42_000_000 + k), days_ago=0)
        ncbi.searches[queries[k]].append(str(42_000_000 + k))
    with sqlite3.connect(cfg.parent / "litwatch.db") as db:
        db.execute("UPDATE tracked SET checked_at = '2000-01-01T00:00:00+00:00'")
    ncbi.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    fetches = ncbi.requests_for("efetch")
    assert len(fetches) == 3, "15 records in batches of 5: the floor"
    searched = [x.time for x in ncbi.requests_for("esearch") if x.get("term") in queries]
    assert fetches[0].time < max(searched), "the tracked papers' records were fetched while the searches ran"
    fetched = [i for req in fetches for v in req.params["id"] for i in v.split(",")]
    assert sorted(fetched) == sorted(tracked + [str(42_000_000 + k) for k in range(3)]), "each record once"
    assert all(x.status == 200 for x in ncbi.requests)


# -- a split remembered -------------------------------------------------------------------------------


def spread(n: int, *, start: int = 1950, seed: int = 1) -> list[date]:
    rng = random.Random(seed)
    a, b = date(start, 1, 1).toordinal(), TODAY.toordinal()
    return [date.fromordinal(rng.randint(a, b)) for _ in range(n)]


def test_a_remembered_split_costs_one_esearch_a_range() -> None:
    edats = spread(20_000)
    client = MemoryESearch(edats)
    first = collect_ids(client, "q", today=TODAY)
    check_complete(client, first)
    pieces = merged(first.pieces)
    assert usable_split(pieces) and len(pieces) == 3

    # the next day: 40 new hits, two with old Entrez dates (back-loaded, late indexing)
    new = [TODAY] * 38 + [date(1990, 5, 5), date(2001, 1, 1)]
    client = MemoryESearch(edats + new)
    again = collect_remembered(client, "q", pieces, today=TODAY)
    check_complete(client, again)
    assert client.requests_made == again.requests == 3, "at most 3 esearch a day for 20,000 hits"
    assert again.count == 20_040


def test_only_a_range_that_grew_past_the_cap_is_split_again() -> None:
    pieces = [Piece(EARLIEST, date(2009, 12, 31), 9000), Piece(date(2010, 1, 1), date(2019, 12, 31), 9000),
              Piece(date(2020, 1, 1), None, 9000)]
    rng = random.Random(4)
    edats = ([date(1990, 1, 1) + timedelta(days=rng.randrange(7000)) for _ in range(9000)]
             + [date(2010, 1, 1) + timedelta(days=rng.randrange(3600)) for _ in range(9000)]
             + [date(2020, 1, 1) + timedelta(days=rng.randrange((TODAY - date(2020, 1, 1)).days)) for _ in range(11_500)])
    client = MemoryESearch(edats)
    result = collect_remembered(client, "q", pieces, today=TODAY)
    check_complete(client, result)
    old = [c for c in client.ranged if c["mindate"] < "2020/01/01"]
    assert len(old) == 2, "the two ranges that still fit: asked once each"
    assert client.requests_made <= 3 + 3, "the grown range: its count, then two halves (one more at most)"


def test_a_remembered_split_that_no_longer_covers_every_date_is_not_used() -> None:
    assert not usable_split([Piece(EARLIEST, date(2000, 1, 1), 5), Piece(date(2000, 1, 3), None, 5)])
    assert not usable_split([Piece(date(1950, 1, 1), date(2000, 1, 1), 5), Piece(date(2000, 1, 2), None, 5)])
    assert not usable_split([Piece(EARLIEST, None, 5)])
    assert usable_split([Piece(EARLIEST, date(2000, 1, 1), 5), Piece(date(2000, 1, 2), None, 5)])


def test_a_20000_hit_watch_costs_3_esearch_a_day(tmp_path: Path, ncbi, litwatch) -> None:
    ids = [str(20_000_000 + k) for k in range(20_000)]
    ncbi.edat.update(zip(ids, spread(20_000, seed=9)))  # evenly over the years: unlike the growth model
    ncbi.add_search("itp[mh]", ids)
    cfg = scenario_config(tmp_path, ncbi, watches=[("ITP", "itp[mh]"), ("ITP too", "ITP[MH]")], tracked=[])
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert ncbi.count("esearch") <= 1 + 3 + 1, "the first split: within one request of the floor"
    for day in range(1, 4):
        ncbi.clear()
        new = [str(42_000_000 + 10 * day + k) for k in range(3)]
        for k, p in enumerate(new):
            add_itp_article(ncbi, p, days_ago=[0, 1, 3000][k])
        ncbi.searches["itp[mh]"] += new
        r = litwatch("run", "--config", str(cfg), "-v")
        assert r.code == 0, r.err
        assert watch_searches(ncbi, ["itp[mh]"]) == 3, f"day {day}: the remembered ranges, one esearch each"
        assert "new_articles=3 " in r.err
    db = sqlite3.connect(cfg.parent / "litwatch.db")
    assert db.execute("SELECT COUNT(*) FROM watch_hits WHERE watch = 'ITP too'").fetchone()[0] == 20_009
    assert db.execute("SELECT total FROM search_splits").fetchall() == [(20_009,)]


# -- the first split on hits spread unlike the growth model -------------------------------------------


def evenly(n: int, seed: int) -> list[date]:
    return spread(n, start=1946, seed=seed)


def in_bursts(n: int, seed: int) -> list[date]:
    """A topic that flared up three times (a drug, a scandal, a pandemic), little in between."""
    rng = random.Random(seed)
    centres = [date(1978, 6, 1), date(1999, 3, 1), date(2020, 4, 1)]
    out = []
    for _ in range(n):
        if rng.random() < 0.1:
            out.append(date.fromordinal(rng.randint(date(1960, 1, 1).toordinal(), TODAY.toordinal())))
        else:
            out.append(min(TODAY, rng.choice(centres) + timedelta(days=int(rng.gauss(0, 500)))))
    return out


def mostly_recent(n: int, seed: int) -> list[date]:
    """A new topic: 85 % of its hits in the last three years."""
    rng = random.Random(seed)
    cut = TODAY - timedelta(days=3 * 365)
    return [
        TODAY - timedelta(days=rng.randrange(3 * 365)) if rng.random() < 0.85
        else date.fromordinal(rng.randint(date(1970, 1, 1).toordinal(), cut.toordinal()))
        for _ in range(n)
    ]


@pytest.mark.parametrize("shape", [evenly, in_bursts, mostly_recent], ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [12_000, 20_000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_first_split_stays_within_one_request_of_the_floor(shape, n: int, seed: int) -> None:
    client = MemoryESearch(shape(n, seed))
    result = collect_ids(client, "q", today=TODAY)
    check_complete(client, result)
    floor = 1 + math.ceil(n / CAP)
    assert client.requests_made <= floor + 1, [(c["mindate"], c["maxdate"]) for c in client.calls]


def test_splits_no_longer_needed_are_forgotten_together(tmp_path: Path) -> None:
    """A search back under the cap forgets its remembered split; others are kept (save_splits)."""
    from litwatch.watchers.search import SearchResult
    from litwatch.watchers.searches import load_splits, save_splits
    from litwatch.watchers.store import open_store

    def big(n: int) -> SearchResult:
        half = n // 2
        return SearchResult(count=n, pieces=[Piece(EARLIEST, date(2010, 1, 1), n - half), Piece(date(2010, 1, 2), None, half)])

    queries = {"a": "alpha[mh]", "b": "beta[mh]", "c": "gamma[mh]"}
    with open_store(path=tmp_path / "splits.db") as store:
        with store.transaction():
            save_splits(store.splits, {name: big(15_000) for name in queries}, queries, 1)
        assert set(load_splits(store.splits)) == {query_key(q) for q in queries.values()}
        def small(n: int) -> SearchResult:  # one range: every date
            return SearchResult(count=n, pieces=[Piece(EARLIEST, None, n)])

        shrunk = {"a": small(9_000), "b": small(12), "c": big(16_000)}
        with store.transaction():
            save_splits(store.splits, shrunk, queries, 2)
        assert set(load_splits(store.splits)) == {query_key("gamma[mh]")}
