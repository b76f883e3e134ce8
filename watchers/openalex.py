"""OpenAlex (https://api.openalex.org): works citing the tracked papers.

* An API key is needed since February 2026 (free, openalex.org/settings/api); it goes in the
  `api_key` query parameter and is never shown: errors and logs have it replaced by `***`.
  Without a key OpenAlex allows a very small daily budget (for trying it out).
* Costs (usage-based, per OpenAlex's pricing): a singleton (`/works/pmid:123`) is free; a list or
  filter call costs $0.0001 (10,000 a day within the free key's $1).  litwatch looks each tracked
  paper's OpenAlex id up once (free, cached in the store), then asks for the works citing up to 50
  tracked papers in one filter call (`filter=cites:W1|W2|...`), 100 works per page.
* At most 100 requests a second on any plan; litwatch sends at most 10.
* Paging: with a key, cursor paging (`cursor=*`, `meta.next_cursor`); without one, `page=N`
  (cursor paging without a key has been refused with 401 since late 2026).
* Errors: 400 bad filter, 403/429 rate or budget exhausted, 404 unknown work (an HTML page, not
  JSON), 5xx: retried with backoff, then one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from litwatch.watchers.citing import CitingWork, norm_doi, norm_pmid
from litwatch.watchers.jsonapi import JsonService, ServiceError

CITES_BATCH = 50  # tracked papers per `cites:` filter
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 citing works per batch and run at most
SELECT = "id,doi,ids,title,display_name,publication_year,primary_location,authorships,type,referenced_works"


class OpenAlexError(ServiceError):
    """OpenAlex gave no valid answer."""


def short_id(value: object) -> str:
    """'https://openalex.org/W123' -> 'W123'."""
    return str(value or "").rstrip("/").rsplit("/", 1)[-1]


class OpenAlexClient(JsonService):
    name = "OpenAlex"
    error = OpenAlexError

    def __init__(self, base_url: str, *, api_key: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("interval", 0.1)
        super().__init__(base_url, secrets=[api_key] if api_key else [], **kwargs)
        self.api_key = api_key or None

    def _params(self, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return params + ([("api_key", self.api_key)] if self.api_key else [])

    def work_id(self, pmid: str) -> str | None:
        """OpenAlex's id of a PubMed article (a free singleton request), or None when unknown."""
        try:
            body = self.get_json(f"works/pmid:{pmid}", self._params([("select", "id")]))
        except OpenAlexError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        return short_id(body.get("id")) or None

    def _pages(self, filter_: str) -> Iterator[dict[str, Any]]:
        cursor, page = "*", 1
        for _ in range(MAX_PAGES):
            params = [("filter", filter_), ("select", SELECT), ("per_page", str(PER_PAGE))]
            params += [("cursor", cursor)] if self.api_key else [("page", str(page))]
            body = self.get_json("works", self._params(params))
            results = body.get("results") or []
            yield from results
            meta = body.get("meta") or {}
            if len(results) < PER_PAGE:
                return  # a short page is the last (no request for the empty page after it)
            if self.api_key:
                nxt = meta.get("next_cursor")
                if not nxt or not results:
                    return
                cursor = str(nxt)
            else:
                if not results or page * PER_PAGE >= int(meta.get("count") or 0):
                    return
                page += 1

    def citing(self, work_ids: Iterable[str]) -> dict[str, list[CitingWork]]:
        """Works citing each OpenAlex id."""
        ids = sorted(set(work_ids))
        out: dict[str, list[CitingWork]] = {w: [] for w in ids}
        for i in range(0, len(ids), CITES_BATCH):
            batch = set(ids[i : i + CITES_BATCH])
            for rec in self._pages("cites:" + "|".join(sorted(batch))):
                work = _work(rec)
                for ref in {short_id(r) for r in rec.get("referenced_works") or []} & batch:
                    out[ref].append(work)
        return out


def _work(rec: dict[str, Any]) -> CitingWork:
    ids = rec.get("ids") or {}
    source = ((rec.get("primary_location") or {}).get("source")) or {}
    authors = [
        str(((a or {}).get("author") or {}).get("display_name") or "") for a in (rec.get("authorships") or [])[:3]
    ]
    names = ", ".join(a for a in authors if a) + (" et al." if len(rec.get("authorships") or []) > 3 else "")
    year = rec.get("publication_year")
    return CitingWork(
        pmid=norm_pmid(ids.get("pmid")),
        doi=norm_doi(rec.get("doi") or ids.get("doi")),
        title=str(rec.get("title") or rec.get("display_name") or "").strip(),
        year=int(year) if isinstance(year, int) else None,
        venue=str(source.get("display_name") or ""),
        authors=names,
        openalex_id=short_id(rec.get("id")),
        is_preprint=rec.get("type") == "preprint",
    )
