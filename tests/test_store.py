"""The store on both backends: migrations, refusing newer schemas, backups, transactions, file
safety, PostgreSQL errors and locks, and `litwatch migrate-store` both ways."""

from __future__ import annotations

import logging
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

import litwatch.watchers.store.schema as store_module
from litwatch.watchers.announcements import Citation, Hit
from litwatch.watchers.errors import LockBusy
from litwatch.watchers.redact import redact_url
from litwatch.watchers.store import SCHEMA_VERSION, Migration, Store, StoreError, open_store, run_lock, tables
from litwatch.watchers.store.postgres import qmark_to_format
from tests.conftest import (
    Q_BTK,
    add_itp_article,
    baseline,
    free_port,
    postgres_schema,
    scenario_config,
)


def open_test_store(tmp_path: Path, store_url: str | None, **kwargs) -> Store:  # noqa: ANN003
    return open_store(path=tmp_path / "litwatch.db", url=store_url, **kwargs)


def table_counts(store: Store) -> dict[str, int]:
    return {t: int(store.value(f"SELECT COUNT(*) FROM {t}")) for t in tables()}


def contents(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, in a backend-independent order."""
    return {t: sorted((tuple(r) for r in store.rows(f"SELECT * FROM {t}")), key=repr) for t in tables()}


def fill(store: Store) -> None:
    """A little of everything, through the store's own API."""
    run_id = store.runs.start()
    with store.transaction():
        store.tracked.add("39973148", "config", "tracked paper")
        store.watches.save([("BTK", "zanubrutinib", run_id, 2, "translated", ["warning"])])
        store.watches.add_hits("BTK", ["41000001", "41000002"], run_id, baseline=True)
        store.citations.add({("39973148", "41000001", "pubmed")}, run_id, baseline=False)
        store.corrections.add([("39973148", "retraction", "41999999", "pubmed")], run_id, baseline=False)
        store.queue.add("a@example.org", [Hit("41000002", "BTK"), Citation("41000001", "39973148")], run_id)
        item_ids = [q.id for q in store.queue.pending("a@example.org")]
        delivery = store.deliveries.create("a@example.org", "<m1@x>", "subject", "smtp", b"\x00\xffmail", run_id, item_ids)
        store.deliveries.mark_sent(delivery)
    store.runs.finish(run_id, "ok", watches=1, hits=2)


# -- schema ---------------------------------------------------------------------------------------


def test_migrations_from_empty(tmp_path: Path, store_url: str | None) -> None:
    with open_test_store(tmp_path, store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert table_counts(store) == dict.fromkeys(tables(), 0)
        assert store.rows("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        fill(store)
    # opening again migrates nothing and keeps everything
    with open_test_store(tmp_path, store_url) as store:
        assert store.rows("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert store.deliveries.find()[0].message == b"\x00\xffmail"
        assert [t.pmid for t in store.tracked.all()] == ["39973148"]


def test_newer_schema_is_refused(tmp_path: Path, store_url: str | None) -> None:
    newer = SCHEMA_VERSION + 5
    with open_test_store(tmp_path, store_url) as store, store.transaction():
        store.execute("UPDATE schema_version SET version = ?", (newer,))
    with pytest.raises(StoreError) as err:
        open_test_store(tmp_path, store_url)
    message = str(err.value)
    assert f"schema version {newer} is newer than this litwatch knows ({SCHEMA_VERSION})" in message
    assert "\n" not in message
    with open_test_store(tmp_path, store_url, migrate=False) as store:
        assert store.schema_version() == newer, "left as it was"


def _add_migration_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        store_module,
        "MIGRATIONS",
        [*store_module.MIGRATIONS, Migration(("CREATE TABLE extra (id {pk}, data {blob})",), tables=(("extra", True),))],
    )
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)


def test_sqlite_is_backed_up_before_migrating_from_an_older_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "litwatch.db"
    with open_store(path=db) as store:
        store.tracked.add("39973148", "cli")
    _add_migration_2(monkeypatch)
    with open_store(path=db) as store:
        assert store.schema_version() == SCHEMA_VERSION + 1
        store.execute("INSERT INTO extra (data) VALUES (?)", (b"x",))
    backup = tmp_path / f"litwatch.db.v{SCHEMA_VERSION}.bak"
    assert backup.exists()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    old = sqlite3.connect(backup)
    try:
        assert old.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert old.execute("SELECT pmid FROM tracked").fetchall() == [("39973148",)]
        assert old.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchall() == []
    finally:
        old.close()


def test_postgres_migration_advises_pg_dump(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with open_store(url=postgres_url) as store:
        store.tracked.add("39973148", "cli")
    _add_migration_2(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="litwatch.watchers.store.postgres"):
        with open_store(url=postgres_url) as store:
            assert store.schema_version() == SCHEMA_VERSION + 1
            store.execute("INSERT INTO extra (data) VALUES (?)", (b"x",))
            assert bytes(store.value("SELECT data FROM extra")) == b"x"
            assert [t.pmid for t in store.tracked.all()] == ["39973148"]
    assert "pg_dump" in caplog.text


def test_postgres_concurrent_starts_migrate_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    versions: list[int] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        try:
            start.wait()
            with open_store(url=postgres_url) as store:
                versions.append(store.schema_version())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert versions == [SCHEMA_VERSION] * 4
    with open_store(url=postgres_url) as store:
        assert store.rows("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


# -- transactions ---------------------------------------------------------------------------------


def test_transaction_rollback_leaves_nothing(tmp_path: Path, store_url: str | None) -> None:
    with open_test_store(tmp_path, store_url) as store:
        with pytest.raises(RuntimeError), store.transaction():
            run_id = store.runs.start()  # its own transaction() joins this one
            store.tracked.add("39973148", "cli")
            with store.transaction():
                store.queue.add("a@example.org", [Hit("41000001", "BTK")], run_id)
                store.deliveries.create("a@example.org", "<m@x>", "s", "smtp", b"m", run_id, [])
            raise RuntimeError("boom")
        assert table_counts(store) == dict.fromkeys(tables(), 0)

        # a failing statement rolls its transaction back and the store stays usable
        with store.transaction():
            store.deliveries.create("a@example.org", "<dup@x>", "s", "smtp", b"m", 1, [])
        with pytest.raises(Exception), store.transaction():  # noqa: B017, PT011 - sqlite3 or StoreError
            store.tracked.add("41000009", "cli")
            store.deliveries.create("a@example.org", "<dup@x>", "s", "smtp", b"m", 1, [])
        assert store.tracked.all() == []
        with store.transaction():
            store.tracked.add("41000010", "cli")
        assert [t.pmid for t in store.tracked.all()] == ["41000010"]
        assert len(store.deliveries.find()) == 1


# -- SQLite file safety ---------------------------------------------------------------------------


def test_sqlite_file_is_created_mode_0600(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "litwatch.db"
    with open_store(path=db):
        pass
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_corrupt_sqlite_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "litwatch.db"
    garbage = b"this is not an SQLite database\n" * 200
    db.write_bytes(garbage)
    db.chmod(0o600)
    with pytest.raises(StoreError) as err:
        open_store(path=db)
    message = str(err.value)
    assert str(db) in message and "\n" not in message
    assert db.read_bytes() == garbage
    assert [p.name for p in tmp_path.glob("litwatch.db*")] == ["litwatch.db"], "no journal, WAL or backup left"


# -- PostgreSQL specifics -------------------------------------------------------------------------


def test_sql_placeholders_are_translated_outside_quotes() -> None:
    assert qmark_to_format("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == (
        "SELECT a FROM t WHERE b = %s AND c IN (%s, %s)"
    )
    assert qmark_to_format("SELECT '?', 'it''s ?', \"odd?\", ? WHERE x LIKE '5%'") == (
        "SELECT '?', 'it''s ?', \"odd?\", %s WHERE x LIKE '5%%'"
    )


def test_postgres_errors_never_show_the_password(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    port = free_port()  # nothing listens there
    url = f"postgresql://litwatch:pa55w%40rd@127.0.0.1:{port}/litwatch"
    assert redact_url(url) == f"postgresql://litwatch:***@127.0.0.1:{port}/litwatch"
    assert "s3cret" not in redact_url("postgresql://h/db?user=u&password=s3cret")
    with pytest.raises(StoreError) as err:
        open_store(url=url)
    for text in (str(err.value),):
        assert "pa55w" not in text and "\n" not in text
        assert "cannot connect to PostgreSQL" in text and "***" in text
    with pytest.raises(StoreError) as err, run_lock(url=url):
        pass
    assert "pa55w" not in str(err.value)

    cfg = scenario_config(tmp_path, ncbi, store_url=url)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "pa55w" not in r.err + r.out
    assert r.err.count("\n") == 1 and "cannot connect to PostgreSQL" in r.err


def test_postgres_run_lock_is_exclusive_per_store(postgres_url: str) -> None:
    with run_lock(url=postgres_url):
        with pytest.raises(LockBusy), run_lock(url=postgres_url):
            pass
        with postgres_schema() as other, run_lock(url=other):
            pass  # another store (schema) in the same database is not blocked
    with run_lock(url=postgres_url):
        pass  # released


# -- migrate-store --------------------------------------------------------------------------------


def test_migrate_store_sqlite_to_postgres_and_back(tmp_path: Path, postgres_url: str, ncbi, litwatch) -> None:  # noqa: ANN001
    # a real store: a baseline run, then a run announcing a new article into the outbox
    base = baseline(ncbi, 3)
    cfg = scenario_config(tmp_path / "sqlite", ncbi)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41600001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41600001"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    with open_store(path=tmp_path / "sqlite" / "litwatch.db") as store:
        original = contents(store)
    assert original["deliveries"] and original["queue"] and original["articles"]

    # SQLite -> PostgreSQL
    r = litwatch("migrate-store", "--config", str(cfg), "--to", postgres_url)
    assert r.code == 0, r.err
    for table in tables():
        n = len(original[table])
        assert any(line.split() == [table, str(n), str(n)] for line in r.out.splitlines()), (table, r.out)
    with open_store(url=postgres_url) as store:
        assert contents(store) == original

    # a second copy into the same (now non-empty) store is refused
    r = litwatch("migrate-store", "--config", str(cfg), "--to", postgres_url)
    assert r.code == 2
    assert "not empty" in r.err

    # the PostgreSQL copy is usable: a run there continues the ids
    pg_cfg = scenario_config(tmp_path / "pg", ncbi, store_url=postgres_url)
    assert litwatch("run", "--config", str(pg_cfg)).code == 0
    with open_store(url=postgres_url) as store:
        run_ids = [r.id for r in store.runs.recent()]
    assert run_ids[0] == max(row[0] for row in original["runs"]) + 1

    # PostgreSQL -> SQLite
    back = tmp_path / "back" / "litwatch.db"
    r = litwatch("migrate-store", "--config", str(pg_cfg), "--to", str(back))
    assert r.code == 0, r.err
    with open_store(url=postgres_url) as pg, open_store(path=back) as sq:
        assert table_counts(pg) == table_counts(sq)
        assert contents(pg) == contents(sq)
        copied = contents(sq)
    assert stat.S_IMODE(back.stat().st_mode) == 0o600
    for table in tables():
        if table not in ("runs", "source_state"):  # a run records itself and its sources' health
            assert copied[table] == original[table], table
    # SQLite ids continue too
    with open_store(path=back) as sq:
        assert sq.runs.start() == run_ids[0] + 1


def test_migrate_store_refuses_the_current_store(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi)
    r = litwatch("migrate-store", "--config", str(cfg), "--to", str(tmp_path / "litwatch.db"))
    assert r.code == 2 and "current store" in r.err
    with pytest.raises(SystemExit) as exit_:
        litwatch("migrate-store", "--config", str(cfg))
    assert exit_.value.code == 2
