"""Article lists as BibTeX, for LaTeX users (BibTeX and biber/biblatex both read it).

Written with bibtexparser (its writer does the layout and the enclosing); text fields are encoded
to LaTeX with pylatexenc (bibtexparser's own dependency): the characters special to LaTeX
(`{ } \\ % & $ # _ ~ ^`) are escaped and non-ASCII letters become accent macros (`{\\"u}`), so
classic BibTeX reads the file too.  Words with capitals after their first letter (ITP, BTK,
BGB-3111) and capitalised words after the first are braced, so styles that lower-case titles
keep them.  Braces are written as `\\textbraceleft{}` / `\\textbraceright{}`
(BibTeX counts an escaped `\\{` as a brace too: one in a title would end the field).  DOIs, PMCIDs
and URLs are written verbatim, so a value holding a brace, a backslash or a space (no real one
does) is left out rather than written: nothing in a record can end a field and add others (a DOI
`10.1/x}, title = {\\input{/etc/passwd}}` did).  Keys are `pmid<PMID>`: unique and stable.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import bibtexparser
from bibtexparser.library import Library
from bibtexparser.model import Block, Field
from bibtexparser.model import Entry as BibEntry
from pylatexenc.latexencode import RULE_DICT, UnicodeToLatexConversionRule, UnicodeToLatexEncoder

from litwatch.notifications.exports import pubmed_url, split_pages
from litwatch.notifications.model import Entry
from litwatch.watchers.articles import Article, Author

__all__ = ["article_to_bibtex_entry", "articles_to_bibtex", "latex"]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

_encoders: dict[bool, UnicodeToLatexEncoder] = {}


def _braces_balanced(text: str) -> bool:
    """True when every "}" closes an earlier "{" and none stays open."""
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def latex(text: str, *, balanced: bool | None = None) -> str:
    """Unicode text -> LaTeX: special characters escaped, non-ASCII as macros, whitespace collapsed.

    Braces are escaped as `\\{ \\}` when they pair up in the field (`balanced`, judged on `text`
    when not given), else all written as `\\textbraceleft` / `\\textbraceright`: BibTeX counts an
    escaped brace too, so a lone one would end the field early and let the rest add fields.
    """
    if balanced is None:
        balanced = _braces_balanced(text)
    encoder = _encoders.get(balanced)
    if encoder is None:
        rules: list[Any] = ["defaults"]
        if not balanced:
            braces = {ord("{"): r"\textbraceleft", ord("}"): r"\textbraceright"}
            rules.insert(0, UnicodeToLatexConversionRule(RULE_DICT, braces))
        encoder = _encoders[balanced] = UnicodeToLatexEncoder(
            conversion_rules=rules,
            replacement_latex_protection="braces-all",
            unknown_char_policy="keep",
            unknown_char_warning=False,
        )
    return str(encoder.unicode_to_latex(" ".join(text.split())))


def _protect_title(title: str) -> str:
    """LaTeX title, with words whose capitals must survive a style's lower-casing braced."""
    out = []
    balanced = _braces_balanced(title)
    for i, word in enumerate(title.split()):
        encoded = latex(word, balanced=balanced)
        letters = [c for c in word if c.isalpha()]
        keep_case = any(c.isupper() for c in letters[1:]) or (i > 0 and letters and letters[0].isupper())
        out.append("{" + encoded + "}" if keep_case else encoded)
    return " ".join(out)


_VERBATIM_RE = re.compile(r"[^\s{}\\]+")  # what a verbatim field (doi, url, pmcid) may hold


def _verbatim(value: str) -> str:
    """`value` for a field written as is, or '' (left out) when it holds what could end the field."""
    return value if _VERBATIM_RE.fullmatch(value) else ""


def _name(author: Author) -> str:
    if author.collective:
        return "{" + latex(author.collective) + "}"  # one name, never split at "and" or commas
    given = author.fore_name or author.initials
    last = "{" + latex(author.last_name) + "}" if " and " in author.last_name else latex(author.last_name)
    if author.suffix and last and given:
        return f"{last}, {latex(author.suffix)}, {latex(given)}"  # BibTeX's "von Last, Jr, First"
    return f"{last}, {latex(given)}" if given and last else last or latex(given)


def article_to_bibtex_entry(article: Article) -> BibEntry:
    """One Article as a bibtexparser Entry (values LaTeX-encoded, empty fields left out)."""

    start, end = split_pages(article.pages)
    pages = f"{start}--{end}" if end else start
    fields: list[Field] = []

    def add(key: str, value: str | None, *, enclosing: str | None = None) -> None:
        if value:
            fields.append(Field(key, value, enclosing=enclosing) if enclosing else Field(key, value))

    add("title", _protect_title(article.title))
    add("author", " and ".join(n for n in (_name(a) for a in article.authors) if n))
    add("journal", latex(article.journal or article.journal_iso))
    if article.journal_iso and article.journal_iso != article.journal:
        add("shortjournal", latex(article.journal_iso))
    add("year", str(article.year) if article.year else "")
    month = article.pub_date.month if article.pub_date.year else None
    add("month", MONTHS[month - 1] if month else "", enclosing="no-enclosing")
    add("volume", latex(article.volume))
    add("number", latex(article.issue))
    add("pages", latex(pages).replace("{\\textendash}", "--"))
    add("doi", _verbatim(article.doi))
    add("pmid", article.pmid if article.pmid.isdigit() else "")
    add("pmcid", _verbatim(article.pmcid))
    add("url", pubmed_url(article.pmid))
    add("abstract", latex(article.abstract_text))
    add("keywords", latex(", ".join(article.keywords)))
    add("language", latex(article.language))
    entry_type = "article"
    if article.is_book:  # @incollection (a chapter, in its book) or @book
        entry_type = "incollection" if article.record_type == "chapter" else "book"
        fields[:] = [f for f in fields if f.key not in ("journal", "shortjournal")]
        add("booktitle", _protect_title(article.book_title))
        add("editor", " and ".join(n for n in (_name(a) for a in article.editors) if n))
        add("publisher", latex(article.publisher))
        add("address", latex(article.publisher_location))
    return BibEntry(entry_type, f"pmid{article.pmid}", fields)


def articles_to_bibtex(articles: Iterable[Article | Entry]) -> str:
    """BibTeX text (one @article per article), '' for no articles."""

    entries: list[Block] = [article_to_bibtex_entry(a.article if isinstance(a, Entry) else a) for a in articles]
    if not entries:
        return ""
    library = Library(entries)
    text = bibtexparser.write_string(library)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
