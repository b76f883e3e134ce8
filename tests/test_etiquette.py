"""NCBI etiquette: estimate a run's E-utilities requests; large jobs belong off-peak (weekends,
21:00-05:00 US Eastern)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import litwatch.jobs.run.etiquette as etiquette
from litwatch.jobs.config import load_config
from litwatch.jobs.run.etiquette import (
    WatchPlan,
    advice,
    advice_for_run,
    estimate_requests,
    is_off_peak,
    search_requests,
)
from litwatch.watchers.store import open_store
from tests.conftest import Q_BTK, Q_RILZA, add_itp_article, scenario_config, seed_tracked

# Wednesday 11 June 2025 (US Eastern is UTC-4 in summer), Wednesday 15 January 2025 (UTC-5)
SUMMER = datetime(2025, 6, 11, tzinfo=UTC)
WINTER = datetime(2025, 1, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "off_peak"),
    [
        (SUMMER + timedelta(hours=14), False),  # 10:00 EDT, a Wednesday
        (SUMMER + timedelta(hours=24), False),  # 20:00 EDT
        (SUMMER + timedelta(hours=24, minutes=59), False),  # 20:59 EDT
        (SUMMER + timedelta(hours=25), True),  # 21:00 EDT
        (SUMMER + timedelta(hours=30), True),  # 02:00 EDT Thursday
        (SUMMER + timedelta(hours=32, minutes=59), True),  # 04:59 EDT
        (SUMMER + timedelta(hours=33), False),  # 05:00 EDT
        (WINTER + timedelta(hours=9, minutes=30), True),  # 04:30 EST
        (WINTER + timedelta(hours=10, minutes=30), False),  # 05:30 EST
        (WINTER + timedelta(hours=2, minutes=30), True),  # 21:30 EST on Tuesday
        (datetime(2025, 6, 14, 16, 0, tzinfo=UTC), True),  # Saturday noon EDT
        (datetime(2025, 6, 15, 23, 0, tzinfo=UTC), True),  # Sunday 19:00 EDT
        (datetime(2025, 6, 16, 3, 30, tzinfo=UTC), True),  # Sunday 23:30 EDT (Monday in UTC)
        (datetime(2025, 6, 14, 1, 0, tzinfo=UTC), True),  # Friday 21:00 EDT (Saturday in UTC)
        (datetime(2025, 6, 13, 14, 0, tzinfo=UTC), False),  # Friday 10:00 EDT
        # another zone: 07:30 in Berlin is 01:30 in New York
        (datetime(2025, 6, 11, 7, 30, tzinfo=timezone(timedelta(hours=2))), True),
        (datetime(2025, 6, 11, 17, 0, tzinfo=timezone(timedelta(hours=2))), False),
    ],
)
def test_is_off_peak(when: datetime, off_peak: bool) -> None:
    assert is_off_peak(when) is off_peak


def test_is_off_peak_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError):
        is_off_peak(datetime(2025, 6, 11, 14, 0))


def test_search_requests() -> None:
    assert search_requests(None) == 1
    assert search_requests(0) == 1
    assert search_requests(9999) == 1
    assert search_requests(10000) == 1 + 2
    assert search_requests(2_000_000) == 1 + 267  # pieces of about 7,499


def test_estimate_requests() -> None:
    small = [WatchPlan(120), WatchPlan(8), WatchPlan(0)]
    assert estimate_requests(small, 0) == 3
    assert estimate_requests(small, 1) == 3 + 1 + 1 + 1  # elink, efetch, new citing papers
    assert estimate_requests(small, 1000) == 3 + 4 + 3 + 1
    assert estimate_requests([WatchPlan(None, first_run=True)], 0) == 1
    assert estimate_requests([WatchPlan(None, first_run=True, backfill=True)], 0) == 3
    assert estimate_requests([WatchPlan(5000, backfill=True)], 0) == 1, "backfill only costs on a first run"
    assert estimate_requests([WatchPlan(2_000_000)], 1) == 268 + 3
    assert estimate_requests([], 0, fetch_new=401) == 2


def test_advice() -> None:
    peak = SUMMER + timedelta(hours=14)  # Wednesday 10:00 EDT
    line = advice(268, peak)
    assert line is not None and "\n" not in line
    assert "about 268 NCBI requests" in line and "Wed 10:00 US Eastern" in line
    assert "weekends" in line and "21:00" in line and "05:00" in line
    assert advice(100, peak) is None, "NCBI's threshold: more than about 100"
    assert advice(101, peak) is not None
    assert advice(5000, SUMMER + timedelta(hours=30)) is None, "off-peak"
    assert advice(5000, datetime(2025, 6, 14, 16, 0, tzinfo=UTC)) is None, "weekend"


def _seed(ncbi) -> None:  # noqa: ANN001
    for i in range(3):
        add_itp_article(ncbi, str(45000000 + i), days_ago=300 + i)
    ncbi.add_search(Q_BTK, [str(45000000 + i) for i in range(3)])
    ncbi.add_search(Q_RILZA, ["45000000"])
    seed_tracked(ncbi)


def test_advice_for_run_reads_the_store(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    _seed(ncbi)
    cfg_path = scenario_config(tmp_path, ncbi, smtp=smtp)
    config = load_config(cfg_path)
    peak = SUMMER + timedelta(hours=14)
    with open_store(path=config.store_path) as store:
        assert advice_for_run(config, store, peak) is None, "a small first run"
    assert litwatch("run", "--config", str(cfg_path)).code == 0
    db = sqlite3.connect(tmp_path / "litwatch.db")
    db.execute("UPDATE watches SET last_count = 2000000 WHERE name = 'Rilzabrutinib'")
    db.commit()
    with open_store(path=config.store_path) as store:
        assert store.watches.counts() == {"BTK inhibitors in ITP": 3, "Rilzabrutinib": 2000000}
        line = advice_for_run(config, store, peak)
        assert line is not None and "about 272 NCBI requests" in line  # 1 + 268 + 3 for one tracked paper
        assert advice_for_run(config, store, datetime(2025, 6, 14, 16, 0, tzinfo=UTC)) is None


def test_a_large_run_at_peak_time_warns_with_one_line(tmp_path: Path, ncbi, smtp, litwatch, monkeypatch) -> None:  # noqa: ANN001
    _seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    db = sqlite3.connect(tmp_path / "litwatch.db")
    db.execute("UPDATE watches SET last_count = 2000000")
    db.commit()
    monkeypatch.setattr(etiquette, "is_off_peak", lambda when: False)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0
    assert r.err.count("\n") == 1 and "NCBI requests" in r.err and r.err.startswith("litwatch: WARNING: ")
    monkeypatch.setattr(etiquette, "is_off_peak", lambda when: True)
    assert litwatch("run", "--config", str(cfg)).err == ""


def test_etiquette_never_stops_a_run(tmp_path: Path, ncbi, smtp, litwatch, monkeypatch) -> None:  # noqa: ANN001
    _seed(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(etiquette, "plan", broken)
    r = litwatch("run", "--config", str(cfg))
    assert (r.code, r.err) == (0, "")
