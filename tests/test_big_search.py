"""A watch with 30,000 hits, end to end: PubMed's esearch serves only 9,999 ids of a search
("retstart cannot be larger than 9998", enforced by the fake), so the run splits the search by
Entrez date and still stores every id, in a handful of requests.

The hits are ids and Entrez dates only (the fake's `searches` and `edat`): a baseline fetches no
record, so none is built.
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer
from tests.conftest import API_KEY, add_itp_article, scenario_config

QUERY = '"purpura, thrombocytopenic, idiopathic"[MeSH Terms]'
HITS = 30_000


def decades(n: int, today: date, *, seed: int = 30) -> list[date]:
    """Entrez dates from 1950 to `today`, a year's count growing 7 % a year (PubMed-like)."""
    rng = random.Random(seed)
    years = list(range(1950, today.year + 1))
    out = []
    for y in rng.choices(years, [math.exp(0.07 * (y - 1950)) for y in years], k=n):
        out.append(min(date(y, 1, 1) + timedelta(days=rng.randrange(365)), today))
    return out


@pytest.fixture
def big(ncbi) -> list[str]:
    ids = [str(20_000_000 + k) for k in range(HITS)]
    ncbi.edat.update(zip(ids, decades(HITS, ncbi.today)))
    ncbi.add_search(QUERY, ids)
    return ids


def test_the_fake_enforces_the_cap(ncbi, big) -> None:
    client = EntrezClient(email="lab@example.org", api_key=API_KEY, base_url=ncbi.base_url, retries=0, pacer=Pacer())
    page = client.esearch(QUERY)
    assert page.count == HITS and len(page.ids) == 9999
    with pytest.raises(EntrezError, match="retstart' cannot be larger than 9998"):
        client.esearch(QUERY, retstart=9999)


def test_a_30000_hit_watch_end_to_end(tmp_path: Path, ncbi, big, litwatch) -> None:
    assert not ncbi.records, "ids and dates only"
    cfg = scenario_config(tmp_path, ncbi, watches=[("ITP", QUERY)], tracked=[])
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err

    db = sqlite3.connect(cfg.parent / "litwatch.db")
    stored = {row[0] for row in db.execute("SELECT pmid FROM watch_hits WHERE watch = 'ITP'")}
    assert stored == set(big), "every id, although esearch serves 9,999 of a search"
    assert db.execute("SELECT last_count FROM watches WHERE name = 'ITP'").fetchone()[0] == HITS

    searches = ncbi.requests_for("esearch")
    floor = 1 + math.ceil(HITS / 9999)  # the count, then 4 date ranges
    assert floor <= len(searches) <= floor + 2, [(s.get("mindate"), s.get("maxdate")) for s in searches]
    assert ncbi.count() == len(searches), "a baseline fetches no record"
    assert all(int(s.get("retstart") or 0) < 9999 for s in searches)
    assert all(s.status == 200 for s in ncbi.requests), "no refused request: no cap error, no 429"
    assert not ncbi.errors
    assert f"requests={len(searches)} " in r.err
    assert db.execute("SELECT requests FROM runs").fetchone()[0] == len(searches)

    # the next day: three new hits, one with an old Entrez date (back-loaded)
    new = {"41600001": 0, "41600002": 1, "41600003": 4000}
    for pmid, days_ago in new.items():
        add_itp_article(ncbi, pmid, days_ago=days_ago)
    ncbi.add_search(QUERY, big + list(new))
    ncbi.clear()
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    assert "new_articles=3 " in r.err
    assert ncbi.count("efetch") == 1
    fetched = {i for req in ncbi.requests_for("efetch") for i in req.get("id").split(",")}
    assert fetched == set(new), "only the new hits' records"
    # the split is remembered: its date ranges are asked again, one esearch each, no count
    ranged = [s for s in ncbi.requests_for("esearch") if s.get("term") == QUERY]  # (not the notice search)
    assert len(ranged) == math.ceil(HITS / 9999)
    assert all(s.get("mindate") for s in ranged)
    total = db.execute("SELECT COUNT(*) FROM watch_hits WHERE watch = 'ITP'").fetchone()[0]
    assert total == HITS + 3


def test_a_first_run_with_a_backfill_splits_at_its_start(tmp_path: Path, ncbi, big, litwatch) -> None:
    recent = [str(41_700_000 + k) for k in range(40)]
    for k, pmid in enumerate(recent):
        add_itp_article(ncbi, pmid, days_ago=k % 20)
    ncbi.add_search(QUERY, big + recent)
    cfg = scenario_config(tmp_path, ncbi, watches=[("ITP", QUERY)], tracked=[])
    cfg.write_text(cfg.read_text().replace('name = "ITP"', 'name = "ITP"\nbackfill_days = 30'))
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    expected = {p for p, d in ncbi.edat.items() if d >= ncbi.today - timedelta(days=30) and p in set(big + recent)}
    assert f"new_articles={len(expected)} " in r.err
    searches = ncbi.requests_for("esearch")
    assert searches[1].get("mindate") == (ncbi.today - timedelta(days=30)).strftime("%Y/%m/%d"), (
        "the first date range is the backfill window: its ids are the recent ones, no search of its own"
    )
    assert len(searches) <= 1 + math.ceil(HITS / 9999) + 3
    assert {i for req in ncbi.requests_for("efetch") for i in req.get("id").split(",")} == expected
    assert re.search(r"hits=30040 ", r.err)
