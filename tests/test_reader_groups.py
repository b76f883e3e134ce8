"""A department's run in reader groups (issue 17, jobs/run/groups.py): the first groups' digests go
while the last groups' watches are still searched; every watch is recorded once, in one group;
a search failing in a later group leaves the earlier groups delivered and the rest to the next run.
What the fake E-utilities server and a real SMTP server (aiosmtpd on loopback) saw."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from litwatch.jobs.run import groups
from litwatch.jobs.run.groups import ReaderGroup, group_sizes, reader_groups
from tests.conftest import add_itp_article, pmids_in, seed_tracked, toml_str, write_config
from tests.fakes import Response, html_error_page

# -- the groups ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("readers", "smallest", "sizes"),
    [
        (0, 25, [0]),
        (1, 25, [1]),
        (25, 25, [25]),  # a lab: one group, the run as it always was
        (26, 25, [13, 13]),
        (50, 25, [25, 25]),
        (500, 25, [250, 125, 63, 31, 16, 15]),
        (6, 1, [3, 2, 1]),
    ],
)
def test_groups_halve_down_to_the_smallest(readers: int, smallest: int, sizes: list[int]) -> None:
    assert group_sizes(readers, smallest) == sizes
    assert sum(sizes) == readers


def test_a_watch_is_recorded_with_the_first_group_that_needs_its_search() -> None:
    readers = [
        ("a@x.org", ["a1", "shared-a"]),
        ("b@x.org", ["b1"]),
        ("c@x.org", ["c1"]),
        ("d@x.org", ["d1", "a1"]),  # a1 is the first group's already
        ("e@x.org", ["e1", "shared-e"]),  # shared-e asks what shared-a asks: answered with the first group
    ]
    watches = ["a1", "b1", "c1", "d1", "e1", "shared-a", "shared-e", "nobody's"]
    search_of = {w: w for w in watches} | {"shared-e": "shared-a"}
    got = reader_groups(readers, watches, search_of, smallest=2)  # 5 readers: (3, 2)
    assert got == [
        ReaderGroup(("a@x.org", "b@x.org", "c@x.org"), ("a1", "b1", "c1", "shared-a", "shared-e")),
        ReaderGroup(("d@x.org", "e@x.org"), ("d1", "e1", "nobody's")),  # a watch no reader follows: the last group
    ]
    placed = [w for g in got for w in g.watches]
    assert sorted(placed) == sorted(watches), "every watch in exactly one group"


def test_no_readers_is_one_group_of_every_watch() -> None:
    assert reader_groups([], ["w1", "w2"], {"w1": 1, "w2": 2}) == [ReaderGroup((), ("w1", "w2"))]


# -- a department's run, end to end ---------------------------------------------------------------------

READERS = 6
OWN = 3  # watches each reader has alone
SHARED = "eltrombopag[tiab] AND itp"


def own_query(r: int, k: int) -> str:
    return f"topic{r}x{k}[tiab]"


def department(tmp_path: Path, ncbi, smtp) -> Path:  # noqa: ANN001
    """6 readers with 3 watches of their own and one shared (in their own spelling), the tracked
    case series, digests to a real SMTP server; the old hits searched once as the baseline."""
    pmid = 41_000_000
    for r in range(READERS):
        for k in range(OWN):
            add_itp_article(ncbi, str(pmid), days_ago=200)
            ncbi.add_search(own_query(r, k), [str(pmid)])
            pmid += 1
    add_itp_article(ncbi, str(pmid), days_ago=200)
    ncbi.add_search(SHARED, [str(pmid)])
    seed_tracked(ncbi)
    lines = ["[ncbi]", 'email = "lab@haematology-unit.org"', f"base_url = {toml_str(ncbi.base_url)}",
             "timeout = 5", "retries = 0", ""]
    for r in range(READERS):
        for k in range(OWN):
            lines += ["[[watch]]", f'name = "r{r}-{k}"', f"query = {toml_str(own_query(r, k))}", ""]
        spelling = SHARED.upper() if r % 2 else SHARED
        lines += ["[[watch]]", f'name = "r{r}-shared"', f"query = {toml_str(spelling)}", ""]
    lines += ["[tracked]", 'pmids = ["39973148"]', ""]
    lines += ["[digest]", 'sender = "litwatch@example.org"', ""]
    for r in range(READERS):
        names = ", ".join(f'"r{r}-{k}"' for k in [*range(OWN), "shared"])
        lines += ["[[recipient]]", f'email = "reader{r}@example.org"', f"watches = [{names}]", ""]
    lines += ["[smtp]", 'host = "127.0.0.1"', f"port = {smtp.port}", 'security = "none"', ""]
    return write_config(tmp_path, "\n".join(lines))


def news(ncbi) -> dict[int, str]:  # noqa: ANN001
    """A new article for each reader's first watch, one for the shared query, a new citing paper."""
    mine = {}
    for r in range(READERS):
        p = str(41_100_000 + r)
        add_itp_article(ncbi, p, days_ago=1)
        ncbi.searches[own_query(r, 0)].append(p)
        mine[r] = p
    add_itp_article(ncbi, "41100100", days_ago=1)
    ncbi.searches[SHARED].append("41100100")
    add_itp_article(ncbi, "41100200", days_ago=1)
    ncbi.citedin["39973148"].append("41100200")
    return mine


@pytest.fixture
def in_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Six readers in three groups (3, 2, 1); no API key: one search at a time, 3 a second."""
    monkeypatch.setattr(groups, "SMALLEST_GROUP", 1)
    monkeypatch.delenv("LITWATCH_NCBI_API_KEY")


def test_the_first_groups_digests_go_while_the_last_groups_are_searched(
    tmp_path: Path, ncbi, smtp, litwatch, in_groups  # noqa: ANN001
) -> None:
    cfg = department(tmp_path, ncbi, smtp)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    smtp.received.clear()
    ncbi.clear()
    mine = news(ncbi)

    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    got = {m.rcpt_tos[0]: m for m in smtp.received}
    assert len(smtp.received) == READERS and len(got) == READERS, "one digest each"
    for k in range(READERS):
        assert pmids_in(got[f"reader{k}@example.org"].message) == {mine[k], "41100100", "41100200"}
    searched = {x.get("term"): x.time for x in ncbi.requests_for("esearch")}
    last_group_searched = min(searched[own_query(5, k)] for k in range(OWN))
    first_group_sent = max(got[f"reader{k}@example.org"].time for k in range(3))
    assert first_group_sent < last_group_searched, "the first group's digests went before the last group was searched"
    # the cost: each distinct query once, as in one group; one efetch per group with news
    assert len([t for t in searched if t in {own_query(r, k) for r in range(READERS) for k in range(OWN)}]) == 18
    assert sum(1 for x in ncbi.requests_for("esearch") if x.get("term", "").lower() == SHARED.lower()) == 1
    assert ncbi.count("efetch") == 3 and ncbi.count("elink") == 1
    db = sqlite3.connect(cfg.parent / "litwatch.db")
    hits = db.execute("SELECT watch, pmid FROM watch_hits WHERE pmid LIKE '411%' ORDER BY watch, pmid").fetchall()
    assert hits == sorted([(f"r{k}-0", mine[k]) for k in range(READERS)] + [(f"r{k}-shared", "41100100") for k in range(READERS)])
    assert db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'").fetchone()[0] == 2 * READERS


def test_a_search_failing_in_a_later_group_leaves_the_rest_to_the_next_run(
    tmp_path: Path, ncbi, smtp, litwatch, in_groups, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    cfg = department(tmp_path, ncbi, smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    smtp.received.clear()
    mine = news(ncbi)
    failing = own_query(4, 1)  # reader 4's: the second group
    answer = ncbi._esearch

    def esearch(params: dict[str, list[str]]) -> Response:
        if params.get("term", [""])[0] == failing:
            return Response(503, html_error_page(503), "text/html")
        return answer(params)

    monkeypatch.setattr(ncbi, "_esearch", esearch)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "503" in r.err and "Traceback" not in r.err
    sent = {m.rcpt_tos[0]: pmids_in(m.message) for m in smtp.received}
    assert len(smtp.received) == READERS
    for k in range(3):  # the first group: recorded and delivered
        assert sent[f"reader{k}@example.org"] == {mine[k], "41100100", "41100200"}
    for k in range(3, READERS):  # the others: what was recorded for them (as any run delivers what is queued)
        assert sent[f"reader{k}@example.org"] == {"41100100", "41100200"}
    db = sqlite3.connect(cfg.parent / "litwatch.db")
    stored = {w for (w,) in db.execute("SELECT watch FROM watch_hits WHERE pmid LIKE '411%'")}
    assert stored == {f"r{k}-0" for k in range(3)} | {f"r{k}-shared" for k in range(READERS)}

    # the next run: the later groups' news, to their readers only, nothing twice
    monkeypatch.setattr(ncbi, "_esearch", answer)
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    sent = {m.rcpt_tos[0]: pmids_in(m.message) for m in smtp.received}
    assert len(smtp.received) == 3
    assert sent == {f"reader{k}@example.org": {mine[k]} for k in range(3, READERS)}
