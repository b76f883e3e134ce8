"""python -m benchmarks [NAME ...] [--results FILE]: run the benchmarks and print the table.

NAME: daily, baseline, backfill, parse, render (default: all of these), department (only when
named: a department's day, issue 17, about half an hour at full size; its options below).
--results FILE also writes the table, with the machine and the date, as Markdown
(benchmarks/RESULTS.md); the department's table goes into its own section of FILE, which the
other benchmarks keep when they rewrite the file (and the other way round).
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
## How the backfill targets are met

* **Wall time.**  Bio.Entrez's validating parser reads about 1,200-1,700 records/s on this CPU, and
  3 requests/s x 400 records need 1,200/s: parsing in the run's own process was the bound (1.3-1.45x
  in the previous results).  Now one thread downloads the efetch batches (paced and counted in the
  run's process, the pacer the one rate control) while two worker processes parse the batches
  already downloaded (`watchers/entrez.py`); workers return records in their stored form (PMID,
  Entrez date, JSON), which the run spools and stores as they are.  Searching and fetching run at
  about 1.03-1.06x the pacing floor (the pacer spaces requests 0.34 s, 2 % above NCBI's 1/3 s;
  the last batch is parsed after the last answer).  After the last request: storing (0.2 s at
  5,000 records) and the digest (0.4 s), which loads in full only the 1,000 articles it lists or
  attaches.  Across runs the 5,000-article backfill measures 1.16-1.20x, the 50,000 one
  1.11-1.13x.
* **Peak RSS** counts the parse workers.  While records are fetched: this process's peak then plus
  every child's peak (two workers of about 40 MB; multiprocessing's resource tracker, 13 MB);
  afterwards: this process plus what lingers (the tracker).  "At most ... at once" is the largest
  total of this process and its children seen in 20 ms samples.
* **Flat from 5,000 to 50,000.**  No record is held: a worker converts each PubmedArticle as its
  end tag is read, and the run spools records past 2,000 to a temporary file.  What grows is the
  bookkeeping of PMIDs (the search's ids and those to announce and fetch, each a Python string in a
  set or the spool's index, some 300 bytes a PMID: about +18 MB for 54,000 more).  Two leaks of
  the previous version are gone: every parsed esearch page stayed in memory until the cyclic
  collector ran (13 MB at 59,000 ids), and a worker's heap grew with each 4 MB answer (glibc now
  keeps such buffers in mmap in the workers).
* **Parse + store faster than Bio.Entrez.read alone.**  Same validating parser, but each record is
  converted when its end tag is read (`ncbi_xml.read(each=...)`) and dropped from the tree, with
  the cyclic collector paused: the document is never one large tree of live objects.
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
            "holds the fake's 50,000 records), with its children's (the parse workers'), as the notes "
            "below explain.  "
            f"Pacing floor of n requests = {FLOOR_FORMULA}: each request starts at least 1/3 s after the "
            "previous one and the last answer takes the latency (a latency under 1/3 s hides under the "
            "pacing).  Wall time is the run itself (Pipeline.run: searches, fetches, storing, the digest "
            "and its delivery), without interpreter start-up; the phases are in brackets."
        ),
        "",
        "| scenario | metric | value | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    out += _table_rows(rows)
    return "\n".join(out) + "\n\n" + NOTES


def _table_rows(rows: list[Row]) -> list[str]:
    """The Markdown rows of a results table, each scenario named on its first row only."""
    out, last = [], None
    for r in rows:
        out.append(f"| {'' if r.scenario == last else r.scenario} | {r.metric} | {r.value} | {r.target} | {_mark(r)} |")
        last = r.scenario
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"scenarios to run ({', '.join(SCENARIOS)}; default: all)")
    parser.add_argument("--results", metavar="FILE", help="also write the table as Markdown to FILE")
    dep = parser.add_argument_group("department")
    dep.add_argument("--readers", type=int, default=500, help="readers, 4 watches each (default 500)")
    dep.add_argument("--tracked", type=int, default=5000, help="tracked papers (default 5000)")
    dep.add_argument("--stores", default="sqlite,postgresql",
                     help="sqlite,postgresql (PostgreSQL: LITWATCH_TEST_POSTGRES_URL)")
    dep.add_argument("--keys", default="with,without", help="days with and/or without an API key")
    dep.add_argument("--growth-readers", type=int, default=50, help="the small department (0: none)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SCENARIOS and n != "department"]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; one of {', '.join(SCENARIOS)}, department")
    names = args.names or list(SCENARIOS)
    started = time.monotonic()
    rows: list[Row] = []
    for name in names:
        if name == "department":
            continue
        t = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += SCENARIOS[name]()
        print(f"  {name}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    section = None
    dep_rows: list[Row] = []
    if "department" in names:
        t = time.monotonic()
        print("running department ...", file=sys.stderr, flush=True)
        section, dep_rows = department_section(args, argv or sys.argv[1:])
        print(f"  department: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    print(text_table(rows + dep_rows))
    print(f"\npacing floor = {FLOOR_FORMULA}; total {seconds:.0f} s")
    if args.results:
        from benchmarks.ranking import kept_section

        path = Path(args.results)
        if rows:
            kept = _department_block(path.read_text(encoding="utf-8") if path.exists() else "")
            path.write_text(markdown(rows, seconds) + kept_section(path) + (f"\n{kept}\n" if kept else ""),
                            encoding="utf-8")
        if section is not None:
            _write_department(path, section)
    missed = [r for r in rows + dep_rows if r.met is False]
    return 1 if missed else 0


SECTION = "<!-- department: python -m benchmarks department -->"
SECTION_END = "<!-- /department -->"


def _department_block(text: str) -> str:
    """The department's section of a results file ('' when none)."""
    if SECTION not in text:
        return ""
    start = text.index(SECTION)
    end = text.index(SECTION_END, start) + len(SECTION_END) if SECTION_END in text[start:] else len(text)
    return text[start:end].rstrip("\n")


def _write_department(path: Path, section: str) -> None:
    """Put `section` in place of the department's section of `path` (at the end when it has none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    old = _department_block(text)
    block = section.rstrip("\n") + "\n" + SECTION_END
    if old:
        text = text.replace(old, block)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def department_section(args: argparse.Namespace, argv: list[str]) -> tuple[str, list[Row]]:
    from benchmarks.department import NOTES as DEPARTMENT_NOTES
    from benchmarks.department import Size, department, plan_markdown

    size = Size().scaled(args.readers)
    size.tracked = args.tracked
    stores = [s for s in args.stores.split(",") if s]
    keys = [k == "with" for k in args.keys.split(",") if k]
    started = time.monotonic()
    rows, extra = department(size, stores, keys, args.growth_readers or None)
    seconds = time.monotonic() - started
    command = ".venv/bin/python -m benchmarks " + " ".join(argv)
    out = [
        SECTION,
        "## A department's day (issue 17)",
        "",
        f"Run on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, in {seconds:.0f} s, with:",
        "",
        "```",
        command,
        "```",
        "",
        "| scenario | metric | value | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    out += _table_rows(rows)
    return "\n".join(out) + "\n" + plan_markdown(extra) + "\n" + DEPARTMENT_NOTES, rows


if __name__ == "__main__":
    sys.exit(main())
