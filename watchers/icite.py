"""Cited-by beyond PMC: the NIH Open Citation Collection, through the iCite API.

PubMed's "cited by" only knows citing papers that are in PMC; iCite's `cited_by` field covers the
NIH Open Citation Collection.  `GET {base}pubs?pmids=1,2,3&fl=pmid,cited_by` answers up to about
1,000 PMIDs per request.  The HTTP (timeouts, an overall deadline, the size cap, no redirects,
retries with backoff, pacing) is `JsonService`'s, as for Europe PMC and OpenAlex.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import requests

from litwatch.watchers.jsonapi import JsonService, RetryAnswer, ServiceError

log = logging.getLogger(__name__)

BATCH = 1000


class ICiteError(ServiceError):
    """iCite gave no valid answer, even after retries."""


class ICiteClient(JsonService):
    name = "icite"
    error = ICiteError

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        kwargs.setdefault("interval", 0.1)  # iCite publishes no limit: ten requests a second at most
        super().__init__(base_url, **kwargs)

    def check(self, body: Any, resp: requests.Response) -> Any:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise RetryAnswer("icite pubs: not a valid answer (no data list)")
        return data

    def cited_by(self, pmids: Iterable[str]) -> dict[str, set[str]]:
        """Citing PMIDs of each PMID iCite knows (PMIDs it does not know are absent)."""
        ids = sorted(set(pmids), key=int)
        out: dict[str, set[str]] = {}
        for i in range(0, len(ids), BATCH):
            params = [("pmids", ",".join(ids[i : i + BATCH])), ("fl", "pmid,cited_by"), ("format", "json")]
            for pub in self.get_json("pubs", params):
                try:
                    pmid = str(int(pub["pmid"]))
                    out[pmid] = {str(int(c)) for c in (pub.get("cited_by") or [])}
                except (KeyError, TypeError, ValueError):
                    raise ICiteError(f"icite: malformed record {str(pub)[:80]}") from None
        return out
