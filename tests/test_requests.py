"""The fewest E-utilities requests a run can make, counted exactly.

One esearch per watch (past 9,999 hits: see tests/test_big_search.py), one elink per 300 tracked
papers, and one efetch per 400 records the run needs and does not have, for everything at once:
new hits, citing papers, tracked papers due for a re-check, a citation backfill.  A baseline needs
ids, not records.  What a run made is recorded (RunSummary, runs.requests, `litwatch status`).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litwatch.watchers import entrez
from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer
from tests.conftest import API_KEY, add_itp_article, scenario_config
from tests.fakes.pubmed_xml import esc

QUERIES = ['"ITP"[tiab] AND zanubrutinib', '"ITP"[tiab] AND rilzabrutinib', '"ITP"[tiab] AND eltrombopag']


def notice_searches(ncbi) -> int:
    """The daily search for notices on articles already sent ([sent]; none found here)."""
    return sum(1 for r in ncbi.requests_for("esearch") if "Retraction of Publication" in (r.get("term") or ""))


def counts(ncbi) -> dict[str, int]:
    """Requests per E-utility, the daily notice search apart (see `notice_searches`)."""
    out = {e: ncbi.count(e) for e in ("esearch", "elink", "efetch", "epost")}
    out["esearch"] -= notice_searches(ncbi)
    return out


def fetched_ids(ncbi) -> list[str]:
    return [i for req in ncbi.requests_for("efetch") for v in req.params.get("id", []) for i in v.split(",")]


def make_due(cfg: Path) -> None:
    """Tracked papers last checked a day ago: due for their daily re-check, as on the next day."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    with sqlite3.connect(cfg.parent / "litwatch.db") as db:
        db.execute("UPDATE tracked SET checked_at = ?", (yesterday,))


def seed(ncbi, sizes: list[int], tracked: int, first: int = 43_000_000) -> tuple[list[list[str]], list[str]]:
    hits, pmid = [], first
    for query, n in zip(QUERIES, sizes):
        ids = [str(pmid + k) for k in range(n)]
        pmid += n
        for k, p in enumerate(ids):
            add_itp_article(ncbi, p, days_ago=200 + k)
        ncbi.add_search(query, ids)
        hits.append(ids)
    papers = [str(44_000_000 + k) for k in range(tracked)]
    for k, p in enumerate(papers):
        add_itp_article(ncbi, p, days_ago=500 + k)
        ncbi.citedin[p] = [hits[0][k % len(hits[0])]]
    return hits, papers


def test_a_daily_run_makes_one_request_per_search_one_elink_and_one_efetch(tmp_path: Path, ncbi, litwatch) -> None:
    hits, papers = seed(ncbi, [30, 50, 120], tracked=4)
    watches = [(f"Watch {i}", q) for i, q in enumerate(QUERIES)]
    cfg = scenario_config(tmp_path, ncbi, watches=watches, tracked=papers)
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert counts(ncbi) == {"esearch": 3, "elink": 1, "efetch": 1, "epost": 0}, "the first run"
    assert sorted(fetched_ids(ncbi)) == papers, "a baseline fetches the tracked papers, not its hits"

    # the next day: 5 new articles (one found by two watches), 2 new citations (one by a paper
    # no watch finds), and the tracked papers due for their re-check
    new = [str(43_900_000 + k) for k in range(5)]
    for p in new:
        add_itp_article(ncbi, p, days_ago=0)
    ncbi.add_search(QUERIES[0], hits[0] + new[:2])
    ncbi.add_search(QUERIES[1], hits[1] + new[1:4])
    ncbi.add_search(QUERIES[2], hits[2] + new[4:])
    add_itp_article(ncbi, "43950001", days_ago=0)
    ncbi.citedin[papers[0]].append(new[0])
    ncbi.citedin[papers[1]].append("43950001")
    make_due(cfg)
    ncbi.clear()
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    assert "new_articles=5 new_citations=2" in r.err
    assert counts(ncbi) == {"esearch": 3, "elink": 1, "efetch": 1, "epost": 0}
    assert notice_searches(ncbi) == 1, "+ the daily notice search: something was sent the day before"
    assert sorted(fetched_ids(ncbi)) == sorted(new + ["43950001"] + papers), "everything in one efetch"
    assert re.search(r"requests=6 ", r.err), "the summary line counts them"
    assert all(req.status == 200 for req in ncbi.requests)

    # recorded: runs.requests and `litwatch status`
    with sqlite3.connect(cfg.parent / "litwatch.db") as db:
        assert [row[0] for row in db.execute("SELECT requests FROM runs ORDER BY id")] == [5, 6]
    status = litwatch("status", "--config", str(cfg), "--json")
    assert status.code == 0, status.err
    assert json.loads(status.out)["runs"][0]["requests"] == 6

    # nothing new and nothing due: the searches and the elink only (the notices: checked today)
    ncbi.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert counts(ncbi) == {"esearch": 3, "elink": 1, "efetch": 0, "epost": 0}
    assert notice_searches(ncbi) == 0


def test_a_first_run_with_backfills_fetches_once(tmp_path: Path, ncbi, litwatch) -> None:
    hits, papers = seed(ncbi, [40, 60], tracked=3)
    recent = [str(43_800_000 + k) for k in range(6)]
    for k, p in enumerate(recent):
        add_itp_article(ncbi, p, days_ago=k * 3)  # within the 30 days of both backfills
    ncbi.add_search(QUERIES[1], hits[1] + recent)
    for k, p in enumerate(papers):
        ncbi.citedin[p] = [recent[k], hits[0][k]]  # one recent citing paper, one old
    watches = [("Watch 0", QUERIES[0]), ("Watch 1", QUERIES[1])]
    cfg = scenario_config(tmp_path, ncbi, watches=watches, tracked=papers)
    text = cfg.read_text()
    text = text.replace('name = "Watch 1"', 'name = "Watch 1"\nbackfill_days = 30')
    text = text.replace("[tracked]\n", "[tracked]\nbackfill_days = 30\n")
    cfg.write_text(text)
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    assert "new_articles=6 new_citations=3" in r.err
    # Watch 0: one search; Watch 1: one search and one for the backfill window; one elink; and one
    # efetch for the tracked papers, the backfilled hits and every first-lookup citing paper
    assert counts(ncbi) == {"esearch": 3, "elink": 1, "efetch": 1, "epost": 0}
    assert sorted(fetched_ids(ncbi)) == sorted(set(papers) | set(recent) | set(hits[0][:3]))


def test_batches_of_400_records_and_300_papers_posted(tmp_path: Path, ncbi, litwatch) -> None:
    hits, papers = seed(ncbi, [10], tracked=350)
    cfg = scenario_config(tmp_path, ncbi, watches=[("Watch 0", QUERIES[0])], tracked=papers)
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert counts(ncbi) == {"esearch": 1, "elink": 2, "efetch": 1, "epost": 0}
    # (with an API key the two batches are in flight together: in either order)
    assert sorted((len(r.params["id"]), r.method) for r in ncbi.requests_for("elink")) == [(50, "GET"), (300, "POST")]

    new = [str(43_700_000 + k) for k in range(450)]
    for p in new:
        add_itp_article(ncbi, p, days_ago=0)
    ncbi.add_search(QUERIES[0], hits[0] + new)
    make_due(cfg)
    ncbi.clear()
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    assert "new_articles=450" in r.err
    # 450 new + 350 re-checks = 800 records: two efetch requests of 400, posted
    assert counts(ncbi) == {"esearch": 1, "elink": 2, "efetch": 2, "epost": 0}
    assert [len(r.get("id").split(",")) for r in ncbi.requests_for("efetch")] == [400, 400]
    assert all(r.method == "POST" for r in ncbi.requests_for("efetch"))


# -- fetching: the next batch downloads while this one is parsed ------------------------------------


def client_for(ncbi, **kwargs) -> EntrezClient:
    kwargs.setdefault("backoff", 0.01)
    return EntrezClient(email="lab@example.org", api_key=API_KEY, base_url=ncbi.base_url, pacer=Pacer(), **kwargs)


def many(ncbi, n: int) -> list[str]:
    ids = [str(45_000_000 + k) for k in range(n)]
    for p in ids:
        ncbi.add_article(p, esc(f"Article {p}"))
    return ids


def test_fetching_three_batches_makes_three_requests(ncbi) -> None:
    ids = many(ncbi, 1000)
    client = client_for(ncbi)
    got = [a.pmid for a in client.fetch_records(reversed(ids))]
    assert got == ids, "every record once, in PMID order"
    assert client.requests_made == ncbi.count("efetch") == 3
    gaps = [b.time - a.time for a, b in zip(ncbi.requests, ncbi.requests[1:])]
    # seen by the server, so network and scheduling jitter can eat part of the 0.105 s spacing;
    # unpaced, the prefetching thread would send the next request at once (gap ~ 0)
    assert min(gaps) >= 0.06, "the process pacer still spaces every request"


@pytest.fixture
def cpus(monkeypatch):  # noqa: ANN001, ANN201
    """Set the CPUs the client sees (2: large fetches are parsed in worker processes); the
    worker pools it starts are counted in the list it returns."""
    started: list[int] = []
    real = entrez.ProcessPoolExecutor

    def pool(workers: int, **kwargs):  # noqa: ANN003, ANN202
        started.append(workers)
        return real(workers, **kwargs)

    monkeypatch.setattr(entrez, "ProcessPoolExecutor", pool)

    def set_cpus(n: int) -> list[int]:
        monkeypatch.setattr(entrez, "_usable_cpus", lambda: n)
        return started

    return set_cpus


@pytest.mark.parametrize(("n_cpus", "ahead"), [(1, 1), (2, 1 + entrez.PARSE_WORKERS)])
def test_the_batches_fetched_ahead_are_bounded(ncbi, cpus, n_cpus: int, ahead: int) -> None:  # noqa: ANN001
    ids = many(ncbi, 2000)  # five batches
    pools = cpus(n_cpus)
    client = client_for(ncbi)
    records = client.fetch_records(ids)
    next(records)
    time.sleep(0.6)  # plenty of time for more requests, were they allowed
    ahead += entrez.IN_FLIGHT_WITH_KEY - 1  # (client_for has an API key: that many downloads at once)
    assert ncbi.count("efetch") == 1 + ahead, "the batch being read and those downloaded ahead of it"
    records.close()
    time.sleep(0.2)
    assert ncbi.count("efetch") == 1 + ahead == client.requests_made, "closing stops the fetching"
    assert pools == ([] if n_cpus == 1 else [entrez.PARSE_WORKERS])


def test_worker_processes_parse_large_fetches_into_the_same_records(ncbi, cpus) -> None:  # noqa: ANN001
    ids = many(ncbi, 1000)  # three batches
    pools = cpus(2)
    client = client_for(ncbi)
    in_workers = list(client.fetch_records(ids))
    assert pools == [entrez.PARSE_WORKERS], "one pool of parse workers for the fetch"
    assert client.requests_made == ncbi.count("efetch") == 3, "every request made here, and counted"
    cpus(1)
    here = list(client_for(ncbi).fetch_records(ids))
    assert pools == [entrez.PARSE_WORKERS], "one CPU: parsed in this process"
    assert in_workers == here
    assert [r.pmid for r in here] == ids
    assert here[7].article().title == "Article 45000007"


def test_small_fetches_are_parsed_here(ncbi, cpus) -> None:  # noqa: ANN001
    ids = many(ncbi, 800)  # two batches: a worker would cost more than it saves
    pools = cpus(2)
    assert [r.pmid for r in client_for(ncbi).fetch_records(ids)] == ids
    assert pools == []


def test_a_record_a_worker_cannot_convert_is_set_aside_by_pmid(ncbi, cpus) -> None:  # noqa: ANN001
    ids = many(ncbi, 1000)
    ncbi.records[ids[555]] = (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{ids[555]}</PMID>'
        "</MedlineCitation></PubmedArticle>"
    )
    pools = cpus(2)
    client = client_for(ncbi)
    got = [r.pmid for r in client.fetch_records(ids)]
    assert pools == [entrez.PARSE_WORKERS]
    assert got == ids[:555] + ids[556:]
    assert list(client.unreadable) == [ids[555]]


def test_a_batch_a_worker_finds_invalid_is_asked_for_again_and_then_fails(ncbi, cpus) -> None:  # noqa: ANN001
    ids = many(ncbi, 1200)
    ncbi.records[ids[500]] = ncbi.records[ids[500]].replace("<Language>", "<Nonsense/><Language>")  # DTD-invalid
    pools = cpus(2)
    client = client_for(ncbi, retries=1)
    with pytest.raises(EntrezError, match="efetch: not a valid answer"):
        list(client.fetch_records(ids))
    assert pools == [entrez.PARSE_WORKERS]
    assert [len(r.get("id").split(",")) for r in ncbi.requests_for("efetch")] == [400, 400, 400, 400]
    assert client.requests_made == ncbi.count("efetch") == 4, "three batches downloaded, batch 2 again"


def test_a_worker_that_dies_leaves_its_batch_to_be_parsed_here(ncbi) -> None:  # noqa: ANN001
    ids = many(ncbi, 3)
    body = ncbi._efetch({"id": [",".join(ids)]}).body
    died: Future[object] = Future()
    died.set_exception(BrokenProcessPool("a child process terminated abruptly"))
    records, unreadable = client_for(ncbi)._parsed(ids, body, died)
    assert [r.pmid for r in records] == ids and unreadable == {}


def test_no_worker_processes_no_problem(ncbi, monkeypatch) -> None:  # noqa: ANN001
    def refuse(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise OSError("[Errno 38] Function not implemented")  # sem_open on a platform without it

    monkeypatch.setattr(entrez, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(entrez, "ProcessPoolExecutor", refuse)
    ids = many(ncbi, 1000)
    client = client_for(ncbi)
    assert [r.pmid for r in client.fetch_records(ids)] == ids
    assert client.requests_made == 3


def test_a_prefetched_batch_with_an_error_is_retried(ncbi) -> None:
    ids = many(ncbi, 900)
    ncbi.fail_next("error200", endpoint="efetch")
    ncbi.fail_next("truncated", endpoint="efetch")
    client = client_for(ncbi)
    assert [a.pmid for a in client.fetch_records(ids)] == ids
    assert [r.fault for r in ncbi.requests_for("efetch")] == ["error200", "truncated", None, None, None]
    assert client.requests_made == 5


def test_a_batch_that_never_parses_fails_cleanly_and_counts_every_request(ncbi) -> None:
    ids = many(ncbi, 800)
    ncbi.records[ids[500]] = ncbi.records[ids[500]].replace("<Language>", "<Nonsense/><Language>")  # DTD-invalid
    client = client_for(ncbi, retries=1)
    with pytest.raises(EntrezError, match="efetch: not a valid answer"):
        list(client.fetch_records(ids))
    assert client.requests_made == ncbi.count("efetch") == 3, "batch 1, batch 2, batch 2 again"


def test_a_parse_worker_imports_only_the_parser() -> None:
    """A spawned worker re-imports the main script (`litwatch`) as __mp_main__, then runs
    watchers.articles.article_records: neither may pull in the CLI or the HTTP stack."""
    import subprocess
    import sys

    script = Path(sys.executable).parent / "litwatch"
    if not script.exists():
        pytest.skip(f"no litwatch script beside {sys.executable} (pip install -e . makes one)")
    probe = (
        "import runpy, sys\n"
        f"runpy.run_path({str(script)!r}, run_name='__mp_main__')\n"  # what multiprocessing.spawn does
        "import litwatch.watchers.articles\n"
        "print(sorted(m for m in ('litwatch.jobs.cli', 'litwatch.jobs.cli.main', 'litwatch.jobs.config', 'requests', 'litwatch.notifications', 'litwatch.watchers.entrez') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"
