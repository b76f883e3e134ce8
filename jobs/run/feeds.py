"""Atom feeds of what was announced: one per watch (`<folder>/<slug>.xml`) and one of the articles
citing tracked papers (`<folder>/citations.xml`), rewritten after every run's record step.

Everything comes from the store (the hits a watch announced, the citing papers announced), so a
feed is the same whichever run writes it, and a feed lost or not written catches up at the next
run.  Entry ids are stable (`tag:litwatch,2026:pmid:<PMID>`), so feed readers show each article
once.  Files are replaced atomically (a reader never sees half a feed) and are readable by all
(they hold nothing secret and are meant to be served).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

from feedgen.feed import FeedGenerator

from litwatch.jobs.config import Config
from litwatch.notifications.delivery import write_atomic
from litwatch.notifications.exports import pubmed_url
from litwatch.watchers.articles import Article
from litwatch.watchers.store import Store

CITATIONS_FEED = "citations"
ID_PREFIX = "tag:litwatch,2026:"
MAX_AUTHORS = 10
SUMMARY_CHARS = 600
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def slug(name: str) -> str:
    """'BTK inhibitors in ITP' -> 'btk-inhibitors-in-itp' (ASCII letters, digits and dashes)."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-")
    return text or "watch"


def feed_files(config: Config) -> dict[str, str]:
    """Watch name -> file name (without .xml); unique, and never the citations feed's."""
    out: dict[str, str] = {}
    used = {CITATIONS_FEED}
    for watch in config.watch:
        name = slug(watch.name)
        if name in used:
            name = f"{name}-{hashlib.sha256(watch.name.encode()).hexdigest()[:6]}"
        used.add(name)
        out[watch.name] = name
    return out


def write_feeds(config: Config, store: Store, *, now: datetime | None = None) -> list[Path]:
    """Rewrite every feed; returns the files written."""
    assert config.feed is not None and config.feed_path is not None
    folder = config.feed_path
    folder.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    limit = config.feed.entries
    written: list[Path] = []
    files = feed_files(config)

    for watch in config.watch:
        name = files[watch.name]
        hits = store.watches.announced(watch.name, limit)
        articles = store.articles.get(p for p, _ in hits)
        xml = render_feed(
            feed_id=f"{ID_PREFIX}watch:{name}",
            title=f"litwatch: {watch.name}",
            subtitle=f"New PubMed articles for the search: {watch.query}",
            alternate=f"https://pubmed.ncbi.nlm.nih.gov/?term={quote_plus(watch.query)}",
            self_url=_self_url(config, name),
            entries=[(articles[p], seen, f"Found by the watch “{watch.name}”.") for p, seen in hits if p in articles],
            now=now,
        )
        written.append(write_atomic(folder / f"{name}.xml", xml, 0o644))

    citing = store.citations.announced(limit)
    cited = {c for _, _, papers in citing for c in papers}
    tracked_articles = store.articles.get(cited)
    articles = store.articles.get(p for p, _, _ in citing)
    entries = []
    for pmid, seen, papers in citing:
        if pmid in articles:
            reason = "Cites " + "; ".join(_paper_label(p, tracked_articles.get(p)) for p in papers) + "."
            entries.append((articles[pmid], seen, reason))
    xml = render_feed(
        feed_id=f"{ID_PREFIX}citations",
        title="litwatch: new citations of tracked papers",
        subtitle="Articles newly citing the papers litwatch tracks.",
        alternate=None,
        self_url=_self_url(config, CITATIONS_FEED),
        entries=entries,
        now=now,
    )
    written.append(write_atomic(folder / f"{CITATIONS_FEED}.xml", xml, 0o644))
    return written


def _self_url(config: Config, name: str) -> str | None:
    base = config.feed.base_url if config.feed else None
    return f"{base}{name}.xml" if base else None


def _paper_label(pmid: str, article: Article | None) -> str:
    if article is None:
        return f"PMID {pmid}"
    who = f"{article.first_author} {article.year or ''}".strip()
    return f"{who}, “{article.title}” (PMID {pmid})" if who else f"“{article.title}” (PMID {pmid})"


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _when(stamp: str) -> datetime:
    value = datetime.fromisoformat(stamp)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def citation_line(article: Article) -> str:
    """'Am J Hematol. 2025;100(2):123-129. doi:10.1002/ajh.1' with the parts known (a book's or
    chapter's: 'In: GeneReviews®. Seattle (WA): University of Washington, Seattle; 1993.')."""
    if article.is_book:
        return article.book_citation + (f" doi:{article.doi}" if article.doi else "")
    text = article.journal_iso or article.journal
    year = article.pub_date.display() or (str(article.year) if article.year else "")
    if year:
        text += f". {year}" if text else year
    if article.volume:
        text += f";{article.volume}" + (f"({article.issue})" if article.issue else "")
    if article.pages:
        text += f":{article.pages}"
    if article.doi:
        text += f". doi:{article.doi}"
    return text


def render_feed(
    *,
    feed_id: str,
    title: str,
    subtitle: str,
    alternate: str | None,
    self_url: str | None,
    entries: Iterable[tuple[Article, str, str]],
    now: datetime,
) -> bytes:
    """An Atom document: entries are (article, first seen as ISO time, why it is listed), newest first."""
    entries = list(entries)
    fg = FeedGenerator()
    fg.id(feed_id)
    fg.title(_clean(title))
    fg.subtitle(_clean(subtitle))
    fg.author({"name": "litwatch"})
    fg.generator("litwatch")
    if alternate:
        fg.link(href=alternate, rel="alternate", type="text/html")
    if self_url:
        fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.updated(max((_when(seen) for _, seen, _ in entries), default=now))
    for article, seen, reason in entries:
        url = pubmed_url(article.pmid)
        fe = fg.add_entry(order="append")
        fe.id(f"{ID_PREFIX}pmid:{article.pmid}")
        fe.title(_clean(article.title or f"PMID {article.pmid}"))
        # One link: feedgen 1.0 writes only the href of an entry's links (lkiesow/python-feedgen#135),
        # so a second one (the DOI) would be a second rel="alternate" link, which Atom forbids.
        fe.link(href=url)
        names = [a.display for a in article.authors if a.display][:MAX_AUTHORS]
        if names:
            fe.author([{"name": _clean(n)} for n in names])
        updated = _when(seen)
        fe.updated(updated)
        if article.entrez_date:
            published = datetime.fromisoformat(article.entrez_date).replace(tzinfo=UTC)
            if published <= updated:
                fe.published(published)
        abstract = " ".join(article.abstract_text.split())
        if len(abstract) > SUMMARY_CHARS:
            abstract = abstract[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
        parts = [citation_line(article), reason, abstract]
        fe.summary(_clean("\n\n".join(p for p in parts if p)), type="text")
        for kind in article.publication_types:
            fe.category(term=_clean(kind))
    return bytes(fg.atom_str(pretty=True))


