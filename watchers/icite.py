"""Cited-by beyond PMC: the NIH Open Citation Collection, through the iCite API.

PubMed's "cited by" only knows citing papers that are in PMC; iCite's `cited_by` field covers the
NIH Open Citation Collection.  `GET {base}pubs?pmids=1,2,3&fl=pmid,cited_by` answers up to about
1,000 PMIDs per request.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
import tenacity

from litwatch.watchers import httpio
from litwatch.watchers.errors import LitwatchError
from litwatch.watchers.wording import count

log = logging.getLogger(__name__)

BATCH = 1000
MAX_BODY = 64 * 1024 * 1024  # decoded bytes of one answer (1,000 records are well under 10 MB)


class ICiteError(LitwatchError):
    """iCite gave no valid answer, even after retries."""


class _Retry(Exception):
    pass


class ICiteClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        deadline: float = 300.0,
        retries: int = 3,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = (10.0, timeout)
        self.deadline = max(deadline, timeout)
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._session = session or httpio.session()
        self._session.headers["User-Agent"] = "litwatch"
        self.requests_made = 0

    def close(self) -> None:
        self._session.close()

    def _get(self, pmids: list[str]) -> list[dict[str, Any]]:
        def attempt() -> list[dict[str, Any]]:
            self.requests_made += 1
            with httpio.deadline(self.deadline) as watch:
                try:
                    resp = self._session.get(
                        self.base_url + "pubs",
                        params={"pmids": ",".join(pmids), "fl": "pmid,cited_by", "format": "json"},
                        timeout=self.timeout,
                        allow_redirects=False,
                        stream=True,
                    )
                    body = httpio.read_body(resp, MAX_BODY)
                except httpio.BodyTooLarge as exc:
                    raise ICiteError(f"icite: {exc}; refused") from None
                except requests.RequestException as exc:
                    if watch.expired:
                        raise _Retry(f"icite: no complete answer within {self.deadline:g} s") from None
                    raise _Retry(f"icite: {type(exc).__name__}") from None
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Retry(f"icite: HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise ICiteError(f"icite: HTTP {resp.status_code}")
            try:
                data = json.loads(body)["data"]
                if not isinstance(data, list):
                    raise TypeError("data is not a list")
            except (ValueError, KeyError, TypeError) as exc:
                raise _Retry(f"icite: not a valid answer ({exc})") from None
            return data

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=lambda s: self.backoff * 2 ** (s.attempt_number - 1) * random.uniform(0.5, 1.0),
            retry=tenacity.retry_if_exception_type(_Retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retry as exc:
            raise ICiteError(f"{exc} (gave up after {count(self.retries + 1, 'attempt')})") from None

    def cited_by(self, pmids: Iterable[str]) -> dict[str, set[str]]:
        """Citing PMIDs of each PMID iCite knows (PMIDs it does not know are absent)."""
        ids = sorted(set(pmids), key=int)
        out: dict[str, set[str]] = {}
        for i in range(0, len(ids), BATCH):
            for pub in self._get(ids[i : i + BATCH]):
                try:
                    pmid = str(int(pub["pmid"]))
                    out[pmid] = {str(int(c)) for c in (pub.get("cited_by") or [])}
                except (KeyError, TypeError, ValueError):
                    raise ICiteError(f"icite: malformed record {str(pub)[:80]}") from None
        return out
