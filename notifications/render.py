"""Digest -> e-mail message.  Pure: data in, `EmailMessage` out; nothing is sent or stored here.

One message per `Digest`: a multipart/alternative text/plain + text/html body (wrapped in
multipart/mixed when RIS/CSV attachments are added).  Layout, in order:

1. a one-line summary;
2. retraction / correction notices on tracked papers (never cut by `max_items`);
3. "New citations of tracked papers": entries with `cites` (their watches named too, shown once);
4. new search hits grouped by watch, groups in order of first appearance (an article found by several
   watches is listed once, under its first watch, labelled "also: ...");
5. "...and N more" with a PubMed link for entries beyond the cap;
6. watch notes (baselines, query problems).

Order: entries with `cites` are listed first, in `Digest.entries` order; the other entries follow,
grouped by their first watch (`Entry.watches[0]`; groups in order of first appearance, entries in
`Digest.entries` order within a group).  So the pipeline should put each entry's watches in
priority order and the most important entries first; the cap cuts from the end of that listing.

Templates come from `templates_dir` (overrides, looked up first) then `notifications/templates`.
"""

from __future__ import annotations

import binascii
import email.generator
import email.headerregistry
import email.policy
import functools
import io
import re
import secrets
import textwrap
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from markupsafe import Markup, escape

from litwatch.notifications.exports import articles_to_csv, articles_to_ris, pubmed_url
from litwatch.notifications.links import DigestLinks
from litwatch.notifications.model import (
    ArticleMemo,
    Correction,
    Digest,
    Entry,
    PaperRef,
    SentNotice,
    WorkEntry,
    WorkRef,
)
from litwatch.watchers.articles import MAX_TITLE_CHARS, Article, html_to_text
from litwatch.watchers.markup import sanitize
from litwatch.watchers.tracked import CorrectionKind, correction_kind

__all__ = [
    "ATTACHMENT_BUDGET_BYTES",
    "ATTACHMENT_KINDS",
    "DEFAULT_LIST_ID",
    "HTML_BUDGET_BYTES",
    "format_authors",
    "highlight_terms",
    "publication_badges",
    "render_digest",
    "snippet",
    "subject_line",
    "trial_ids",
]

DEFAULT_LIST_ID = "litwatch digest <digest.litwatch.invalid>"
# Articles in the RIS/CSV attachments: 1,000 make a message of about 4 MB (RIS and CSV, base64),
# inside the 10 MB that many institutional mail servers accept; `litwatch export` gives them all.
ATTACH_MAX = 1000
# ... and at most this much in each file (a record's stored text is capped, see watchers.articles, but
# 1,000 records with the longest abstracts would still make 40 MB): the first articles that fit.
ATTACHMENT_BUDGET_BYTES = 3_000_000
HTML_BUDGET_BYTES = 100_000  # Gmail clips HTML bodies at ~102 KB
ATTACHMENT_KINDS = frozenset({"ris", "csv"})
TEXT_WIDTH = 72
MAX_MORE_URL_CHARS = 6000  # PubMed (and proxies) refuse much longer GET URLs

PUBMED_SEARCH_URL = "https://pubmed.ncbi.nlm.nih.gov/?term={term}"
DOI_URL = "https://doi.org/{doi}"
PMC_URL = "https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"
TRIAL_URL = "https://clinicaltrials.gov/study/{nct}"

SNIPPET_CHARS = 300  # opening of an abstract without a conclusions section
TOP_TITLE_CHARS = 90  # a ranked digest's subject names its top item, cut here
LOWER_LISTED = 50  # "N more, ranked lower": one line each for this many, then a PubMed link
CONCLUSION_CHARS = 400  # a long conclusions section is cut here


# -- counting and wording -------------------------------------------------------------------------


_PLURALS = {"expression of concern": "expressions of concern"}


@dataclass(frozen=True, slots=True)
class _SentKind:
    label: str  # "Retracted"
    verb: str  # "it has been retracted"
    counted_as: str  # "retraction" | "expression of concern" | "correction"
    alert: bool


# notices on articles a reader was sent, by the notice's RefType
_SENT_KINDS: dict[str, _SentKind] = {
    "RetractionOf": _SentKind("Retracted", "it has been retracted", "retraction", True),
    "ExpressionOfConcernFor": _SentKind(
        "Expression of concern", "it is the subject of an expression of concern", "expression of concern", True
    ),
    "ErratumFor": _SentKind("Correction", "a correction (erratum) has been published", "correction", False),
}
_OTHER_SENT = _SentKind("Notice", "it has a new notice", "correction", False)


def _and(names: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _sent_kind(notice: SentNotice) -> _SentKind:
    return _SENT_KINDS.get(notice.kind, _OTHER_SENT)


def _notice_kind(correction: Correction) -> CorrectionKind:
    return correction_kind(correction.kind)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or _PLURALS.get(singular, singular + 's'))}"


def _dedupe(entries: Iterable[Entry]) -> list[Entry]:
    """Entries by PMID, first occurrence wins; a repeated PMID's watches and cites are merged in."""
    merged: dict[str, Entry] = {}
    for entry in entries:
        pmid = entry.article.pmid
        if pmid not in merged:
            merged[pmid] = entry
            continue
        old = merged[pmid]
        merged[pmid] = replace(
            old,
            watches=old.watches + tuple(w for w in entry.watches if w not in old.watches),
            cites=old.cites + tuple(c for c in entry.cites if c not in old.cites),
            citation_sources=old.citation_sources
            + tuple(s for s in entry.citation_sources if s not in old.citation_sources),
        )
    return list(merged.values())


def _count_parts(digest: Digest, *, long: bool) -> list[str]:
    entries = _dedupe(digest.entries)
    hits = sum(1 for e in entries if not e.cites)
    citing = sum(1 for e in entries if e.cites) + sum(1 for w in digest.works if w.cites)
    preprints = sum(1 for w in digest.works if w.is_preprint and not w.cites)
    parts = []
    for counted_as in ("retraction", "expression of concern", "correction"):
        n = sum(1 for c in digest.sent_notices if _sent_kind(c).counted_as == counted_as)
        if n:
            parts.append(_count(n, counted_as) + (" of an article you were sent" if long and n == 1 else
                                                   " of articles you were sent" if long else " (sent article)"))
    if hits:
        parts.append(_count(hits, "new article"))
    if preprints:
        parts.append(_count(preprints, "new preprint"))
    if citing:
        tracked = " of a tracked paper" if citing == 1 else " of tracked papers"
        parts.append(_count(citing, "new citation") + (tracked if long else ""))
    for counted_as in ("retraction", "expression of concern", "correction"):
        n = sum(1 for c in digest.corrections if _notice_kind(c).counted_as == counted_as)
        if n:
            parts.append(_count(n, counted_as))
    return parts


def _problem_count(digest: Digest) -> int:
    return sum(1 for note in digest.notes if note.is_problem)


def subject_line(digest: Digest) -> str:
    """'[litwatch] 4 new articles, 1 new citation, 1 retraction', or '[litwatch] nothing new'.

    Query problems are added ('..., 1 watch problem') so a broken watch is not silent.  A ranked
    digest names its top item: '[litwatch] 4 new articles: Rilzabrutinib in ITP (LUNA 3)'.
    """
    parts = _count_parts(digest, long=False) or ["nothing new"]
    if parts == ["nothing new"] and (notes := len(digest.notes) - _problem_count(digest)):
        parts.append(_count(notes, "note"))
    if problems := _problem_count(digest):
        parts.append(_count(problems, "watch problem"))
    top = _top_entry(digest) if digest.ranked else None
    title = " ".join((top.article.title or "").split()) if top else ""
    return "[litwatch] " + ", ".join(parts) + (f": {_shorten(title, TOP_TITLE_CHARS)}" if title else "")


def _top_entry(digest: Digest) -> Entry | None:
    """The entry with the highest score (the first listed of equals)."""
    best: Entry | None = None
    for entry in digest.entries:
        if entry.score is not None and (best is None or entry.score > (best.score or 0.0)):
            best = entry
    return best


def _summary_line(digest: Digest, listed: int, total: int) -> str:
    text = _summary_counts(digest, listed, total)
    if digest.ranked and listed < total:
        n = total - listed
        text = text.replace(
            f" The first {listed} are listed here.",
            f" The {listed} ranked highest are listed here; {n} more, ranked lower, at the end.",
        )
    return text


def _summary_counts(digest: Digest, listed: int, total: int) -> str:
    parts = _count_parts(digest, long=True)
    if not parts:
        text = "Nothing new since the last digest."
        if digest.notes:
            text = f"Nothing new since the last digest; {_count(len(digest.notes), 'watch note')} below."
        return text
    if len(parts) > 1:
        text = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        text = parts[0]
    text = text[0].upper() + text[1:] + "."
    if listed < total:
        text += " The first is listed here." if listed == 1 else f" The first {listed} are listed here."
    if problems := _problem_count(digest):
        text += f" {_count(problems, 'watch problem')} listed at the end."
    return text


# -- per-article pieces (public helpers, also used by tests) --------------------------------------


def format_authors(article: Article) -> str:
    """'Smith J, Doe A, Roe B, et al., Last Z' when more than four authors; all of them otherwise."""
    names = [a.display for a in article.authors if a.display]
    if len(names) > 4:
        return ", ".join(names[:3]) + ", et al., " + names[-1]
    return ", ".join(names)


_BADGE_ORDER: tuple[tuple[str, str, bool], ...] = (
    # (publication type, lower-cased, badge text, alert)
    ("retracted publication", "Retracted Publication", True),
    ("expression of concern", "Expression of Concern", True),
    ("preprint", "Preprint", False),
    ("randomized controlled trial", "Randomized Controlled Trial", False),
    ("clinical trial, phase i", "Clinical Trial, Phase I", False),
    ("clinical trial, phase ii", "Clinical Trial, Phase II", False),
    ("clinical trial, phase iii", "Clinical Trial, Phase III", False),
    ("clinical trial, phase iv", "Clinical Trial, Phase IV", False),
    ("clinical trial", "Clinical Trial", False),
    ("meta-analysis", "Meta-Analysis", False),
    ("systematic review", "Systematic Review", False),
    ("review", "Review", False),
    ("practice guideline", "Practice Guideline", False),
    ("guideline", "Guideline", False),
    ("case reports", "Case Reports", False),
)


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    alert: bool = False


def publication_badges(publication_types: Iterable[str]) -> tuple[Badge, ...]:
    """Badges for the publication types a reader cares about, most important first.

    'Journal Article' and other noise are skipped; 'Clinical Trial' is dropped when a phase is
    given, 'Review' when it is a systematic review, 'Guideline' when it is a practice guideline.
    """
    have = {t.strip().lower() for t in publication_types}
    if any(t.startswith("clinical trial, phase") for t in have):
        have.discard("clinical trial")
    if "systematic review" in have:
        have.discard("review")
    if "practice guideline" in have:
        have.discard("guideline")
    return tuple(Badge(label, alert) for key, label, alert in _BADGE_ORDER if key in have)


_NCT_RE = re.compile(r"(?<![A-Za-z0-9])NCT\d{8}(?!\d)", re.IGNORECASE)


def trial_ids(article: Article) -> tuple[str, ...]:
    """ClinicalTrials.gov numbers from the DataBankList, the abstract and the title, in that order."""
    texts = [*article.databank_ids, *(s.html for s in article.abstract), article.title_html]
    found: dict[str, None] = {}
    for text in texts:
        if "nct" not in text.lower():  # (most texts: the regular expression is slow to say no)
            continue
        for match in _NCT_RE.finditer(text):
            found.setdefault(match.group(0).upper(), None)
    return tuple(found)


def _shorten(text: str, limit: int) -> str:
    """Cut `text` at a word boundary before `limit` characters and add '…'."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rfind(" ")
    if cut < limit * 0.6:
        cut = limit
    return text[:cut].rstrip(" ,;:-\u2013\u2014") + "\u2026"


def snippet(article: Article) -> tuple[str, str]:
    """(label, plain text): the conclusions of a structured abstract ('Conclusions', ...), or
    ('', the opening ~300 characters of the abstract cut at a word), or ('', '')."""
    for section in article.abstract:
        kind = (section.category or section.label).strip().upper()
        if kind.startswith("CONCLUSION"):
            text = html_to_text(section.html)
            if text:
                return "Conclusions", _shorten(text, CONCLUSION_CHARS)
    text = " ".join(article.abstract_text.split())
    return "", _shorten(text, SNIPPET_CHARS)


def _term_regex(terms: Iterable[str]) -> re.Pattern[str] | None:
    alternatives: list[str] = []
    for raw in terms:
        term = re.sub(r"\[[^\]]*\]\s*$", "", raw).strip().strip('"').strip()  # drop [tiab] etc.
        wildcard = term.endswith("*")
        term = term.rstrip("*").strip()
        if not term:
            continue
        body = r"\s+".join(re.escape(word) for word in term.split())
        alternatives.append(body + (r"\w*" if wildcard else r"(?:s|es)?"))
    if not alternatives:
        return None
    alternatives.sort(key=len, reverse=True)  # longest first: "BTK inhibitor" before "BTK"
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def highlight_terms(text: str, terms: Iterable[str]) -> Markup:
    """Escape plain `text` and wrap each key term (case-insensitive, whole words; 'term*' matches a
    prefix, plain terms also match their plural) in <strong>."""
    pattern = _term_regex(terms)
    if pattern is None:
        return Markup(escape(text))
    out: list[str] = []
    pos = 0
    for match in pattern.finditer(text):
        out.append(str(escape(text[pos : match.start()])))
        out.append(f"<strong>{escape(match.group(0))}</strong>")
        pos = match.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def _source_line(article: Article) -> str:
    """'Cancer Rep (Hoboken). 2025 Feb;8(2):e70152.' (the parts that are known); for a book or
    chapter 'In: GeneReviews®. Seattle (WA): University of Washington, Seattle; 1993.'"""
    if article.is_book:
        return article.book_citation
    journal = (article.journal_iso or article.journal).strip().rstrip(".")
    volume = article.volume
    if article.issue:
        volume += f"({article.issue})"
    if article.pages:
        volume += f":{article.pages}"
    date = article.pub_date.display()
    tail = ";".join(p for p in (date, volume) if p)
    return ". ".join(p for p in (journal, tail) if p) + ("." if journal or tail else "")


# -- view models handed to the templates ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class CitedPaper:
    label: str  # PaperRef.label()
    url: str


_SOURCE_NAMES = {"pubmed": "PubMed", "icite": "iCite", "europepmc": "Europe PMC", "openalex": "OpenAlex"}


@dataclass(frozen=True, slots=True)
class SentNoticeView:
    label: str  # "Retracted"
    paper: CitedPaper
    sent_on: str  # YYYY-MM-DD
    verb: str  # "it has been retracted"
    alert: bool
    notice_url: str
    notice_text: str  # "Retraction notice: Blood 2026 (PMID 123)"
    source: str  # "PubMed"


@dataclass(frozen=True, slots=True)
class WorkView:
    title: str
    url: str
    doi: str
    details: str  # "Smith J, Lee K. medRxiv, 2026."
    cites: tuple[CitedPaper, ...]
    via: str
    watches: tuple[str, ...]
    is_preprint: bool


def _sent_view(notice: SentNotice) -> SentNoticeView:
    kind = _sent_kind(notice)
    what = {"retraction": "Retraction notice", "expression of concern": "Expression of concern"}.get(
        kind.counted_as, "Notice"
    )
    text = f"{what}: " + (f"{notice.notice_source} (PMID {notice.notice_pmid})" if notice.notice_source
                          else f"PMID {notice.notice_pmid}")
    return SentNoticeView(
        label=kind.label,
        paper=CitedPaper(notice.paper.label(), pubmed_url(notice.paper.pmid)),
        sent_on=notice.sent_on,
        verb=kind.verb,
        alert=kind.alert,
        notice_url=pubmed_url(notice.notice_pmid) if notice.notice_pmid else "",
        notice_text=text,
        source=notice.source,
    )


def _work_details(work: WorkRef) -> str:
    parts = [p for p in (work.authors, work.venue, str(work.year) if work.year else "") if p]
    return ". ".join(p.rstrip(".") for p in parts) + ("." if parts else "")


def _work_view(entry: WorkEntry) -> WorkView:
    w = entry.work
    return WorkView(
        title=w.title or w.doi or w.key,
        url=w.url,
        doi=w.doi,
        details=_work_details(w),
        cites=tuple(CitedPaper(p.label(), pubmed_url(p.pmid)) for p in entry.cites),
        via=_and([_SOURCE_NAMES.get(s, s) for s in entry.citation_sources]),
        watches=entry.watches,
        is_preprint=entry.is_preprint,
    )


@dataclass(frozen=True, slots=True)
class EntryView:
    number: int
    pmid: str
    url: str
    title: str  # plain text
    title_html: Markup  # safe HTML from the article model
    authors: str
    source: str  # journal, date, volume(issue):pages
    ahead_of_print: bool
    epub_date: str
    badges: tuple[Badge, ...]
    trials: tuple[Link, ...]  # label = NCT number
    links: tuple[Link, ...]  # PubMed, DOI, free full text (PMC)
    snippet_label: str  # "Conclusions" or ""
    snippet_text: str
    snippet_html: Markup  # escaped, key terms in <strong>
    cites: tuple[CitedPaper, ...]
    watches: tuple[str, ...]  # all watches that found it
    also: tuple[str, ...]  # watches other than the group it is listed under
    via: str = ""  # where the citation was found: "PubMed", "iCite", "PubMed and iCite"
    actions: tuple[Link, ...] = ()  # [web]: Relevant, Not relevant, Track this paper (signed links)
    why: str = ""  # ranked digests: why it is where it is ("randomised trial · 'x' in the title")
    preprint: Link | None = None  # the preprint this article is the journal version of
    preprint_details: str = ""
    journal: str = ""  # the journal's name


@dataclass(frozen=True, slots=True)
class NoticeView:
    label: str  # "Retracted"
    paper: CitedPaper
    verb: str  # "has been retracted"
    alert: bool
    notice_url: str  # '' when the notice has no PMID
    notice_text: str  # RefSource, or "PMID n", or ''


@dataclass(frozen=True, slots=True)
class GroupView:
    watch: str  # '' for entries without a watch
    title: str  # heading
    query: str
    query_url: str
    entries: tuple[EntryView, ...]


@dataclass(frozen=True, slots=True)
class MoreView:
    count: int
    url: str
    url_count: int  # how many of the `count` PMIDs the URL lists (PubMed URL length limit)


@dataclass(frozen=True, slots=True)
class LowerItem:
    pmid: str
    url: str
    title: str  # plain text, shortened
    why: str


@dataclass(frozen=True, slots=True)
class LowerView:
    """A ranked digest's entries below `max_items` or `min_score`: one line each, highest first."""

    count: int
    items: tuple[LowerItem, ...]  # the first LOWER_LISTED of them
    url: str  # PubMed, listing them (up to url_count)
    url_count: int


@dataclass(frozen=True, slots=True)
class NoteView:
    watch: str
    text: str
    is_problem: bool


def _article_view(article: Article) -> EntryView:
    """What an entry shows of its article alone (number, terms and the entry's own parts left
    empty), made once per article a run (`_article_views`)."""
    links = [Link("PubMed", pubmed_url(article.pmid))]
    if article.bookshelf_url:
        links.append(Link("NCBI Bookshelf", article.bookshelf_url))
    if article.doi:
        links.append(Link("DOI", DOI_URL.format(doi=urllib.parse.quote(article.doi, safe="/:;()"))))
    if article.pmcid:
        pmcid = article.pmcid if article.pmcid.upper().startswith("PMC") else "PMC" + article.pmcid
        links.append(Link("Free full text (PMC)", PMC_URL.format(pmcid=pmcid)))
    label, text = snippet(article)
    return EntryView(
        number=0,
        pmid=article.pmid,
        url=pubmed_url(article.pmid),
        title=article.title or f"PMID {article.pmid}",
        # sanitized again: a record stored by an older version may hold unbounded markup
        title_html=Markup(sanitize(article.title_html, max_chars=MAX_TITLE_CHARS) or escape(f"PMID {article.pmid}")),
        authors=format_authors(article),
        source=_source_line(article),
        ahead_of_print=article.is_ahead_of_print,
        epub_date=article.epub_date,
        badges=publication_badges(article.publication_types),
        trials=tuple(Link(nct, TRIAL_URL.format(nct=nct)) for nct in trial_ids(article)),
        links=tuple(links),
        snippet_label=label,
        snippet_text=text,
        snippet_html=Markup(""),
        cites=(),
        watches=(),
        also=(),
        journal=article.journal or article.journal_iso,
    )


_article_views = ArticleMemo(_article_view)


@functools.lru_cache(maxsize=4096)
def _highlighted(text: str, terms: tuple[str, ...]) -> Markup:
    return highlight_terms(text, terms)


def _entry_view(
    entry: Entry, number: int, group_watch: str | None, watch_terms: Mapping[str, Sequence[str]]
) -> EntryView:
    shown = _article_views(entry.article)
    terms: list[str] = []
    for watch in entry.watches:
        terms.extend(watch_terms.get(watch, ()))
    also = tuple(w for w in entry.watches if w != group_watch) if group_watch is not None else ()
    return replace(
        shown,
        number=number,
        snippet_html=_highlighted(shown.snippet_text, tuple(terms)),
        cites=tuple(CitedPaper(p.label(), pubmed_url(p.pmid)) for p in entry.cites),
        watches=entry.watches,
        also=also,
        via=_and([_SOURCE_NAMES.get(s, s) for s in entry.citation_sources]),
        preprint=Link(entry.preprint.title, entry.preprint.url) if entry.preprint else None,
        preprint_details=_work_details(entry.preprint) if entry.preprint else "",
        why=entry.why,
    )


def _notice_view(correction: Correction) -> NoticeView:
    kind = _notice_kind(correction)
    paper: PaperRef = correction.paper
    if correction.notice_pmid:
        notice_url = pubmed_url(correction.notice_pmid)
        notice_text = correction.notice_source or f"PMID {correction.notice_pmid}"
    else:
        notice_url, notice_text = "", correction.notice_source
    return NoticeView(
        label=kind.label,
        paper=CitedPaper(paper.label(), pubmed_url(paper.pmid)),
        verb=kind.verb,
        alert=kind.alert,
        notice_url=notice_url,
        notice_text=notice_text,
    )


def _more_view(rest: Sequence[Entry]) -> MoreView | None:
    if not rest:
        return None
    pmids: list[str] = []
    length = len(PUBMED_SEARCH_URL)
    for entry in rest:
        piece = len(urllib.parse.quote(entry.article.pmid, safe="")) + 3  # "%2C"
        if length + piece > MAX_MORE_URL_CHARS and pmids:
            break
        pmids.append(entry.article.pmid)
        length += piece
    url = PUBMED_SEARCH_URL.format(term=urllib.parse.quote(",".join(pmids), safe=""))
    return MoreView(count=len(rest), url=url, url_count=len(pmids))


def _lower_view(rest: Sequence[Entry]) -> LowerView | None:
    more = _more_view(rest)
    if more is None:
        return None
    items = tuple(
        LowerItem(
            pmid=e.article.pmid,
            url=pubmed_url(e.article.pmid),
            title=_shorten(" ".join((e.article.title or f"PMID {e.article.pmid}").split()), 110),
            why=e.why,
        )
        for e in rest[:LOWER_LISTED]
    )
    return LowerView(count=more.count, items=items, url=more.url, url_count=more.url_count)


def _split_ranked(ordered: Sequence[Entry], limit: int, min_score: float | None) -> tuple[list[Entry], list[Entry]]:
    """(listed in listing order, ranked lower by score): the `limit` best scores at or above
    `min_score` are listed; every other entry is ranked lower, none is dropped."""
    index = {id(e): i for i, e in enumerate(ordered)}
    eligible = [e for e in ordered if min_score is None or e.score is None or e.score >= min_score]
    by_score = sorted(eligible, key=lambda e: (-(e.score if e.score is not None else 0.0), index[id(e)]))
    chosen = {id(e) for e in by_score[:limit]}
    listed = [e for e in ordered if id(e) in chosen]
    rest = sorted(
        (e for e in ordered if id(e) not in chosen),
        key=lambda e: (-(e.score if e.score is not None else 0.0), index[id(e)]),
    )
    return listed, rest


def _query_url(query: str) -> str:
    return PUBMED_SEARCH_URL.format(term=urllib.parse.quote(query, safe="")) if query else ""


def _ordered(digest: Digest) -> tuple[list[Entry], list[tuple[str, list[Entry]]]]:
    """(citing entries, [(watch, hit entries)]) in listing order."""
    entries = _dedupe(digest.entries)
    citations = [e for e in entries if e.cites]
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        if not entry.cites:
            groups.setdefault(entry.watches[0] if entry.watches else "", []).append(entry)
    return citations, list(groups.items())


# -- templates ------------------------------------------------------------------------------------


def _wrap(text: Any, indent: str = "", first: str | None = None, width: int = TEXT_WIDTH) -> str:
    """Jinja filter for the text part: fill to `width` columns, never breaking words or URLs."""
    return _fill(" ".join(str(text).split()), indent, first, width)


@functools.lru_cache(maxsize=8192)
def _fill(text: str, indent: str, first: str | None, width: int) -> str:
    """`_wrap`, remembered: a department's digests list the same articles for many readers."""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's cache of compiled templates, in a private folder of the system's temporary
    directory (Jinja checks that it is this user's, mode 0700): a run from cron then loads the
    templates compiled by the one before (2 ms) instead of compiling them (40 ms).  A template
    whose source changed is compiled again.  None when no such folder can be had."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders.append(jinja2.PackageLoader("litwatch.notifications", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        bytecode_cache=_bytecode_cache(),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2", "htm")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    return env


_INLINER = css_inline.CSSInliner(keep_at_rules=True, minify_css=True, load_remote_stylesheets=False)


def _render_text(env: jinja2.Environment, context: dict[str, Any]) -> str:
    text = env.get_template("digest.txt.j2").render(context)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"


def _render_html(env: jinja2.Environment, context: dict[str, Any]) -> str:
    return _INLINER.inline(env.get_template("digest.html.j2").render(context))


# -- the message ----------------------------------------------------------------------------------


def _set_header(message: EmailMessage, name: str, value: str, width: int = 78) -> None:
    """Set a header, folding a long ASCII value at spaces ourselves.

    Python's folder moves a value that fits on a line of its own to the next line ("Subject:" CRLF
    " [litwatch] ..."), and parsers then return it with a leading space; folding at the last space
    that fits keeps "Subject: [litwatch] ..." on the first line.  Reading the header back from the
    message gives the unfolded value.
    """
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must be a single line")
    if not value.isascii() or len(name) + 2 + len(value) <= width:
        message[name] = value
        return
    lines: list[str] = []
    current = ""
    room = width - len(name) - 2
    for word in value.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and len(candidate) > room:
            lines.append(current)
            current, room = word, width - 1
        else:
            current = candidate
    lines.append(current)
    message.set_raw(name, "\r\n ".join(lines))



class _KeptHeaders(email.headerregistry.HeaderRegistry):
    """The email package's header registry, keeping the headers every digest of a run sets alike
    (Content-Type, MIME-Version, From, ...): its parser is pure Python, and parsing them again for
    each digest took a tenth of its rendering.  A header object is an immutable string."""

    ALIKE = frozenset({
        "content-type", "content-transfer-encoding", "content-disposition", "mime-version", "from",
        "list-id", "auto-submitted", "x-auto-response-suppress", "precedence", "list-unsubscribe-post",
    })  # fmt: skip
    KEEP = 256

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[tuple[str, str], Any] = {}

    def __call__(self, name: str, value: Any) -> Any:
        if not isinstance(value, str) or name.lower() not in self.ALIKE:
            return super().__call__(name, value)
        header = self._kept.get((name, value))
        if header is None:
            if len(self._kept) >= self.KEEP:
                self._kept.clear()
            header = self._kept[(name, value)] = super().__call__(name, value)
        return header


DIGEST_POLICY = email.policy.SMTP.clone(header_factory=_KeptHeaders())


class _BodyGenerator(email.generator.BytesGenerator):
    """BytesGenerator writing each body in one piece: the stdlib's `_write_lines` writes a body
    line by line (two calls a line, some 4,000 for a digest), the same bytes as one substitution."""

    _NL: str  # (set by flatten: the policy's line separator)

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(_NEWLINES.sub(self._NL, lines))


_NEWLINES = re.compile(r"\r\n|\r|\n")  # (email.generator's NLCRE)


def message_bytes(message: EmailMessage) -> bytes:
    """`message.as_bytes()`, the same bytes, written faster (`_BodyGenerator`)."""
    out = io.BytesIO()
    _BodyGenerator(out, mangle_from_=False, policy=message.policy).flatten(message, unixfrom=False)
    return out.getvalue()


def _quoted_printable(part: MIMEPart, body: str) -> None:
    """Encode a text part quoted-printable with binascii's encoder (C; the email package's own is
    pure Python and took a tenth of a large digest's rendering)."""
    body = body if body.endswith("\n") else body + "\n"  # (as set_content ends a body)
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    part.replace_header("Content-Transfer-Encoding", "quoted-printable")


def _attachment_files(entries: Sequence[Entry], kinds: Sequence[str]) -> tuple[Sequence[Entry], dict[str, str]]:
    """The entries the attachments hold and each attachment's text: the first entries, as many as
    keep every file under `ATTACHMENT_BUDGET_BYTES` (at least one)."""
    writers = {"ris": articles_to_ris, "csv": articles_to_csv}
    count = len(entries)
    while True:
        files = {kind: writers[kind](entries[:count]) for kind in kinds}
        size = max((len(text.encode("utf-8")) for text in files.values()), default=0)
        if size <= ATTACHMENT_BUDGET_BYTES or count <= 1:
            return entries[:count], files
        count = max(1, min(count - 1, int(count * ATTACHMENT_BUDGET_BYTES / size * 0.95)))


def render_digest(
    digest: Digest,
    *,
    sender: str,
    message_id: str,
    max_items: int = 50,
    attach: Sequence[str] = ("ris",),
    templates_dir: Path | None = None,
    list_id: str = DEFAULT_LIST_ID,
    links: DigestLinks | None = None,
) -> EmailMessage:
    """Render `digest` as one e-mail (policy `email.policy.SMTP`: CRLF, folded headers).

    `message_id` is used as given ('<id@host>', e.g. from `email.utils.make_msgid()`; a bare id is
    wrapped in '<>').  At most `max_items` entries are listed, corrections included (they are never
    cut; citations go before search hits); the rest get a PubMed link, and the listed entries are cut
    further if the inlined HTML would exceed `HTML_BUDGET_BYTES`.  `attach` ⊆ {"ris", "csv"}: files
    with ALL the digest's articles, only when there are any.  `links` ([web]): each entry gets
    its "relevant", "not relevant" and "track this paper" links, the footer the reader's page and
    unsubscribe links, and the message the List-Unsubscribe headers (RFC 2369, one-click: RFC 8058).
    """
    unknown = set(attach) - ATTACHMENT_KINDS
    if unknown:
        raise ValueError(f"unknown attachment kinds: {sorted(unknown)}")
    if max_items < 0:
        raise ValueError("max_items must be >= 0")

    env = _environment(str(templates_dir) if templates_dir is not None else None)
    citations, groups = _ordered(digest)
    ordered = citations + [e for _, entries in groups for e in entries]
    stamp = digest.created.strftime("%Y-%m-%d")
    if digest.ranked:  # attached: what is listed, then what is ranked lower, highest first
        first, lower = _split_ranked(ordered, max(0, max_items - len(digest.corrections)), digest.min_score)
        to_attach = (first + lower)[:ATTACH_MAX]
    else:
        to_attach = ordered[:ATTACH_MAX]
    attachments: list[tuple[str, str]] = []
    if ordered:
        if "ris" in attach:
            attachments.append(("ris", f"litwatch-{stamp}.ris"))
        if "csv" in attach:
            attachments.append(("csv", f"litwatch-{stamp}.csv"))
    attached, files = _attachment_files(to_attach, [kind for kind, _ in attachments])

    notices = [_notice_view(c) for c in digest.corrections]
    sent_notices = [_sent_view(n) for n in digest.sent_notices]
    cited_works = [_work_view(w) for w in digest.works if w.cites]
    new_preprints = [_work_view(w) for w in digest.works if not w.cites]
    notes = [NoteView(n.watch, n.text, n.is_problem) for n in digest.notes]
    subject = subject_line(digest)

    actions: dict[str, tuple[Link, ...]] = {}

    def view(entry: Entry, number: int, group_watch: str | None) -> EntryView:
        v = _entry_view(entry, number, group_watch, digest.watch_terms)
        if links is None:
            return v
        pmid = entry.article.pmid
        if pmid not in actions:
            item = links.item(pmid)
            actions[pmid] = (
                Link("Relevant", item.relevant),
                Link("Not relevant", item.not_relevant),
                Link("Track this paper", item.track),
            )
        return replace(v, actions=actions[pmid])

    def build(limit: int) -> dict[str, Any]:
        if digest.ranked:
            listed, rest = _split_ranked(ordered, limit, digest.min_score)
        else:
            listed, rest = ordered[:limit], ordered[limit:]
        listed_pmids = {e.article.pmid for e in listed}
        number = 0
        citation_views = []
        for entry in citations:
            if entry.article.pmid in listed_pmids:
                number += 1
                citation_views.append(view(entry, number, None))
        group_views = []
        for watch, entries in groups:
            views = []
            for entry in entries:
                if entry.article.pmid in listed_pmids:
                    number += 1
                    views.append(view(entry, number, watch))
            if views:
                query = digest.watch_queries.get(watch, "")
                group_views.append(
                    GroupView(
                        watch=watch,
                        title=watch or "Other new articles",
                        query=query,
                        query_url=_query_url(query),
                        entries=tuple(views),
                    )
                )
        context: dict[str, Any] = {
            "subject": subject,
            "summary": _summary_line(digest, len(listed), len(ordered)),
            "recipient": digest.recipient,
            "date": stamp,
            "notices": notices,
            "sent_notices": sent_notices,
            "cited_works": cited_works,
            "preprints": new_preprints,
            "citations": citation_views,
            "groups": group_views,
            "more": None if digest.ranked else _more_view(rest),
            "lower": _lower_view(rest) if digest.ranked else None,
            "notes": notes,
            "attachments": [name for _, name in attachments],
            "attached": len(attached),
            "total": len(ordered),
            "home_url": links.home if links else "",
            "unsubscribe_url": (links.unsubscribe or "") if links else "",
        }
        return context

    limit = min(len(ordered), max(0, max_items - len(digest.corrections) - len(digest.sent_notices)))
    if digest.ranked and digest.min_score is not None:
        limit = min(limit, sum(1 for e in ordered if e.score is None or e.score >= digest.min_score))
    context = build(limit)
    html = _render_html(env, context)
    while limit > 0 and len(html.encode("utf-8")) > HTML_BUDGET_BYTES:
        size = len(html.encode("utf-8"))
        limit = max(0, min(limit - 1, int(limit * HTML_BUDGET_BYTES / size * 0.97)))
        context = build(limit)
        html = _render_html(env, context)
    text = _render_text(env, context)  # (once: the HTML decides how many are listed)

    message = EmailMessage(policy=DIGEST_POLICY)
    message["From"] = sender
    message["To"] = digest.recipient
    _set_header(message, "Subject", subject)
    message["Date"] = format_datetime(digest.created)
    message["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    message["List-Id"] = list_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["Precedence"] = "bulk"
    if links is not None and links.unsubscribe:
        # one line (a URL cannot be folded; RFC 5322 allows 998 characters): never encoded words
        message.set_raw("List-Unsubscribe", f"<{links.unsubscribe}>")
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text, subtype="plain", charset="utf-8", cte="8bit")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="8bit")
    for part, body in zip(message.iter_parts(), (text, html), strict=True):
        _quoted_printable(part, body)
    for kind, filename in attachments:
        if kind == "ris":
            message.add_attachment(
                files[kind].encode("utf-8"),
                maintype="application",
                subtype="x-research-info-systems",
                filename=filename,
            )
        else:
            message.add_attachment(files[kind], subtype="csv", charset="utf-8", filename=filename)
    for part in message.walk():
        if part is not message:
            del part["MIME-Version"]  # only the top level needs it
        if part.is_multipart():
            # A random boundary of our own: the generator would otherwise search every body for
            # a collision with its own (a tenth of a digest's rendering time).
            part.set_boundary(f"==============={secrets.randbelow(10**19):019d}==")  # (the stdlib's shape)
    return message
