"""Failure alerts to `[digest] admin`: after N failed runs in a row, or digests failing for more than
a day; once, then at most once a day while it lasts."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from litwatch.jobs.run.alerts import Problem, is_due
from tests.conftest import Q_BTK, add_itp_article, baseline, scenario_config

ADMIN = 'admin = "admin@example.org"'
RECIPIENT = "haematology@example.org"


def seed(ncbi) -> list[str]:  # noqa: ANN001
    return baseline(ncbi, 3, first=44000000, rilza=1, cited=False)


def to_admin(smtp) -> list[email.message.EmailMessage]:  # noqa: ANN001
    return [r.message for r in smtp.received if r.rcpt_tos == ["admin@example.org"]]


def age(db: Path, table: str, column: str, days: float) -> None:
    conn = sqlite3.connect(db)
    stamp = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    conn.execute(f"UPDATE {table} SET {column} = ?", (stamp,))
    conn.commit()
    conn.close()


def test_three_failed_runs_alert_the_admin_once_a_day(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ids = seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0, digest_extra=ADMIN)
    db = tmp_path / "litwatch.db"
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "44100001", days_ago=0)
    ncbi.add_search(Q_BTK, ids + ["44100001"])
    smtp.received.clear()

    ncbi.down = True
    for _ in range(2):
        assert litwatch("run", "--config", str(cfg)).code == 1
    assert to_admin(smtp) == [], "two failures: not yet"
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "failure alert sent to admin@example.org" in r.err

    (alert,) = to_admin(smtp)
    assert alert["Subject"] == "[litwatch] FAILING: the last 3 runs failed"
    assert alert["From"] == "litwatch@example.org" and alert["To"] == "admin@example.org"
    assert alert["Auto-Submitted"] == "auto-generated" and alert["Message-ID"] and alert["Date"]
    assert alert.get_content_type() == "text/plain"
    text = alert.get_content()
    for run in (2, 3, 4):
        assert f"run {run} " in text
    assert text.count("503") >= 3, "the errors of the failed runs"
    assert str(db) in text, "the store location"
    assert str(cfg) in text
    assert f"{RECIPIENT}: nothing; last digest delivered: 20" in text, "what is pending per recipient"
    assert '"nothing new"' in text
    assert smtp.received == [smtp.received[0]], "no digest went out"

    # the 4th failure the same day: no second alert
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1 and "alert" not in r.err
    assert len(to_admin(smtp)) == 1

    # a day later, still failing: reminded once
    age(db, "alerts", "sent_at", 1)
    assert litwatch("run", "--config", str(cfg)).code == 1
    assert litwatch("run", "--config", str(cfg)).code == 1
    assert [m["Subject"] for m in to_admin(smtp)] == [
        "[litwatch] FAILING: the last 3 runs failed",
        "[litwatch] FAILING: the last 5 runs failed",
    ]
    rows = sqlite3.connect(db).execute("SELECT kind FROM alerts ORDER BY id").fetchall()
    assert rows == [("runs",), ("runs",)]

    # fixed an hour later: the news goes out; failing again is a new problem, alerted at once
    age(db, "alerts", "sent_at", 1 / 24)
    ncbi.down = False
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert len(smtp.received) == 1 and "44100001" in smtp.received[0].data.decode()
    assert to_admin(smtp) == []
    ncbi.down = True
    for _ in range(3):
        assert litwatch("run", "--config", str(cfg)).code == 1
    assert [m["Subject"] for m in to_admin(smtp)] == ["[litwatch] FAILING: the last 3 runs failed"]


def test_digests_failing_for_over_a_day_alert_the_admin(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ids = seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, digest_extra=ADMIN)
    db = tmp_path / "litwatch.db"
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "44200001", days_ago=0)
    ncbi.add_search(Q_BTK, ids + ["44200001"])
    smtp.handler.refuse[RECIPIENT] = "450 mailbox busy"
    assert litwatch("run", "--config", str(cfg)).code == 1
    assert to_admin(smtp) == [], "failing for less than a day"
    age(db, "deliveries", "created_at", 2)
    age(db, "deliveries", "sent_at", 3)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    (alert,) = to_admin(smtp)
    assert alert["Subject"] == f"[litwatch] FAILING: digests to {RECIPIENT} not delivered for 2 days"
    text = alert.get_content()
    assert "450 mailbox busy" in text
    assert f"{RECIPIENT}: 1 hit;" in text
    # a third failed run in a row is another problem, alerted at once (both are listed)
    assert litwatch("run", "--config", str(cfg)).code == 1
    assert [m["Subject"] for m in to_admin(smtp)][1:] == [
        f"[litwatch] FAILING: the last 3 runs failed; digests to {RECIPIENT} not delivered for 2 days"
    ]
    assert litwatch("run", "--config", str(cfg)).code == 1
    assert len(to_admin(smtp)) == 2, "not again the same day"


def test_one_recipient_whose_digests_keep_failing_is_alerted_while_the_others_receive(
    tmp_path: Path, ncbi, smtp, litwatch  # noqa: ANN001
) -> None:
    """Deliveries are judged per recipient: alice's digests going out must not hide that bob's
    mailbox has refused every one of his for two days."""
    ids = seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, digest_extra=ADMIN, recipients=[RECIPIENT, "bob@example.org"])
    db = tmp_path / "litwatch.db"
    assert litwatch("run", "--config", str(cfg)).code == 0
    smtp.handler.refuse["bob@example.org"] = "550 mailbox unavailable"
    add_itp_article(ncbi, "44200002", days_ago=0)
    ncbi.add_search(Q_BTK, ids + ["44200002"])
    assert litwatch("run", "--config", str(cfg)).code == 1
    age(db, "deliveries", "created_at", 2)
    age(db, "deliveries", "sent_at", 3)
    add_itp_article(ncbi, "44200003", days_ago=0)
    ncbi.add_search(Q_BTK, ids + ["44200002", "44200003"])
    assert litwatch("run", "--config", str(cfg)).code == 1
    assert any(RECIPIENT in r.rcpt_tos for r in smtp.received), "alice keeps receiving hers"
    (alert,) = to_admin(smtp)
    assert alert["Subject"] == "[litwatch] FAILING: digests to bob@example.org not delivered for 2 days"
    text = alert.get_content()
    assert "Digests to bob@example.org failing since" in text and "550 mailbox unavailable" in text
    assert f"Digests to {RECIPIENT}" not in text


def test_alert_goes_to_the_outbox_without_smtp(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, retries=0, digest_extra=ADMIN + "\nadmin_after_failures = 2")
    ncbi.down = True
    for _ in range(2):
        assert litwatch("run", "--config", str(cfg)).code == 1
    (eml,) = (tmp_path / "digests").glob("*admin@example.org*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[litwatch] FAILING: the last 2 runs failed"


def test_no_admin_the_failure_is_logged(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0)
    ncbi.down = True
    for _ in range(2):
        litwatch("run", "--config", str(cfg))
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "no [digest] admin is configured" in r.err
    assert smtp.received == []


def test_an_alert_that_cannot_be_sent_does_not_crash_the_run_and_is_retried(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0, digest_extra=ADMIN)
    ncbi.down = True
    smtp.handler.refuse["admin@example.org"] = "550 no such user"
    for _ in range(3):
        r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "could not send the failure alert" in r.err and "550" in r.err
    assert "run 3: failed" in r.err, "the run still ends with its summary"
    del smtp.handler.refuse["admin@example.org"]
    assert litwatch("run", "--config", str(cfg)).code == 1
    assert [m["Subject"] for m in to_admin(smtp)] == ["[litwatch] FAILING: the last 4 runs failed"]


def test_is_due() -> None:
    now = datetime(2025, 6, 11, 5, 31, tzinfo=UTC)
    p = Problem("runs", "x", since=datetime(2025, 6, 8, 5, 31, tzinfo=UTC))
    assert is_due(p, None, now)
    assert not is_due(p, now - timedelta(hours=1), now)
    assert not is_due(p, now - timedelta(hours=22), now)
    assert is_due(p, now - timedelta(hours=23, seconds=-30) - timedelta(seconds=30), now), "a daily run reminds daily"
    # a new episode since the last alert: at once
    assert is_due(Problem("runs", "x", since=now - timedelta(hours=2)), now - timedelta(hours=3), now)
    assert not is_due(Problem("runs", "x", since=None), now - timedelta(hours=3), now)
