"""A run that dies by a signal is still seen (issue 13, A1): the next run, or `serve`, counts it as
failed for the admin alert, even when every run dies before its own alert check; and `serve` runs
each run in a child process, so it survives a run that crashes."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from tests.conftest import run_subprocess, scenario_config
from tests.test_serve import FAR_CRON, seed, spawn, wait_until  # noqa: F401 - spawn is a fixture

ADMIN = 'admin = "it@example.org"\nadmin_after_failures = 1'
CRASH = {"LITWATCH_TEST_CRASH_AT": "after_store"}  # every run SIGKILLs itself after storing


def _runs(db: Path) -> list[tuple[str, str | None]]:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT outcome, error FROM runs ORDER BY id").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return []


def _alerts(smtp) -> list:  # noqa: ANN001
    return [m for m in smtp.messages() if str(m["Subject"]).startswith("[litwatch] FAILING")]


def test_runs_that_all_die_by_a_signal_still_alert_the_admin(tmp_path: Path, ncbi, smtp) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, digest_extra=ADMIN)
    for _ in range(2):
        done = run_subprocess("run", "--config", str(cfg), env=CRASH)
        assert done.returncode == -signal.SIGKILL, done.stderr
    alerts = _alerts(smtp)
    assert len(alerts) == 1, [m["Subject"] for m in smtp.messages()]
    assert alerts[0]["To"] == "it@example.org"
    assert "failed" in str(alerts[0]["Subject"])
    assert [o for o, _ in _runs(tmp_path / "litwatch.db")] == ["abandoned", "running"]


def test_serve_survives_runs_killed_by_a_signal_and_counts_them(tmp_path: Path, ncbi, smtp, spawn) -> None:  # noqa: ANN001, F811
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, digest_extra=ADMIN, extra=FAR_CRON)
    db = tmp_path / "litwatch.db"
    child = spawn("serve", "--config", str(cfg), env={**CRASH, "LITWATCH_TEST_INTERVAL": "0.5"})
    wait_until(lambda: sum(o == "failed" for o, _ in _runs(db)) >= 2, 40, "two crashed runs recorded")
    assert child.proc.poll() is None, child.err  # serve is still there
    runs = _runs(db)
    assert runs[0] == ("failed", runs[0][1]) and "killed by SIGKILL" in (runs[0][1] or "")
    wait_until(lambda: len(_alerts(smtp)) >= 1, 10, "the admin alert")
    assert child.signal(signal.SIGTERM) == 0, child.err
    assert any("the run was killed by SIGKILL" in line for line in child.lines), child.err
    assert "Traceback" not in child.err
