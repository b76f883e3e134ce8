"""Loopback fakes of the NCBI services litwatch talks to, for the test suite.

* `FakeEutils` (tests/fakes/eutils.py): E-utilities esearch / efetch / elink / epost, with
  NCBI's quirks (default retmax 20, the 9,999 ESearch cap, 3 requests/s, merged elink LinkSets).
* `FakeICite` (tests/fakes/icite.py): the iCite ``/api/pubs`` citation API.
* `FakeEuropePMC` (tests/fakes/europepmc.py): Europe PMC's REST ``search`` and ``/{SRC}/{id}/citations``,
  replaying the recorded answers of tests/data/services/europepmc where the request matches one.
* `FakeOpenAlex` (tests/fakes/openalex.py): OpenAlex ``/works`` (singletons, ``filter=cites:``),
  replaying tests/data/services/openalex; keys, cursor and page paging, the HTML 404.
* `make_article`, `article_set`, `esc` (tests/fakes/pubmed_xml.py): PubMed XML builders.

Both servers are a `FakeService`: a standard-library ``ThreadingHTTPServer`` on 127.0.0.1 and
an ephemeral port, run in a daemon thread.  Use them as context managers::

    with FakeEutils() as ncbi:
        ncbi.add_article("41000001", title="...")
        ncbi.searches["leukemia[tiab]"] = ["41000001"]
        run_the_job(eutils_base=ncbi.base_url)
        assert ncbi.count("esearch") == 1

Common behaviour (this module):

* ``requests``: every request as a `Recorded` (method, endpoint, merged params, monotonic time,
  status).  ``count(endpoint)`` / ``clear()``.
* ``fail_next(kind, count=1, endpoint=None)``: queue injected faults, consumed FIFO by the next
  matching requests.  Kinds: see `FAULT_KINDS`.
* ``down = True``: every request gets a 503 HTML page.
* ``latency``: seconds slept before every answer; ``slow_seconds``: the sleep of a "slow" fault.
* ``rate_limit`` / ``rate_limit_with_key``: requests allowed in any sliding 1-second window,
  without / with an ``api_key`` parameter (None switches limiting off); excess -> 429.
* ``errors``: exceptions raised by the fake's own handlers (the request got a 500); a test can
  assert it stays empty.

Order of checks for one request: ``down`` -> queued fault -> rate limit -> the endpoint.  Every
request, including refused ones, counts towards the rate-limit window (NCBI counts them too).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FAULT_KINDS",
    "FakeEutils",
    "FakeICite",
    "FakeService",
    "Fault",
    "Recorded",
    "Response",
    "article_set",
    "esc",
    "make_article",
]

#: Injectable fault kinds (``fail_next(kind)``):
#:
#: ``"500" "502" "503"``  that status with a small HTML error page.
#: ``"429"``              the service's rate-limit answer (NCBI's JSON body, Retry-After: 1).
#: ``"error200"``         HTTP 200, ``<?xml version="1.0"?><eSearchResult><ERROR>Search Backend
#:                        failed: ...`` (root matching the endpoint), no DOCTYPE: Bio.Entrez
#:                        refuses it with a ValueError.  iCite: same as json_error200.
#: ``"error200_dtd"``     the same with NCBI's DOCTYPE line: Bio.Entrez raises RuntimeError.
#: ``"json_error200"``    HTTP 200, ``{"error": "..."}``, application/json.
#: ``"html200"``          HTTP 200, a text/html maintenance page.
#: ``"empty200"``         HTTP 200, Content-Length: 0.
#: ``"truncated"``        the real answer's status and Content-Length, half the body, then the
#:                        connection is closed (requests raises ChunkedEncodingError).
#: ``"reset"``            the connection is reset (TCP RST) before any byte of the answer.
#: ``"slow"``             sleep ``slow_seconds`` (default 5), then the real answer.
#: ``"gzip_bomb"``        HTTP 200, ``Content-Encoding: gzip``: about 300 KB that inflate to
#:                        ``bomb_bytes`` (default 300 MiB) of XML-looking filler.
#: ``"trickle"``          the real answer's status and headers, then its body one byte every
#:                        ``trickle_seconds`` (default 0.5): no single read ever times out.
#: ``"redirect"``         HTTP 307 to ``redirect_to`` (a URL; default another loopback port) with
#:                        the request's path and query.
FAULT_KINDS = frozenset(
    {"500", "502", "503", "429", "error200", "error200_dtd", "json_error200", "html200",
     "empty200", "truncated", "reset", "slow", "gzip_bomb", "trickle", "redirect"}
)

_BOMBS: dict[int, bytes] = {}


def gzip_bomb(size: int) -> bytes:
    """A gzip member inflating to `size` bytes (an XML declaration, then spaces); cached."""
    import zlib

    if size not in _BOMBS:
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        head = b'<?xml version="1.0" ?>\n<PubmedArticleSet>'
        parts = [packer.compress(head)]
        block = b" " * (1 << 20)
        left = size - len(head)
        while left > 0:
            parts.append(packer.compress(block[: min(left, len(block))]))
            left -= len(block)
        parts.append(packer.flush())
        _BOMBS[size] = b"".join(parts)
    return _BOMBS[size]

_STATUS_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def html_error_page(status: int) -> bytes:
    """The small HTML page a gateway answers with, e.g. ``<h1>502 Bad Gateway</h1>``."""
    return f"<html><body><h1>{status} {_STATUS_TEXT.get(status, 'Error')}</h1></body></html>".encode()


MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>NCBI - Maintenance</title></head>"
    b"<body><h1>Service temporarily unavailable</h1>"
    b"<p>This service is undergoing scheduled maintenance. Please try again later.</p>"
    b"</body></html>\n"
)


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str  # "GET" / "POST"
    endpoint: str  # "esearch", "efetch", "elink", "epost", "pubs", or the unknown path's last part
    params: dict[str, list[str]]  # query string and form body merged, values in arrival order
    time: float  # time.monotonic() on arrival
    path: str = ""
    status: int | None = None  # None: the connection was reset, nothing was answered
    fault: str | None = None  # the injected fault kind, "down", "rate_limit", or None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of a parameter."""
        values = self.params.get(name)
        return values[0] if values else default

    @property
    def timestamp(self) -> float:
        """Alias of ``time`` (time.monotonic() on arrival)."""
        return self.time

    @property
    def has_tool(self) -> bool:
        return bool(self.get("tool"))

    @property
    def has_email(self) -> bool:
        return bool(self.get("email"))

    @property
    def has_identity(self) -> bool:
        """Both ``tool`` and ``email`` were sent, as NCBI asks of every E-utilities request."""
        return self.has_tool and self.has_email

    @property
    def api_key(self) -> str | None:
        return self.get("api_key") or None


@dataclass
class Fault:
    """A queued fault: ``kind`` for the next ``remaining`` requests matching ``endpoint``."""

    kind: str
    remaining: int = 1
    endpoint: str | None = None  # None: any endpoint


@dataclass
class Response:
    """What a fake endpoint answers."""

    status: int
    body: bytes
    content_type: str = "text/xml; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, list[str]]
    client_ip: str


_SO_TIMESTAMPNS = 35  # Linux's SO_TIMESTAMPNS (the socket module does not name it): the kernel
# stamps each segment as it arrives


class _Handler(BaseHTTPRequestHandler):
    """Parses the request, hands it to the `FakeService`, writes (or sabotages) the answer."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real servers
    timeout = 30  # idle keep-alive connections end after this
    rbufsize = 0  # nothing of a request is read ahead: the next one's arrival can be peeked (below)

    server_version = "FakeNCBI/1.0"

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # would add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def handle_one_request(self) -> None:
        try:
            self.arrived = self._kernel_arrival()
        except TimeoutError:  # an idle keep-alive connection
            self.close_connection = True
            return
        super().handle_one_request()

    def _kernel_arrival(self) -> float | None:
        """When the kernel received the first bytes of the next request, on time.monotonic()'s
        clock (None where sockets are not stamped).  Peeked: the request stays to be read."""
        try:
            _, ancillary, _, _ = self.connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
        except TimeoutError:
            raise
        except OSError:
            return None
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(raw) >= 16:
                seconds, nanoseconds = struct.unpack("qq", raw[:16])
                return seconds + nanoseconds / 1e9 - (time.time() - time.monotonic())
        return None

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean; the request log is FakeService.requests

    def parse_request(self) -> bool:
        # The arrival time is what NCBI's rate limit counts: the kernel's stamp of the request's
        # first segment (`handle_one_request`), or else the time the request line was read.
        # Taken later (after the headers, the body, and as many waits for this process's GIL as
        # there are other busy threads), punctual requests looked bunched by up to 40 ms under
        # load, and the sliding window answered 429 to a client that paced right; even the
        # request line is read late when this process waits for a CPU (a benchmark on two cores).
        if getattr(self, "arrived", None) is None:
            self.arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        params = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw and (ctype == "application/x-www-form-urlencoded" or not ctype):
            for key, values in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
        request = _Request(method, split.path, params, self.client_address[0])
        try:
            self.server.fake._serve(self, request)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client gave up (e.g. its read timeout fired)

    # -- writing --------------------------------------------------------------------------
    def write_response(self, resp: Response, *, truncate: bool = False, trickle: float = 0.0) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if trickle:
            self.wfile.flush()
            for i in range(len(resp.body)):
                if self.server.fake._stopping.wait(trickle):
                    break
                self.wfile.write(resp.body[i : i + 1])
                self.wfile.flush()
            return
        if not truncate:
            self.wfile.write(resp.body)
            self.wfile.flush()
            return
        self.wfile.write(resp.body[: len(resp.body) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset_connection(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST instead of an orderly FIN."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        try:  # accepted connections inherit it: even a request sent with the handshake is stamped
            self.socket.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        except OSError:
            pass
        super().server_bind()

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        pass  # client disconnects are normal here (resets, timeouts); real bugs go to fake.errors


class FakeService:
    """Base class: an HTTP fake on 127.0.0.1:<ephemeral>, with faults, rate limit and a log.

    Subclasses set ``path_prefix`` (e.g. "/entrez/eutils/") and implement `handle` (answer one
    request to an endpoint) plus, optionally, `endpoint_for`, `rate_limited_response` and
    `error200_response`.
    """

    path_prefix = "/"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        rate_limit: int | None = None,
        rate_limit_with_key: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.rate_limit = rate_limit
        self.rate_limit_with_key = rate_limit_with_key
        self.down = False
        self.bomb_bytes = 300 * 1024 * 1024
        self.trickle_seconds = 0.5
        self.redirect_to: str | None = None
        self.requests: list[Recorded] = []
        self.errors: list[BaseException] = []
        self._faults: list[Fault] = []
        self._windows: dict[str, deque[float]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self):
        """Bind 127.0.0.1:0 and serve in a daemon thread.  Returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close open (keep-alive) connections."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        """'http://127.0.0.1:PORT'."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The service root, ending in '/', e.g. 'http://127.0.0.1:PORT/entrez/eutils/'."""
        return self.origin + self.path_prefix

    # -- request log ----------------------------------------------------------------------
    def count(self, endpoint: str | None = None) -> int:
        """How many requests arrived (for one endpoint, or all)."""
        with self.lock:
            return sum(1 for r in self.requests if endpoint is None or r.endpoint == endpoint)

    def requests_for(self, endpoint: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def clear(self) -> None:
        """Forget the request log and the rate-limit windows (data and queued faults stay)."""
        with self.lock:
            self.requests.clear()
            self._windows.clear()

    # -- faults ---------------------------------------------------------------------------
    def fail_next(self, kind: str, count: int = 1, endpoint: str | None = None) -> None:
        """Answer the next ``count`` requests (to ``endpoint``, or any) with fault ``kind``.

        Faults queue up FIFO: a request takes the oldest queued fault whose endpoint matches.
        """
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        with self.lock:
            self._faults.append(Fault(kind, count, endpoint))

    def pending_faults(self) -> list[Fault]:
        with self.lock:
            return [Fault(f.kind, f.remaining, f.endpoint) for f in self._faults]

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, endpoint: str) -> str | None:
        for fault in self._faults:
            if fault.endpoint is None or fault.endpoint == endpoint:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault.kind
        return None

    # -- rate limit -----------------------------------------------------------------------
    def _rate_check(self, req: _Request, now: float) -> tuple[str, int, int | None]:
        """Record this request in its window; return (identity, count in window, limit)."""
        key = (req.params.get("api_key") or [""])[0]
        identity = key or req.client_ip
        if self.rate_limit is None:
            limit = None
        else:
            limit = self.rate_limit_with_key if key else self.rate_limit
        window = self._windows.setdefault(identity, deque())
        window.append(now)
        while window and window[0] <= now - 1.0:
            window.popleft()
        return identity, len(window), limit

    # -- hooks for subclasses -------------------------------------------------------------
    def endpoint_for(self, path: str) -> str | None:
        """The endpoint name for a URL path, or None when the path is not served (404)."""
        if not path.startswith(self.path_prefix):
            return None
        return path[len(self.path_prefix):].strip("/") or None

    def handle(self, endpoint: str, params: dict[str, list[str]]) -> Response:
        raise NotImplementedError

    def rate_limited_response(self, identity: str, count: int, limit: int) -> Response:
        body = json.dumps({"error": "API rate limit exceeded", "count": str(count), "limit": str(limit)})
        return Response(429, body.encode(), "application/json", {"Retry-After": "1"})

    def error200_response(self, endpoint: str, *, doctype: bool) -> Response:
        return self.json_error_response()

    def json_error_response(self) -> Response:
        body = json.dumps({"error": "Internal server error: backend temporarily unavailable"})
        return Response(200, body.encode(), "application/json")

    def extra_headers(self, identity: str, count: int, limit: int | None) -> dict[str, str]:
        return {}

    # -- the request path -----------------------------------------------------------------
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self.lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _serve(self, handler: _Handler, req: _Request) -> None:
        now = getattr(handler, "arrived", None) or time.monotonic()
        endpoint = self.endpoint_for(req.path)
        rec = Recorded(req.method, endpoint or req.path.rstrip("/").rsplit("/", 1)[-1], req.params, now, req.path)
        with self.lock:
            self.requests.append(rec)
            identity, in_window, limit = self._rate_check(req, now)
            down = self.down
            fault = None if down else self._take_fault(rec.endpoint)
            latency = self.latency

        if fault == "reset":
            rec.fault = fault
            handler.reset_connection()
            return

        self._sleep(latency)
        truncate = False
        trickle = 0.0
        if down:
            rec.fault = "down"
            resp = Response(503, html_error_page(503), "text/html")
        elif fault is not None:
            rec.fault = fault
            if fault in ("500", "502", "503"):
                resp = Response(int(fault), html_error_page(int(fault)), "text/html")
            elif fault == "429":
                resp = self.rate_limited_response(identity, max(in_window, (limit or 3) + 1), limit or 3)
            elif fault in ("error200", "error200_dtd"):
                resp = self.error200_response(rec.endpoint, doctype=fault == "error200_dtd")
            elif fault == "json_error200":
                resp = self.json_error_response()
            elif fault == "html200":
                resp = Response(200, MAINTENANCE_PAGE, "text/html; charset=UTF-8")
            elif fault == "empty200":
                resp = Response(200, b"", "text/xml; charset=UTF-8")
            elif fault == "gzip_bomb":
                resp = Response(200, gzip_bomb(self.bomb_bytes), "text/xml; charset=UTF-8", {"Content-Encoding": "gzip"})
            elif fault == "redirect":
                target = (self.redirect_to or "http://127.0.0.2:9/").rstrip("/")
                query = "&".join(f"{k}={v}" for k, vs in req.params.items() for v in vs)
                resp = Response(307, b"", "text/html", {"Location": f"{target}{req.path}?{query}"})
            elif fault == "trickle":
                trickle = self.trickle_seconds
                resp = self._answer(endpoint, req)
            else:  # "slow", "truncated": the real answer, late or cut short
                if fault == "slow":
                    self._sleep(self.slow_seconds)
                truncate = fault == "truncated"
                resp = self._answer(endpoint, req)
        elif limit is not None and in_window > limit:
            rec.fault = "rate_limit"
            resp = self.rate_limited_response(identity, in_window, limit)
        else:
            resp = self._answer(endpoint, req)

        resp.headers = {**self.extra_headers(identity, in_window, limit), **resp.headers}
        rec.status = resp.status
        handler.write_response(resp, truncate=truncate, trickle=trickle)

    def _answer(self, endpoint: str | None, req: _Request) -> Response:
        if endpoint is None:
            return Response(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
        try:
            return self.handle(endpoint, req.params)
        except Exception as exc:  # a bug in the fake: make it visible, answer 500
            with self.lock:
                self.errors.append(exc)
            return Response(500, f"fake crashed: {exc!r}".encode(), "text/plain")


# Re-exports, imported last because these modules import FakeService from here.
from .eutils import FakeEutils  # noqa: E402
from .icite import FakeICite  # noqa: E402
from .pubmed_xml import article_set, esc, make_article  # noqa: E402
