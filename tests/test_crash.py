"""Crash consistency: `litwatch run` SIGKILLed at every step boundary, then run again.

Each kill point runs a real `litwatch run` child process against the fake E-utilities server and a
real SMTP server on loopback.  The child kills itself at a `jobs.crashpoints.crashpoint` (env
LITWATCH_TEST_CRASH_AT), or the SMTP server kills it when the message data arrives.  Then litwatch
runs again (twice) and every digest the server accepted is examined:

* no article is ever lost: every new article reaches every recipient;
* an article is repeated only when the kill fell between the server's acceptance and the
  recording of the delivery, and then the repeat is the same message (same Message-ID, same bytes).

Run with `pytest -s tests/test_crash.py` to see the matrix.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from litwatch.jobs.run.crashpoints import ENV, crashpoint
from tests.conftest import (
    Q_BTK,
    Q_RILZA,
    ROOT,
    TRACKED,
    Received,
    SmtpHandler,
    SmtpServer,
    add_itp_article,
    scenario_config,
)
from tests.reliability_helpers import baseline, pmids_in

RECIPIENTS = ["haematology@example.org", "pharmacy@example.org"]
NEW_HITS = ["41100001", "41100002"]
NEW_CITING = "41100003"
NEWS = {*NEW_HITS, NEW_CITING}


@dataclass
class KillingHandler(SmtpHandler):
    """Kills the client process when DATA arrives; with `accept`, after storing the message."""

    kill_pid: int | None = None
    accept: bool = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        pid, self.kill_pid = self.kill_pid, None
        if pid is None:
            return await super().handle_DATA(server, session, envelope)
        if self.accept:
            with self.lock:
                self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.05)
        return "451 the client is gone"


# kill point -> (how the kill is made, state left behind, accepted before the rerun, repeated)
# "repeated" counts (recipient, article) pairs delivered twice; every repeat must be the same message.
EXPECTED = {
    "after_search": ("nothing stored", 0, 0),
    "after_fetch": ("nothing stored", 0, 0),
    "after_store": ("queued", 0, 0),
    "before_data": ("sending", 0, 0),
    "smtp DATA, not accepted": ("sending", 0, 0),
    "smtp DATA, accepted": ("sending", 1, 3),
    "after_accept": ("sending", 1, 3),
    "after_sent": ("sent", 1, 0),
}


def _spawn(cfg: Path, crash_at: str | None) -> subprocess.Popen:
    env = {**os.environ}
    env.pop(ENV, None)
    if crash_at:
        env[ENV] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "litwatch.jobs", "run", "--config", str(cfg)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(db_path: Path, hits_before: int, deliveries_before: int) -> tuple[str, list[tuple]]:
    db = sqlite3.connect(db_path)
    try:
        hits = db.execute("SELECT COUNT(*) FROM watch_hits").fetchone()[0]
        queued = db.execute(
            "SELECT COUNT(DISTINCT recipient || pmid) FROM queue WHERE delivery_id IS NULL AND kind != 'note'"
        ).fetchone()[0]
        rows = db.execute(
            "SELECT id, recipient, message_id, status, message FROM deliveries WHERE id > ? ORDER BY id",
            (deliveries_before,),
        ).fetchall()
    finally:
        db.close()
    if hits == hits_before and not rows:
        assert queued == 0
        return "nothing stored", rows
    if not rows:
        assert queued == len(NEWS) * len(RECIPIENTS)
        return "queued", rows
    return "+".join(sorted({r[3] for r in rows})), rows


def test_crash_matrix(tmp_path: Path, ncbi, litwatch, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    smtp = SmtpServer()
    smtp.handler = handler = KillingHandler()
    smtp.start()
    try:
        _matrix(tmp_path, ncbi, smtp, handler, litwatch, capsys)
    finally:
        smtp.stop()


def _matrix(tmp_path, ncbi, smtp, handler, litwatch, capsys) -> None:  # noqa: ANN001, PLR0915
    base = baseline(ncbi)
    template = tmp_path / "baseline"
    cfg = scenario_config(template, ncbi, smtp=smtp, recipients=RECIPIENTS)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    db0 = sqlite3.connect(template / "litwatch.db")
    hits_before = db0.execute("SELECT COUNT(*) FROM watch_hits").fetchone()[0]
    deliveries_before = db0.execute("SELECT MAX(id) FROM deliveries").fetchone()[0]
    db0.close()

    # the news every kill point's run must deliver, once, to both recipients
    for pmid in [*NEW_HITS, NEW_CITING]:
        add_itp_article(ncbi, pmid, days_ago=1)
    ncbi.add_search(Q_BTK, base + NEW_HITS)
    ncbi.add_search(Q_RILZA, base[:3] + NEW_HITS[:1])
    ncbi.citedin[TRACKED] = [base[0], NEW_CITING]

    rows = []
    for point in EXPECTED:
        folder = tmp_path / point.replace(" ", "_").replace(",", "")
        shutil.copytree(template, folder)
        cfg = folder / "litwatch.toml"
        smtp.received.clear()

        # 1. the run that dies
        in_smtp = point.startswith("smtp")
        handler.accept = point == "smtp DATA, accepted"
        child = _spawn(cfg, None if in_smtp else point)
        if in_smtp:
            handler.kill_pid = child.pid
        _out, err = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, f"{point}: the child was not killed: {child.returncode} {err}"
        handler.kill_pid = None
        state, recorded = _state(folder / "litwatch.db", hits_before, deliveries_before)
        accepted_before = len(smtp.received)
        for _id, _rcpt, message_id, status, message in recorded:
            # the Message-ID and the whole message are on disk before the first byte goes out
            assert f"Message-ID: {message_id}".encode() in bytes(message), point

        # 2. the runs after it
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 0, f"{point}: {r.err}"
        again = len(smtp.received)
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 0, f"{point}: {r.err}"
        assert len(smtp.received) == again, f"{point}: a third run sent something"

        # 3. what reached whom
        seen: dict[tuple[str, str], list[str]] = {}
        by_id: dict[str, set[bytes]] = {}
        for got in smtp.received:
            msg = got.message
            by_id.setdefault(msg["Message-ID"], set()).add(got.data)
            for rcpt in got.rcpt_tos:
                for pmid in pmids_in(msg):
                    seen.setdefault((rcpt, pmid), []).append(msg["Message-ID"])
        lost = {(rc, p) for rc in RECIPIENTS for p in NEWS} - set(seen)
        repeats = {k: ids for k, ids in seen.items() if len(ids) > 1}
        same_message = all(len(set(ids)) == 1 for ids in repeats.values()) and all(
            len(bodies) == 1 for bodies in by_id.values()
        )
        resent_same_id = all(
            any(got.message["Message-ID"] == message_id for got in smtp.received)
            for _id, _rcpt, message_id, status, _m in recorded
            if status == "sending"
        )
        db = sqlite3.connect(folder / "litwatch.db")
        final = Counter(s for (s,) in db.execute("SELECT status FROM deliveries WHERE id > ?", (deliveries_before,)))
        pending = db.execute("SELECT COUNT(*) FROM queue WHERE delivery_id IS NULL").fetchone()[0]
        db.close()
        rows.append(
            {
                "point": point,
                "state": state,
                "accepted": accepted_before,
                "lost": len(lost),
                "repeated": len(repeats),
                "same_message": same_message,
                "resent_same_id": resent_same_id,
                "final": dict(final),
                "pending": pending,
            }
        )

    header = f"{'kill point':<26}{'left behind':<16}{'accepted':>9}{'lost':>6}{'repeated':>10}  same Message-ID  final deliveries"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['point']:<26}{row['state']:<16}{row['accepted']:>9}{row['lost']:>6}{row['repeated']:>10}  "
            f"{'yes' if row['same_message'] and row['resent_same_id'] else 'NO':<15}  "
            + ", ".join(f"{k}={v}" for k, v in sorted(row["final"].items()))
        )
    capsys.readouterr()
    print("\n\ncrash matrix (kill, then run again):\n" + "\n".join(lines) + "\n")  # shown with -s or on failure

    got = {row["point"]: (row["state"], row["accepted"], row["repeated"]) for row in rows}
    assert got == EXPECTED
    for row in rows:
        assert row["lost"] == 0, row
        assert row["same_message"] and row["resent_same_id"], row
        assert set(row["final"]) == {"sent"}, row
        assert row["pending"] == 0, row


def test_crashpoint_is_inert_without_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    crashpoint("after_store")
    monkeypatch.setenv(ENV, "after_fetch")
    crashpoint("after_store")  # another point: still alive


def test_crashpoints_named_in_the_pipeline_exist() -> None:
    """In the run: the pipeline (observe, record) and the delivery loop (deliver)."""
    source = "".join((ROOT / "jobs" / "run" / name).read_text(encoding="utf-8") for name in ("pipeline.py", "deliver.py"))
    for point in EXPECTED:
        if not point.startswith("smtp"):
            assert f'crashpoint("{point}")' in source
