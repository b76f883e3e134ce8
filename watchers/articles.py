"""The article model: PubMed XML in, typed `Article` records out.

Titles and abstract sections keep PubMed's inline markup (<i>, <b>, <sup>, <sub>, <u>) as *safe*
HTML: every other character is escaped, so `title_html` can be put in a page as is.  The `title`
property gives the plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Author:
    """A person (last name, fore name, initials) or a collective (group) name."""

    last_name: str = ""
    fore_name: str = ""
    initials: str = ""
    collective: str = ""

    @property
    def display(self) -> str:
        """'Smith JA' for a person, the group name for a collective."""
        if self.collective:
            return self.collective
        return f"{self.last_name} {self.initials}".strip() or self.fore_name


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
        """'2025 Feb 18', '1990 Spring', '1998 Dec-1999 Jan', or ''."""
        ...


@dataclass(frozen=True, slots=True)
class Article:
    pmid: str
    title_html: str
    authors: tuple[Author, ...] = ()
    journal: str = ""
    journal_iso: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
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
