"""What a digest says, as plain data: the pipeline fills it, the renderer turns it into a message.

Nothing here does I/O.  One `Digest` is one e-mail to one recipient.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from litwatch.watchers.articles import Article

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PaperRef:
    """A short reference to a tracked paper: enough to name it in a sentence."""

    pmid: str
    title: str = ""  # plain text
    first_author: str = ""  # "Smith JA"
    year: int | None = None

    def label(self) -> str:
        """'Smith JA 2025, "Title" (PMID 123)' with the parts that are known."""
        parts = []
        if self.first_author:
            parts.append(self.first_author + (f" {self.year}" if self.year else ""))
        elif self.year:
            parts.append(str(self.year))
        if self.title:
            # 'Smith 2025, “Thrombocytopenia”, PMID 1': a title's closing full stop is not kept
            # before the comma that follows the quotation ('“Thrombocytopenia.”, PMID' reads badly).
            title = self.title[:-1] if self.title.endswith(".") and not self.title.endswith("..") else self.title
            parts.append(f"\u201c{title}\u201d")
        parts.append(f"PMID {self.pmid}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Correction:
    """A retraction, expression of concern, erratum or update newly recorded on a tracked paper."""

    paper: PaperRef
    kind: str  # RetractionIn, ExpressionOfConcernIn, ErratumIn, RetractedandRepublishedIn, UpdateIn,
    # or the publication type "Retracted Publication" / "Expression of Concern"
    notice_pmid: str = ""  # the PMID of the notice, when PubMed gives one
    notice_source: str = ""  # RefSource text, e.g. "Cancer Rep. 2026;9:e70001"


@dataclass(frozen=True, slots=True)
class SentNotice:
    """A notice (retraction, expression of concern, erratum) on an article this reader was sent."""

    paper: PaperRef
    kind: str  # the notice's RefType: RetractionOf, ExpressionOfConcernFor, ErratumFor
    notice_pmid: str
    notice_source: str  # "Blood 2026": the notice's journal and year
    sent_on: str  # YYYY-MM-DD: when the reader was first sent the article
    source: str = "PubMed"  # where the notice was found


@dataclass(frozen=True, slots=True)
class WorkRef:
    """A work that is not a PubMed record: a citing work outside PubMed, or a preprint."""

    key: str
    title: str
    url: str  # https://doi.org/..., or the Europe PMC / OpenAlex page
    doi: str = ""
    year: int | None = None
    venue: str = ""  # journal or preprint server
    authors: str = ""


@dataclass(frozen=True, slots=True)
class WorkEntry:
    """A work outside PubMed in a digest: a citing work (`cites`) or a new preprint (`watches`)."""

    work: WorkRef
    cites: tuple[PaperRef, ...] = ()
    citation_sources: tuple[str, ...] = ()
    watches: tuple[str, ...] = ()
    is_preprint: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """One article in a digest, with every reason it is there."""

    article: Article
    watches: tuple[str, ...] = ()  # names of the watches that newly found it
    cites: tuple[PaperRef, ...] = ()  # tracked papers it newly cites
    score: float | None = None  # the reader's score (notifications/ranking.py); None when not ranked
    why: str = ""  # one short line: why it ranks where it does
    citation_sources: tuple[str, ...] = ()  # "pubmed", "icite", "europepmc", "openalex"
    preprint: WorkRef | None = None  # the preprint this article is the journal version of


@dataclass(frozen=True, slots=True)
class WatchNote:
    """A line about a watch that is not an article: a first run's baseline, a query warning."""

    watch: str
    text: str
    is_problem: bool = False


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything one recipient is told in one message."""

    recipient: str
    created: datetime
    entries: tuple[Entry, ...] = ()  # each article once, in the order they should be listed
    corrections: tuple[Correction, ...] = ()
    notes: tuple[WatchNote, ...] = ()
    watch_terms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # watch -> key terms to bold
    watch_queries: dict[str, str] = field(default_factory=dict)  # watch -> its PubMed query
    ranked: bool = False  # entries are in score order within each section, each with its why line
    min_score: float | None = None  # ranked entries scoring below this go to the "ranked lower" list
    sent_notices: tuple[SentNotice, ...] = ()  # first in the digest, above everything else
    works: tuple[WorkEntry, ...] = ()  # citing works outside PubMed, new preprints


class ArticleMemo(Generic[T]):
    """What `make` computes from an article, kept for the last `size` articles: a run's digests show
    and attach the same articles again and again (a citation of a tracked paper goes to every reader
    who takes them).  A memo, not state: the value is a function of the (immutable) article alone,
    and a kept value is used only for the very article object it was made from."""

    def __init__(self, make: Callable[[Article], T], size: int = 2000) -> None:
        self._make = make
        self._size = size
        self._kept: dict[str, tuple[Article, T]] = {}
        self._lock = threading.Lock()  # (the web companion's threads may render too)

    def __call__(self, article: Article) -> T:
        kept = self._kept.get(article.pmid)
        if kept is not None and kept[0] is article:
            return kept[1]
        value = self._make(article)
        with self._lock:
            self._kept[article.pmid] = (article, value)
            while len(self._kept) > self._size:
                del self._kept[next(iter(self._kept))]
        return value
