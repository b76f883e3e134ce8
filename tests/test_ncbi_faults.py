"""NCBI misbehaving: timeouts, resets, truncated and empty bodies, error pages with HTTP 200,
rate limiting, 5xx, query warnings, and a whole-run outage.  Through `EntrezClient` against the
fake E-utilities server, and through real runs."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer
from tests.conftest import API_KEY, Q_BTK, Q_RILZA, add_itp_article, scenario_config
from tests.reliability_helpers import baseline, dump, fast_retries, pmids_in, text_of


@pytest.fixture
def client(ncbi):  # noqa: ANN001, ANN201
    ncbi.rate_limit = None  # the tests below pace nothing: no 429 unless injected
    c = EntrezClient(
        email="lab@example.org",
        api_key=API_KEY,
        base_url=ncbi.base_url,
        timeout=2,
        retries=1,
        backoff=0.01,
        pacer=Pacer(sleep=lambda s: None),
    )
    yield c
    c.close()


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_retries(monkeypatch)


def _seed(ncbi) -> None:  # noqa: ANN001
    add_itp_article(ncbi, "41000001", days_ago=3)
    add_itp_article(ncbi, "41000002", days_ago=4)
    ncbi.add_search(Q_BTK, ["41000001", "41000002"])
    ncbi.citedin["41000001"] = ["41000002"]


# (fault kind, what the error says when it never stops)
TRANSIENT = [
    ("500", "HTTP 500"),
    ("502", "HTTP 502"),
    ("503", "HTTP 503"),
    ("reset", "ConnectionError"),
    ("truncated", "ChunkedEncodingError"),
    ("empty200", "empty answer"),
    ("html200", "an HTML page instead of XML"),
    ("json_error200", "error answer: Search Backend failed"),
    ("error200", "NCBI answered: Search Backend failed"),  # NCBI's words, not "not a valid answer"
    ("error200_dtd", "Search Backend failed"),
]


@pytest.mark.parametrize("endpoint", ["esearch", "efetch", "elink"])
@pytest.mark.parametrize(("kind", "_message"), TRANSIENT, ids=[k for k, _ in TRANSIENT])
def test_a_transient_fault_is_retried_and_the_answer_is_right(ncbi, client, kind: str, _message: str, endpoint: str) -> None:  # noqa: ANN001
    _seed(ncbi)
    ncbi.fail_next(kind, endpoint=endpoint)
    if endpoint == "esearch":
        assert set(client.esearch(Q_BTK).ids) == {"41000001", "41000002"}
    elif endpoint == "efetch":
        assert [a.pmid for a in client.fetch_records(["41000001", "41000002"])] == ["41000001", "41000002"]
    else:
        assert client.cited_by(["41000001"]) == {"41000001": {"41000002"}}
    assert [r.fault for r in ncbi.requests] == [kind, None]
    assert not ncbi.errors


@pytest.mark.parametrize(("kind", "message"), TRANSIENT, ids=[k for k, _ in TRANSIENT])
def test_a_fault_that_persists_is_one_clear_error(ncbi, client, kind: str, message: str) -> None:  # noqa: ANN001
    _seed(ncbi)
    ncbi.fail_next(kind, count=2)
    with pytest.raises(EntrezError) as info:
        client.esearch(Q_BTK)
    text = str(info.value)
    assert text.startswith("esearch: ") and message in text and "gave up after 2 attempts" in text
    assert "\n" not in text and API_KEY not in text
    assert ncbi.count("esearch") == 2


def test_read_timeout_is_retried(ncbi, client) -> None:  # noqa: ANN001
    _seed(ncbi)
    ncbi.slow_seconds = 1.5
    client.timeout = (2, 0.3)
    ncbi.fail_next("slow")
    started = time.monotonic()
    assert set(client.esearch(Q_BTK).ids) == {"41000001", "41000002"}
    assert time.monotonic() - started < 1.2, "the client gave up on the slow answer instead of waiting for it"
    assert [r.fault for r in ncbi.requests] == ["slow", None]


def test_read_timeout_that_persists_fails_cleanly(ncbi, client) -> None:  # noqa: ANN001
    _seed(ncbi)
    ncbi.slow_seconds = 1.5
    client.timeout = (2, 0.2)
    ncbi.fail_next("slow", count=2)
    with pytest.raises(EntrezError, match=r"^esearch: ReadTimeout: .*gave up after 2 attempts"):
        client.esearch(Q_BTK)


def test_429_honours_retry_after(ncbi) -> None:  # noqa: ANN001
    _seed(ncbi)
    ncbi.fail_next("429")
    client = EntrezClient(
        email="lab@example.org", api_key=API_KEY, base_url=ncbi.base_url, retries=2, backoff=0.01, pacer=Pacer()
    )
    try:
        assert set(client.esearch(Q_BTK).ids) == {"41000001", "41000002"}
    finally:
        client.close()
    first, second = ncbi.requests
    assert first.status == 429 and second.status == 200
    assert second.time - first.time >= 1.0, "Retry-After: 1 was not honoured"


def test_5xx_then_success_in_a_real_run(tmp_path: Path, ncbi, smtp, litwatch, fast) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=1)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41100001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001"])
    ncbi.fail_next("502", endpoint="esearch")
    ncbi.fail_next("reset", endpoint="efetch")
    ncbi.fail_next("truncated", endpoint="elink")
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100001"}]
    assert {r.fault for r in ncbi.requests} >= {"502", "reset", "truncated"}


def test_read_timeouts_in_a_real_run(tmp_path: Path, ncbi, smtp, litwatch, fast) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=1)
    cfg.write_text(cfg.read_text().replace("timeout = 5", "timeout = 0.3"))
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41100001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001"])
    ncbi.slow_seconds = 1.0
    ncbi.fail_next("slow", endpoint="efetch")
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100001"}]

    # a search that never answers in time: the run fails, nothing is stored, the next run catches up
    add_itp_article(ncbi, "41100002", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001", "41100002"])
    ncbi.fail_next("slow", count=4, endpoint="esearch")  # every attempt of both searches (sent at once)
    before = dump(tmp_path / "litwatch.db")
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "ReadTimeout" in r.err and API_KEY not in r.err
    after = dump(tmp_path / "litwatch.db")
    for table in ("articles", "watch_hits", "queue", "deliveries", "citations", "watches"):
        assert after[table] == before[table], table
    assert smtp.received == []
    ncbi.clear_faults()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100002"}]


def test_query_warnings_reach_the_digest_and_the_run_goes_on(tmp_path: Path, ncbi, smtp, litwatch, fast) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    typo = "zanubrutinibb[Title/Abstract]"  # unknown to the fake: Count 0 + PhraseNotFound
    ncbi.warnings[Q_RILZA] = "rilzabrutinibb"  # hits, and a PhraseNotFound for one word of the OR
    cfg = scenario_config(
        tmp_path,
        ncbi,
        smtp=smtp,
        watches=[("BTK inhibitors in ITP", Q_BTK), ("Rilzabrutinib", Q_RILZA), ("Typo watch", typo)],
    )
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    add_itp_article(ncbi, "41100001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001"])
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    assert pmids_in(msg) == {"41100001"}, "a broken watch does not stop the others"
    text = text_of(msg)
    assert "Typo watch" in text and "PhraseNotFound: zanubrutinibb[Title/Abstract]" in text
    assert "Rilzabrutinib" in text and "PhraseNotFound: rilzabrutinibb" in text
    assert "2 watch problems" in msg["Subject"]
    problems = dict(sqlite3.connect(tmp_path / "litwatch.db").execute("SELECT name, last_problems FROM watches"))
    assert "PhraseNotFound" in problems["Typo watch"] and problems["BTK inhibitors in ITP"] == "[]"


def test_ncbi_down_for_the_whole_run(tmp_path: Path, ncbi, smtp, litwatch, fast) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=1)
    assert litwatch("run", "--config", str(cfg)).code == 0
    # an article queued while the mail server was down ...
    add_itp_article(ncbi, "41100001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001"])
    smtp.stop()
    assert litwatch("run", "--config", str(cfg)).code == 1
    smtp.start()
    # ... is delivered by a run during which NCBI is down; news from NCBI waits for the next run
    add_itp_article(ncbi, "41100002", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001", "41100002"])
    ncbi.down = True
    before = dump(tmp_path / "litwatch.db")
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "HTTP 503" in r.err and "nothing was stored, the next run catches up" in r.err
    assert API_KEY not in r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100001"}]
    after = dump(tmp_path / "litwatch.db")
    for table in ("articles", "watch_hits", "citations", "corrections", "watches"):
        assert after[table] == before[table], table
    runs = sqlite3.connect(tmp_path / "litwatch.db").execute("SELECT outcome, error FROM runs ORDER BY id DESC").fetchone()
    assert runs[0] == "failed" and "HTTP 503" in runs[1]

    ncbi.down = False
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100002"}]
