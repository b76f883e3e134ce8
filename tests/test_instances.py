"""Four `litwatch run` processes started at once on one PostgreSQL store (issue 7 point 2): one
runs, the others step aside (exit 75) or find nothing left to do; every recipient gets one digest
with each new article exactly once, and nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.conftest import (
    API_KEY,
    Q_BTK,
    Q_RILZA,
    ROOT,
    add_itp_article,
    baseline,
    db_rows,
    pmids_in,
    scenario_config,
)

RECIPIENTS = ["haematology@example.org", "pharmacy@example.org"]
NEW = ["41700001", "41700002", "41700003"]


def test_four_instances_at_once_deliver_each_article_once(tmp_path: Path, ncbi, smtp, litwatch, postgres_url) -> None:  # noqa: ANN001
    base = baseline(ncbi, 5)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, recipients=RECIPIENTS, store_url=postgres_url)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert not (tmp_path / "litwatch.db").exists(), "the PostgreSQL store is the one used"

    for i, pmid in enumerate(NEW):
        add_itp_article(ncbi, pmid, days_ago=i)
    ncbi.add_search(Q_BTK, base + NEW[:2])
    ncbi.add_search(Q_RILZA, base[:3] + NEW[1:])
    smtp.received.clear()
    ncbi.latency = 0.3  # a run lasts seconds: the four starts overlap it

    assert os.environ.get("LITWATCH_NCBI_API_KEY") == API_KEY
    cmd = [sys.executable, "-m", "litwatch.jobs", "run", "--config", str(cfg)]
    started = time.monotonic()
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out, err))
    elapsed = time.monotonic() - started

    codes = [code for code, _, _ in results]
    assert all(code in (0, 75) for code in codes), results
    assert codes.count(0) >= 1, results
    assert codes.count(75) >= 1, f"no start overlapped another run ({elapsed:.1f}s): {results}"
    for code, out, err in results:
        if code == 75:
            assert "another litwatch run holds" in err and "not running" in err
        else:
            assert err == "", err
        assert API_KEY not in out + err

    # exactly one digest per recipient, each new article in it once
    rcpts = Counter(rcpt for received in smtp.received for rcpt in received.rcpt_tos)
    assert rcpts == Counter(RECIPIENTS), [r.rcpt_tos for r in smtp.received]
    for received in smtp.received:
        msg = received.message
        assert pmids_in(msg) == set(NEW)
        text = msg.get_body(("plain",)).get_content()
        for pmid in NEW:
            assert text.count(f"pubmed.ncbi.nlm.nih.gov/{pmid}/") == 1

    # nothing lost: every new article is in a sent delivery for every recipient, nothing pending
    sent = db_rows(
        cfg,
        "SELECT q.recipient, q.pmid FROM queue q JOIN deliveries d ON d.id = q.delivery_id "
        "WHERE q.kind = 'hit' AND d.status = 'sent'",
    )
    assert sorted(set(sent)) == sorted((r, p) for r in RECIPIENTS for p in NEW)
    assert db_rows(cfg, "SELECT COUNT(*) FROM queue WHERE delivery_id IS NULL AND kind = 'hit'") == [(0,)]
    assert db_rows(cfg, "SELECT status, COUNT(*) FROM deliveries GROUP BY status") == [("sent", 4)]  # 2 baseline + 2
    outcomes = db_rows(cfg, "SELECT outcome, new_articles FROM runs ORDER BY id")
    assert outcomes[0][0] == "ok" and all(o == "ok" for o, _ in outcomes), outcomes
    assert sum(n for _, n in outcomes[1:]) == len(NEW), "the new articles were recorded by one run, once"
    assert len(outcomes) == 1 + codes.count(0)
