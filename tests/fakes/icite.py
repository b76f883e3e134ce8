"""`FakeICite`: a loopback NIH iCite API (``GET /api/pubs?pmids=...``).

Answer shape, as the real service::

    {"meta": {"pmids": "1,2", "fl": "pmid,cited_by", "format": "json", ...},
     "links": {"self": "http://127.0.0.1:PORT/api/pubs?pmids=1,2"},
     "data": [{"_id": "1", "pmid": 1, "year": 2025, "title": "...", "cited_by": [456, 789],
               "references": [12], "doi": "10.1/x", ...}, ...]}

PMIDs are ints in ``pmid``, ``cited_by`` and ``references`` (``_id`` is a string).  Unknown pmids
are left out.  ``fl=a,b`` keeps only those fields.  More than 1,000 pmids in one request -> HTTP
400 with a JSON error.  ``format`` other than json is ignored (always JSON).

Data: ``cited_by`` (pmid -> citing pmids) and ``pubs`` (pmid -> extra fields: year, title, doi,
references, authors, journal, ... overriding the defaults).  A pmid is known when it is in either.
No rate limit by default (iCite documents none); ``rate_limit`` can switch one on.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from . import FakeService, Response

__all__ = ["FakeICite", "ICITE_MAX_PMIDS"]

ICITE_MAX_PMIDS = 1000


def _as_int(value) -> int | str:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


class FakeICite(FakeService):
    """Loopback iCite.  ``base_url`` = 'http://127.0.0.1:PORT/api/'; the endpoint is 'pubs'."""

    path_prefix = "/api/"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        rate_limit: int | None = None,
        rate_limit_with_key: int | None = None,
        max_pmids: int = ICITE_MAX_PMIDS,
    ) -> None:
        super().__init__(latency=latency, slow_seconds=slow_seconds, rate_limit=rate_limit,
                         rate_limit_with_key=rate_limit_with_key)
        self.cited_by: dict[str, list[str]] = {}
        self.pubs: dict[str, dict] = {}
        self.max_pmids = max_pmids

    def add_pub(self, pmid: str, *, cited_by=(), references=(), year: int | None = None,
                title: str = "", doi: str = "", **fields) -> None:
        """Register a publication: its citing pmids and any iCite fields to report."""
        pmid = str(pmid)
        with self.lock:
            self.cited_by[pmid] = [str(c) for c in cited_by]
            self.pubs[pmid] = {"year": year, "title": title, "doi": doi,
                               "references": [str(r) for r in references], **fields}

    def record_for(self, pmid: str) -> dict | None:
        """The ``data`` entry served for a pmid (all fields), or None if unknown."""
        pmid = str(pmid)
        with self.lock:
            if pmid not in self.cited_by and pmid not in self.pubs:
                return None
            extra = dict(self.pubs.get(pmid, {}))
            citing = list(self.cited_by.get(pmid, []))
        refs = extra.pop("references", [])
        record = {
            "_id": pmid,
            "pmid": int(pmid),
            "year": extra.pop("year", None),
            "title": extra.pop("title", ""),
            "authors": extra.pop("authors", ""),
            "journal": extra.pop("journal", ""),
            "is_research_article": extra.pop("is_research_article", True),
            "relative_citation_ratio": extra.pop("relative_citation_ratio", None),
            "nih_percentile": extra.pop("nih_percentile", None),
            "citation_count": len(citing),
            "cited_by_clin": [_as_int(x) for x in extra.pop("cited_by_clin", [])],
            "cited_by": [_as_int(x) for x in citing],
            "references": [_as_int(x) for x in refs],
            "doi": extra.pop("doi", ""),
            "provisional": extra.pop("provisional", False),
            "last_modified": extra.pop("last_modified", "11/20/2026, 00:00:00"),
        }
        record.update(extra)
        return record

    # -- FakeService hooks ----------------------------------------------------------------
    def handle(self, endpoint: str, params: dict[str, list[str]]) -> Response:
        if endpoint != "pubs":
            return self._json(404, {"error": f"Not found: /api/{endpoint}"})
        raw = ",".join(params.get("pmids", []))
        pmids = [p.strip() for p in raw.split(",") if p.strip()]
        if len(pmids) > self.max_pmids:
            return self._json(400, {"error": f"Too many pmids requested ({len(pmids)}); the limit is "
                                             f"{self.max_pmids} per request"})
        bad = [p for p in pmids if not p.isdigit()]
        if bad:
            return self._json(400, {"error": f"Invalid pmid(s): {','.join(bad)}"})
        fl = [f.strip() for f in ",".join(params.get("fl", [])).split(",") if f.strip()]
        data = []
        for pmid in dict.fromkeys(pmids):
            record = self.record_for(pmid)
            if record is None:
                continue
            if fl:
                record = {k: record[k] for k in fl if k in record}
            data.append(record)
        meta = {"pmids": ",".join(pmids), "format": "json", "legacy": True}
        if fl:
            meta["fl"] = ",".join(fl)
        query = "pmids=" + quote(",".join(pmids), safe=",") + ("&fl=" + quote(",".join(fl), safe=",") if fl else "")
        return self._json(200, {"meta": meta, "links": {"self": f"{self.base_url}pubs?{query}"}, "data": data})

    def rate_limited_response(self, identity: str, count: int, limit: int) -> Response:
        return Response(429, json.dumps({"error": "Too many requests"}).encode(), "application/json",
                        {"Retry-After": "1"})

    def json_error_response(self) -> Response:
        return self._json(200, {"error": "Internal server error"})

    @staticmethod
    def _json(status: int, obj) -> Response:
        return Response(status, json.dumps(obj).encode(), "application/json")
