"""`litwatch serve` (real signals on child processes), catch-up at start, the run lock between
processes, and the log lines (text and JSON) a run leaves on stderr."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litwatch.jobs.commands.serve import TEST_INTERVAL_ENV, needs_catch_up
from litwatch.watchers.store import Run
from litwatch.watchers.store.sqlite import file_lock
from tests.conftest import Q_BTK, ROOT, Received, add_itp_article, baseline, run_subprocess, scenario_config

FAR_CRON = '[schedule]\ncron = "0 3 1 1 *"\ntimezone = "UTC"\n'  # once a year: only a catch-up runs


def seed(ncbi) -> list[str]:  # noqa: ANN001
    return baseline(ncbi, 3, first=42000000, rilza=1, cited=False)


def outcomes(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return [r[0] for r in conn.execute("SELECT outcome FROM runs ORDER BY id")]
        finally:
            conn.close()
    except sqlite3.DatabaseError:  # not created yet, or being created
        return []


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Child:
    """`litwatch ARGS` in a child process, its stderr read line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "litwatch.jobs", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def err(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 15) -> None:
        wait_until(lambda: any(text in line for line in self.lines) or self.proc.poll() is not None, timeout, repr(text))
        assert any(text in line for line in self.lines), self.err

    def signal(self, signum: int = signal.SIGTERM, timeout: float = 15) -> int:
        self.proc.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 15) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    children: list[Child] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Child:
        child = Child(*args, env=env)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()


def age_runs(db: Path, days: int) -> None:
    """Pretend every run so far happened `days` ago."""
    conn = sqlite3.connect(db)
    stamp = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    conn.execute("UPDATE runs SET started_at = ?, finished_at = ?", (stamp, stamp))
    conn.commit()
    conn.close()


# -- the scheduler ----------------------------------------------------------------------------------


def test_serve_runs_repeatedly_and_stops_cleanly_on_sigterm(tmp_path: Path, ncbi, smtp, spawn) -> None:  # noqa: ANN001
    ids = seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    db = tmp_path / "litwatch.db"
    child = spawn("serve", "--config", str(cfg), env={TEST_INTERVAL_ENV: "0.5"})
    wait_until(lambda: outcomes(db).count("ok") >= 2, 20, "two scheduled runs")

    # news found by a later scheduled run is delivered
    add_itp_article(ncbi, "42100001", days_ago=0)
    ncbi.add_search(Q_BTK, ids + ["42100001"])
    wait_until(lambda: any("42100001" in r.data.decode() for r in smtp.received), 20, "the digest of the news")

    assert child.signal(signal.SIGTERM) == 0, child.err
    runs = outcomes(db)
    assert "running" not in runs and set(runs) == {"ok"}, runs
    assert sum("run " in line and ": ok; watches=2" in line for line in child.lines) == len(runs), child.err
    assert "stopped" in child.lines[-1]
    assert not any("Traceback" in line for line in child.lines), child.err


def test_serve_catches_up_a_missed_run_at_start(tmp_path: Path, ncbi, smtp, spawn, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=FAR_CRON)
    db = tmp_path / "litwatch.db"
    assert litwatch("run", "--config", str(cfg)).code == 0
    age_runs(db, 800)  # the last successful run is older than the last 1 January, 03:00
    child = spawn("serve", "--config", str(cfg))
    wait_until(lambda: outcomes(db) == ["ok", "ok"], 20, "the catch-up run")
    assert child.signal(signal.SIGINT) == 0, child.err
    assert any("running now" in line for line in child.lines), child.err
    assert outcomes(db) == ["ok", "ok"]


def test_serve_does_not_run_at_start_when_nothing_was_missed(tmp_path: Path, ncbi, smtp, spawn, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=FAR_CRON)
    db = tmp_path / "litwatch.db"
    assert litwatch("run", "--config", str(cfg)).code == 0
    child = spawn("serve", "--config", str(cfg))
    child.wait_for_line("next run at")
    time.sleep(1.0)
    assert child.signal(signal.SIGTERM) == 0, child.err
    assert outcomes(db) == ["ok"]
    assert any(f"next run at {datetime.now(UTC).year + 1}-01-01T03:00:00+00:00" in line for line in child.lines), child.err


def test_sigterm_mid_run_abandons_it_and_the_next_run_completes(tmp_path: Path, ncbi, smtp, spawn, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=FAR_CRON)
    db = tmp_path / "litwatch.db"
    ncbi.latency = 1.0
    child = spawn("serve", "--config", str(cfg), "--grace", "0")
    wait_until(lambda: outcomes(db) == ["running"] and ncbi.count() >= 1, 20, "a run in progress")
    started = time.monotonic()
    assert child.signal(signal.SIGTERM) == 1, child.err
    assert time.monotonic() - started < 3, "abandoned at once with --grace 0"
    assert any("abandoning the run in progress" in line for line in child.lines), child.err

    # state intact: the abandoned run wrote nothing
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM watch_hits").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM queue").fetchone()[0] == 0
    assert outcomes(db) == ["running"]
    assert smtp.received == []

    ncbi.latency = 0.0
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert outcomes(db) == ["abandoned", "ok"]
    assert conn.execute("SELECT COUNT(*) FROM watch_hits").fetchone()[0] == 4
    assert len(smtp.received) == 1 and smtp.received[0].rcpt_tos == ["haematology@example.org"]


def test_sigterm_while_a_digest_is_sending_resends_it_next_run(tmp_path: Path, ncbi, smtp, spawn, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=FAR_CRON)
    db = tmp_path / "litwatch.db"
    accept = smtp.handler.handle_DATA

    async def slow_accept(server, session, envelope):  # noqa: ANN001, ANN202
        """Takes the message, but answers too late: the sender is gone by then."""
        smtp.handler.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        await asyncio.sleep(3)
        return "250 OK"

    smtp.handler.handle_DATA = slow_accept

    def sending() -> bool:
        if not db.exists():
            return False
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                return conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'sending'").fetchone()[0] == 1
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return False

    child = spawn("serve", "--config", str(cfg), "--grace", "0")
    wait_until(lambda: sending() and len(smtp.received) == 1, 20, "a digest sent, its acceptance not yet seen")
    assert child.signal(signal.SIGTERM) == 1, child.err
    smtp.handler.handle_DATA = accept

    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert outcomes(db) == ["abandoned", "ok"]
    first, again = smtp.messages()
    assert first["Message-ID"] == again["Message-ID"], "resent unchanged, so the duplicate can be dropped"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status, attempts FROM deliveries").fetchall() == [("sent", 2)]


def test_sigterm_lets_a_run_in_progress_finish_within_the_grace(tmp_path: Path, ncbi, smtp, spawn) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=FAR_CRON)
    db = tmp_path / "litwatch.db"
    ncbi.latency = 0.3
    child = spawn("serve", "--config", str(cfg), "--grace", "30")
    wait_until(lambda: outcomes(db) == ["running"] and ncbi.count() >= 1, 20, "a run in progress")
    assert child.signal(signal.SIGTERM, timeout=30) == 0, child.err
    assert outcomes(db) == ["ok"]
    assert len(smtp.received) == 1
    assert any("waiting up to 30 s" in line for line in child.lines), child.err


def test_serve_skips_a_run_when_another_holds_the_lock(tmp_path: Path, ncbi, smtp, spawn) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=FAR_CRON)
    db = tmp_path / "litwatch.db"
    with file_lock(db):
        child = spawn("serve", "--config", str(cfg))
        child.wait_for_line("scheduled run skipped")
    assert child.signal(signal.SIGTERM) == 0, child.err
    assert outcomes(db) == []
    assert sum("skipped" in line for line in child.lines) == 1, child.err


def _run(outcome: str, finished: str | None, rid: int = 1) -> Run:
    return Run(rid, finished or "2025-01-01T00:00:00+00:00", finished, outcome, 0, 0, 0, 0, 0, 0, 0, "")


def test_needs_catch_up() -> None:
    prev = datetime(2025, 6, 11, 5, 30, tzinfo=UTC)
    assert needs_catch_up([], prev), "never run"
    assert not needs_catch_up([], None), "no scheduled time yet"
    assert needs_catch_up([_run("ok", "2025-06-10T05:31:00+00:00")], prev)
    assert not needs_catch_up([_run("ok", "2025-06-11T05:31:00+00:00")], prev)
    # the newest successful run counts, not a newer failed one
    assert needs_catch_up([_run("failed", "2025-06-11T06:00:00+00:00", 2), _run("ok", "2025-06-10T05:31:00+00:00")], prev)
    assert not needs_catch_up(
        [_run("failed", "2025-06-11T06:00:00+00:00", 2), _run("ok", "2025-06-11T05:35:00+00:00")], prev
    )


# -- the run lock between processes -----------------------------------------------------------------


def test_two_concurrent_runs_one_works_the_other_exits_75(tmp_path: Path, ncbi, smtp, spawn) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    db = tmp_path / "litwatch.db"
    ncbi.latency = 1.5  # the first run holds the store for seconds, however slowly the second starts
    first = spawn("run", "--config", str(cfg))
    wait_until(lambda: outcomes(db) == ["running"], 20, "the first run to start")
    second = run_subprocess("run", "--config", str(cfg))
    assert second.returncode == 75
    assert second.stdout == ""
    assert len(second.stderr.splitlines()) == 1 and "another litwatch run holds" in second.stderr, second.stderr
    assert first.wait(30) == 0, first.err
    assert outcomes(db) == ["ok"]
    assert len(smtp.received) == 1


# -- log lines --------------------------------------------------------------------------------------


def test_failed_run_summary_is_logged_without_verbose(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0)
    r = litwatch("run", "--config", str(cfg))
    assert (r.code, r.err) == (0, "")
    ncbi.down = True
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    summary = [line for line in r.err.splitlines() if line.startswith("litwatch: ERROR: run 2: failed; watches=2")]
    assert len(summary) == 1, r.err


def test_json_logs_every_stderr_line_is_json(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0)

    def json_lines(err: str) -> list[dict]:
        lines = err.splitlines()
        assert lines
        return [json.loads(line) for line in lines]

    ok = json_lines(litwatch("run", "--config", str(cfg), "-vv", "--log-format", "json").err)
    assert any(e["level"] == "info" and e["message"].startswith("run 1: ok;") for e in ok)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in ok)

    ncbi.down = True
    r = litwatch("run", "--config", str(cfg), "--log-format", "json")
    assert r.code == 1
    failed = json_lines(r.err)
    assert any(e["level"] == "error" and e["message"].startswith("run 2: failed;") for e in failed)

    with file_lock(tmp_path / "litwatch.db"):  # errors printed by the command itself too
        r = litwatch("run", "--config", str(cfg), "--log-format", "json")
    assert r.code == 75
    (busy,) = json_lines(r.err)
    assert busy["level"] == "error" and "not running" in busy["message"]
    r = litwatch("run", "--config", str(tmp_path / "missing.toml"), "--log-format", "json")
    assert r.code == 2 and json_lines(r.err)[0]["level"] == "error"


def test_serve_json_logs(tmp_path: Path, ncbi, smtp, spawn) -> None:  # noqa: ANN001
    seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=FAR_CRON)
    child = spawn("serve", "--config", str(cfg), "--log-format", "json")
    wait_until(lambda: outcomes(tmp_path / "litwatch.db") == ["ok"], 20, "the catch-up run")
    child.wait_for_line("next run at")
    assert child.signal(signal.SIGTERM) == 0, child.err
    entries = [json.loads(line) for line in child.lines]
    assert any(e["message"].startswith("run 1: ok;") for e in entries)
    assert entries[-1]["message"] == "stopped"
