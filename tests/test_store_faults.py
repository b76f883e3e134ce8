"""The store misbehaving: disk full, locked by another process, a damaged file, a schema from a
newer litwatch.  Each run fails with exit 1 and one clear line, and leaves the store as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from litwatch.watchers.store import SCHEMA_VERSION
from tests.conftest import Q_BTK, add_itp_article, scenario_config
from tests.reliability_helpers import baseline, dump, fast_retries, pmids_in

STATE = ("articles", "watch_hits", "watches", "tracked", "citations", "corrections", "queue", "deliveries")


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch, ncbi) -> None:  # noqa: ANN001
    fast_retries(monkeypatch, ncbi)


def clean_failure(err: str) -> str:
    """stderr, checked to be exactly one litwatch error line (no traceback, no noise)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("litwatch: "), err
    return lines[0]


def setup_store(tmp_path: Path, ncbi, smtp, litwatch, *, extra: str = "") -> tuple[Path, list[str]]:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, extra=extra)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    smtp.received.clear()
    return cfg, base


def add_news(ncbi, base: list[str], n: int = 30) -> list[str]:  # noqa: ANN001
    new = [str(41100001 + i) for i in range(n)]
    for pmid in new:
        add_itp_article(ncbi, pmid, days_ago=0, abstract="Long abstract. " * 300)
    ncbi.add_search(Q_BTK, base + new)
    return new


def test_disk_full_fails_the_run_and_the_next_run_catches_up(
    tmp_path: Path, ncbi, smtp, litwatch, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    cfg, base = setup_store(tmp_path, ncbi, smtp, litwatch)
    new = add_news(ncbi, base)
    db = tmp_path / "litwatch.db"
    before = dump(db)

    real_connect = sqlite3.connect

    def full_disk(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        conn = real_connect(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: SQLITE_FULL
        return conn

    with monkeypatch.context() as m:
        m.setattr(sqlite3, "connect", full_disk)
        r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    line = clean_failure(r.err)
    assert str(db) in line and "database or disk is full" in line
    after = dump(db)
    for table in STATE:
        assert after[table] == before[table], table
    assert smtp.received == []

    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [set(new)]


def test_disk_full_while_recording_a_delivery_keeps_the_items_queued(
    tmp_path: Path, ncbi, smtp, litwatch, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """The articles are stored, but there is no room for the digest: nothing is sent, nothing lost."""
    from litwatch.watchers.store import StoreError
    from litwatch.watchers.store.queue import Deliveries

    cfg, base = setup_store(tmp_path, ncbi, smtp, litwatch)
    new = add_news(ncbi, base, n=3)

    def no_room(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise StoreError(f"{self.db.location}: cannot write the store: database or disk is full")

    with monkeypatch.context() as m:
        m.setattr(Deliveries, "create", no_room)
        r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "database or disk is full" in clean_failure(r.err)
    assert smtp.received == []
    db = sqlite3.connect(tmp_path / "litwatch.db")
    queued = {p for (p,) in db.execute("SELECT pmid FROM queue WHERE delivery_id IS NULL AND kind = 'hit'")}
    db.close()
    assert queued == set(new)

    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [set(new)]


def test_database_locked_by_another_process(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg, base = setup_store(tmp_path, ncbi, smtp, litwatch, extra="[store]\nbusy_timeout = 0.3\n")
    new = add_news(ncbi, base, n=2)
    db = tmp_path / "litwatch.db"
    before = dump(db)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        r = litwatch("run", "--config", str(cfg))
        elapsed = time.monotonic() - started
    finally:
        holder.communicate("", timeout=10)
    assert r.code == 1
    line = clean_failure(r.err)
    assert line == f"litwatch: {db}: the database is locked by another process (database is locked)"
    assert elapsed < 5, "[store] busy_timeout was not used"
    assert dump(db) == before, "the store is exactly as it was"
    assert smtp.received == []

    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [set(new)]


def test_a_file_that_is_not_a_database_is_refused_and_left_unchanged(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    db = tmp_path / "litwatch.db"
    garbage = b"SQLite format 2\x00 these are someone's notes, not a litwatch store\n" * 200
    db.write_bytes(garbage)
    for command in (["run"], ["status"], ["track", "list"]):
        r = litwatch(*command, "--config", str(cfg))
        assert r.code == 1, command
        line = clean_failure(r.err)
        assert line.startswith(f"litwatch: {db}: not a usable SQLite database"), line
        assert "nothing was changed" in line
        assert db.read_bytes() == garbage, "byte for byte"
    assert smtp.received == []


def test_a_damaged_table_is_a_clean_error(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg, base = setup_store(tmp_path, ncbi, smtp, litwatch)
    add_news(ncbi, base, n=2)
    db = tmp_path / "litwatch.db"
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [r for (r,) in conn.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'articles' AND rootpage > 0")]
    conn.close()
    data = bytearray(db.read_bytes())
    for page in roots:
        start = (page - 1) * page_size
        data[start : start + page_size] = b"\xa5" * page_size
    db.write_bytes(bytes(data))
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    line = clean_failure(r.err)
    assert str(db) in line and "malformed" in line, line
    assert smtp.received == []


def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg, base = setup_store(tmp_path, ncbi, smtp, litwatch)
    add_news(ncbi, base, n=1)
    db = tmp_path / "litwatch.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 7,))
    conn.commit()
    conn.close()
    before = dump(db)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    line = clean_failure(r.err)
    assert line == (
        f"litwatch: {db}: schema version {SCHEMA_VERSION + 7} is newer than this litwatch knows "
        f"({SCHEMA_VERSION}); upgrade litwatch"
    )
    assert dump(db) == before
    assert smtp.received == []
    assert not list(tmp_path.glob("*.bak")), "no backup, no migration: nothing was touched"
