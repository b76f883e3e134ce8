"""What a benchmark runs in a child process, so that its peak RSS is its own.

    python -m benchmarks.child run OUT.json --config litwatch.toml
        `litwatch run` (jobs.cli.main) as cron would run it, with the RunSummary and the time of
        each phase captured.
    python -m benchmarks.child parse OUT.json
        parse-and-store throughput against `Bio.Entrez.read` alone, on the same bytes.
    python -m benchmarks.child render OUT.json
        rendering a 1,000-article digest.

Each writes one JSON object to OUT.json, with ``maxrss_mb``: the peak RSS of this process (VmHWM),
and, for a run, ``children``: what its child processes (litwatch's parse workers, multiprocessing's
resource tracker) used, sampled every 20 ms.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Generator
from datetime import UTC
from pathlib import Path
from typing import Any

STARTED = time.monotonic()


def _maxrss_mb() -> float:
    """Peak RSS of this process, in MiB.

    VmHWM from /proc/self/status where there is one: getrusage(RUSAGE_SELF).ru_maxrss survives
    execve on Linux, so a child started from a big parent (the fake server holding 50,000 records)
    would report the parent's size.  VmHWM belongs to the process's own memory map, new at exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _status_kb(pid: int | str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class ChildMemory:
    """Samples the memory of this process's children every `interval` seconds: each child's peak
    (VmHWM), which of them were still there at the last sample, and the largest total RSS of this
    process and its children seen at one time."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self.alive: set[int] = set()
        self.together: set[frozenset[int]] = set()  # the sets of children seen alive at one time
        self.parent_kb: dict[frozenset[int], int] = {}  # such a set -> this process's peak while it was alive
        self.total_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _children(self) -> set[int]:
        pids: set[int] = set()
        for task in Path("/proc/self/task").iterdir():
            try:
                pids.update(int(p) for p in (task / "children").read_text().split())
            except (OSError, ValueError):
                pass
        return pids

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            total = _status_kb("self", "VmRSS:")
            self.alive = self._children()
            alive = frozenset(self.alive)
            self.together.add(alive)
            if alive:
                self.parent_kb[alive] = max(self.parent_kb.get(alive, 0), _status_kb("self", "VmHWM:"))
            for pid in self.alive:
                hwm = _status_kb(pid, "VmHWM:")
                if hwm:
                    self.peaks_kb[pid] = max(self.peaks_kb.get(pid, 0), hwm)
                total += _status_kb(pid, "VmRSS:")
            self.total_kb = max(self.total_kb, total)

    def report(self) -> dict[str, Any]:
        return {
            "count": len(self.peaks_kb),
            # the children alive at one time, each counted at its own peak (two pools of parse
            # workers started one after the other are never counted together)
            "peaks_mb": max((sum(self.peaks_kb.get(p, 0) for p in s) for s in self.together), default=0) / 1024,
            # the same, plus this process's own peak up to then: a bound of the whole at any time
            # the children ran (this process grows later, composing the digests, when they are gone)
            "with_parent_mb": max(
                (self.parent_kb.get(s, 0) + sum(self.peaks_kb.get(p, 0) for p in s) for s in self.together if s),
                default=0,
            ) / 1024,
            "each_mb": sorted(round(kb / 1024) for kb in self.peaks_kb.values()),
            # children still there when the run ended (multiprocessing's resource tracker)
            "lingering_mb": sum(kb for pid, kb in self.peaks_kb.items() if pid in self.alive) / 1024,
            "sampled_total_mb": self.total_kb / 1024,  # this process and its children at one time
        }


def run(args: list[str]) -> dict[str, Any]:
    from litwatch.jobs.run import pipeline

    phases: dict[str, float] = {}
    peaks: dict[str, float] = {}
    summaries: list[Any] = []

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.monotonic()
            try:
                out = fn(*a, **kw)
            finally:
                phases[name] = phases.get(name, 0.0) + time.monotonic() - t
                peaks[name] = _maxrss_mb()  # the high-water mark when the phase ended
            return timed_steps(name, out) if inspect.isgenerator(out) else out

        return wrapper

    def timed_steps(name: str, steps: Generator[Any, None, None]) -> Generator[Any, None, None]:
        """A generator phase (observe, group by group): the time spent inside it, in all."""
        while True:
            t = time.monotonic()
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                phases[name] = phases.get(name, 0.0) + time.monotonic() - t
            peaks[name] = _maxrss_mb()  # (when the last item was made: a run's observations are done)
            try:
                yield item
            except GeneratorExit:
                steps.close()
                raise

    if os.environ.get("LITWATCH_BENCH_UNPACED"):  # a set-up run (benchmarks/department.py): not measured
        from litwatch.watchers import entrez

        entrez.Pacer.wait = lambda self, interval: None  # type: ignore[method-assign]
    from litwatch.notifications import delivery as session

    cls = pipeline.Pipeline
    from litwatch.jobs.run.compose import Composer
    from litwatch.jobs.run.deliver import DeliveryLoop

    cls._search = timed("search", cls._search)  # type: ignore[method-assign]
    Composer.digest = timed("digest", Composer.digest)  # type: ignore[method-assign]
    Composer.render = timed("render", Composer.render)  # type: ignore[method-assign]
    session.SmtpSession.deliver = timed("smtp", session.SmtpSession.deliver)  # type: ignore[method-assign]
    cls.observe = timed("observe", cls.observe)  # type: ignore[method-assign]
    cls.record = timed("record", cls.record)  # type: ignore[method-assign]
    DeliveryLoop.deliver_due = timed("deliver", DeliveryLoop.deliver_due)  # type: ignore[method-assign]
    original_run = cls.run

    def run_and_keep(self: Any) -> Any:
        summary = original_run(self)
        summaries.append(summary)
        return summary

    cls.run = run_and_keep  # type: ignore[method-assign]

    from litwatch.jobs.cli.main import main as litwatch

    with ChildMemory() as children:
        code = litwatch(["run", *args])
    s = summaries[-1] if summaries else None
    return {
        "exit": code,
        "outcome": s.outcome if s else None,
        "errors": s.errors if s else [],
        "requests": s.requests if s else None,
        "hits": s.hits if s else None,
        "new_articles": s.new_articles if s else None,
        "new_citations": s.new_citations if s else None,
        "sent": s.sent if s else None,
        "duration": s.duration if s else None,
        "phases": phases,
        "rss_after": peaks,
        "process_wall": time.monotonic() - STARTED,
        "children": children.report(),
    }


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def parse(args: list[str]) -> dict[str, Any]:
    import io
    import tempfile
    from datetime import date

    import Bio.Entrez
    import Bio.Entrez.Parser

    from benchmarks.data import article_xml
    from litwatch.watchers.articles import _gc_paused, parse_pubmed_xml
    from litwatch.watchers.entrez import _parse_article_set  # what fetch_records does with a batch (or a parse worker)
    from litwatch.watchers.store import open_store
    from tests.fakes.pubmed_xml import article_set

    def offline(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the benchmark never goes online")

    Bio.Entrez.Parser.urlopen = offline  # Bio.Entrez.read would download a DTD it does not bundle
    batches, per_batch = 10, 400
    bodies = [
        article_set(*(article_xml(str(40_000_000 + b * per_batch + i), date(2026, 11, 2)) for i in range(per_batch)))
        for b in range(batches)
    ]
    records = batches * per_batch
    real = sorted((Path(__file__).resolve().parents[1] / "tests" / "data" / "ncbi").glob("pubmed*.xml"))
    real_bodies = [p.read_bytes() for p in real]
    real_records = sum(len(parse_pubmed_xml(b)) for b in real_bodies)
    out: dict[str, Any] = {"records": records, "bytes": sum(map(len, bodies)), "real_files": [p.name for p in real]}

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(path=Path(tmp) / "bench.db")

        def bio() -> None:
            for body in bodies:
                Bio.Entrez.read(io.BytesIO(body))

        def bio_gc_paused() -> None:
            for body in bodies:
                with _gc_paused():
                    Bio.Entrez.read(io.BytesIO(body))

        def ours() -> None:
            for body in bodies:
                records, _ = _parse_article_set(body)
                with store.transaction():
                    store.articles.put(records)

        def ours_parse() -> None:
            for body in bodies:
                _parse_article_set(body)

        def bio_real() -> None:
            for _ in range(20):
                for body in real_bodies:
                    Bio.Entrez.read(io.BytesIO(body))

        def ours_real() -> None:
            for _ in range(20):
                for body in real_bodies:
                    records, _ = _parse_article_set(body)
                    with store.transaction():
                        store.articles.put(records)

        # interleaved, best of 5: the machine is shared
        best: dict[str, float] = {}
        for _ in range(5):
            for name, fn in (("bio", bio), ("ours", ours), ("ours_parse", ours_parse), ("bio_gc_paused", bio_gc_paused),
                             ("bio_real", bio_real), ("ours_real", ours_real)):
                best[name] = min(best.get(name, float("inf")), _best(fn, 1))
        store.close()
    out.update(best)
    out["real_records"] = real_records * 20
    return out


def render(args: list[str]) -> dict[str, Any]:
    from datetime import date, datetime

    from benchmarks.data import article_xml
    from litwatch.notifications.digest import Item, build_digest
    from litwatch.notifications.render import render_digest
    from litwatch.watchers.articles import parse_pubmed_xml
    from tests.fakes.pubmed_xml import article_set

    n = 1000
    articles = {}
    for b in range(0, n, 200):
        body = article_set(*(article_xml(str(41_000_000 + i), date(2026, 11, 1 + i % 20)) for i in range(b, b + 200)))
        articles.update((a.pmid, a) for a in parse_pubmed_xml(body))
    watches = ["BTK inhibitors in ITP", "Rilzabrutinib", "ITP guidelines"]
    items = [Item("hit", pmid, watches[i % 3]) for i, pmid in enumerate(articles)]
    out: dict[str, Any] = {"articles": n}
    for max_items in (50, 1000):
        def once(max_items: int = max_items) -> Any:
            digest = build_digest(
                "lab@example.org", items, articles, created=datetime(2026, 11, 25, 7, 0, tzinfo=UTC),
                watch_order=watches, watch_terms={w: tuple(w.split()[:1]) for w in watches},
                watch_queries={w: w for w in watches},
            )
            return render_digest(digest, sender="litwatch@example.org", message_id="<bench@example.org>",
                                 max_items=max_items, attach=("ris",))

        message = once()
        seconds = _best(once, 3)
        html = message.get_body(("html",)).get_content()
        out[f"max{max_items}"] = {
            "seconds": seconds,
            "html_bytes": len(html.encode("utf-8")),
            "message_bytes": len(message.as_bytes()),
            "listed": html.count('<div class="ent"'),
        }
    return out


def main(argv: list[str]) -> int:
    mode, out_path, *rest = argv
    result = {"run": run, "parse": parse, "render": render}[mode](rest)
    result["maxrss_mb"] = _maxrss_mb()
    Path(out_path).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
