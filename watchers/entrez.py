"""The Entrez (E-utilities) client: our own HTTP, Biopython's parsers.

`Bio.Entrez`'s request functions have no timeouts, retry 429 and 5xx without waiting and keep
global state, so this module owns the transport: one pacer for the whole process (NCBI allows 3
requests/s without an API key, 10 with one), connect and read timeouts, bounded retries with
exponential backoff and jitter (honouring `Retry-After`) on connection errors, 429, 5xx and on
HTTP 200 answers that are not a valid answer (an `<ERROR>` element, a JSON error, an HTML page, a
truncated body).  Answers are parsed with `Bio.Entrez`'s validating parser against the DTDs that
Biopython bundles; nothing is downloaded at run time.

Large fetches are pipelined: one thread downloads the efetch batches one after the other (paced;
two threads with an API key, whose 0.1 s spacing is shorter than an answer takes; elink batches
likewise), and worker processes parse them meanwhile, so that parsing (about as slow as NCBI's pace allows
records to arrive) never adds to the wall time of a run.  Requests are only ever made here, in
this process: the pacer stays the one rate control and `requests_made` stays exact.
"""

from __future__ import annotations

import html
import json
import logging
import multiprocessing
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests
import tenacity

from litwatch.watchers import httpio, ncbi_xml
from litwatch.watchers.articles import ArticleRecord, article_records, worker_started
from litwatch.watchers.dtds import DtdCache
from litwatch.watchers.errors import LitwatchError
from litwatch.watchers.redact import redact
from litwatch.watchers.wording import count

log = logging.getLogger(__name__)

TOOL = "litwatch"
MAX_SEARCH_POSITION = 9999  # PubMed's esearch serves only the first 9,999 ids of a search
POST_ABOVE = 200  # NCBI asks for POST when an id list is longer than about 200
FETCH_BATCH = 400  # PubMed records per efetch
LINK_BATCH = 300  # papers per elink
PARSE_WORKERS = 2  # processes that parse efetch answers, for fetches of PARSE_IN_WORKERS_FROM batches or more
IN_FLIGHT_WITH_KEY = 2  # efetch and elink requests in flight at once with an API key
PARSE_IN_WORKERS_FROM = 3  # batches; a smaller fetch is parsed here (starting a worker costs ~0.2 s of CPU)


class EntrezError(LitwatchError):
    """E-utilities could not give a valid answer, even after retries."""


# NCBI's own error texts (the <ERROR> element of an HTTP 200 answer) that asking again will not
# change: a request NCBI cannot serve, whatever the moment.  Every other NCBI error ("Search
# Backend failed", "External viewer error: ... Timeout") is retried as temporary.
_PERMANENT_NCBI_ERRORS = (
    "id list is empty",
    "idlist is empty",
    "empty id list",
    "cannot retrieve history",
    "can not retrieve history",
    "invalid db name",
    "can not retrieve dbinfo",
    "neither query_key nor id",
    "invalid uid",
    "invalid query_key",
    "cannot be larger than",  # 'retstart' cannot be larger than 9998
)
_NCBI_ERROR_RE = re.compile(rb"<ERROR>(.*?)</ERROR>", re.DOTALL)
_NCBI_ERROR_SCAN = 65_536  # NCBI's error answers are short; a long answer is not searched further


class _Retryable(Exception):
    """A failure worth another try; `retry_after` is the server's wish, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Pacer:
    """Spaces request starts at least `interval` seconds apart, across threads.

    The next start is counted from when a request really leaves `wait`: a thread that wakes late
    (a busy CPU, another thread holding the GIL) pushes the next start back, so that two requests
    are never closer than `interval`, which a late one followed by a punctual one would be.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._lock = threading.Lock()
        self._next = 0.0
        self._clock = clock
        self._sleep = sleep

    def wait(self, interval: float) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + interval
        if start > now:
            self._sleep(start - now)
            with self._lock:
                self._next = max(self._next, self._clock() + interval)


PROCESS_PACER = Pacer()  # the one pacer of this process: every client shares it


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One esearch answer."""

    count: int
    ids: list[str]
    query_translation: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)  # PhraseNotFound, FieldNotFound, ...
    warnings: list[str] = field(default_factory=list)  # OutputMessage, QuotedPhraseNotFound, ...


class EntrezClient:
    """A polite E-utilities client.  `requests_made` counts HTTP requests, retries included."""

    def __init__(
        self,
        *,
        email: str,
        api_key: str | None = None,
        base_url: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/",
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        deadline: float = 300.0,
        max_body: int = ncbi_xml.MAX_XML_BYTES,
        retries: int = 5,
        backoff: float = 2.0,
        max_backoff: float = 60.0,
        pacer: Pacer = PROCESS_PACER,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        dtd_cache: str | os.PathLike[str] | None = None,
    ) -> None:
        """`dtd_cache`: the folder (beside the store) where DTDs that Biopython does not bundle are
        fetched to (watchers.dtds); without it such answers are read with a stand-in DTD."""
        self.email = email
        self.api_key = api_key or None
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = (connect_timeout, timeout)
        self.deadline = max(deadline, timeout)  # the whole request, answer included
        self.max_body = max_body  # decoded bytes
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.pacer = pacer
        # NCBI: at most 3 requests/s (10 with a key); a margin keeps a sliding one-second window
        # from ever holding a fourth (eleventh) request start: 20 ms (50 ms) of jitter between
        # leaving here and arriving there.  (A 2 % margin with a key was tried: the benchmark's
        # server then answered 429 to 1-5 requests of 1,435.)
        self.interval = 0.105 if self.api_key else 0.34
        self._sleep = sleep
        self._session = session or httpio.session()
        self._session.headers["User-Agent"] = f"{TOOL} (mailto:{email})"
        self.dtd_cache = os.fspath(dtd_cache) if dtd_cache is not None else None
        self._dtds = DtdCache(None if self.dtd_cache is None else Path(self.dtd_cache), self._session)
        ncbi_xml.use_dtd_cache(self.dtd_cache)
        self.requests_made = 0
        # PMID -> why: records PubMed served that cannot be converted (skipped, not fatal)
        self.unreadable: dict[str, str] = {}
        self._count_lock = threading.Lock()  # requests_made is also counted from the prefetch thread

    def close(self) -> None:
        self._session.close()

    # -- transport ------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        """One line without the API key (plain or URL-encoded): what may be logged, shown or stored."""
        return redact(text, [self.api_key] if self.api_key else [])

    def _redact_bytes(self, body: bytes) -> bytes:
        """An answer without the API key in it (NCBI echoes it in some errors): every snippet of the
        answer shown, logged or stored is cut from this, so no part of the key survives the cut."""
        if self.api_key:
            for form in {self.api_key, quote_plus(self.api_key)}:
                body = body.replace(form.encode(), b"***")
        return body

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(max(float(exc.retry_after), 0.0), self.max_backoff)
        delay = float(self.backoff * 2 ** (state.attempt_number - 1))
        return min(delay, self.max_backoff) * random.uniform(0.5, 1.0)

    def _request(
        self, endpoint: str, params: Sequence[tuple[str, str]], check: Callable[[bytes], Any], *, tried: int = 0
    ) -> Any:
        """Send one E-utility request (GET, or POST for long id lists) and return `check(body)`.

        `check` parses the body and raises `_Retryable` for an answer that is not valid.  `tried`:
        attempts already made elsewhere (they count against `retries`).
        """
        base = [("tool", TOOL), ("email", self.email)]
        if self.api_key:
            base.append(("api_key", self.api_key))
        all_params = list(params) + base
        use_post = sum(v.count(",") + 1 for k, v in params if k == "id") > POST_ABOVE
        url = self.base_url + endpoint + ".fcgi"

        def attempt() -> Any:
            # Everything but the sending is done before the pacer lets the request go, so that
            # little Python (and no wait for a GIL held by a parsing thread) lies between the
            # paced start and the request leaving: NCBI counts arrivals.  (requests' own recipe
            # for prepared requests: the environment's proxy and TLS settings are merged in.)
            try:
                if use_post:
                    prepared = self._session.prepare_request(requests.Request("POST", url, data=all_params))
                else:
                    prepared = self._session.prepare_request(requests.Request("GET", url, params=all_params))
                settings = self._session.merge_environment_settings(prepared.url, {}, None, None, None)
            except requests.RequestException as exc:
                raise EntrezError(self._redact(f"{endpoint}: {type(exc).__name__}: {_cause(exc, self._redact)}")) from None
            settings["stream"] = True
            # The deadline's watchdog is started before the pacer's wait (which it then includes:
            # under a second), so that nothing but the send lies between the paced start and the
            # request leaving.
            with httpio.deadline(self.deadline + self.interval) as watch:
                self.pacer.wait(self.interval)
                with self._count_lock:
                    self.requests_made += 1
                try:
                    resp = self._session.send(prepared, timeout=self.timeout, allow_redirects=False, **settings)
                    if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
                        resp.close()
                        target = _host_of(resp.headers.get("Location", ""))
                        raise EntrezError(
                            f"{endpoint}: HTTP {resp.status_code}: NCBI redirected the request to {target or '?'}; "
                            "litwatch follows no redirect (it could carry the API key elsewhere): check [ncbi] base_url"
                        )
                    body = httpio.read_body(resp, self.max_body)
                except httpio.BodyTooLarge as exc:
                    raise EntrezError(f"{endpoint}: {exc}; refused") from None
                except requests.RequestException as exc:
                    if watch.expired:
                        raise _Retryable(
                            f"{endpoint}: no complete answer within {self.deadline:g} s (the deadline of a request)"
                        ) from None
                    raise _Retryable(f"{endpoint}: {type(exc).__name__}: {_cause(exc, self._redact)}") from None
            if watch.expired:  # the last bytes arrived as the watchdog shut the socket
                raise _Retryable(f"{endpoint}: no complete answer within {self.deadline:g} s (the deadline of a request)")
            body = self._redact_bytes(body)  # before any part of it is cut out for a message
            if resp.status_code == 429:
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                raise _Retryable(f"{endpoint}: HTTP 429 (rate limited)", retry_after if retry_after else 1.0)
            if resp.status_code >= 500:
                raise _Retryable(f"{endpoint}: HTTP {resp.status_code}", _retry_after(resp.headers.get("Retry-After")))
            if resp.status_code != 200:
                raise EntrezError(self._redact(f"{endpoint}: HTTP {resp.status_code}: {_snippet(body)}"))
            _reject_non_xml(endpoint, resp, body)
            try:
                _reject_ncbi_error(endpoint, body)
            except EntrezError as exc:
                raise EntrezError(self._redact(str(exc))) from None
            self._dtds.prepare(body)  # a DTD newer than Biopython: fetched, or stood in for
            return check(body)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1 - tried),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.info(
                "retrying %s after: %s", endpoint, self._redact(str(s.outcome.exception())) if s.outcome else "?"
            ),
        )
        try:
            return retrying(attempt)
        except _Retryable as exc:
            what = str(exc) if str(exc).startswith(f"{endpoint}:") else f"{endpoint}: {exc}"
            raise EntrezError(self._redact(f"{what} (gave up after {count(self.retries + 1, 'attempt')})")) from None

    # -- E-utilities ----------------------------------------------------------------------------

    def esearch(
        self,
        term: str,
        *,
        retstart: int = 0,
        retmax: int = MAX_SEARCH_POSITION,
        datetype: str | None = None,
        mindate: str | None = None,
        maxdate: str | None = None,
        reldate: int | None = None,
    ) -> SearchPage:
        """One esearch page of PubMed ids (and the total count)."""
        params = [("db", "pubmed"), ("term", term), ("retstart", str(retstart)), ("retmax", str(retmax))]
        if datetype:
            params.append(("datetype", datetype))
        if mindate:
            params += [("mindate", mindate), ("maxdate", maxdate or "3000")]
        if reldate is not None:
            params.append(("reldate", str(reldate)))
        page: SearchPage = self._request("esearch", params, _parse_search)
        return page

    def fetch_records(self, pmids: Iterable[str]) -> Iterator[ArticleRecord]:
        """PubMed records of these PMIDs, batched, in PMID order; ids PubMed does not know are absent.

        Batches are downloaded one after the other in a background thread (paced like every
        request) while earlier ones are parsed: in worker processes for a large fetch, else here.
        At most `1 + workers` answers are downloaded ahead of the consumer.
        """
        batches = list(_batches(sorted(set(pmids), key=int), FETCH_BATCH))
        if not batches:
            return
        in_flight = self._in_flight(len(batches))
        with _parse_pool(len(batches), self.dtd_cache) as parsers, ThreadPoolExecutor(
            in_flight, thread_name_prefix="litwatch-efetch"
        ) as downloads:

            def download(batch: list[str]) -> tuple[bytes, Future[Any] | None]:
                body = self._request("efetch", _efetch_params(batch), _whole_article_set)
                if parsers is None:
                    return body, None
                try:
                    return body, parsers.submit(article_records, body)
                except (BrokenProcessPool, RuntimeError):  # the pool is gone: parse it here
                    return body, None

            upcoming = iter(batches)
            window: deque[tuple[list[str], Future[tuple[bytes, Future[Any] | None]]]] = deque()

            def schedule() -> None:
                batch = next(upcoming, None)
                if batch is not None:
                    window.append((batch, downloads.submit(download, batch)))

            for _ in range(in_flight + (PARSE_WORKERS if parsers is not None else 0)):
                schedule()
            try:
                while window:
                    batch, pending = window.popleft()
                    body, parsed = pending.result()
                    schedule()
                    records, unreadable = self._parsed(batch, body, parsed)
                    del body
                    self.unreadable.update(unreadable)
                    yield from records
            finally:
                for _, waiting in window:  # a consumer that stops early: nothing beyond what is in flight
                    waiting.cancel()

    def _parsed(
        self, batch: list[str], body: bytes, parsed: Future[Any] | None
    ) -> tuple[list[ArticleRecord], dict[str, str]]:
        """The records of one downloaded batch; an answer that is whole but not valid is asked for
        again, as `_request` would."""
        try:
            if parsed is not None:
                try:
                    return _checked(parsed.result)
                except BrokenProcessPool as exc:  # a worker died (killed for memory?): parse it here
                    log.warning("efetch: a parse worker stopped (%s); parsing in this process", exc)
            return _parse_article_set(body)
        except _Retryable as exc:
            if self.retries == 0:
                raise EntrezError(self._redact(f"{exc} (gave up after 1 attempt)")) from None
            log.info("retrying efetch after: %s", self._redact(str(exc)))
            self._sleep(min(self.backoff, self.max_backoff) * random.uniform(0.5, 1.0))
            return self._request("efetch", _efetch_params(batch), _parse_article_set, tried=1)  # type: ignore[no-any-return]

    def cited_by(self, pmids: Iterable[str]) -> dict[str, set[str]]:
        """PubMed's "cited by" (papers in PMC that cite each PMID), one LinkSet per paper."""
        out: dict[str, set[str]] = {}
        batches = list(_batches(sorted(set(pmids), key=int), LINK_BATCH))

        def one(batch: list[str]) -> dict[str, set[str]]:
            params = [("dbfrom", "pubmed"), ("db", "pubmed"), ("linkname", "pubmed_pubmed_citedin")]
            params += [("id", p) for p in batch]
            links: dict[str, set[str]] = self._request("elink", params, _parse_links)
            missing = set(batch) - set(links)
            if missing:
                raise EntrezError(f"elink: no LinkSet for {len(missing)} of {count(len(batch), 'paper')}")
            return links

        in_flight = self._in_flight(len(batches))
        if in_flight == 1:
            for batch in batches:
                out.update(one(batch))
            return out
        with ThreadPoolExecutor(in_flight, thread_name_prefix="litwatch-elink") as pool:
            for links in pool.map(one, batches):
                out.update(links)
        return out

    def _in_flight(self, requests: int) -> int:
        """Requests of one fetch sent before the previous is answered: 2 with an API key (10/s:
        an answer takes longer than the 0.1 s spacing), else 1 (3/s); the pacer spaces them."""
        return max(1, min(IN_FLIGHT_WITH_KEY if self.api_key else 1, requests))


# -- answers --------------------------------------------------------------------------------------


def _cause(exc: BaseException, redact: Callable[[str], str] = str) -> str:
    """The innermost reason of a requests error, without the request URL that urllib3 repeats.

    `redact` is applied to the whole text before it is cut: a secret cut in half is not found."""
    inner: BaseException = exc
    while inner.__context__ is not None or inner.__cause__ is not None:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    text = redact(str(inner))
    if "Failed to resolve" in text or "Name or service not known" in text or "Temporary failure in name resolution" in text:
        host = _unresolved_host(str(exc))
        return f"cannot resolve the host name {host}" if host else "cannot resolve the host name"
    return text.split(" (Caused by ")[0].split(": /")[0][:200] or type(inner).__name__


def _unresolved_host(text: str) -> str:
    """The host urllib3 names in a connection error ("HTTPSConnectionPool(host='x', port=443)")."""
    found = re.search(r"host='([^']{1,253})'", text)
    return found.group(1) if found else ""


def _host_of(url: str) -> str:
    """The host (and port) of a URL, for a message; nothing else of it (no path, no query)."""
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1][:100]
    except ValueError:
        return ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _snippet(body: bytes, n: int = 120) -> str:
    return " ".join(body[:n].decode("utf-8", "replace").split())


def _reject_non_xml(endpoint: str, resp: requests.Response, body: bytes) -> None:
    head = body.lstrip()[:200].lower()
    if not head:
        raise _Retryable(f"{endpoint}: empty answer")
    if head.startswith(b"{") or "json" in resp.headers.get("Content-Type", ""):
        try:
            message = json.loads(body).get("error", "")
        except (ValueError, AttributeError):
            message = _snippet(body)
        raise _Retryable(f"{endpoint}: error answer: {message}")
    if head.startswith((b"<!doctype html", b"<html")):
        raise _Retryable(f"{endpoint}: an HTML page instead of XML: {_snippet(body)}")


def ncbi_error_text(body: bytes) -> str:
    """NCBI's own words from the <ERROR> elements of an answer, on one printable line ('' if none)."""
    head = body[:_NCBI_ERROR_SCAN]
    if b"<ERROR>" not in head:
        return ""
    texts = []
    for match in _NCBI_ERROR_RE.finditer(head):
        text = html.unescape(match.group(1).decode("utf-8", "replace"))
        text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
        if text:
            texts.append(text)
    line = "; ".join(texts)
    return line if len(line) <= 500 else line[:497] + "..."


def _reject_ncbi_error(endpoint: str, body: bytes) -> None:
    """An answer carrying NCBI's <ERROR>: its words, not retried when asking again cannot help."""
    message = ncbi_error_text(body)
    if not message:
        return
    if any(phrase in message.lower() for phrase in _PERMANENT_NCBI_ERRORS):
        raise EntrezError(f"{endpoint}: NCBI answered: {message} (not retried: the same request gets the same answer)")
    raise _Retryable(f"{endpoint}: NCBI answered: {message}")


def _xml(body: bytes) -> Any:
    try:
        return ncbi_xml.read(body)
    except ncbi_xml.NCBIXMLError as exc:
        raise _Retryable(f"not a valid answer: {exc}") from None


def _parse_search(body: bytes) -> SearchPage:
    rec = _xml(body)
    if "ERROR" in rec and rec["ERROR"]:
        raise _Retryable(f"esearch: {rec['ERROR']}")
    errors = {str(k): [str(x) for x in v] for k, v in dict(rec.get("ErrorList") or {}).items() if v}
    warnings = [f"{k}: {', '.join(str(x) for x in v)}" for k, v in dict(rec.get("WarningList") or {}).items() if v]
    return SearchPage(
        count=int(rec["Count"]),
        ids=[str(i) for i in rec.get("IdList", [])],
        query_translation=str(rec.get("QueryTranslation", "")),
        errors=errors,
        warnings=warnings,
    )


def _efetch_params(batch: list[str]) -> list[tuple[str, str]]:
    return [("db", "pubmed"), ("retmode", "xml"), ("id", ",".join(batch))]


def _whole_article_set(body: bytes) -> bytes:
    """The check of a prefetched efetch answer: a whole PubmedArticleSet (parsed later)."""
    if not body.rstrip().endswith(b"</PubmedArticleSet>"):
        raise _Retryable(f"efetch: not a whole PubmedArticleSet: {_snippet(body)}")
    return body


def _parse_article_set(body: bytes) -> tuple[list[ArticleRecord], dict[str, str]]:
    """The records of an efetch answer, parsed here."""
    return _checked(lambda: article_records(body))


def _checked(parse: Callable[[], tuple[list[ArticleRecord], list[tuple[str, str]]]]) -> tuple[list[ArticleRecord], dict[str, str]]:
    """`parse()` (`article_records` run here, or a parse worker's result): the records, and those
    that cannot be converted (PMID -> why), skipped (no retry makes them readable; the others need
    not wait for them).  A document that cannot be read is worth asking for again."""
    try:
        records, bad = parse()
    except ncbi_xml.NCBIXMLError as exc:
        raise _Retryable(f"efetch: not a valid answer: {exc}") from None
    unreadable: dict[str, str] = {}
    for pmid, why in bad:
        if not pmid:  # a record we cannot even name: nothing can be skipped safely
            raise EntrezError(f"efetch: {why}")
        unreadable[pmid] = why
    return records, unreadable


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextmanager
def _parse_pool(batches: int, dtd_cache: str | None = None) -> Iterator[Executor | None]:
    """Worker processes to parse `batches` efetch answers, or None: parse them in this process
    (a small fetch, one CPU, or a platform that cannot start them)."""
    workers = min(PARSE_WORKERS, _usable_cpus(), batches)
    if batches < PARSE_IN_WORKERS_FROM or workers < 2:
        yield None
        return
    try:
        # spawn: a fresh interpreter, never a fork of this threaded process
        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_started, initargs=(dtd_cache,)
        )
    except (OSError, ImportError, NotImplementedError) as exc:
        log.info("efetch: parsing in this process (no worker processes: %s)", exc)
        yield None
        return
    # Start every worker now (a worker is started for a task only when none is idle): they import
    # the parser while the first answers download, not when the first one is waiting to be parsed.
    for _ in range(workers):
        pool.submit(int)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _parse_links(body: bytes) -> dict[str, set[str]]:
    rec = _xml(body)
    if not isinstance(rec, list):
        raise _Retryable("elink: not an eLinkResult")
    out: dict[str, set[str]] = {}
    for linkset in rec:
        if linkset.get("ERROR"):
            raise _Retryable(f"elink: {linkset['ERROR']}")
        ids = [str(i) for i in linkset.get("IdList", [])]
        if len(ids) != 1:
            raise EntrezError(f"elink: a LinkSet for {len(ids)} papers (ids must be sent one per id= parameter)")
        citing: set[str] = set()
        for db in linkset.get("LinkSetDb", []):
            if db.get("LinkName") == "pubmed_pubmed_citedin":
                citing.update(str(link["Id"]) for link in db.get("Link", []))
        out.setdefault(ids[0], set()).update(citing)
    return out


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
