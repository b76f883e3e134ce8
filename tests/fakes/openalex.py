"""`FakeOpenAlex`: a loopback OpenAlex API (``/works``).

Recorded answers first: a GET whose path and parameters (``api_key`` aside) equal one in
tests/data/services/openalex/_index.json is answered with that file verbatim, its status included
(``works/W2741809807``; the 404 for an unknown DOI is the recorded ``text/html`` page).
Everything else is SYNTHESIZED from scenario data, in the shapes of those recordings and of
developers.openalex.org (PROTOCOLS.md, section 2):

* ``works``  "W..." -> work dicts (``id`` "https://openalex.org/W...", ``doi`` a full URL,
  ``ids.pmid`` a pubmed URL, ``title``, ``publication_year``, ``primary_location.source``,
  ``authorships``, ``type``, ``referenced_works``); `add_work()` builds them.
* ``GET /works/pmid:N`` and ``/works/W...``: the work, or 404 with the recorded HTML page.
* ``GET /works?filter=cites:W1|W2&per_page=&cursor=*|page=&select=``: list envelope ``{"meta":
  {"count", "db_response_time_ms", "page", "per_page", "groups_count"[, "next_cursor"]},
  "results": [...], "group_by": []}``.  Cursor answers have ``meta.page: null`` and a
  ``next_cursor`` until the last page, where it is null (the docs' "repeat until next_cursor is null
  and results is empty" is honoured by also serving that empty page).  More than 100 OR-ed values
  or ``per_page`` > 100 -> 400 ``{"error": "...", "message": "..."}``.
* Keys: ``keys`` holds the valid ones.  An unknown key -> 401 JSON (SYNTHESIZED: no recording);
  cursor paging without a key -> 401 (reported by a third party, late 2026); without a key at
  most ``free_calls`` list calls a day, then 429 (the documented daily-limit status).
* Every answer carries ``RateLimit-Limit`` / ``RateLimit-Remaining`` headers like the recorded ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import FakeService, Response

__all__ = ["FakeOpenAlex"]

DATA = Path(__file__).resolve().parents[1] / "data" / "services" / "openalex"


def _recorded() -> dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, bytes, str]]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, bytes, str]] = {}
    for entry in json.loads((DATA / "_index.json").read_text()):
        split = urlsplit(entry["request"]["url"])
        key = (unquote(split.path.lstrip("/")), tuple(sorted(parse_qsl(split.query, keep_blank_values=True))))
        out[key] = (entry["status"], (DATA / entry["file"]).read_bytes(),
                    entry["headers"].get("content-type", "application/json"))
    return out


class FakeOpenAlex(FakeService):
    path_prefix = "/"

    def __init__(self, *, keys: tuple[str, ...] = (), free_calls: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.works: dict[str, dict[str, Any]] = {}
        self.keys = set(keys)
        self.free_calls = free_calls
        self.recorded = _recorded()
        self._cursors: dict[str, int] = {}

    def add_work(self, wid: str, title: str, *, pmid: str = "", doi: str = "", year: int = 2026,
                 venue: str = "Journal", cites: tuple[str, ...] = (), kind: str = "article",
                 authors: tuple[str, ...] = ("Ana Lima",)) -> dict[str, Any]:
        work = {
            "id": f"https://openalex.org/{wid}", "doi": f"https://doi.org/{doi}" if doi else None,
            "title": title, "display_name": title, "publication_year": year,
            "ids": {"openalex": f"https://openalex.org/{wid}", **({"doi": f"https://doi.org/{doi}"} if doi else {}),
                    **({"pmid": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}"} if pmid else {})},
            "primary_location": {"source": {"display_name": venue}},
            "authorships": [{"author": {"id": f"https://openalex.org/A{i}", "display_name": a}}
                            for i, a in enumerate(authors)],
            "type": kind, "is_retracted": False,
            "referenced_works": [f"https://openalex.org/{c}" for c in cites],
        }
        with self.lock:
            self.works[wid] = work
        return work

    # -- FakeService hooks ------------------------------------------------------------------
    def endpoint_for(self, path: str) -> str | None:
        return unquote(path).strip("/") or None

    def extra_headers(self, identity: str, count: int, limit: int | None) -> dict[str, str]:
        return {"RateLimit-Limit": "100", "RateLimit-Remaining": str(max(0, 100 - count)), "X-Api-Pool": "common"}

    def handle(self, endpoint: str, params: dict[str, list[str]]) -> Response:
        p = {k: v[0] for k, v in params.items() if v}
        key = p.pop("api_key", None)
        if key is not None and key not in self.keys:
            return self._json({"error": "Invalid API key", "message": "The api_key is not valid."}, 401)
        flat = tuple(sorted(p.items()))
        if (endpoint, flat) in self.recorded:
            status, body, ctype = self.recorded[(endpoint, flat)]
            return Response(status, body, ctype)
        if endpoint.startswith("works/"):
            return self._single(endpoint.split("/", 1)[1], p)
        if endpoint == "works":
            return self._list(p, keyed=key is not None)
        return self._not_found()

    def _single(self, ident: str, p: dict[str, str]) -> Response:
        with self.lock:
            if ident.startswith("pmid:"):
                pmid = ident[5:]
                work = next((w for w in self.works.values()
                             if w["ids"].get("pmid", "").rsplit("/", 1)[-1] == pmid), None)
            else:
                work = self.works.get(ident)
        if work is None:
            return self._not_found()
        return self._json(self._select(work, p.get("select")))

    def _list(self, p: dict[str, str], *, keyed: bool) -> Response:
        if not keyed:
            with self.lock:
                used = sum(1 for r in self.requests if r.endpoint == "works" and not r.get("api_key"))
            if used > self.free_calls:
                return self._json({"error": "Daily limit exceeded", "message": "Add an API key."}, 429)
            if "cursor" in p:
                return self._json({"error": "Unauthorized", "message": "Cursor paging requires an API key."}, 401)
        per_page = int(p.get("per_page") or p.get("per-page") or 25)
        if not 1 <= per_page <= 100:
            return self._json({"error": "Invalid query parameters error.", "message": "per_page must be 1..100"}, 400)
        filt = p.get("filter", "")
        if not filt.startswith("cites:"):
            return self._json({"error": "Invalid query parameters error.", "message": f"unsupported filter {filt}"}, 400)
        wanted = filt[6:].split("|")
        if len(wanted) > 100:
            return self._json({"error": "Invalid query parameters error.", "message": "Maximum 100 OR values"}, 400)
        with self.lock:
            hits = [w for wid, w in sorted(self.works.items())
                    if {r.rsplit("/", 1)[-1] for r in w["referenced_works"]} & set(wanted)]
        meta: dict[str, Any] = {"count": len(hits), "db_response_time_ms": 12, "per_page": per_page, "groups_count": None}
        if "cursor" in p:
            start = 0 if p["cursor"] == "*" else self._cursors.get(p["cursor"], len(hits))
            page = hits[start : start + per_page]
            meta["page"] = None
            nxt = None
            if page:
                nxt = f"IlsxNzY{start + per_page}"
                self._cursors[nxt] = start + per_page
            meta["next_cursor"] = nxt
        else:
            n = int(p.get("page", "1"))
            page = hits[(n - 1) * per_page : n * per_page]
            meta["page"] = n
        return self._json({"meta": meta, "results": [self._select(w, p.get("select")) for w in page], "group_by": []})

    @staticmethod
    def _select(work: dict[str, Any], select: str | None) -> dict[str, Any]:
        if not select:
            return dict(work)
        return {k: work.get(k) for k in select.split(",")}

    def _not_found(self) -> Response:
        status, body, ctype = next(v for (path, _), v in self.recorded.items() if v[0] == 404)
        return Response(404, body, ctype)

    @staticmethod
    def _json(obj: Any, status: int = 200) -> Response:
        return Response(status, json.dumps(obj).encode(), "application/json")
