"""Europe PMC's REST API (no key): the citations of an article, searches of the preprint index.

* `GET {base}{SOURCE}/{id}/citations?page=N&pageSize=1000&format=json`: who cites an article (MED
  records are PubMed's; PPR are preprints; others are Europe PMC's own sources).
* `GET {base}search?query=...&resultType=lite|core&cursorMark=*&pageSize=N&format=json`: cursor
  paging; the end is an absent `nextCursorMark`, one equal to the cursor sent, or no results.
* Application errors come inside HTTP 200 as `{"errCode": 404, "errMsg": "..."}`: a one-line
  `EuropePMCError`.  No rate limit is published: requests go one at a time, 5 a second at most.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from litwatch.watchers.citing import CitingWork, norm_doi, norm_pmid
from litwatch.watchers.jsonapi import JsonService, ServiceError

log = logging.getLogger(__name__)

CITATIONS_PAGE = 1000
SEARCH_PAGE = 100
LOOKUP_BATCH = 40  # ids per "(EXT_ID:x AND SRC:y) OR ..." lookup (queries stay under 1,500 chars)
COUNT_BATCH = 60  # PMIDs per "EXT_ID:(1 OR 2 ...) AND SRC:MED" citation-count search


class EuropePMCError(ServiceError):
    """Europe PMC gave no valid answer."""


@dataclass(frozen=True, slots=True)
class Preprint:
    """A preprint record (resultType=core) and, when Europe PMC links it, its journal version."""

    epmc_id: str  # PPR...
    doi: str
    title: str
    year: int | None
    server: str  # bioRxiv, medRxiv, ...
    authors: str
    published_pmid: str = ""  # "Preprint of" -> a MED record

    def as_work(self) -> CitingWork:
        return CitingWork(doi=self.doi, title=self.title, year=self.year, venue=self.server, authors=self.authors,
                          epmc_id=self.epmc_id, is_preprint=True)


class EuropePMCClient(JsonService):
    name = "Europe PMC"
    error = EuropePMCError

    def __init__(self, base_url: str, *, citations_page: int = CITATIONS_PAGE, **kwargs: Any) -> None:
        kwargs.setdefault("interval", 0.2)
        super().__init__(base_url, **kwargs)
        self.citations_page = citations_page

    def check(self, body: Any, resp: requests.Response) -> Any:
        if not isinstance(body, dict):
            raise EuropePMCError("Europe PMC: not a JSON object")
        if "errCode" in body:
            raise EuropePMCError(f"Europe PMC: {body.get('errCode')}: {' '.join(str(body.get('errMsg', '')).split())}")
        return body

    # -- citations --------------------------------------------------------------------------

    def citations(self, pmid: str) -> list[CitingWork]:
        out: list[CitingWork] = []
        page = 1
        while True:
            body = self.get_json(
                f"MED/{pmid}/citations", [("page", str(page)), ("pageSize", str(self.citations_page)), ("format", "json")]
            )
            items = ((body.get("citationList") or {}).get("citation")) or []
            out += [w for w in map(_citing, items) if w is not None]
            total = int(body.get("hitCount") or 0)
            if not items or page * self.citations_page >= total:
                return out
            page += 1

    def cited_counts(self, pmids: Iterable[str]) -> dict[str, int]:
        """Europe PMC's citedByCount of each PMID it knows: one lite search per 60 PMIDs."""
        ids = sorted(set(pmids), key=int)
        out: dict[str, int] = {}
        for i in range(0, len(ids), COUNT_BATCH):
            query = "EXT_ID:(" + " OR ".join(ids[i : i + COUNT_BATCH]) + ") AND SRC:MED"
            for rec in self.search(query, result_type="lite", page_size=1000):
                if rec.get("source") == "MED" and norm_pmid(rec.get("id")):
                    out[str(rec["id"])] = int(rec.get("citedByCount") or 0)
        return out

    def cited_by(self, pmids: Iterable[str], *, unchanged: Iterable[str] = ()) -> dict[str, list[CitingWork]]:
        """Citing works of each PMID but those `unchanged`; those outside PubMed get their DOI from
        one lookup per 40."""
        skip = set(unchanged)
        found = {p: self.citations(p) for p in sorted(set(pmids) - skip, key=int)}
        need = sorted({w.epmc_id for ws in found.values() for w in ws if not w.pmid and not w.doi})
        dois = self.dois(need)
        return {
            p: [
                CitingWork(w.pmid, dois.get(w.epmc_id, ""), w.title, w.year, w.venue, w.authors, w.epmc_id, "",
                           w.is_preprint) if w.epmc_id in dois else w
                for w in ws
            ]
            for p, ws in found.items()
        }

    def dois(self, epmc_ids: list[str]) -> dict[str, str]:
        """DOIs of non-PubMed records ("PPR123" or "SRC:ID"), by lite searches of 40 ids."""
        out: dict[str, str] = {}
        for i in range(0, len(epmc_ids), LOOKUP_BATCH):
            terms = []
            for eid in epmc_ids[i : i + LOOKUP_BATCH]:
                src, _, ext = eid.partition(":") if ":" in eid else ("PPR", "", eid)
                terms.append(f"(EXT_ID:{ext or eid} AND SRC:{src})")
            for rec in self.search(" OR ".join(terms), result_type="lite"):
                eid = rec.get("id", "") if rec.get("source") == "PPR" else f"{rec.get('source')}:{rec.get('id')}"
                if doi := norm_doi(rec.get("doi")):
                    out[str(eid)] = doi
        return out

    # -- search -----------------------------------------------------------------------------

    def search(self, query: str, *, result_type: str = "core", page_size: int = SEARCH_PAGE, limit: int = 5000) -> Iterator[dict[str, Any]]:
        cursor = "*"
        seen = 0
        while True:
            body = self.get_json(
                "search",
                [("query", query), ("resultType", result_type), ("cursorMark", cursor),
                 ("pageSize", str(page_size)), ("format", "json")],
            )
            results = ((body.get("resultList") or {}).get("result")) or []
            yield from results
            seen += len(results)
            nxt = body.get("nextCursorMark")
            if not results or not nxt or nxt == cursor or seen >= limit:
                return
            cursor = str(nxt)

    def count(self, query: str) -> int:
        body = self.get_json("search", [("query", query), ("resultType", "idlist"), ("pageSize", "1"), ("format", "json")])
        return int(body.get("hitCount") or 0)

    def preprints(self, query: str) -> list[Preprint]:
        """Preprints matching a Europe PMC query (`SRC:PPR` is added), with their journal versions."""
        return [_preprint(r) for r in self.search(f"({query}) AND SRC:PPR", result_type="core") if r.get("source") == "PPR"]


def _year(value: object) -> int | None:
    text = str(value or "")[:4]
    return int(text) if text.isdigit() else None


def _citing(item: dict[str, Any]) -> CitingWork | None:
    source, ident = str(item.get("source") or ""), str(item.get("id") or "")
    if not ident:
        return None
    common = dict(title=str(item.get("title") or "").strip(), year=_year(item.get("pubYear")),
                  venue=str(item.get("journalAbbreviation") or ""), authors=str(item.get("authorString") or "").strip())
    if source == "MED" and norm_pmid(ident):
        return CitingWork(pmid=ident, **common)  # type: ignore[arg-type]
    if source == "PPR":
        return CitingWork(epmc_id=ident, is_preprint=True, **common)  # type: ignore[arg-type]
    return CitingWork(epmc_id=f"{source}:{ident}", **common)  # type: ignore[arg-type]


def _preprint(rec: dict[str, Any]) -> Preprint:
    links = ((rec.get("commentCorrectionList") or {}).get("commentCorrection")) or []
    published = next(
        (str(c.get("id")) for c in links if c.get("type") == "Preprint of" and c.get("source") == "MED" and norm_pmid(c.get("id"))),
        "",
    )
    server = str(((rec.get("bookOrReportDetails") or {}).get("publisher")) or "preprint")
    return Preprint(
        epmc_id=str(rec.get("id")),
        doi=norm_doi(rec.get("doi")),
        title=str(rec.get("title") or "").strip(),
        year=_year(rec.get("pubYear")),
        server=server,
        authors=str(rec.get("authorString") or "").strip(),
        published_pmid=published,
    )
