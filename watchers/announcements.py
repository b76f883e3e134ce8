"""What litwatch tells a subscriber: the typed announcements a queue row holds, and their one codec.

An `Item` is one of these frozen dataclasses (the last four: issue 16, sources beyond PubMed):

- `Hit(pmid, watch)`: a watch found an article;
- `Citation(citing, cited)`: an article cites a tracked paper;
- `Correction(pmid, kind, notice_pmid, source)`: a tracked paper has a correction notice
  (`kind`: a row of `litwatch.watchers.tracked.CORRECTION_KINDS`);
- `Note(watch, text, problem, run)`: a line about a watch (None: about the tracked papers).
- `SentArticleNotice(pmid, kind, notice_pmid, source, sent_on)`: a notice on an article this reader
  was sent ("sent_notice", reason JSON [kind, notice PMID, source, sent on]);
- `WorkCitation(work, cited)`: a work outside PubMed cites a tracked paper ("work_citation");
- `PreprintHit(work, watch)`: a new preprint of a watch ("preprint");
- `Published(pmid, work, watch)`: a watch's preprint now published in PubMed ("published", reason
  JSON [work key, watch]).

A queue row stores an item as three columns, (kind, pmid, reason); `encode` and `decode` are the
only code that reads or writes them (`litwatch.watchers.store` calls them):

    Hit          ("hit",        pmid,   watch name)
    Citation     ("citation",   citing, cited PMID)
    Correction   ("correction", pmid,   JSON [kind, notice PMID, source])
    Note         ("note",       "",     JSON {"watch", "text", "problem", "run"})

Hits and citations keep their plain reason (the store's history and feed queries join on it);
corrections and notes are JSON, so any text (a watch named `ITP | BTK`) round-trips exactly.
Schema version 3 converted the old `KIND|NOTICE|SOURCE` and `WATCH|TEXT|problem` strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

TRACKED_NOTES = "Tracked papers"  # the heading of notes about no watch (Note.watch is None)


@dataclass(frozen=True, slots=True)
class Hit:
    TYPE: ClassVar[str] = "hit"
    pmid: str
    watch: str


@dataclass(frozen=True, slots=True)
class Citation:
    TYPE: ClassVar[str] = "citation"
    citing: str
    cited: str

    @property
    def pmid(self) -> str:
        return self.citing


@dataclass(frozen=True, slots=True)
class Correction:
    TYPE: ClassVar[str] = "correction"
    pmid: str  # the tracked paper
    kind: str  # RetractionIn, ErratumIn, ... or the publication type "Retracted Publication"
    notice_pmid: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    TYPE: ClassVar[str] = "note"
    watch: str | None  # None: about the tracked papers
    text: str
    problem: bool = False
    run: int = 0

    @property
    def pmid(self) -> str:
        return ""

    @property
    def heading(self) -> str:
        return self.watch if self.watch is not None else TRACKED_NOTES


@dataclass(frozen=True, slots=True)
class SentArticleNotice:
    """A retraction / expression of concern / erratum notice on an article this reader was sent."""

    TYPE: ClassVar[str] = "sent_notice"
    pmid: str  # the article the reader was sent
    kind: str  # the notice's RefType: RetractionOf, ExpressionOfConcernFor, ErratumFor
    notice_pmid: str
    source: str  # the notice's journal and year
    sent_on: str  # YYYY-MM-DD: when the reader was first sent the article


@dataclass(frozen=True, slots=True)
class WorkCitation:
    """A work outside PubMed (key "doi:...", "ppr:...", "openalex:...") cites a tracked paper."""

    TYPE: ClassVar[str] = "work_citation"
    work: str
    cited: str

    @property
    def pmid(self) -> str:
        return self.work


@dataclass(frozen=True, slots=True)
class PreprintHit:
    """A watch's preprint_query found a new preprint (key of the work)."""

    TYPE: ClassVar[str] = "preprint"
    work: str
    watch: str

    @property
    def pmid(self) -> str:
        return self.work


@dataclass(frozen=True, slots=True)
class Published:
    """A preprint a watch found is now published in PubMed as `pmid`."""

    TYPE: ClassVar[str] = "published"
    pmid: str  # the journal version
    work: str  # the preprint's key
    watch: str


Item = Hit | Citation | Correction | Note | SentArticleNotice | WorkCitation | PreprintHit | Published

KINDS = ("hit", "citation", "correction", "note", "sent_notice", "work_citation", "preprint", "published")
ARTICLE_KINDS = ("hit", "citation")  # items that announce an article


def encode(item: Item) -> tuple[str, str, str]:
    """(kind, pmid, reason): the queue columns of an item."""
    if isinstance(item, Hit):
        return "hit", item.pmid, item.watch
    if isinstance(item, Citation):
        return "citation", item.citing, item.cited
    if isinstance(item, Correction):
        return "correction", item.pmid, json.dumps([item.kind, item.notice_pmid, item.source], ensure_ascii=False)
    if isinstance(item, SentArticleNotice):
        return "sent_notice", item.pmid, json.dumps(
            [item.kind, item.notice_pmid, item.source, item.sent_on], ensure_ascii=False
        )
    if isinstance(item, WorkCitation):
        return "work_citation", item.work, item.cited
    if isinstance(item, PreprintHit):
        return "preprint", item.work, item.watch
    if isinstance(item, Published):
        return "published", item.pmid, json.dumps([item.work, item.watch], ensure_ascii=False)
    return "note", "", json.dumps(
        {"watch": item.watch, "text": item.text, "problem": item.problem, "run": item.run}, ensure_ascii=False
    )


def decode(kind: str, pmid: str, reason: str) -> Item:
    """The item of a queue row (the inverse of `encode`)."""
    if kind == "hit":
        return Hit(pmid, reason)
    if kind == "citation":
        return Citation(pmid, reason)
    if kind == "correction":
        what, notice, source = json.loads(reason)
        return Correction(pmid, what, notice, source)
    if kind == "note":
        data = json.loads(reason)
        return Note(data["watch"], data["text"], bool(data["problem"]), int(data["run"]))
    if kind == "sent_notice":
        what, notice, source, sent_on = json.loads(reason)
        return SentArticleNotice(pmid, what, notice, source, sent_on)
    if kind == "work_citation":
        return WorkCitation(pmid, reason)
    if kind == "preprint":
        return PreprintHit(pmid, reason)
    if kind == "published":
        work, watch = json.loads(reason)
        return Published(pmid, work, watch)
    raise ValueError(f"unknown queue item kind {kind!r}")


def convert_v2_row(kind: str, pmid: str, reason: str, run_id: int) -> tuple[str, str]:
    """(pmid, reason) of a queue row written before schema version 3, in today's encoding.

    Before: correction reason "KIND|NOTICE|SOURCE"; note reason "WATCH|TEXT|problem" (or
    "WATCH|TEXT|") with the run id in `pmid`, "Tracked papers" for no watch.  A note's watch
    name with "|" in it was already cut there when written; it is read as it was shown."""
    if kind == "correction":
        what, notice, source = [*reason.split("|", 2), "", ""][:3]
        return encode(Correction(pmid, what, notice, source))[1:]
    if kind == "note":
        head, _, flag = reason.rpartition("|")
        watch, _, text = head.partition("|")
        run = int(pmid) if pmid.isdigit() else run_id
        note = Note(None if watch == TRACKED_NOTES else watch, text, flag == "problem", run)
        return encode(note)[1:]
    return pmid, reason
