"""Article lists as BibTeX, for LaTeX users (BibTeX and biber/biblatex both read it).

Written with bibtexparser (its writer does the layout and the enclosing); text fields are encoded
to LaTeX with pylatexenc (bibtexparser's own dependency): the characters special to LaTeX
(`{ } \\ % & $ # _ ~ ^`) are escaped and non-ASCII letters become accent macros (`{\\"u}`), so
classic BibTeX reads the file too.  Words with capitals after their first letter (ITP, BTK,
BGB-3111) and capitalised words after the first are braced, so styles that lower-case titles
keep them.  DOIs and URLs are written verbatim.  Keys are `pmid<PMID>`: unique and stable.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import bibtexparser
from bibtexparser.library import Library
from bibtexparser.model import Block, Field
from bibtexparser.model import Entry as BibEntry
from pylatexenc.latexencode import UnicodeToLatexEncoder

from litwatch.notifications.exports import pubmed_url, split_pages
from litwatch.notifications.model import Entry
from litwatch.watchers.articles import Article, Author

__all__ = ["article_to_bibtex_entry", "articles_to_bibtex", "latex"]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

_encoder = None


def latex(text: str) -> str:
    """Unicode text -> LaTeX: special characters escaped, non-ASCII as macros, whitespace collapsed."""
    global _encoder  # noqa: PLW0603 - built once, on first use
    if _encoder is None:
        _encoder = UnicodeToLatexEncoder(
            conversion_rules=["defaults"],
            replacement_latex_protection="braces-all",
            unknown_char_policy="keep",
            unknown_char_warning=False,
        )
    return str(_encoder.unicode_to_latex(" ".join(text.split())))


def _protect_title(title: str) -> str:
    """LaTeX title, with words whose capitals must survive a style's lower-casing braced."""
    out = []
    for i, word in enumerate(title.split()):
        encoded = latex(word)
        letters = [c for c in word if c.isalpha()]
        keep_case = any(c.isupper() for c in letters[1:]) or (i > 0 and letters and letters[0].isupper())
        out.append("{" + encoded + "}" if keep_case else encoded)
    return " ".join(out)


def _name(author: Author) -> str:
    if author.collective:
        return "{" + latex(author.collective) + "}"  # one name, never split at "and" or commas
    given = author.fore_name or author.initials
    last = "{" + latex(author.last_name) + "}" if " and " in author.last_name else latex(author.last_name)
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
    add("doi", article.doi)
    add("pmid", article.pmid)
    add("pmcid", article.pmcid)
    add("url", pubmed_url(article.pmid))
    add("abstract", latex(article.abstract_text))
    add("keywords", latex(", ".join(article.keywords)))
    add("language", latex(article.language))
    return BibEntry("article", f"pmid{article.pmid}", fields)


def articles_to_bibtex(articles: Iterable[Article | Entry]) -> str:
    """BibTeX text (one @article per article), '' for no articles."""

    entries: list[Block] = [article_to_bibtex_entry(a.article if isinstance(a, Entry) else a) for a in articles]
    if not entries:
        return ""
    library = Library(entries)
    text = bibtexparser.write_string(library)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
