"""`litwatch status`: the human view, `--json`, and `--check` (the container HEALTHCHECK)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Q_BTK, add_itp_article, baseline, scenario_config


def seed(ncbi) -> list[str]:  # noqa: ANN001
    return baseline(ncbi, 3, first=43000000, rilza=1, cited=False)


def test_check_turns_red_after_a_failed_run_and_green_after_a_good_one(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0)
    r = litwatch("status", "--check", "--config", str(cfg))
    assert (r.code, r.out) == (1, "unhealthy: no run has finished yet\n")

    assert litwatch("run", "--config", str(cfg)).code == 0
    r = litwatch("status", "--check", "--config", str(cfg))
    assert r.code == 0 and r.out.startswith("healthy: last successful run "), r.out

    ncbi.down = True
    assert litwatch("run", "--config", str(cfg)).code == 1
    r = litwatch("status", "--check", "--config", str(cfg))
    assert r.code == 1
    assert r.out.startswith("unhealthy: the last run failed: ") and "503" in r.out, r.out
    assert len(r.out.splitlines()) == 1

    ncbi.down = False
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert litwatch("status", "--check", "--config", str(cfg)).code == 0


def test_check_is_red_when_no_run_succeeded_for_two_schedule_periods(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra='[schedule]\ncron = "30 5 * * *"\nmisfire_grace = 3600\n')
    assert litwatch("run", "--config", str(cfg)).code == 0
    db = sqlite3.connect(tmp_path / "litwatch.db")
    stamp = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="seconds")
    db.execute("UPDATE runs SET started_at = ?, finished_at = ?", (stamp, stamp))
    db.commit()
    r = litwatch("status", "--check", "--config", str(cfg))
    assert r.code == 1 and r.out.startswith("unhealthy: no successful run since "), r.out


def test_status_json(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ids = seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    # news, and the mail server down: items stay pending
    add_itp_article(ncbi, "43100001", days_ago=0)
    add_itp_article(ncbi, "43100002", days_ago=0)
    ncbi.add_search(Q_BTK, ids + ["43100001", "43100002"])
    smtp.stop()
    assert litwatch("run", "--config", str(cfg)).code == 1

    r = litwatch("status", "--json", "--config", str(cfg))
    assert r.code == 0, r.err
    info = json.loads(r.out)
    assert info["store"] == str(tmp_path / "litwatch.db")
    assert info["tracked_papers"] == 1
    assert info["pending_items"] == {"haematology@example.org": 2}
    assert [x["recipient"] for x in info["recent_failed_deliveries"]] == ["haematology@example.org"]
    assert info["deliveries_in_doubt"] == []
    runs = info["runs"]
    assert [x["outcome"] for x in runs] == ["failed", "ok"], "newest first"
    assert all(x["requests"] > 0 for x in runs)
    assert runs[1]["digests_sent"] == 1 and runs[0]["new_articles"] == 2
    assert "connect" in runs[0]["error"]
    assert info["healthy"] is False and "failed" in info["health"]
    nxt = datetime.fromisoformat(info["next_run"])
    assert nxt.tzinfo is not None and nxt > datetime.now(UTC) - timedelta(minutes=1)
    assert (nxt.hour, nxt.minute) == (5, 30), "the default [schedule] cron, 30 5 * * *"
    assert info["last_success"] == runs[1]["finished"]
    assert info["recent_alerts"] == []


def test_status_human(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    r = litwatch("status", "--config", str(cfg))
    assert r.code == 0, r.err
    assert f"store:          {tmp_path / 'litwatch.db'}" in r.out
    assert "health:         ok" in r.out
    assert "next run:" in r.out and "tracked papers: 1" in r.out
    assert "#1" in r.out and "sent=1" in r.out
    assert r.err == ""
