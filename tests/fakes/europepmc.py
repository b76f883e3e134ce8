"""`FakeEuropePMC`: a loopback Europe PMC REST API (``/europepmc/webservices/rest/``).

Recorded answers first: a request whose path and parameters equal one recorded in
tests/data/services/europepmc/_index.json (a GET) is answered with that file, verbatim (e.g.
``MED/34308300/citations?page=1&pageSize=25&format=json``, ``search?query=cancer&resultType=lite&
pageSize=5&cursorMark=*&format=json``).  Everything else is SYNTHESIZED from scenario data, in the
shapes of those recordings (see PROTOCOLS.md, section 1):

* ``citations``  pmid -> citation dicts (``{"id", "source": "MED"|"PPR"|..., "title", "pubYear"
  (a number), "authorString", "journalAbbreviation", "citationType"}``); `cite()` builds them.
  ``GET {SRC}/{id}/citations?page=N&pageSize=N&format=json`` -> ``{"version", "hitCount",
  "request": {"id", "source", "offSet", "pageSize"}, "citationList": {"citation": [...]}}``.
* ``records``  Europe PMC search records (lite/core fields; ``pubYear`` a string, flags "Y"/"N";
  a preprint has ``source: "PPR"``, ``pubType: "preprint"``, ``bookOrReportDetails.publisher`` and,
  once Europe PMC links it to its journal version, ``commentCorrectionList.commentCorrection`` with
  ``{"id": PMID, "source": "MED", "type": "Preprint of", "note": "Link created based on a
  title-first author match"}``); `add_preprint()` builds them.
* ``EXT_ID:(P1 OR P2 ...) AND SRC:MED``: the PubMed records of those PMIDs that have ``citations``
  here, with ``citedByCount`` = how many (SYNTHESIZED in the shape of the recorded lite results).
* ``searches``  query (exact, whitespace-normalised) -> record ids.  A query made only of
  ``(EXT_ID:x AND SRC:y)`` terms joined by OR is answered from ``records`` directly.
  ``search?query=&resultType=idlist|lite|core&cursorMark=&pageSize=&format=json``: cursor paging
  with opaque marks; the last page has no ``nextCursorMark`` (or, with ``echo_last_cursor``, the
  cursor sent, as third parties report).  ``idlist`` keeps only id/source/pmid/pmcid, ``lite``
  drops the core-only fields.
* Application errors come inside HTTP 200 as ``{"errCode": 404, "errMsg": "..."}`` (empty query;
  pageSize outside 1..1000), as reported by a third party (PROTOCOLS.md: no recording exists).
No rate limit is published; ``rate_limit`` can switch one on (429, Retry-After: 1).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import FakeService, Response

__all__ = ["FakeEuropePMC", "cite"]

DATA = Path(__file__).resolve().parents[1] / "data" / "services" / "europepmc"
CORE_ONLY = ("abstractText", "authorList", "journalInfo", "pubTypeList", "fullTextUrlList", "commentCorrectionList",
             "versionList", "grantsList", "meshHeadingList")
_TERM = re.compile(r"^\(EXT_ID:(\S+) AND SRC:(\S+)\)$")
_MED_LIST = re.compile(r"^EXT_ID:\(([\d OR]+)\) AND SRC:MED$")


def cite(ident: str, source: str = "MED", title: str = "", year: int = 2026, journal: str = "",
         authors: str = "Doe J.") -> dict[str, Any]:
    """A citation entry as /citations lists it (a preprint: no journalAbbreviation)."""
    entry: dict[str, Any] = {"id": ident, "source": source,
                             "citationType": "preprint" if source == "PPR" else "research-article; journal article",
                             "title": title or f"Citing work {ident}", "authorString": authors, "pubYear": year,
                             "citedByCount": 0}
    if journal and source != "PPR":
        entry["journalAbbreviation"] = journal
    return entry


def _recorded() -> dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, bytes, str]]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, bytes, str]] = {}
    for entry in json.loads((DATA / "_index.json").read_text()):
        url = entry["request"]["url"]
        if entry["request"]["method"] != "GET" or " " in url:
            continue
        split = urlsplit(url)
        path = split.path.split("/rest/", 1)[1]
        out[(path, tuple(sorted(parse_qsl(split.query, keep_blank_values=True))))] = (
            entry["status"], (DATA / entry["file"]).read_bytes(), entry["headers"].get("content-type", "application/json"))
    return out


class FakeEuropePMC(FakeService):
    path_prefix = "/europepmc/webservices/rest/"

    def __init__(self, *, echo_last_cursor: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.citations: dict[str, list[dict[str, Any]]] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.searches: dict[str, list[str]] = {}
        self.echo_last_cursor = echo_last_cursor
        self.recorded = _recorded()

    # -- scenario helpers -------------------------------------------------------------------
    def add_preprint(self, ppr: str, title: str, *, doi: str = "", server: str = "medRxiv", year: int = 2026,
                     published_pmid: str = "", authors: str = "Doe J, Roe R.") -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": ppr, "source": "PPR", "doi": doi, "title": title, "authorString": authors, "pubYear": str(year),
            "pubType": "preprint", "bookOrReportDetails": {"publisher": server, "yearOfPublication": year},
            "isOpenAccess": "Y", "inEPMC": "N", "inPMC": "N", "hasPDF": "N", "citedByCount": 0,
            "firstPublicationDate": f"{year}-01-01",
        }
        with self.lock:
            self.records[ppr] = rec
        if published_pmid:
            self.publish(ppr, published_pmid)
        return rec

    def publish(self, ppr: str, pmid: str) -> None:
        """Europe PMC links the preprint to its journal version (a title-first author match)."""
        with self.lock:
            self.records[ppr]["commentCorrectionList"] = {"commentCorrection": [
                {"id": pmid, "source": "MED", "reference": "J. 2026", "type": "Preprint of",
                 "note": "Link created based on a title-first author match", "orderIn": 10001}]}

    def add_search(self, query: str, ids: list[str]) -> None:
        with self.lock:
            self.searches[" ".join(query.split())] = list(ids)

    # -- FakeService hooks ------------------------------------------------------------------
    def handle(self, endpoint: str, params: dict[str, list[str]]) -> Response:
        flat = tuple(sorted((k, v) for k, vs in params.items() for v in vs))
        if (endpoint, flat) in self.recorded:
            status, body, ctype = self.recorded[(endpoint, flat)]
            return Response(status, body, ctype)
        p = {k: v[0] for k, v in params.items() if v}
        parts = endpoint.split("/")
        if len(parts) == 3 and parts[2] == "citations":
            return self._citations(parts[0], parts[1], p)
        if endpoint == "search":
            return self._search(p)
        return Response(404, b"", "text/plain")

    def _citations(self, source: str, ident: str, p: dict[str, str]) -> Response:
        page, size = int(p.get("page", "1")), int(p.get("pageSize", "25"))
        if not 1 <= size <= 1000:
            return self._json({"errCode": 404, "errMsg": "Invalid page size provided. Valid size is between 1 and 1000"})
        with self.lock:
            items = list(self.citations.get(ident, [])) if source == "MED" else []
        chunk = items[(page - 1) * size : page * size]
        return self._json({"version": "6.9", "hitCount": len(items),
                           "request": {"id": ident, "source": source, "offSet": (page - 1) * size, "pageSize": size},
                           "citationList": {"citation": chunk}})

    def _search(self, p: dict[str, str]) -> Response:
        query = " ".join(p.get("query", "").split())
        size = int(p.get("pageSize", "25"))
        if not query:
            return self._json({"errCode": 404, "errMsg": "No search criteria provided. Please provide a search "
                                                         "criteria which is less than 1500 characters."})
        if not 1 <= size <= 1000:
            return self._json({"errCode": 404, "errMsg": "Invalid page size provided. Valid size is between 1 and 1000"})
        with self.lock:
            terms = [_TERM.match(t.strip()) for t in query.split(" OR ")]
            med = _MED_LIST.match(query)
            if med:  # PubMed records by PMID: those with citations known here, with their citedByCount
                ids = [i for i in med[1].split(" OR ") if i in self.citations]
                for i in ids:
                    self.records.setdefault(i, {"id": i, "source": "MED", "pmid": i, "title": f"Article {i}",
                                                "pubYear": "2025", "isOpenAccess": "N"})
                    self.records[i]["citedByCount"] = len(self.citations[i])
            elif all(terms):
                ids = [m[1] for m in terms if m and m[1] in self.records and self.records[m[1]]["source"] == m[2]]
            else:
                ids = list(self.searches.get(query, []))
            records = [self.records[i] for i in ids if i in self.records]
        cursor = p.get("cursorMark", "*")
        start = 0 if cursor == "*" else int(cursor.removeprefix("AoJ"))
        page = records[start : start + size]
        kind = p.get("resultType", "lite")
        out = []
        for rec in page:
            if kind == "idlist":
                out.append({k: rec[k] for k in ("id", "source", "pmid", "pmcid") if k in rec})
            elif kind == "lite":
                out.append({k: v for k, v in rec.items() if k not in CORE_ONLY})
            else:
                out.append(dict(rec))
        body: dict[str, Any] = {"version": "6.9", "hitCount": len(records),
                                "request": {"queryString": query, "resultType": kind, "cursorMark": cursor,
                                            "pageSize": size, "sort": "", "synonym": False},
                                "resultList": {"result": out}}
        if start + size < len(records):
            body["nextCursorMark"] = f"AoJ{start + size}"
        elif self.echo_last_cursor and records:
            body["nextCursorMark"] = cursor
        return self._json(body)

    def json_error_response(self) -> Response:
        return self._json({"errCode": 500, "errMsg": "Internal error"})

    @staticmethod
    def _json(obj: Any, status: int = 200) -> Response:
        return Response(status, json.dumps(obj).encode(), "application/json;charset=UTF-8")
