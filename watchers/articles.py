"""The article model: PubMed XML in, typed `Article` records out.

Titles and abstract sections keep PubMed's inline markup (<i>, <b>, <sup>, <sub>, <u>) as *safe*
HTML: every other character is escaped, so `title_html` can be put in a page as is.  The `title`
property gives the plain text.  Any other element inside a title or abstract is dropped (its text
kept; MathML is flattened to text), and the tags kept carry no attributes.  Every other field is
plain (unescaped) text.

`parse_pubmed_xml` raises `NCBIXMLError` when the document cannot be read and `ArticleParseError`
("PMID 123: ...") when one record cannot be converted; no other exception escapes for bad input.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, NamedTuple

from litwatch.watchers import ncbi_xml
from litwatch.watchers.markup import INLINE_TAGS, html_to_text, sanitize, truncate_text
from litwatch.watchers.ncbi_xml import NCBIXMLError

__all__ = [
    "INLINE_TAGS",
    "AbstractSection",
    "Article",
    "ArticleParseError",
    "ArticleRecord",
    "article_records",
    "Author",
    "CommentCorrection",
    "NCBIXMLError",
    "PubDate",
    "html_to_text",
    "parse_pubmed_xml",
    "safe_inline_html",
]

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(_MONTH_NAMES, start=1)}
_SEASON_MONTHS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
# Stored text is capped: one hostile record must not make a message no server accepts (a 30 MB
# abstract made a 41 MB digest) nor grow the store.  Past a cap, text ends with "…" and lists stop.
MAX_TITLE_CHARS = 3_000  # the longest real titles are under 1,000
MAX_ABSTRACT_CHARS = 40_000  # all sections together; real abstracts stay far below 10,000
MAX_FIELD_CHARS = 1_000  # every other text field: names, journal, volume, identifiers, ...
MAX_AUTHORS = 6_000  # physics collaborations reach 5,000 (ATLAS + CMS, 2015)
MAX_LIST_ITEMS = 500  # keywords, MeSH headings, publication types, comments/corrections, databank ids
_YEAR_RE = re.compile(r"\d{4}")
# A publisher item identifier proper (Elsevier's S1569-9048(12)00312-6, ACP's 0003-4819-155-11-...):
# an ISSN first, or the year in brackets.  Any other pii is an article number or e-locator as the
# journal cites it (448, e01965-19, ENEURO.0089-19.2019, BSR20182466), which PubMed shows as pages.
_PUBLISHER_ITEM_ID_RE = re.compile(r"S?\d{4}-\d{3}[\dXx]|.*\(")


class ArticleParseError(ValueError):
    """One PubmedArticle could not be turned into an `Article`; `pmid` names it when known."""

    def __init__(self, message: str, pmid: str = "") -> None:
        self.pmid = pmid
        super().__init__(f"PMID {pmid}: {message}" if pmid else message)


# -- text helpers -----------------------------------------------------------------------------


def safe_inline_html(escaped: str, max_chars: int | None = None) -> str:
    """Escaped parser output -> safe HTML: only bare <i> <b> <sup> <sub> <u> tags kept (balanced,
    bounded in depth and number), MathML as text; see `litwatch.watchers.markup`."""
    return sanitize(escaped, max_chars=max_chars)


def _text(value: Any) -> str:
    """Plain text of an escaped parser string ('' for None)."""
    if not value:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    if len(value) > MAX_FIELD_CHARS:
        return truncate_text(html_to_text(value[: MAX_FIELD_CHARS * 8]), MAX_FIELD_CHARS)
    return html_to_text(value)


def _each(value: Any) -> Iterable[Any]:
    """The values stored under a key that one DTD repeats (plain list) and another does not."""
    if value is None:
        return ()
    if type(value) is list:
        return value
    return (value,)


def _int(value: Any) -> int | None:
    text = _text(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _month(value: Any) -> int | None:
    text = _text(value)
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) <= 2:
        number = int(text)
    else:
        number = _MONTH_NUMBERS.get(text[:3].lower(), 0)
    return number if 1 <= number <= 12 else None


def _iso_date(parts: Mapping[str, Any]) -> str:
    """'YYYY-MM-DD' from a Year/Month/Day element, or '' when incomplete or impossible."""
    year, month, day = _int(parts.get("Year")), _month(parts.get("Month")), _int(parts.get("Day"))
    if year is None or month is None or day is None:
        return ""
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class Author:
    """A person (last name, fore name, initials) or a collective (group) name."""

    last_name: str = ""
    fore_name: str = ""
    initials: str = ""
    collective: str = ""
    suffix: str = ""  # "Jr", "Sr", "3rd": father and son differ only here

    @property
    def display(self) -> str:
        """'Smith JA' ('Smith JA Jr' with a suffix) for a person, the group name for a collective."""
        if self.collective:
            return self.collective
        name = f"{self.last_name} {self.initials}".strip() or self.fore_name
        return f"{name} {self.suffix}" if self.suffix and name else name


@dataclass(frozen=True, slots=True)
class AbstractSection:
    """One section of an abstract; `label` is empty for unstructured abstracts."""

    label: str
    html: str  # safe HTML (escaped text with PubMed's inline markup kept)
    category: str = ""  # NlmCategory: BACKGROUND, METHODS, RESULTS, CONCLUSIONS, ...


@dataclass(frozen=True, slots=True)
class CommentCorrection:
    """A CommentsCorrections entry: RetractionIn, ErratumIn, ExpressionOfConcernIn, CommentIn, ..."""

    ref_type: str
    ref_source: str
    pmid: str = ""


@dataclass(frozen=True, slots=True)
class PubDate:
    """A publication date as PubMed gives it: year, optional month and day, or a free MedlineDate."""

    year: int | None = None
    month: int | None = None  # 1-12; seasons map to their first month
    day: int | None = None
    season: str = ""
    medline_date: str = ""  # e.g. "1998 Dec-1999 Jan"

    def display(self) -> str:
        """'2025 Feb 18', '1990 Spring', '1998 Dec-1999 Jan', '2025', or ''."""
        if self.medline_date:
            return self.medline_date
        if not self.year:
            return ""
        if self.season:
            return f"{self.year} {self.season}"
        if self.month and 1 <= self.month <= 12:
            text = f"{self.year} {_MONTH_NAMES[self.month - 1]}"
            return f"{text} {self.day}" if self.day else text
        return str(self.year)


@dataclass(frozen=True, slots=True)
class Article:
    """One PubMed record, as stored (JSON via `to_dict`/`from_dict`) and rendered."""

    pmid: str
    title_html: str
    authors: tuple[Author, ...] = ()
    journal: str = ""
    journal_iso: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""  # MedlinePgn as PubMed shows it ("123-9", or an e-locator such as "e01965-19")
    pub_date: PubDate = field(default_factory=PubDate)
    epub_date: str = ""  # ISO date (YYYY-MM-DD) of ArticleDate DateType="Electronic", or ""
    doi: str = ""
    pmcid: str = ""  # "PMC11840241"
    abstract: tuple[AbstractSection, ...] = ()
    publication_types: tuple[str, ...] = ()
    mesh_headings: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    language: str = ""
    comments_corrections: tuple[CommentCorrection, ...] = ()
    entrez_date: str = ""  # ISO date of PubMedPubDate PubStatus="entrez" (or "pubmed"), or ""
    publication_status: str = ""  # "ppublish", "epublish", "aheadofprint", ...
    databank_ids: tuple[str, ...] = ()  # e.g. ClinicalTrials.gov NCT numbers from DataBankList
    pii: str = ""  # the publisher's item identifier (ELocationID EIdType="pii"): not pages
    # Books (PubmedBookArticle: GeneReviews chapters, NCBI Bookshelf reports).  `record_type` is
    # "" for a journal article, "chapter" for a part of a book (title_html is the chapter's
    # title, book_title the book's), "book" for a whole book (title_html is the book's title).
    record_type: str = ""
    book_title: str = ""  # plain text
    publisher: str = ""
    publisher_location: str = ""
    editors: tuple[Author, ...] = ()
    book_accession: str = ""  # NCBI Bookshelf id, "NBK1403"

    @property
    def title(self) -> str:
        """The title as plain text."""
        return html_to_text(self.title_html)

    @property
    def abstract_text(self) -> str:
        """The abstract as plain text; structured sections as 'LABEL: text', one per line."""
        parts = []
        for section in self.abstract:
            text = html_to_text(section.html)
            if section.label:
                parts.append(f"{section.label}: {text}" if text else section.label)
            elif text:
                parts.append(text)
        return "\n".join(parts)

    @property
    def year(self) -> int | None:
        """Publication year: PubDate year, else MedlineDate's, else the e-pub or Entrez year."""
        if self.pub_date.year:
            return self.pub_date.year
        for text in (self.pub_date.medline_date, self.epub_date, self.entrez_date):
            match = _YEAR_RE.search(text)
            if match:
                return int(match.group())
        return None

    @property
    def first_author(self) -> str:
        """'Smith JA' (or the group name) for the first author, '' when there are none."""
        return self.authors[0].display if self.authors else ""

    @property
    def is_book(self) -> bool:
        """True for a book or a chapter of one (PubmedBookArticle)."""
        return bool(self.record_type)

    @property
    def book_citation(self) -> str:
        """'In: GeneReviews®. Seattle (WA): University of Washington, Seattle; 1993.' for a chapter,
        'Southampton (UK): NIHR Journals Library; 2017 Feb.' for a book ('' for a journal article)."""
        if not self.is_book:
            return ""
        place = ": ".join(p for p in (self.publisher_location, self.publisher) if p)
        tail = "; ".join(p for p in (place, self.pub_date.display()) if p)
        head = f"In: {self.book_title.rstrip('.')}" if self.book_title else ""
        text = ". ".join(p for p in (head, tail) if p)
        return text + "." if text else ""

    @property
    def bookshelf_url(self) -> str:
        """The NCBI Bookshelf page of a book or chapter ('' without a Bookshelf id)."""
        if not re.fullmatch(r"NBK\d{1,10}", self.book_accession):
            return ""
        return f"https://www.ncbi.nlm.nih.gov/books/{self.book_accession}/"

    @property
    def is_ahead_of_print(self) -> bool:
        """True while PubMed lists the article as published online ahead of print."""
        return self.publication_status == "aheadofprint"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (str, int, None, lists, dicts); `from_dict` reverses it."""
        data: dict[str, Any] = {}
        for name in _field_names(type(self)):  # type: ignore[arg-type]  # a class is hashable; typeshed's cache wants Hashable
            value = getattr(self, name)
            if isinstance(value, PubDate):
                value = _flat(value)
            elif isinstance(value, tuple):
                value = [_flat(v) if not isinstance(v, str) else v for v in value]
            data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Article:
        """Rebuild an Article from `to_dict` output (unknown keys ignored, missing ones defaulted)."""
        known = _known_fields(cls)  # type: ignore[arg-type]  # a class is hashable; typeshed's cache wants Hashable
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        kwargs["pmid"] = str(data["pmid"])
        for name, item_cls in _NESTED.items():
            if name in kwargs:
                kwargs[name] = tuple(_build(item_cls, item) for item in kwargs[name])
        for name in _STRING_TUPLES:
            if name in kwargs:
                kwargs[name] = tuple(str(item) for item in kwargs[name])
        if "pub_date" in kwargs:
            kwargs["pub_date"] = _build(PubDate, kwargs["pub_date"] or {})
        _cap_stored(kwargs)
        return cls(**kwargs)

    def to_json(self) -> str:
        """The stored form: `to_dict` as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Article:
        return cls.from_dict(json.loads(text))


def _cap_stored(kwargs: dict[str, Any]) -> None:
    """A record stored before text was capped (or markup bounded) is capped as it is read, so that
    nothing downstream (digest, attachments, feeds) ever gets it whole.  Costs a few len() calls."""
    title = kwargs.get("title_html")
    if isinstance(title, str) and len(title) > MAX_TITLE_CHARS:
        kwargs["title_html"] = sanitize(title, max_chars=MAX_TITLE_CHARS)
    sections = kwargs.get("abstract") or ()
    if sum(len(section.html) for section in sections) > MAX_ABSTRACT_CHARS:
        budget, capped = MAX_ABSTRACT_CHARS, []
        for section in sections:
            if budget <= 0:
                break
            html_text = sanitize(section.html, max_chars=budget)
            budget -= len(html_text)
            capped.append(AbstractSection(section.label[:200], html_text, section.category[:100]))
        kwargs["abstract"] = tuple(capped)
    for name in ("authors", "editors"):
        if len(kwargs.get(name) or ()) > MAX_AUTHORS:
            kwargs[name] = kwargs[name][:MAX_AUTHORS]
    for name in (*_STRING_TUPLES, "comments_corrections"):
        if len(kwargs.get(name) or ()) > MAX_LIST_ITEMS:
            kwargs[name] = kwargs[name][:MAX_LIST_ITEMS]


class ArticleRecord(NamedTuple):
    """An Article in its stored form (a row of the store's `articles` table): cheap to keep,
    to pass between processes and to store; `article()` decodes it."""

    pmid: str
    entrez_date: str
    data: str  # Article.to_json()

    @classmethod
    def of(cls, article: Article) -> ArticleRecord:
        return cls(article.pmid, article.entrez_date, article.to_json())

    def article(self) -> Article:
        return Article.from_json(self.data)


@functools.cache
def _field_names(cls: type[Any]) -> tuple[str, ...]:
    """The field names of a dataclass, in order (`fields()` is slow in a loop over many records)."""
    return tuple(f.name for f in fields(cls))


@functools.cache
def _known_fields(cls: type[Any]) -> frozenset[str]:
    """The field names of a dataclass, to look names up in."""
    return frozenset(_field_names(cls))  # type: ignore[arg-type]  # a class is hashable; typeshed's cache wants Hashable


def _flat(obj: Any) -> dict[str, Any]:
    """A leaf dataclass (Author, PubDate, ...) as a dict of its fields."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))}  # type: ignore[arg-type]  # a class is hashable; typeshed's cache wants Hashable


def _build(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """A leaf dataclass from a dict, ignoring keys it does not know."""
    try:
        return cls(**data)
    except TypeError:  # a key this version does not know (a record stored by another version)
        known = _known_fields(cls)  # type: ignore[arg-type]  # a class is hashable; typeshed's cache wants Hashable
        return cls(**{k: v for k, v in data.items() if k in known})


_NESTED: dict[str, type[Any]] = {
    "authors": Author,
    "editors": Author,
    "abstract": AbstractSection,
    "comments_corrections": CommentCorrection,
}
_STRING_TUPLES = ("publication_types", "mesh_headings", "keywords", "databank_ids")


# -- PubMed XML -> Article ----------------------------------------------------------------------


def parse_pubmed_xml(data: bytes, *, bad: list[ArticleParseError] | None = None) -> list[Article]:
    """Articles and books of an efetch PubmedArticleSet, in document order (deletions skipped).

    Raises NCBIXMLError when the document cannot be read.  A record that cannot be converted
    raises ArticleParseError, or, when a `bad` list is given, is appended to it and skipped, so
    that one broken record does not hold back the others.  Each record is converted as soon as
    its end tag is read, so the document is never in memory as one parsed tree.
    """
    out: list[Article] = []
    failed: list[ArticleParseError] = []

    def convert(item: Any) -> None:
        try:
            out.append(_article(item))
        except ArticleParseError as exc:
            failed.append(exc)

    record = ncbi_xml.read(data, escape=True, each=(("PubmedArticle", "PubmedBookArticle"), convert))
    tag = getattr(record, "tag", None)
    if tag != "PubmedArticleSet":
        raise NCBIXMLError(f"expected a PubmedArticleSet, found {tag or type(record).__name__}")
    if failed and bad is None:
        raise failed[0]
    if bad is not None:
        bad.extend(failed)
    return out


def article_records(data: bytes) -> tuple[list[ArticleRecord], list[tuple[str, str]]]:
    """The records of an efetch answer in their stored form, and (PMID, why) for each record that
    cannot be converted (PMID "" when it cannot even be named).  Raises NCBIXMLError when the
    document cannot be read.

    This is what a parse worker process runs (watchers.entrez): this module and Biopython's parser
    are all it imports.
    """
    bad: list[ArticleParseError] = []
    with _gc_paused():
        records = [ArticleRecord.of(a) for a in parse_pubmed_xml(data, bad=bad)]
    return records, [(exc.pmid, str(exc)) for exc in bad]


def worker_started(dtd_cache: str | None = None) -> None:
    """Run once in a parse worker process as it starts (watchers.entrez); `dtd_cache`: the folder of
    DTDs fetched at run time (watchers.dtds), read by this process's parser too.

    A worker is handed one multi-megabyte efetch answer after another.  glibc serves such
    buffers from mmap at first, but raises its threshold after the first is freed and then takes
    them from the heap, which grows and fragments over a long backfill (a worker seen at 70 MB
    instead of 42).  A fixed threshold (M_MMAP_THRESHOLD, 1 MiB) keeps them in mmap, returned to
    the system when freed.  Elsewhere (no glibc), nothing is changed.
    """
    ncbi_xml.use_dtd_cache(dtd_cache)
    try:
        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # -3: M_MMAP_THRESHOLD in glibc's malloc.h
    except (OSError, AttributeError):
        pass


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while an answer is parsed.

    Parsing 400 records allocates some 40,000 objects that stay alive until their record is
    converted; the collector, run every 700 allocations, would scan them over and over: about 40 %
    of the parse time.  The collector is switched back on (if it was on) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _article(item: Any) -> Article:
    """One PubmedArticle (or PubmedBookArticle) element -> Article; any failure becomes ArticleParseError."""
    pmid = ""
    try:
        if getattr(item, "tag", "") == "PubmedBookArticle":
            document = item["BookDocument"]
            book_data = item.get("PubmedBookData") or {}
            pmid = _text(document.get("PMID")) or _article_id(book_data, "pubmed")
            _check_pmid(pmid)
            return _convert_book(pmid, document, book_data)
        citation = item["MedlineCitation"]
        pubmed_data = item.get("PubmedData") or {}
        pmid = _text(citation.get("PMID"))
        if not pmid:
            pmid = _article_id(pubmed_data, "pubmed")
        _check_pmid(pmid)
        return _convert(pmid, citation, pubmed_data)
    except ArticleParseError:
        raise
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise ArticleParseError(f"cannot read PubmedArticle ({type(exc).__name__}: {exc})", pmid) from exc


def _check_pmid(pmid: str) -> None:
    if not pmid:
        raise ArticleParseError("PubmedArticle without a PMID")
    if not (pmid.isascii() and pmid.isdigit() and len(pmid) <= 12):
        raise ArticleParseError(f"invalid PMID {pmid[:40]!r}")


def _convert_book(pmid: str, document: Mapping[str, Any], book_data: Mapping[str, Any]) -> Article:
    """A PubmedBookArticle: a chapter (with its own ArticleTitle) or a whole book."""
    book = document["Book"]
    publisher = book.get("Publisher") or {}
    chapter_html = safe_inline_html(document.get("ArticleTitle") or "", MAX_TITLE_CHARS)
    book_html = safe_inline_html(book.get("BookTitle") or "", MAX_TITLE_CHARS)
    title_html = chapter_html or book_html
    if not title_html:
        title_html = safe_inline_html(document.get("VernacularTitle") or "", MAX_TITLE_CHARS)
    locations: dict[str, str] = {}
    for location in _each(book.get("ELocationID")):
        locations.setdefault(location.attributes.get("EIdType", ""), _text(location))
    own = _authors(document.get("AuthorList"))
    return Article(
        pmid=pmid,
        title_html=title_html,
        authors=own or _authors(book.get("AuthorList")),
        volume=_text(book.get("Volume")),
        pages=_pages(document.get("Pagination"), ""),
        pub_date=_pub_date(book.get("PubDate") or {}),
        doi=_article_id(document, "doi") or _article_id(book_data, "doi") or locations.get("doi", ""),
        pmcid=_article_id(document, "pmc") or _article_id(book_data, "pmc"),
        abstract=_abstract(document.get("Abstract")),
        publication_types=tuple(_text(t) for t in _capped(_each(document.get("PublicationType")))),
        keywords=tuple(_capped(k for k in map(_text, _lists(document.get("KeywordList"))) if k)),
        language=next((_text(lang) for lang in _each(document.get("Language"))), ""),
        entrez_date=_entrez_date(book_data.get("History")),
        publication_status=_text(book_data.get("PublicationStatus")),
        pii=locations.get("pii", ""),
        record_type="chapter" if chapter_html else "book",
        book_title=html_to_text(book_html) if chapter_html else "",
        publisher=_text(publisher.get("PublisherName")),
        publisher_location=_text(publisher.get("PublisherLocation")),
        editors=_authors(book.get("AuthorList"), "editors") + _authors(document.get("AuthorList"), "editors"),
        book_accession=_article_id(document, "bookaccession"),
    )


def _convert(pmid: str, citation: Mapping[str, Any], pubmed_data: Mapping[str, Any]) -> Article:
    article = citation["Article"]
    journal = article.get("Journal") or {}
    journal_issue = journal.get("JournalIssue") or {}
    title_html = safe_inline_html(article.get("ArticleTitle") or "", MAX_TITLE_CHARS)
    if not title_html:
        title_html = safe_inline_html(article.get("VernacularTitle") or "", MAX_TITLE_CHARS)
    locations: dict[str, str] = {}
    for location in _each(article.get("ELocationID")):
        locations.setdefault(location.attributes.get("EIdType", ""), _text(location))
    ids = _article_ids(pubmed_data)
    return Article(
        pmid=pmid,
        title_html=title_html,
        authors=_authors(article.get("AuthorList")),
        journal=_text(journal.get("Title")),
        journal_iso=_text(journal.get("ISOAbbreviation")),
        volume=_text(journal_issue.get("Volume")),
        issue=_text(journal_issue.get("Issue")),
        pages=_pages(article.get("Pagination"), locations.get("pii", "")),
        pub_date=_pub_date(journal_issue.get("PubDate") or {}),
        epub_date=_epub_date(article.get("ArticleDate")),
        doi=ids.get("doi") or locations.get("doi", ""),
        pmcid=ids.get("pmc", ""),
        abstract=_abstract(article.get("Abstract")),
        publication_types=tuple(_text(t) for t in _capped(_lists(article.get("PublicationTypeList")))),
        mesh_headings=tuple(
            _text(heading.get("DescriptorName")) for heading in _capped(_lists(citation.get("MeshHeadingList")))
        ),
        keywords=tuple(_capped(k for k in map(_text, _lists(citation.get("KeywordList"))) if k)),
        language=next((_text(lang) for lang in _each(article.get("Language"))), ""),
        comments_corrections=_comments_corrections(citation.get("CommentsCorrectionsList")),
        entrez_date=_entrez_date(pubmed_data.get("History")),
        publication_status=_text(pubmed_data.get("PublicationStatus")),
        databank_ids=_databank_ids(article.get("DataBankList")),
        pii=locations.get("pii") or ids.get("pii", ""),
    )


def _capped(items: Iterable[Any], n: int = MAX_LIST_ITEMS) -> Iterator[Any]:
    """The first `n` items."""
    return itertools.islice(items, n)


def _lists(value: Any) -> Iterable[Any]:
    """The items of a list element that may itself be repeated (e.g. several KeywordLists)."""
    for items in _each(value):
        yield from items


def _authors(value: Any, kind: str = "authors") -> tuple[Author, ...]:
    """The people of the AuthorLists of this Type ("authors", or "editors" of a book)."""
    authors: list[Author] = []
    for author_list in _each(value):
        if author_list.attributes.get("Type", "authors") != kind:
            continue
        for author in author_list:
            if len(authors) >= MAX_AUTHORS:
                break
            if author.attributes.get("ValidYN") == "N":
                continue  # a misspelt name PubMed keeps only for searching
            collective = _text(author.get("CollectiveName"))
            if collective:
                authors.append(Author(collective=collective))
                continue
            authors.append(
                Author(
                    last_name=_text(author.get("LastName")),
                    fore_name=_text(author.get("ForeName")),
                    initials=_text(author.get("Initials")),
                    suffix=_text(suffix) if (suffix := author.get("Suffix")) else "",
                )
            )
    return tuple(authors)


def _pages(pagination: Any, pii: str) -> str:
    """MedlinePgn as given (StartPage-EndPage without it); else an e-locator given as the pii
    ('e01965-19', '448': an article number, as PubMed cites it).  A publisher item identifier such as
    'S1569-9048(12)00312-6' is no page number and is never shown as one."""
    if pagination:
        pages = _text(pagination.get("MedlinePgn"))
        if pages:
            return pages
        start, end = _text(pagination.get("StartPage")), _text(pagination.get("EndPage"))
        if start:
            return f"{start}-{end}" if end else start
    if not pii or len(pii) > 40 or any(c.isspace() for c in pii) or _PUBLISHER_ITEM_ID_RE.match(pii):
        return ""
    return pii


def _pub_date(value: Mapping[str, Any]) -> PubDate:
    medline_date = _text(value.get("MedlineDate"))
    if medline_date:
        return PubDate(medline_date=medline_date)
    year = _int(value.get("Year"))
    season = _text(value.get("Season"))
    if season:
        return PubDate(year=year, month=_SEASON_MONTHS.get(season.lower()), season=season)
    month = _month(value.get("Month"))
    day = _int(value.get("Day")) if month else None
    if day is not None and not 1 <= day <= 31:
        day = None
    return PubDate(year=year, month=month, day=day)


def _epub_date(value: Any) -> str:
    for article_date in _each(value):
        if article_date.attributes.get("DateType", "Electronic") == "Electronic":
            iso = _iso_date(article_date)
            if iso:
                return iso
    return ""


def _article_ids(pubmed_data: Mapping[str, Any]) -> dict[str, str]:
    """IdType -> the first non-empty ArticleId of that type (one pass over the list)."""
    found: dict[str, str] = {}
    for article_id in _lists(pubmed_data.get("ArticleIdList")):
        id_type = article_id.attributes.get("IdType", "pubmed")
        if id_type not in found:
            text = _text(article_id)
            if text:
                found[id_type] = text
    return found


def _article_id(pubmed_data: Mapping[str, Any], id_type: str) -> str:
    for article_id in _lists(pubmed_data.get("ArticleIdList")):
        if article_id.attributes.get("IdType", "pubmed") == id_type:
            text = _text(article_id)
            if text:
                return text
    return ""


def _abstract(value: Any) -> tuple[AbstractSection, ...]:
    sections: list[AbstractSection] = []
    budget = MAX_ABSTRACT_CHARS
    for abstract in _each(value):
        for text in _each(abstract.get("AbstractText")):
            if budget <= 0:
                break
            attributes = text.attributes
            label = " ".join(attributes.get("Label", "")[: MAX_FIELD_CHARS * 2].split())
            if len(label) > 200:
                label = truncate_text(label, 200)
            html_text = safe_inline_html(text, budget)
            budget -= len(html_text)
            if label or html_text:
                category = attributes.get("NlmCategory", "")
                sections.append(AbstractSection(label, html_text, category[:100]))
    return tuple(sections)


def _comments_corrections(value: Any) -> tuple[CommentCorrection, ...]:
    """CommentIn, ErratumIn, RetractionIn, ... ('Cites' entries are reference lists: skipped)."""
    entries: list[CommentCorrection] = []
    for entry in _lists(value):
        ref_type = entry.attributes.get("RefType", "")
        if ref_type == "Cites":
            continue
        if len(entries) >= MAX_LIST_ITEMS:
            break
        entries.append(CommentCorrection(truncate_text(ref_type, 100), _text(entry.get("RefSource")), _text(entry.get("PMID"))))
    return tuple(entries)


def _entrez_date(history: Any) -> str:
    found: dict[str, str] = {}
    for pub_date in _lists(history):
        status = pub_date.attributes.get("PubStatus", "")
        if status in ("entrez", "pubmed") and status not in found:
            found[status] = _iso_date(pub_date)
    return found.get("entrez") or found.get("pubmed") or ""


def _databank_ids(value: Any) -> tuple[str, ...]:
    ids: list[str] = []
    for bank in _lists(value):
        for number in _lists(bank.get("AccessionNumberList")):
            text = _text(number)
            if text and text not in ids and len(ids) < MAX_LIST_ITEMS:
                ids.append(text)
    return tuple(ids)
