"""Article lists as files people import elsewhere: RIS (reference managers) and CSV (spreadsheets).

Pure functions, no I/O: articles in, text out.  Used for the digest attachments and by
`litwatch export`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

import rispy

from litwatch.notifications.model import ArticleMemo, Entry
from litwatch.watchers.articles import Article, Author

__all__ = [
    "CSV_COLUMNS",
    "article_to_ris_record",
    "articles_to_csv",
    "articles_to_ris",
    "pubmed_url",
    "split_pages",
]

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"

CSV_COLUMNS: tuple[str, ...] = (
    "pmid",
    "title",
    "authors",
    "journal",
    "year",
    "doi",
    "pmcid",
    "publication_types",
    "watches",
    "cites",
    "url",
)

FORMATS = ("ris", "bibtex", "csv", "json")  # `litwatch export --format`



def pubmed_url(pmid: str) -> str:
    return PUBMED_URL.format(pmid=pmid)


def split_pages(pages: str) -> tuple[str, str]:
    """PubMed's MedlinePgn -> (start, end): '123-9' -> ('123', '129'); 'S12-S19' -> ('S12', 'S19');
    an e-locator is one article number, never a range: 'e70152' and 'e01965-19' stay whole."""
    pages = pages.strip()
    if not pages:
        return "", ""
    first = re.split(r"[,;]", pages)[0].strip()
    start, sep, end = first.partition("-")
    start, end = start.strip(), end.strip()
    if not sep or not end:
        return start, ""
    if start.isdigit() and end.isdigit():
        if len(end) < len(start):
            end = start[: len(start) - len(end)] + end  # PubMed abbreviates: 1234-56 means 1234-1256
        return start, end
    prefix = start.rstrip("0123456789")
    if prefix and start != prefix and end.startswith(prefix) and end[len(prefix) :].isdigit():
        return start, end  # S12-S19, e70001-e70009: a range of article numbers
    if prefix and start != prefix and end.isdigit():
        return first, ""  # e01965-19: PubMed's e-locator (a number with a suffix), not a range
    return start, end


# -- RIS ------------------------------------------------------------------------------------------


class _RisWriter(rispy.RisWriter):  # type: ignore[misc]  # rispy ships no type hints
    """rispy's writer without the '1.' counter line before each record (some importers choke)."""

    def set_header(self, count: int) -> str:
        return ""


def _one_line(text: str) -> str:
    """Runs of whitespace (str.isspace, as regex \\s) as one space, none at either end."""
    return " ".join(text.split())


def _ris_author(article_author: Author) -> str:
    if article_author.collective:
        return _one_line(article_author.collective)
    given = article_author.fore_name or article_author.initials
    suffix = f", {article_author.suffix}" if article_author.suffix else ""  # RIS: "Last, First, Suffix"
    if article_author.last_name and given:
        return _one_line(f"{article_author.last_name}, {given}{suffix}")
    return _one_line(article_author.last_name or given)


def _ris_date(article: Article) -> str:
    """RIS DA: 'YYYY/MM/DD' with the known parts ('2025/02/', '2025//')."""
    date = article.pub_date
    year = date.year or article.year
    if not year:
        return ""
    month = f"{date.month:02d}" if date.year and date.month else ""
    day = f"{date.day:02d}" if date.year and date.month and date.day else ""
    return f"{year}/{month}/{day}"


def article_to_ris_record(article: Article) -> dict[str, Any]:
    """One Article as a rispy record (tag names as rispy keys; empty fields left out)."""
    start, end = split_pages(article.pages)
    year = article.year
    record: dict[str, Any] = {
        "type_of_reference": "JOUR",
        "title": _one_line(article.title),
        "authors": [a for a in (_ris_author(x) for x in article.authors) if a],
        "year": str(year) if year else "",
        "date": _ris_date(article),
        "journal_name": article.journal or article.journal_iso,
        "secondary_title": article.journal or article.journal_iso,
        "alternate_title1": article.journal_iso,
        "volume": article.volume,
        "number": article.issue,
        "start_page": start,
        "end_page": end,
        "doi": article.doi,
        "accession_number": article.pmid,
        "urls": [pubmed_url(article.pmid)],
        "abstract": _one_line(article.abstract_text),
        "keywords": [k for k in (_one_line(k) for k in article.keywords) if k],
        "language": article.language,
        "name_of_database": "PubMed",
    }
    if article.is_book:  # a chapter (CHAP, in the book T2) or a whole book (BOOK)
        record["type_of_reference"] = "CHAP" if article.record_type == "chapter" else "BOOK"
        record["journal_name"] = record["alternate_title1"] = ""
        record["secondary_title"] = article.book_title
        record["secondary_authors"] = [a for a in (_ris_author(x) for x in article.editors) if a]
        record["publisher"] = article.publisher
        record["place_published"] = article.publisher_location
        if article.bookshelf_url:
            record["urls"] = [pubmed_url(article.pmid), article.bookshelf_url]
    return {key: value for key, value in record.items() if value}


def articles_to_ris(articles: Iterable[Article | Entry]) -> str:
    """RIS text ('TY  - JOUR' ... 'ER  - ' per article, a blank line between), '' for no articles."""
    return "\n".join(_ris_text(a.article if isinstance(a, Entry) else a) for a in articles)


def _ris_of(article: Article) -> str:
    return str(rispy.dumps([article_to_ris_record(article)], implementation=_RisWriter))


_ris_text = ArticleMemo(_ris_of)  # each article's RIS text, kept across a run's digests


# -- CSV ------------------------------------------------------------------------------------------


def _csv_row(item: Article | Entry) -> list[str]:
    if isinstance(item, Entry):
        article, watches, cites = item.article, item.watches, tuple(p.pmid for p in item.cites)
    else:
        article, watches, cites = item, (), ()
    year = article.year
    return [
        article.pmid,
        _cell(article.title),
        _cell("; ".join(a.display for a in article.authors)),
        _cell(article.journal_iso or article.journal or article.book_title or article.publisher),
        str(year) if year else "",
        _cell(article.doi),
        _cell(article.pmcid),
        _cell("; ".join(article.publication_types)),
        _cell("; ".join(watches)),
        "; ".join(cites),
        pubmed_url(article.pmid),
    ]


def _cell(text: str) -> str:
    """Text a spreadsheet would run as a formula (= + - @ first) gets a leading ' (CSV injection)."""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def articles_to_csv(rows: Iterable[Article | Entry]) -> str:
    """CSV text with a header row (`CSV_COLUMNS`), RFC 4180 quoting and CRLF line ends.

    `rows` are Articles, or digest Entries (which add the `watches` and `cites` columns: watch
    names and cited tracked PMIDs, '; '-separated).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(_csv_row(row))
    return buffer.getvalue()
