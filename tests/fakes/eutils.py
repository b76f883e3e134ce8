"""`FakeEutils`: a loopback NCBI E-utilities server (esearch, efetch, elink, epost; db=pubmed).

Answers are byte-for-byte in the shape of the recorded responses in /work/shared/fixtures/ncbi
(esearch1/2/8.xml, elink1/3.xml, epost1.xml, pubmed*.xml): same DOCTYPE lines, element order and
whitespace habits, so ``Bio.Entrez.read(..., validate=True)`` parses them with its bundled DTDs.

Scenario data (plain attributes; change them between runs, or inside ``with fake.lock:`` while a
client may be running):

* ``records``   pmid -> ``<PubmedArticle>`` XML (see tests/fakes/pubmed_xml.make_article)
* ``edat``      pmid -> datetime.date, the Entrez date used by datetype=edat filters.  When a pmid
                has none, the PubMedPubDate "entrez" date inside its record is used.
* ``searches``  query -> matching pmids (any order: esearch sorts newest edat first, then pmid
                descending).  Queries match exactly after whitespace normalisation.  A query not
                in here answers Count 0 with ``<ErrorList><PhraseNotFound>`` like esearch8.xml.
* ``warnings``  query -> a phrase to report as ``<ErrorList><PhraseNotFound>`` even though the
                query has hits (what PubMed does for an unknown word in an OR).
* ``translations`` query -> the ``<QueryTranslation>`` text (default: the query itself).
* ``citedin``   pmid -> pmids citing it (elink linkname=pubmed_pubmed_citedin).
* ``today``     the date reldate counts back from (default: date.today() at construction).

NCBI behaviour reproduced:

* esearch: retmax defaults to 20; rettype=count gives only ``<Count>``; retmax is clamped to
  9,999; retstart >= 9,999 gives HTTP 200 with the "Search Backend failed ... 'retstart' cannot
  be larger than 9998" ``<ERROR>``; a window reaching past position 9,999 is cut there, with a
  WarningList OutputMessage.  usehistory=y returns QueryKey + WebEnv (a WebEnv passed in is
  reused and the QueryKey incremented).  Date limits: datetype=edat with mindate+maxdate (both
  needed, as NCBI documents; one alone is ignored) and/or reldate; dates as YYYY/MM/DD, YYYY/MM or
  YYYY.  datetype pdat/mdat (or none) do not filter here.  ``sort`` is ignored.
* efetch: ``id`` (comma lists and/or repeated params, GET or POST), else WebEnv + query_key with
  retstart/retmax (retmax default 20 here: pass it explicitly).  Unknown pmids are silently
  left out; none found -> an empty ``<PubmedArticleSet></PubmedArticleSet>``.  Always XML.
* elink (cmd=neighbor): each ``id=`` parameter gives its own ``<LinkSet>``; ``id=a,b`` gives ONE
  LinkSet listing both ids with the union of their links (the elink3.xml trap).  No citations ->
  a LinkSet with its IdList and no LinkSetDb.  Links are listed highest PMID first, like NCBI.
* epost: stores the ids under a WebEnv/QueryKey (epost1.xml shape); efetch can read them.
* Rate limit: more than ``rate_limit`` (3) requests in a sliding second without ``api_key``
  (``rate_limit_with_key``, 10, with one) -> HTTP 429, Retry-After: 1, JSON
  ``{"error":"API rate limit exceeded","api-key":"<key or client IP>","count":"4","limit":"3"}``.
  Answers carry X-RateLimit-Limit / X-RateLimit-Remaining headers like NCBI's.
* ``tool`` and ``email``: recorded (`Recorded.has_identity`, `missing_identity()`), never refused.

Other errors answer HTTP 200 with an ``<ERROR>`` element (unknown db, empty term or id list,
bad dates, unknown WebEnv/query_key), which Bio.Entrez turns into a RuntimeError.  The fake's
error texts are modelled on NCBI's but not all are verbatim.
"""

from __future__ import annotations

import calendar
import json
import re
import uuid
from datetime import date, timedelta

from . import FakeService, Recorded, Response
from .pubmed_xml import article_set, entrez_date_of, esc, make_article

__all__ = ["FakeEutils", "ESEARCH_CAP", "RETSTART_ERROR"]

#: PubMed ESearch can reach only the first 9,999 positions of a result.
ESEARCH_CAP = 9999

RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch "
    "can only retrieve the first 9,999 records matching the query. To obtain more than 9,999 PubMed "
    "records, consider using EDirect that contains additional logic to batch PubMed search results "
    "automatically so that an arbitrary number can be retrieved. For details see "
    "https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)

_XML_DECL = '<?xml version="1.0" encoding="UTF-8" ?>\n'
_ESEARCH_DOCTYPE = (
    '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
_ELINK_DOCTYPE = (
    '<!DOCTYPE eLinkResult PUBLIC "-//NLM//DTD elink 20101123//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20101123/elink.dtd">\n'
)
_EPOST_DOCTYPE = (
    '<!DOCTYPE ePostResult PUBLIC "-//NLM//DTD epost 20090526//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20090526/epost.dtd">'
)
# Error roots per endpoint, with the DOCTYPE NCBI puts on them where Biopython bundles the DTD
# (there is no bundled efetch DTD, so efetch errors never get one).
_ERROR_ROOTS = {
    "esearch": ("eSearchResult", _ESEARCH_DOCTYPE),
    "efetch": ("eFetchResult", ""),
    "elink": ("eLinkResult", _ELINK_DOCTYPE),
    "epost": ("ePostResult", _EPOST_DOCTYPE + "\n"),
}
_BACKEND_ERROR = "Search Backend failed: Exception:\nUnable to process the request, the backend is temporarily unavailable"

CITEDIN = "pubmed_pubmed_citedin"


class _BadRequest(Exception):
    """Raised inside an endpoint: answer HTTP 200 with this message in an <ERROR> element."""


def normalize_query(query: str) -> str:
    """Collapse runs of whitespace and strip: how `searches` keys and terms are compared."""
    return " ".join(str(query).split())


def _split_ids(values: list[str]) -> list[str]:
    """['1,2', ' 3 '] -> ['1', '2', '3'] (order kept, duplicates dropped)."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _parse_date(value: str, *, end: bool) -> date:
    """'2026/11/20', '2026/11', '2026' (also with '-') -> first (or, with end, last) day."""
    parts = [p for p in re.split(r"[/-]", value.strip()) if p]
    try:
        nums = [int(p) for p in parts]
        if len(nums) == 3:
            return date(*nums)
        if len(nums) == 2:
            y, m = nums
            return date(y, m, calendar.monthrange(y, m)[1] if end else 1)
        if len(nums) == 1:
            return date(nums[0], 12, 31) if end else date(nums[0], 1, 1)
    except ValueError:
        pass
    raise _BadRequest(f"Invalid date format: {value}")


def _int_param(params: dict[str, list[str]], name: str, default: int) -> int:
    raw = (params.get(name) or [""])[0].strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"Invalid {name} value: {raw}") from None
    if value < 0:
        raise _BadRequest(f"Invalid {name} value: {raw}")
    return value


class FakeEutils(FakeService):
    """Loopback E-utilities.  ``base_url`` = 'http://127.0.0.1:PORT/entrez/eutils/'."""

    path_prefix = "/entrez/eutils/"
    ENDPOINTS = ("esearch", "efetch", "elink", "epost")

    def __init__(
        self,
        *,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        rate_limit: int | None = 3,
        rate_limit_with_key: int | None = 10,
        today: date | None = None,
        efetch_default_retmax: int = 20,
    ) -> None:
        super().__init__(latency=latency, slow_seconds=slow_seconds, rate_limit=rate_limit,
                         rate_limit_with_key=rate_limit_with_key)
        self.records: dict[str, str] = {}
        self.edat: dict[str, date] = {}
        self.searches: dict[str, list[str]] = {}
        self.warnings: dict[str, str] = {}
        self.translations: dict[str, str] = {}
        self.citedin: dict[str, list[str]] = {}
        self.today: date = today or date.today()
        self.efetch_default_retmax = efetch_default_retmax
        #: WebEnv -> {query_key: ids}, filled by esearch usehistory=y and epost.
        self.history: dict[str, dict[int, list[str]]] = {}
        #: endpoint -> answers (HTTP 200 bodies) given, one each, to its next requests.
        self.canned: dict[str, list[bytes]] = {}

    def answer_next(self, endpoint: str, body: bytes | str, count: int = 1) -> None:
        """Answer the next `count` requests to `endpoint` with this body (HTTP 200): e.g. one of
        NCBI's own error answers, as recorded (tests/data/ncbi/real/error)."""
        data = body.encode() if isinstance(body, str) else body
        with self.lock:
            self.canned.setdefault(endpoint, []).extend([data] * count)

    # -- scenario helpers -----------------------------------------------------------------
    def add_article(self, pmid: str, title: str | None = None, *, xml: str | None = None,
                    edat: date | None = None, **article_kwargs) -> str:
        """Store a record (built with make_article unless ``xml`` is given) and its Entrez date.

        ``edat`` defaults to the record's entrez date; when given and no ``entrez_date`` keyword
        is, the record's entrez date is set to match.  Returns the article XML.
        """
        pmid = str(pmid)
        if xml is None:
            if edat is not None and "entrez_date" not in article_kwargs:
                article_kwargs["entrez_date"] = edat.strftime("%Y/%m/%d")
            xml = make_article(pmid, esc(f"Article {pmid}") if title is None else title, **article_kwargs)
        with self.lock:
            self.records[pmid] = xml
            found = edat or entrez_date_of(xml)
            if found is not None:
                self.edat[pmid] = found
        return xml

    def add_search(self, query: str, pmids) -> None:
        """``searches[query] = pmids`` (as strings)."""
        with self.lock:
            self.searches[query] = [str(p) for p in pmids]

    def ids_for(self, query: str, *, mindate: str | None = None, maxdate: str | None = None,
                reldate: int | None = None) -> list[str]:
        """The full ordered id list esearch would page through (dates: datetype=edat)."""
        params = {"term": [query]}
        if mindate or maxdate or reldate is not None:
            params["datetype"] = ["edat"]
        for name, value in (("mindate", mindate), ("maxdate", maxdate), ("reldate", reldate)):
            if value is not None:
                params[name] = [str(value)]
        return self._search(params)[0]

    def history_ids(self, webenv: str, query_key: int | str) -> list[str]:
        with self.lock:
            return list(self.history[webenv][int(query_key)])

    def missing_identity(self) -> list[Recorded]:
        """Requests that lacked ``tool`` or ``email``."""
        with self.lock:
            return [r for r in self.requests if not r.has_identity]

    # -- FakeService hooks ----------------------------------------------------------------
    def endpoint_for(self, path: str) -> str | None:
        name = super().endpoint_for(path)
        if name and name.endswith(".fcgi"):
            name = name[: -len(".fcgi")]
        return name

    def handle(self, endpoint: str, params: dict[str, list[str]]) -> Response:
        if endpoint not in self.ENDPOINTS:
            return Response(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        with self.lock:
            canned = self.canned.get(endpoint)
            if canned:
                return Response(200, canned.pop(0))
        try:
            return getattr(self, "_" + endpoint)(params)
        except _BadRequest as exc:
            return self._error_xml(endpoint, str(exc), doctype=True)

    def rate_limited_response(self, identity: str, count: int, limit: int) -> Response:
        body = json.dumps(
            {"error": "API rate limit exceeded", "api-key": identity, "count": str(count), "limit": str(limit)},
            separators=(",", ":"),
        )
        return Response(429, body.encode(), "application/json", {"Retry-After": "1"})

    def extra_headers(self, identity: str, count: int, limit: int | None) -> dict[str, str]:
        if limit is None:
            return {}
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(limit - count, 0))}

    def error200_response(self, endpoint: str, *, doctype: bool) -> Response:
        if not doctype:
            root = _ERROR_ROOTS.get(endpoint, ("eSearchResult", ""))[0]
            body = f'<?xml version="1.0"?><{root}><ERROR>{esc(_BACKEND_ERROR)}</ERROR></{root}>'
            return Response(200, body.encode())
        return self._error_xml(endpoint, _BACKEND_ERROR, doctype=True)

    def json_error_response(self) -> Response:
        body = json.dumps({"error": _BACKEND_ERROR}, separators=(",", ":"))
        return Response(200, body.encode(), "application/json; charset=UTF-8")

    def _error_xml(self, endpoint: str, message: str, *, doctype: bool) -> Response:
        root, dt = _ERROR_ROOTS.get(endpoint, ("eSearchResult", _ESEARCH_DOCTYPE))
        body = _XML_DECL + (dt if doctype else "") + f"<{root}><ERROR>{esc(message)}</ERROR></{root}>\n"
        return Response(200, body.encode())

    # -- history --------------------------------------------------------------------------
    def _remember(self, webenv: str | None, ids: list[str]) -> tuple[str, int]:
        with self.lock:
            if not webenv or webenv not in self.history:
                webenv = "MCID_" + uuid.uuid4().hex[:24]
                self.history[webenv] = {}
            keys = self.history[webenv]
            query_key = len(keys) + 1
            keys[query_key] = list(ids)
            return webenv, query_key

    # -- esearch --------------------------------------------------------------------------
    def _search(self, params: dict[str, list[str]]) -> tuple[list[str], str, list[str], bool]:
        """Run a search: (ordered ids, QueryTranslation, PhraseNotFound list, known query)."""

        def p(name: str) -> str:
            return (params.get(name) or [""])[0].strip()

        term = normalize_query(p("term"))
        with self.lock:
            matched = next((list(v) for k, v in self.searches.items() if normalize_query(k) == term), None)
            warning = next((v for k, v in self.warnings.items() if normalize_query(k) == term), None)
            translation = next((v for k, v in self.translations.items() if normalize_query(k) == term), None)
            edat = dict(self.edat)
            records = {pmid: self.records.get(pmid) for pmid in (matched or [])}
            today = self.today

        def edat_of(pmid: str) -> date | None:
            if pmid in edat:
                return edat[pmid]
            xml = records.get(pmid)
            return entrez_date_of(xml) if xml else None

        if matched is None:
            return [], f"({term}[All Fields])", [term], False

        lo = hi = None
        if p("datetype").lower() == "edat":
            if p("mindate") and p("maxdate"):
                lo, hi = _parse_date(p("mindate"), end=False), _parse_date(p("maxdate"), end=True)
            if p("reldate"):
                try:
                    days = int(p("reldate"))
                except ValueError:
                    raise _BadRequest(f"Invalid reldate value: {p('reldate')}") from None
                rel_lo = today - timedelta(days=days)
                lo = max(lo, rel_lo) if lo else rel_lo
                hi = min(hi, today) if hi else today

        ids = list(dict.fromkeys(str(i) for i in matched))
        if lo is not None:
            ids = [i for i in ids if (d := edat_of(i)) is not None and lo <= d <= hi]
        ids.sort(key=lambda i: (edat_of(i) or date.min, int(i) if i.isdigit() else 0), reverse=True)

        text = translation if translation is not None else term
        if lo is not None:
            text = f"({text}) AND {lo:%Y/%m/%d}:{hi:%Y/%m/%d}[Date - Entry]"
        return ids, text, [warning] if warning else [], True

    def _esearch(self, params: dict[str, list[str]]) -> Response:
        def p(name: str) -> str:
            return (params.get(name) or [""])[0].strip()

        db = p("db") or "pubmed"
        if db != "pubmed":
            raise _BadRequest(f"Invalid db name specified: {db}")
        if not normalize_query(p("term")):
            raise _BadRequest("Empty term and query_key - nothing todo")
        retstart = _int_param(params, "retstart", 0)
        retmax = _int_param(params, "retmax", 20)

        ids, translation, not_found, _known = self._search(params)
        count = len(ids)

        if p("rettype") == "count":
            body = _XML_DECL + _ESEARCH_DOCTYPE + f"<eSearchResult>\n\t<Count>{count}</Count>\n</eSearchResult>\n"
            return Response(200, body.encode())
        if retstart >= ESEARCH_CAP:
            return self._error_xml("esearch", RETSTART_ERROR, doctype=True)

        messages: list[str] = []
        allowed = min(retmax, ESEARCH_CAP - retstart)
        if retstart + allowed < min(retstart + retmax, count):
            messages.append(f"Restrictions achieved. start and count adjusted to {retstart}, {allowed}")
        page = ids[retstart: retstart + allowed]
        if count == 0:
            messages.append("No items found.")

        history = ""
        if p("usehistory").lower() == "y":
            webenv, query_key = self._remember(p("WebEnv") or None, ids)
            history = f"<QueryKey>{query_key}</QueryKey><WebEnv>{webenv}</WebEnv>"

        id_list = "<IdList>\n" + "".join(f"<Id>{i}</Id>\n" for i in page) + "</IdList>" if page else "<IdList/>"
        body = (
            _XML_DECL + _ESEARCH_DOCTYPE
            + f"<eSearchResult><Count>{count}</Count><RetMax>{len(page)}</RetMax><RetStart>{retstart}</RetStart>"
            + history + id_list
            + f"<TranslationSet/><QueryTranslation>{esc(translation)}</QueryTranslation>"
        )
        if not_found:
            body += "<ErrorList>" + "".join(f"<PhraseNotFound>{esc(x)}</PhraseNotFound>" for x in not_found) + "</ErrorList>"
        if messages:
            body += "<WarningList>" + "".join(f"<OutputMessage>{esc(m)}</OutputMessage>" for m in messages) + "</WarningList>"
        body += "</eSearchResult>\n"
        return Response(200, body.encode())

    # -- efetch ---------------------------------------------------------------------------
    def _efetch(self, params: dict[str, list[str]]) -> Response:
        ids = _split_ids(params.get("id", []))
        if not ids:
            webenv = (params.get("WebEnv") or [""])[0].strip()
            query_key = (params.get("query_key") or [""])[0].strip()
            if not (webenv and query_key):
                raise _BadRequest("Empty id list - nothing todo")
            with self.lock:
                stored = self.history.get(webenv, {}).get(int(query_key) if query_key.isdigit() else -1)
            if stored is None:
                raise _BadRequest(f"Cannot retrieve history data. query_key: {query_key}, WebEnv: {webenv}")
            retstart = _int_param(params, "retstart", 0)
            retmax = _int_param(params, "retmax", self.efetch_default_retmax)
            ids = stored[retstart: retstart + min(retmax, 10000)]
        with self.lock:
            found = [self.records[i] for i in ids if i in self.records]
        return Response(200, article_set(*found))

    # -- elink ----------------------------------------------------------------------------
    def _elink(self, params: dict[str, list[str]]) -> Response:
        def p(name: str) -> str:
            return (params.get(name) or [""])[0].strip()

        dbfrom = p("dbfrom")
        db = p("db") or "pubmed"
        if dbfrom != "pubmed":
            raise _BadRequest(f"Invalid dbfrom name specified: {dbfrom or '(none)'}")
        cmd = p("cmd") or "neighbor"
        if cmd != "neighbor":
            raise _BadRequest(f"cmd={cmd} is not supported by the fake (only neighbor)")
        linkname = p("linkname")
        groups = [g for g in (_split_ids([v]) for v in params.get("id", [])) if g]
        if not groups:
            raise _BadRequest("Empty id list - nothing todo")
        wants_citedin = db == "pubmed" and linkname in ("", CITEDIN)

        with self.lock:
            citedin = {k: list(v) for k, v in self.citedin.items()}

        sets = []
        for group in groups:
            ids_xml = "".join(f"\t\t<Id>{i}</Id>\n" for i in group)
            chunk = f"<LinkSet>\n\t<DbFrom>pubmed</DbFrom>\n\t<IdList>\n{ids_xml}\t</IdList>\n"
            links = {str(c) for i in group for c in citedin.get(i, [])} if wants_citedin else set()
            if links:
                ordered = sorted(links, key=lambda x: int(x) if x.isdigit() else 0, reverse=True)
                chunk += (
                    f"\t<LinkSetDb>\n\t\t<DbTo>pubmed</DbTo>\n\t\t<LinkName>{CITEDIN}</LinkName>\n"
                    + "".join(f"\t\t<Link>\n\t\t\t<Id>{c}</Id>\n\t\t</Link>\n" for c in ordered)
                    + "\t</LinkSetDb>\n"
                )
            chunk += "</LinkSet>\n"
            sets.append(chunk)
        body = _XML_DECL + _ELINK_DOCTYPE + "<eLinkResult>\n" + "".join(sets) + "</eLinkResult>\n"
        return Response(200, body.encode())

    # -- epost ----------------------------------------------------------------------------
    def _epost(self, params: dict[str, list[str]]) -> Response:
        db = (params.get("db") or ["pubmed"])[0].strip() or "pubmed"
        if db != "pubmed":
            raise _BadRequest(f"Invalid db name specified: {db}")
        ids = _split_ids(params.get("id", []))
        valid = [i for i in ids if i.isdigit()]
        invalid = [i for i in ids if not i.isdigit()]
        body = _XML_DECL + _EPOST_DOCTYPE + "<ePostResult>\n"
        if invalid:
            body += "\t<InvalidIdList>\n" + "".join(f"\t\t<Id>{esc(i)}</Id>\n" for i in invalid) + "\t</InvalidIdList>\n"
        if valid:
            webenv, query_key = self._remember((params.get("WebEnv") or [""])[0].strip() or None, valid)
            body += f"\t<QueryKey>{query_key}</QueryKey>\n\t<WebEnv>{webenv}</WebEnv>\n"
        else:
            body += "\t<ERROR>IDList is empty! Possibly it has invalid id(s).</ERROR>\n"
        body += "</ePostResult>\n"
        return Response(200, body.encode())
