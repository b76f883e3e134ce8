"""Digest building: what a recipient is still to be told (queue items) in, one `Digest` out.

Pure: no I/O.  Each article appears once, with every reason it is there (the watches that found
it, the tracked papers it cites); corrections come first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
from litwatch.watchers import announcements as a
from litwatch.watchers.announcements import Item
from litwatch.watchers.articles import Article
from litwatch.watchers.tracked import correction_kind

SOURCE_ORDER = ("pubmed", "icite", "europepmc", "openalex")


def _source_rank(source: str) -> tuple[int, str]:
    return (SOURCE_ORDER.index(source) if source in SOURCE_ORDER else len(SOURCE_ORDER), source)



def _add_once(reasons: dict[str, list[str]], key: str, reason: str) -> None:
    """Add `reason` to `key`'s reasons, in order of first appearance, once."""
    mine = reasons.setdefault(key, [])
    if reason not in mine:
        mine.append(reason)


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
        if isinstance(item, a.Hit):
            _add_once(watches, item.pmid, item.watch)
        elif isinstance(item, a.Citation):
            _add_once(cites, item.citing, item.cited)
        elif isinstance(item, a.Correction):
            corrections.append(
                Correction(
                    paper=paper_ref(item.pmid, articles.get(item.pmid)),
                    kind=item.kind,
                    notice_pmid=item.notice_pmid,
                    notice_source=item.source,
                )
            )
        elif isinstance(item, a.SentArticleNotice):
            sent.setdefault(
                (item.pmid, item.kind, item.notice_pmid),
                SentNotice(paper_ref(item.pmid, articles.get(item.pmid)), item.kind, item.notice_pmid, item.source,
                           item.sent_on),
            )
        elif isinstance(item, a.WorkCitation):
            _add_once(work_cites, item.work, item.cited)
        elif isinstance(item, a.PreprintHit):
            _add_once(preprints, item.work, item.watch)
        elif isinstance(item, a.Published):
            published[item.pmid] = works.get(item.work) or WorkRef(key=item.work, title=item.work, url="")
            watches.setdefault(item.pmid, [])  # listed as a hit even when no watch is named
            if item.watch:
                _add_once(watches, item.pmid, item.watch)
        else:
            if (item.heading, item.text) not in seen_notes:
                seen_notes.add((item.heading, item.text))
                notes.append(WatchNote(watch=item.heading, text=item.text, is_problem=item.problem))

    order = {name: i for i, name in enumerate(watch_order)}

    def rank(names: Iterable[str]) -> int:
        return min((order.get(n, len(order)) for n in names), default=len(order))


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
    corrections.sort(key=lambda c: (not correction_kind(c.kind).retraction, c.paper.pmid))
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
