"""Tracked papers: what counts as a correction (the one table of correction kinds), and the key
terms of a watch's query.  Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from litwatch.watchers.articles import Article


@dataclass(frozen=True, slots=True)
class CorrectionKind:
    """One kind of correction notice, and how every message (e-mail, chat, history) names it."""

    code: str  # PubMed's CommentsCorrections RefType, or a publication type
    label: str  # the heading of the notice: "Retracted"
    verb: str  # "has been retracted"
    counted_as: str  # "retraction" | "expression of concern" | "correction"
    alert: bool  # shown in red
    always_announce: bool  # announced even on a paper's first check: nobody should cite it unawares
    publication_type: bool = False  # said on the record itself (a publication type), not a RefType

    @property
    def retraction(self) -> bool:
        return self.counted_as == "retraction"


CORRECTION_KINDS: tuple[CorrectionKind, ...] = (
    CorrectionKind("RetractionIn", "Retracted", "has been retracted", "retraction", True, True),
    CorrectionKind("ExpressionOfConcernIn", "Expression of concern", "has an expression of concern",
                   "expression of concern", True, True),
    CorrectionKind("ErratumIn", "Correction", "has a published erratum", "correction", False, False),
    CorrectionKind("RetractedandRepublishedIn", "Retracted and republished", "has been retracted and republished",
                   "retraction", True, True),
    CorrectionKind("UpdateIn", "Updated", "has an updated version", "correction", False, False),
    CorrectionKind("Retracted Publication", "Retracted", "has been retracted", "retraction", True, True, True),
    CorrectionKind("Expression of Concern", "Expression of concern", "has an expression of concern",
                   "expression of concern", True, False, True),
)
OTHER_CORRECTION = CorrectionKind("", "Notice", "has a new notice", "correction", False, False)


def _key(code: str) -> str:
    return re.sub(r"[^a-z]", "", code.lower())


_BY_KEY = {_key(k.code): k for k in CORRECTION_KINDS}

# CommentsCorrections RefTypes worth telling the reader about
CORRECTION_REF_TYPES = tuple(k.code for k in CORRECTION_KINDS if not k.publication_type)
# Publication types that say the same on the record itself
CORRECTION_PUBLICATION_TYPES = tuple(k.code for k in CORRECTION_KINDS if k.publication_type)


def correction_kind(code: str) -> CorrectionKind:
    """The kind of a notice code (spelling and case aside); `OTHER_CORRECTION` for one not known."""
    return _BY_KEY.get(_key(code), OTHER_CORRECTION)


def correction_notices(article: Article) -> set[tuple[str, str, str]]:
    """(kind, notice PMID or "", notice source) for each correction recorded on the article."""
    out = {
        (c.ref_type, c.pmid, c.ref_source)
        for c in article.comments_corrections
        if c.ref_type in CORRECTION_REF_TYPES
    }
    for ptype in article.publication_types:
        if ptype in CORRECTION_PUBLICATION_TYPES:
            # The type alone is redundant when a RetractionIn / ExpressionOfConcernIn names the notice.
            twin = "RetractionIn" if ptype == "Retracted Publication" else "ExpressionOfConcernIn"
            if not any(kind == twin for kind, _, _ in out):
                out.add((ptype, "", ""))
    return out


_SPLIT = re.compile(r"\s+(?:AND|OR|NOT)\s+|[()]")
_SEGMENT = re.compile(r'^"?(?P<text>[^"\[]*?)"?\s*(?P<tag>\[[^\]]*\])?$')
_SKIP_TAGS = ("mesh", "mh", "majr", "pt", "publication type", "date", "dp", "edat", "la", "language", "sb", "filter")


def query_terms(query: str) -> tuple[str, ...]:
    """Words and phrases of a PubMed query worth showing in bold: no operators, no MeSH terms,
    publication types, dates or filters, no wildcard stars."""
    terms: list[str] = []
    for segment in _SPLIT.split(query):
        m = _SEGMENT.match(segment.strip())
        if not m:
            continue
        text = m["text"].strip().rstrip("*").strip()
        tag = (m["tag"] or "").strip("[]").lower()
        if not text or any(t in tag for t in _SKIP_TAGS) or re.fullmatch(r"[\d/:\s]+", text):
            continue
        if len(text) < 3 or text.lower() in {t.lower() for t in terms}:
            continue
        terms.append(text)
    return tuple(terms)
