"""Digest building: what a recipient is still to be told (queue items) in, one `Digest` out.

Pure: no I/O.  Each article appears once, with every reason it is there (the watches that found
it, the tracked papers it cites); corrections come first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from litwatch.notifications.model import (
    Correction,
    Digest,
    Entry,
    PaperRef,
    SentNotice,
    WatchNote,
    WorkEntry,
    WorkRef,
)
from litwatch.watchers.articles import Article

RETRACTION_KINDS = ("RetractionIn", "Retracted Publication", "RetractedandRepublishedIn")
SOURCE_ORDER = ("pubmed", "icite", "europepmc", "openalex")


def _source_rank(source: str) -> tuple[int, str]:
    return (SOURCE_ORDER.index(source) if source in SOURCE_ORDER else len(SOURCE_ORDER), source)


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to tell: kind "hit" (reason: watch), "citation" (reason: cited PMID),
    "correction" (pmid: the tracked paper; reason: "KIND|NOTICE_PMID|SOURCE"), "note"
    (reason: "WATCH|TEXT|problem" or "WATCH|TEXT|"), "sent_notice" (pmid: an article the reader
    was sent; reason: JSON [kind, notice PMID, notice source, sent on]), "work_citation" (pmid: the key of
    a citing work outside PubMed; reason: cited PMID), "preprint" (pmid: a preprint's work key;
    reason: watch), "published" (pmid: the journal version's PMID; reason: JSON [work key, watch])."""

    kind: str
    pmid: str
    reason: str


def paper_ref(pmid: str, article: Article | None) -> PaperRef:
    if article is None:
        return PaperRef(pmid=pmid)
    return PaperRef(pmid=pmid, title=article.title, first_author=article.first_author, year=article.year)


def build_digest(
    recipient: str,
    items: Iterable[Item],
    articles: Mapping[str, Article],
    *,
    created: datetime,
    watch_order: Sequence[str] = (),
    watch_terms: Mapping[str, tuple[str, ...]] | None = None,
    watch_queries: Mapping[str, str] | None = None,
    citation_sources: Mapping[tuple[str, str], Sequence[str]] | None = None,
    works: Mapping[str, WorkRef] | None = None,
) -> Digest:
    """Group queue items into a digest.  `articles` must hold every PMID the items name
    (an item whose article is missing is listed by PMID only)."""
    watches: dict[str, list[str]] = {}
    cites: dict[str, list[str]] = {}
    corrections: list[Correction] = []
    notes: list[WatchNote] = []
    seen_notes: set[tuple[str, str]] = set()
    sent: dict[tuple[str, str, str], SentNotice] = {}
    work_cites: dict[str, list[str]] = {}
    preprints: dict[str, list[str]] = {}
    published: dict[str, WorkRef] = {}  # journal PMID -> its preprint
    works = works or {}
    for item in items:
        if item.kind == "hit":
            watches.setdefault(item.pmid, [])
            if item.reason not in watches[item.pmid]:
                watches[item.pmid].append(item.reason)
        elif item.kind == "citation":
            cites.setdefault(item.pmid, [])
            if item.reason not in cites[item.pmid]:
                cites[item.pmid].append(item.reason)
        elif item.kind == "correction":
            kind, notice_pmid, source = (item.reason.split("|", 2) + ["", ""])[:3]
            corrections.append(
                Correction(
                    paper=paper_ref(item.pmid, articles.get(item.pmid)),
                    kind=kind,
                    notice_pmid=notice_pmid,
                    notice_source=source,
                )
            )
        elif item.kind == "sent_notice":
            kind, notice_pmid, source, sent_on = [str(x) for x in json.loads(item.reason)][:4]
            sent.setdefault(
                (item.pmid, kind, notice_pmid),
                SentNotice(paper_ref(item.pmid, articles.get(item.pmid)), kind, notice_pmid, source, sent_on),
            )
        elif item.kind == "work_citation":
            work_cites.setdefault(item.pmid, [])
            if item.reason not in work_cites[item.pmid]:
                work_cites[item.pmid].append(item.reason)
        elif item.kind == "preprint":
            preprints.setdefault(item.pmid, [])
            if item.reason not in preprints[item.pmid]:
                preprints[item.pmid].append(item.reason)
        elif item.kind == "published":
            key, watch = [str(x) for x in json.loads(item.reason)][:2]
            published[item.pmid] = works.get(key) or WorkRef(key=key, title=key, url="")
            watches.setdefault(item.pmid, [])
            if watch and watch not in watches[item.pmid]:
                watches[item.pmid].append(watch)
        elif item.kind == "note":
            watch, text, flag = (item.reason.split("|", 2) + ["", ""])[:3]
            if (watch, text) not in seen_notes:
                seen_notes.add((watch, text))
                notes.append(WatchNote(watch=watch, text=text, is_problem=flag == "problem"))

    order = {name: i for i, name in enumerate(watch_order)}
    rank = lambda names: min((order.get(n, len(order)) for n in names), default=len(order))  # noqa: E731

    def article_of(pmid: str) -> Article:
        return articles.get(pmid) or Article(pmid=pmid, title_html=f"PMID {pmid}")

    def newest_first(pmid: str) -> tuple[str, int]:
        a = articles.get(pmid)
        return ((a.entrez_date if a else ""), int(pmid))

    entries: list[Entry] = []
    for pmid in sorted(cites, key=newest_first, reverse=True):
        ws = sorted(watches.get(pmid, []), key=lambda n: order.get(n, len(order)))
        sources = sorted({s for c in cites[pmid] for s in (citation_sources or {}).get((c, pmid), ())}, key=_source_rank)
        entries.append(
            Entry(
                article=article_of(pmid),
                watches=tuple(ws),
                cites=tuple(paper_ref(c, articles.get(c)) for c in cites[pmid]),
                citation_sources=tuple(sources),
                preprint=published.get(pmid),
            )
        )
    hits = [p for p in watches if p not in cites]
    hits.sort(key=newest_first, reverse=True)
    hits.sort(key=lambda p: rank(watches[p]))
    for pmid in hits:
        ws = sorted(watches[pmid], key=lambda n: order.get(n, len(order)))
        entries.append(Entry(article=article_of(pmid), watches=tuple(ws), preprint=published.get(pmid)))

    # works outside PubMed: citing works, then new preprints (a preprint whose journal version is
    # in this digest is not listed again)
    shown = {w.key for w in published.values()}
    work_entries: list[WorkEntry] = []
    for key, cited in work_cites.items():
        ref = works.get(key) or WorkRef(key=key, title=key, url="")
        srcs = sorted({s for c in cited for s in (citation_sources or {}).get((c, key), ())}, key=_source_rank)
        work_entries.append(
            WorkEntry(work=ref, cites=tuple(paper_ref(c, articles.get(c)) for c in cited), citation_sources=tuple(srcs))
        )
    for key, ws in preprints.items():
        if key in shown:
            continue
        ref = works.get(key) or WorkRef(key=key, title=key, url="")
        work_entries.append(WorkEntry(work=ref, watches=tuple(ws), is_preprint=True))

    # a notice already told as "you were sent it" is not repeated as a tracked paper's correction
    told = {(pmid, notice) for pmid, _, notice in sent}
    corrections = [c for c in corrections if not (c.notice_pmid and (c.paper.pmid, c.notice_pmid) in told)]
    corrections.sort(key=lambda c: (c.kind not in RETRACTION_KINDS, c.paper.pmid))
    return Digest(
        recipient=recipient,
        created=created,
        entries=tuple(entries),
        corrections=tuple(corrections),
        notes=tuple(notes),
        watch_terms=dict(watch_terms or {}),
        watch_queries=dict(watch_queries or {}),
        sent_notices=tuple(sorted(sent.values(), key=lambda n: (n.kind != "RetractionOf", n.sent_on, n.paper.pmid))),
        works=tuple(work_entries),
    )
