"""Tracked papers: what counts as a correction, and the key terms of a watch's query.  Pure."""

from __future__ import annotations

import re

from litwatch.watchers.articles import Article

# CommentsCorrections RefTypes worth telling the reader about
CORRECTION_REF_TYPES = (
    "RetractionIn",
    "ExpressionOfConcernIn",
    "ErratumIn",
    "RetractedandRepublishedIn",
    "UpdateIn",
)
# Publication types that say the same on the record itself
CORRECTION_PUBLICATION_TYPES = ("Retracted Publication", "Expression of Concern")
# Announced even on a paper's first check: nobody should cite a retracted paper unawares
ALWAYS_ANNOUNCE = ("RetractionIn", "ExpressionOfConcernIn", "RetractedandRepublishedIn", "Retracted Publication")


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
