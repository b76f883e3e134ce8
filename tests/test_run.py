"""The daily watch run end to end: config -> Entrez searches -> store -> diff -> digest -> delivery,
against the fake E-utilities server and a real SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import (
    API_KEY,
    Q_BTK,
    Q_RILZA,
    TRACKED,
    add_itp_article,
    baseline,
    db_rows,
    pmids_in,
    scenario_config,
    seed_tracked,
)


def test_daily_run_end_to_end(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, store_url=store_url)

    # 1. the first run stores the baseline and announces none of it
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert r.out == "" and r.err == "", "silent on success"
    assert len(smtp.received) == 1
    first = smtp.received[0].message
    assert pmids_in(first) == set(), "no article is listed on the first run"
    assert "First run: 25 current hits stored as the baseline" in " ".join(first.get_body(("plain",)).get_content().split())
    assert (tmp_path / "litwatch.db").exists() == (store_url is None), "the configured store is the one used"
    assert db_rows(cfg, "SELECT COUNT(*) FROM watch_hits WHERE watch = 'BTK inhibitors in ITP'") == [(25,)]
    assert db_rows(cfg, "SELECT COUNT(*) FROM watch_hits WHERE baseline = 0") == [(0,)]
    # a baseline needs ids, not records: only the tracked paper was fetched
    fetched = {i for req in ncbi.requests_for("efetch") for v in req.params.get("id", []) for i in v.split(",")}
    assert fetched == {TRACKED}
    assert all(req.api_key == API_KEY for req in ncbi.requests)
    assert not ncbi.missing_identity()

    # 2. new hits: one found by both watches, one beyond the first 20 ids of its search
    add_itp_article(ncbi, "41100001", days_ago=1, title="<i>Rilzabrutinib</i> and zanubrutinib in ITP")
    add_itp_article(ncbi, "41100002", days_ago=500)  # old Entrez date: sorts after position 20
    add_itp_article(ncbi, "41100003", days_ago=2)
    ncbi.add_search(Q_BTK, base + ["41100001", "41100002"])
    ncbi.add_search(Q_RILZA, base[:3] + ["41100001", "41100003"])
    assert ncbi.ids_for(Q_BTK).index("41100002") >= 20
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    assert "new_articles=3" in r.err, "-v prints the run summary"
    assert len(smtp.received) == 1
    got = smtp.received[0]
    assert got.rcpt_tos == ["haematology@example.org"]
    msg = got.message
    assert pmids_in(msg) == {"41100001", "41100002", "41100003"}
    assert msg["Subject"].startswith("[litwatch] 3 new articles")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] and msg["Date"] and msg["From"] == "litwatch@example.org"
    text = msg.get_body(("plain",)).get_content()
    assert text.count("pubmed.ncbi.nlm.nih.gov/41100001/") == 1, "found by two watches, listed once"
    html = msg.get_body(("html",)).get_content()
    assert "<i>Rilzabrutinib</i>" in html
    assert "Rilzabrutinib" in text and "BTK inhibitors in ITP" in text

    # 3. the mail server is down: the run fails, nothing is lost
    add_itp_article(ncbi, "41100004", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001", "41100002", "41100004"])
    smtp.stop()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "connect" in r.err and API_KEY not in r.err
    pending = db_rows(cfg, "SELECT pmid FROM queue WHERE kind = 'hit' AND delivery_id IS NULL")
    assert pending == [("41100004",)]

    # 4. the next run delivers it, once
    smtp.start()
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100004"}]

    # 5. nothing new: nothing is sent
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert smtp.received == []
    outcomes = [row[0] for row in db_rows(cfg, "SELECT outcome FROM runs ORDER BY id")]
    assert outcomes == ["ok", "ok", "failed", "ok", "ok"]


def test_outbox_when_no_smtp(tmp_path: Path, ncbi, litwatch, store_url) -> None:  # noqa: ANN001
    baseline(ncbi, 3)
    cfg = scenario_config(tmp_path, ncbi, extra="", store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41200001", days_ago=0)
    ncbi.add_search(Q_BTK, ncbi.searches[Q_BTK] + ["41200001"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    emls = sorted((tmp_path / "digests").glob("*.eml"))
    htmls = sorted((tmp_path / "digests").glob("*.html"))
    assert len(emls) == 2 and len(htmls) == 2
    import email
    import email.policy

    last = email.message_from_bytes(emls[-1].read_bytes() if "41200001" in emls[-1].read_text() else emls[0].read_bytes(), policy=email.policy.default)
    assert pmids_in(last) == {"41200001"}


def test_backfill_days_announces_recent_baseline_hits(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    add_itp_article(ncbi, "41300001", days_ago=3)
    add_itp_article(ncbi, "41300002", days_ago=100)
    ncbi.add_search(Q_BTK, ["41300001", "41300002"])
    seed_tracked(ncbi)
    cfg = scenario_config(
        tmp_path, ncbi, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)],
        extra="", store_url=store_url,
    )
    text = cfg.read_text().replace(f"query = \"{Q_BTK.replace(chr(34), chr(92) + chr(34))}\"", "")
    text = cfg.read_text().replace('name = "BTK inhibitors in ITP"', 'name = "BTK inhibitors in ITP"\nbackfill_days = 30')
    cfg.write_text(text)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41300001"}]


def test_article_is_announced_once_whichever_watch_finds_it_later(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    baseline(ncbi, 3)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41400001", days_ago=0)
    ncbi.add_search(Q_BTK, ncbi.searches[Q_BTK] + ["41400001"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert [pmids_in(m) for m in smtp.messages()] == [{"41400001"}]
    # a day later the other watch finds it too: not announced again
    ncbi.add_search(Q_RILZA, ncbi.searches[Q_RILZA] + ["41400001"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == []


def test_send_empty(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    baseline(ncbi, 3)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, digest_extra="send_empty = true", store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert len(smtp.received) == 1
    assert "nothing new" in smtp.received[0].message["Subject"]


def test_ncbi_down_fails_the_run_and_the_next_run_catches_up(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    base = baseline(ncbi, 3)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=1, store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41500001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41500001"])
    before = db_rows(cfg, "SELECT COUNT(*) FROM watch_hits")[0][0]
    ncbi.down = True
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "503" in r.err
    assert db_rows(cfg, "SELECT COUNT(*) FROM watch_hits")[0][0] == before
    assert smtp.received == []
    ncbi.down = False
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert [pmids_in(m) for m in smtp.messages()] == [{"41500001"}]


def test_an_edited_query_is_a_new_baseline_not_a_flood(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    base = baseline(ncbi, 3)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    broader = Q_RILZA + " OR PRN1008[Title/Abstract]"
    for i in range(5):
        add_itp_article(ncbi, str(41600000 + i), days_ago=900)
    ncbi.add_search(broader, base[:3] + [str(41600000 + i) for i in range(5)])
    cfg.write_text(cfg.read_text().replace(f'query = "{Q_RILZA}"', f'query = "{broader}"'))
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    assert pmids_in(msg) == set()
    assert "The query changed: 5 hits" in " ".join(msg.get_body(("plain",)).get_content().split())
    add_itp_article(ncbi, "41600099", days_ago=0)
    ncbi.add_search(broader, ncbi.searches[broader] + ["41600099"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert [pmids_in(m) for m in smtp.messages()] == [{"41600099"}]
