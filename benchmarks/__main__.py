"""python -m benchmarks [NAME ...] [--results FILE]: run the benchmarks and print the table.

NAME: daily, baseline, backfill, parse, render (default: all).  --results FILE also writes the
table, with the machine and the date, as Markdown (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

from benchmarks.scenarios import FLOOR_FORMULA, LATENCY, RATE, SCENARIOS, Row

COMMAND = ".venv/bin/python -m benchmarks --results benchmarks/RESULTS.md"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu,
        "RAM": ram,
        "Python": platform.python_version(),
        "OS": f"{platform.system()} {platform.release()}",
    }


def _mark(row: Row) -> str:
    return "" if row.met is None else ("yes" if row.met else "NO")


def text_table(rows: list[Row]) -> str:
    headers = ("scenario", "metric", "value", "target", "met")
    data = [(r.scenario, r.metric, r.value, r.target, _mark(r)) for r in rows]
    widths = [min(60, max(len(h), *(len(d[i]) for d in data))) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    last = None
    for d in data:
        shown = ("" if d[0] == last else d[0],) + d[1:]
        last = d[0]
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(shown, widths)).rstrip())
    return "\n".join(lines)


NOTES = """\
## Why the missed targets are missed

* **Backfill wall time (whole run).**  The searches and fetches (`observe`) run within about
  1.1-1.3x (5,000 records) and 1.3-1.4x (50,000) of the pacing floor, from run to run: 400
  records must be parsed every 1/3 s to keep up with 3 requests/s, i.e. 1,200 records/s, and
  Bio.Entrez's validating parser does about 1,100-1,500 records/s on this CPU (the next batch
  downloads in a background thread meanwhile; the cyclic garbage collector is paused while a
  batch is parsed).  Parsing in a worker process would close the gap; not built yet.  After the
  last request, storing and the digest add a few seconds (the digest loads in full only the
  articles it lists or attaches, at most 2,000).
* **Backfill peak RSS growth (whole run).**  Searching, fetching and storing stay flat (records
  past 2,000 are spooled to a temporary file): about +23 MB from 5,000 to 50,000.  The digest
  attaches at most 2,000 articles (`litwatch export` gives the rest) and keeps light stand-ins
  (PMID, Entrez date) for the others, so the whole run stays under 250 MB at 50,000 but still
  grows by about 35 MB: the stand-ins, the queue rows and the "and N more" bookkeeping.
"""


def markdown(rows: list[Row], seconds: float) -> str:
    out = [
        "# Benchmark results",
        "",
        f"Run on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, in {seconds:.0f} s, with:",
        "",
        "```",
        COMMAND,
        "```",
        "",
        "| machine | |",
        "| --- | --- |",
    ]
    out += [f"| {k} | {v} |" for k, v in machine().items()]
    out += [
        "",
        (
            f"Runs are `litwatch run` (jobs.cli.main) in a child process against the loopback fake "
            f"E-utilities server (tests/fakes) with NCBI's limit for a client without an API key "
            f"({RATE} requests/s, more is answered 429) and {int(LATENCY * 1000)} ms latency on every answer; "
            "digests go to an outbox folder.  Peak RSS is the child's own high-water mark (VmHWM; "
            "getrusage's ru_maxrss survives execve on Linux and would report the size of the parent that "
            "holds the fake's 50,000 records); the high-water after each phase is in brackets.  "
            f"Pacing floor of n requests = {FLOOR_FORMULA}: each request starts at least 1/3 s after the "
            "previous one and the last answer takes the latency (a latency under 1/3 s hides under the "
            "pacing).  Wall time is the run itself (Pipeline.run: searches, fetches, storing, the digest "
            "and its delivery), without interpreter start-up; the phases are in brackets."
        ),
        "",
        "| scenario | metric | value | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    last = None
    for r in rows:
        out.append(f"| {'' if r.scenario == last else r.scenario} | {r.metric} | {r.value} | {r.target} | {_mark(r)} |")
        last = r.scenario
    return "\n".join(out) + "\n\n" + NOTES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"scenarios to run ({', '.join(SCENARIOS)}; default: all)")
    parser.add_argument("--results", metavar="FILE", help="also write the table as Markdown to FILE")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; one of {', '.join(SCENARIOS)}")
    names = args.names or list(SCENARIOS)
    started = time.monotonic()
    rows: list[Row] = []
    for name in names:
        t = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += SCENARIOS[name]()
        print(f"  {name}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    print(text_table(rows))
    print(f"\npacing floor = {FLOOR_FORMULA}; total {seconds:.0f} s")
    if args.results:
        Path(args.results).write_text(markdown(rows, seconds), encoding="utf-8")
    missed = [r for r in rows if r.met is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
