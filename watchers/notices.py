"""Notices on any article ever sent: PubMed's retraction, expression-of-concern and erratum notices.

A notice is a PubMed record of its own, with the publication type "Retraction of Publication",
"Expression of Concern" or "Published Erratum", and a CommentsCorrections link to the article it
concerns (RefType "RetractionOf", "ExpressionOfConcernFor", "ErratumFor").  So new notices are found
without asking anything about the store's articles: one esearch for the notice types by Entrez date
since the last check (overlapped by a few days: records can reach PubMed's index after their Entrez
date), then one or two efetch of the notices not read before.  At most `1 + MAX_FETCH_BATCHES`
requests, whatever the size of the store; the matching against what was sent is done in the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from litwatch.watchers.articles import Article
from litwatch.watchers.entrez import FETCH_BATCH, MAX_SEARCH_POSITION, EntrezClient
from litwatch.watchers.store.sources import NoticeLink

#: config name -> (PubMed publication type of the notice, RefType the notice uses for its target)
NOTICE_TYPES: dict[str, tuple[str, str]] = {
    "retraction": ("Retraction of Publication", "RetractionOf"),
    "concern": ("Expression of Concern", "ExpressionOfConcernFor"),
    "erratum": ("Published Erratum", "ErratumFor"),
}
#: RefTypes on a notice that name the article it concerns (a retract-and-replace notice says
#: "RetractedandRepublishedFrom"... on the new article; the notice itself still says RetractionOf)
TARGET_REF_TYPES = frozenset(ref for _, ref in NOTICE_TYPES.values())
MAX_FETCH_BATCHES = 2  # efetch requests per check: with the esearch, 3 requests a day at most
NO_LINK = "-"  # notice_links.kind of a notice read that names no PubMed article (not read again)


def notice_query(kinds: Iterable[str]) -> str:
    types = [NOTICE_TYPES[k][0] for k in kinds]
    return "(" + " OR ".join(f'"{t}"[pt]' for t in types) + ")"


def notice_links(article: Article, kinds: Iterable[str]) -> list[NoticeLink]:
    """The links a notice record makes to the articles it concerns."""
    wanted = {NOTICE_TYPES[k][1] for k in kinds}
    source = " ".join(x for x in (article.journal_iso or article.journal, article.year and str(article.year)) if x)
    return [
        NoticeLink(article.pmid, c.pmid, c.ref_type, source, article.title, article.entrez_date)
        for c in article.comments_corrections
        if c.ref_type in wanted and c.pmid and c.pmid != article.pmid
    ]


@dataclass
class NoticeScan:
    """What one check found: links of the notices read, and how far the search is covered."""

    links: list[NoticeLink] = field(default_factory=list)
    read: set[str] = field(default_factory=set)  # notice PMIDs read (with or without links)
    covered_through: date | None = None  # None: a backlog is left for the next check
    found: int = 0  # notices in the window
    left: int = 0  # notices in the window left for the next check


def scan_notices(
    client: EntrezClient,
    *,
    kinds: Iterable[str],
    since: date,
    today: date,
    already_read: Callable[[Iterable[str]], set[str]],
    max_batches: int = MAX_FETCH_BATCHES,
) -> NoticeScan:
    """One esearch for the notices entered since `since`, then the records of those not read
    before, oldest first, at most `max_batches` efetch requests; the rest wait for the next check."""
    kinds = list(kinds)
    page = client.esearch(
        notice_query(kinds),
        datetype="edat",
        mindate=since.strftime("%Y/%m/%d"),
        maxdate=today.strftime("%Y/%m/%d"),
        retmax=MAX_SEARCH_POSITION,
    )
    ids = sorted(set(page.ids), key=int)
    new = [p for p in ids if p not in already_read(ids)]
    take = new[: FETCH_BATCH * max_batches]
    scan = NoticeScan(found=page.count, left=len(new) - len(take))
    for record in client.fetch_records(take):
        article = Article.from_json(record.data)
        scan.read.add(article.pmid)
        scan.links += notice_links(article, kinds)
    # Records PubMed did not serve are read again next time; a window esearch could not list whole
    # (more than 9,999 notices) or a backlog keeps the cursor where it was.
    complete = not scan.left and page.count <= len(page.ids)
    scan.covered_through = today if complete else None
    return scan


def check_window(cursor: str, today: date, overlap_days: int) -> date:
    """The first Entrez date to search: the last covered date minus the overlap (or the overlap
    before today, the first time)."""
    start = date.fromisoformat(cursor) if cursor else today
    return min(start, today) - timedelta(days=overlap_days)
