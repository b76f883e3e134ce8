"""The benchmark scenarios.  Each returns table rows: (scenario, metric, value, target, met).

Runs go through the real command (`litwatch run`, jobs.cli.main) in a child process
(benchmarks/child.py) against the loopback fake E-utilities server (tests/fakes), which runs in
this process with NCBI's pacing for a client without an API key (3 requests/s; more is answered
429) and 200 ms of latency on every answer.  Digests go to an outbox folder (no [smtp]).
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.data import LazyRecords, decades_of_dates, recent_dates
from tests.fakes.eutils import FakeEutils

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.2  # seconds the fake waits before every answer
RATE = 3  # requests a second NCBI allows without an API key
INTERVAL = 1 / RATE
PAGE = 9999  # ids an esearch can serve
FETCH = 400  # records an efetch asks for (watchers.entrez.FETCH_BATCH)
LINK = 300  # papers an elink asks for (watchers.entrez.LINK_BATCH)
FLOOR_FORMULA = f"(n - 1) x {INTERVAL:.3f} s + {LATENCY} s"


@dataclass(frozen=True)
class Row:
    scenario: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target


def pacing_floor(requests: int) -> float:
    """The least wall time of `requests` paced requests: each starts 1/3 s after the previous one,
    and the last one's answer takes the latency (which, below 1/3 s, hides under the pacing)."""
    return (requests - 1) * INTERVAL + LATENCY if requests else 0.0


# -- plumbing ---------------------------------------------------------------------------------------


def child(mode: str, *args: str) -> dict[str, Any]:
    """Run benchmarks/child.py in a fresh interpreter; its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LITWATCH_")}  # no API key
        env["PYTHONPATH"] = str(ROOT)
        env["HOME"] = tmp
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.child", mode, str(out), *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"benchmarks.child {mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        report = json.loads(out.read_text(encoding="utf-8"))
        report["stderr"] = proc.stderr
        return report


def toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(folder: Path, ncbi: FakeEutils, watches: Iterable[dict[str, Any]], tracked: Iterable[str] = ()) -> Path:
    lines = ["[ncbi]", 'email = "bench@example.org"', f"base_url = {toml_str(ncbi.base_url)}", "timeout = 60",
             "retries = 2", ""]
    for w in watches:
        lines += ["[[watch]]"] + [f"{k} = {toml_str(v) if isinstance(v, str) else v}" for k, v in w.items()] + [""]
    lines += ["[tracked]", "pmids = [" + ", ".join(toml_str(p) for p in tracked) + "]", ""]
    lines += ["[digest]", 'sender = "litwatch@example.org"', 'recipients = ["lab@example.org"]', 'outbox = "digests"', ""]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "litwatch.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)
    return path


def fake(today: date) -> FakeEutils:
    ncbi = FakeEutils(latency=LATENCY, rate_limit=RATE, today=today)
    ncbi.records = LazyRecords(ncbi.edat)  # type: ignore[assignment]
    return ncbi


def measured_run(ncbi: FakeEutils, cfg: Path) -> dict[str, Any]:
    """One `litwatch run`, checked: it succeeded, was never rate limited, and counted every request."""
    ncbi.clear()
    report = child("run", "--config", str(cfg))
    if report["exit"] != 0:
        raise RuntimeError(f"litwatch run failed: {report['errors']}\n{report['stderr'][-2000:]}")
    statuses = [r.status for r in ncbi.requests]
    report["by_endpoint"] = {e: ncbi.count(e) for e in ("esearch", "elink", "efetch", "epost") if ncbi.count(e)}
    report["rate_limited"] = statuses.count(429)
    report["server_requests"] = len(statuses)
    if report["rate_limited"] or any(s != 200 for s in statuses):
        raise RuntimeError(f"the fake answered {sorted(set(statuses))}: the run was not paced right")
    if report["server_requests"] != report["requests"]:
        raise RuntimeError(f"RunSummary.requests = {report['requests']}, the server saw {report['server_requests']}")
    return report


def hits_stored(cfg: Path, watch: str) -> int:
    with sqlite3.connect(cfg.parent / "litwatch.db") as db:
        return db.execute("SELECT COUNT(*) FROM watch_hits WHERE watch = ?", (watch,)).fetchone()[0]


def run_rows(name: str, report: dict[str, Any], floor_requests: int, *, request_target: str = "= floor",
             requests_met: bool | None = None) -> list[Row]:
    n = report["requests"]
    floor = pacing_floor(n)
    ratio = report["duration"] / floor
    parts = ", ".join(f"{k} {v}" for k, v in report["by_endpoint"].items())
    phases = ", ".join(f"{k} {v:.2f}" for k, v in report["phases"].items())
    return [
        Row(name, "requests made", f"{n} ({parts})", f"{request_target} ({floor_requests})",
            requests_met if requests_met is not None else n == floor_requests),
        Row(name, "wall time (run)", f"{report['duration']:.2f} s [{phases}]", "", None),
        Row(name, "pacing floor, " + FLOOR_FORMULA, f"{floor:.2f} s", "", None),
        Row(name, "wall / pacing floor", f"{ratio:.2f}x", "<= 1.2x", ratio <= 1.2),
    ]


# -- scenarios --------------------------------------------------------------------------------------


def daily_run() -> list[Row]:
    """10 watches, 200 tracked papers, 40 new articles (and 10 new citations), a day after the last run."""
    name = "daily run: 10 watches, 200 tracked, 40 new"
    today = date.today()
    rng = random.Random(5)
    with fake(today) as ncbi, tempfile.TemporaryDirectory() as tmp:
        sizes = [150, 300, 600, 900, 1200, 1800, 2500, 3500, 5000, 8000]
        watches, hits, next_pmid = [], [], 30_000_000
        for i, n in enumerate(sizes):
            ids = [str(next_pmid + k) for k in range(n)]
            next_pmid += n
            ncbi.edat.update(zip(ids, decades_of_dates(n, today - timedelta(days=2), seed=i)))
            query = f'"benchmark topic {i}"[Title/Abstract]'
            ncbi.add_search(query, ids)
            watches.append({"name": f"Watch {i}", "query": query})
            hits.append(ids)
        everything = [p for ids in hits for p in ids]
        tracked = rng.sample(everything, 200)
        for p in tracked:
            ncbi.citedin[p] = rng.sample(everything, 3)
        cfg = write_config(Path(tmp), ncbi, watches, tracked)
        first = measured_run(ncbi, cfg)  # the baseline: not what is measured here

        # a day later: 40 new articles (5 found by two watches), 10 new citations of tracked papers
        new = [str(39_000_000 + k) for k in range(40)]
        for k, p in enumerate(new):
            ncbi.edat[p] = today - timedelta(days=k % 2)
            for w in {k % 10, (k * 3 + 1) % 10} if k < 5 else {k % 10}:
                ncbi.searches[watches[w]["query"]].append(p)
        outside = [str(39_500_000 + k) for k in range(4)]  # citing papers no watch finds
        for p in outside:
            ncbi.edat[p] = today
        for k, citing in enumerate(new[:6] + outside):
            ncbi.citedin[tracked[k]].append(citing)
        yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
        with sqlite3.connect(cfg.parent / "litwatch.db") as db:
            db.execute("UPDATE tracked SET checked_at = ?", (yesterday,))  # re-checks are due, as a day later
        report = measured_run(ncbi, cfg)
        assert report["new_articles"] == 40 and report["new_citations"] == 10, report
        fetched = 40 + len(outside) + 200  # new hits, citing papers not stored, tracked re-checks
        floor = len(sizes) + math.ceil(200 / LINK) + math.ceil(fetched / FETCH)
        rows = run_rows(name, report, floor)
        rows.insert(0, Row(name, "(first run, the baseline: requests, wall)",
                           f"{first['requests']}, {first['duration']:.2f} s", "", None))
        return rows


def baseline_20k() -> list[Row]:
    """The first run of a watch with 20,000 hits spread over decades: ids only, no records."""
    name = "first run: 20,000-hit watch"
    today = date.today()
    with fake(today) as ncbi, tempfile.TemporaryDirectory() as tmp:
        ids = [str(20_000_000 + k) for k in range(20_000)]
        ncbi.edat.update(zip(ids, decades_of_dates(len(ids), today)))
        query = "thrombocytopenia[MeSH Terms]"
        ncbi.add_search(query, ids)
        cfg = write_config(Path(tmp), ncbi, [{"name": "Big", "query": query}])
        report = measured_run(ncbi, cfg)
        stored = hits_stored(cfg, "Big")
        floor = 1 + math.ceil(len(ids) / PAGE)
        return [
            Row(name, "requests made", f"{report['requests']} ("
                + ", ".join(f"{k} {v}" for k, v in report["by_endpoint"].items()) + ")",
                f"<= 6 (floor {floor}: the count, then {floor - 1} date ranges)", report["requests"] <= 6),
            Row(name, "ids stored as the baseline", f"{stored:,}", f"{len(ids):,}", stored == len(ids)),
            Row(name, "wall time (run)", f"{report['duration']:.2f} s (pacing floor {pacing_floor(report['requests']):.2f} s)", "", None),
            Row(name, "peak RSS", f"{report['maxrss_mb']:.0f} MB", "", None),
        ]


def backfill(announced: int, older: int) -> tuple[list[Row], float]:
    """A first run with backfill_days = 30 that announces `announced` articles."""
    name = f"backfill announcing {announced:,}"
    today = date.today()
    with fake(today) as ncbi, tempfile.TemporaryDirectory() as tmp:
        recent = [str(32_000_000 + k) for k in range(announced)]
        old = [str(22_000_000 + k) for k in range(older)]
        ncbi.edat.update(zip(recent, recent_dates(announced, today, 30)))
        ncbi.edat.update(zip(old, decades_of_dates(older, today - timedelta(days=31))))
        query = "(zanubrutinib OR rilzabrutinib) AND thrombocytopenia"
        ncbi.add_search(query, recent + old)
        ncbi.records.prebuild(recent)  # type: ignore[attr-defined]
        cfg = write_config(Path(tmp), ncbi, [{"name": "Backfill", "query": query, "backfill_days": 30}])
        report = measured_run(ncbi, cfg)
        assert report["new_articles"] == announced, report
        total = announced + older
        searches = 2 if total <= PAGE else 1 + math.ceil(announced / PAGE) + math.ceil(older / PAGE)
        floor = searches + math.ceil(announced / FETCH)
        split = total > PAGE
        rows = run_rows(name, report, floor, request_target="floor + at most 5 esearch to split" if split else "= floor",
                        requests_met=report["requests"] <= floor + (5 if split else 0))
        fetch_floor = pacing_floor(report["requests"])
        observe = report["phases"]["observe"]
        rows.append(Row(name, "searches and fetches alone (observe) / pacing floor", f"{observe / fetch_floor:.2f}x",
                        "", None))
        # Parse workers live only while records are fetched (observe); what lingers after them
        # (multiprocessing's resource tracker) lives to the end.  So at any one time the run holds
        # at most: this process's peak during observe + every child's peak, or, later, this
        # process's peak + the lingering children's.
        kids = report["children"]
        observe_main, record_main, run_main = (report["rss_after"][k] for k in ("observe", "record", "deliver"))
        run_main = max(run_main, report["maxrss_mb"])
        during = observe_main + kids["peaks_mb"]
        fetch_peak = max(during, record_main + kids["lingering_mb"])
        run_peak = max(during, run_main + kids["lingering_mb"])
        detail = (f"this process {{main:.0f}} (observe {observe_main:.0f}) + {kids['count']} child processes "
                  f"{'+'.join(str(k) for k in kids['each_mb'])}; sampled at most {kids['sampled_total_mb']:.0f} at once")
        rows.append(Row(name, "peak RSS, searching, fetching, storing (observe + record), with parse workers",
                        f"{fetch_peak:.0f} MB ({detail.format(main=record_main)})", "<= 250 MB", fetch_peak <= 250))
        rows.append(Row(name, "peak RSS, whole run (+ the digest), with parse workers",
                        f"{run_peak:.0f} MB ({detail.format(main=run_main)})", "<= 250 MB", run_peak <= 250))
        return rows, fetch_peak, run_peak


def backfills() -> list[Row]:
    small, fetch_small, run_small = backfill(5_000, 3_000)
    big, fetch_big, run_big = backfill(50_000, 9_000)
    name = "backfill 5,000 -> 50,000"
    rows = []
    for label, a, b in (("observe + record", fetch_small, fetch_big), ("whole run", run_small, run_big)):
        growth = b - a
        rows.append(Row(name, f"peak RSS growth, {label}", f"{growth:+.0f} MB ({a:.0f} -> {b:.0f} MB)",
                        "flat (< +25 MB)", growth < 25))
    return small + big + rows


def parse_and_store() -> list[Row]:
    r = child("parse")
    name = "parse + store PubMed XML"
    rows = []
    for label, bio, ours, n in (
        (f"synthetic, {r['records']:,} records ({r['bytes'] / r['records'] / 1024:.1f} KB each)", r["bio"], r["ours"], r["records"]),
        (f"recorded NCBI files ({', '.join(r['real_files'])}) x20", r["bio_real"], r["ours_real"], r["real_records"]),
    ):
        extra = ours / bio - 1
        rows.append(Row(name, f"Bio.Entrez.read alone, {label}", f"{n / bio:,.0f} records/s", "", None))
        rows.append(Row(name, "litwatch: efetch parse (parse_pubmed_xml, collector paused) + Store.put_articles",
                        f"{n / ours:,.0f} records/s", "", None))
        rows.append(Row(name, "litwatch adds", f"{extra:+.0%}", "<= +30%", extra <= 0.30))
    rows.insert(2, Row(name, "(litwatch parse alone, synthetic)", f"{r['records'] / r['ours_parse']:,.0f} records/s", "", None))
    rows.insert(1, Row(name, "(Bio.Entrez.read with the collector paused, as litwatch parses)",
                       f"{r['records'] / r['bio_gc_paused']:,.0f} records/s", "", None))
    return rows


def render() -> list[Row]:
    r = child("render")
    name = "render a 1,000-article digest"
    rows = []
    for key, label in (("max50", "max_items = 50 (default)"), ("max1000", "max_items = 1000")):
        m = r[key]
        rows.append(Row(name, f"{label}: time", f"{m['seconds'] * 1000:.0f} ms", "", None))
        rows.append(Row(name, f"{label}: HTML size, entries listed",
                        f"{m['html_bytes'] / 1024:.0f} KB, {m['listed']} listed", "<= 100 KB (Gmail clips at 102 KB)",
                        m["html_bytes"] <= 100_000))
        rows.append(Row(name, f"{label}: whole message (RIS attached)", f"{m['message_bytes'] / 1024:.0f} KB", "", None))
    return rows


SCENARIOS = {
    "daily": daily_run,
    "baseline": baseline_20k,
    "backfill": backfills,
    "parse": parse_and_store,
    "render": render,
}
