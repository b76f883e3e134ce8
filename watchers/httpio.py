"""HTTP for answers we do not trust: a cap on the decoded size, an overall deadline, no redirects.

`requests` reads a whole body into memory (`response.content`) before anything can look at its
size, decompresses it without a bound, and its timeout is per socket read: a server trickling one
byte every few seconds holds a request open for ever.  This module is the part of the transport
that is ours:

* `read_body(response, limit)` reads the body in pieces and inflates gzip/deflate itself with a
  bounded output (`zlib`'s `max_length`), so that the cap applies to the *decompressed* size and
  no more than about `limit` bytes are ever held: a 1 MB gzip bomb stops at the cap.
* `deadline(seconds)` bounds a whole request, headers and body: a watchdog timer shuts the socket
  of the request made under it down when the time is up, which wakes any blocked read.
* `session()` builds a `requests.Session` whose connections report their sockets to the current
  deadline, which asks only for the encodings `read_body` understands, and which never follows
  a redirect (a 307 would re-send a POST body, API key included, to wherever it points).
"""

from __future__ import annotations

import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import urllib3.exceptions as u3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    """The decoded answer is larger than the cap."""


class DeadlineExceeded(Exception):
    """The request did not complete in time."""


class _Watch:
    """The sockets of the requests made under one `deadline`; shut down when it expires."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_current = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[_Watch]:
    """Requests made by this thread inside the block must be complete within `seconds`; past
    that their sockets are shut down (the blocked read fails) and `watch.expired` is true."""
    watch = _Watch(seconds)
    previous = getattr(_current, "watch", None)
    _current.watch = watch
    watch._timer.start()
    try:
        yield watch
    finally:
        watch._timer.cancel()
        _current.watch = previous


def _report(sock: socket.socket | None) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _report(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _report(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


class _NoRedirectSession(requests.Session):
    """Follows no redirect, whatever a caller asks: a 3xx is the answer (see `is_redirect`)."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def session() -> requests.Session:
    """A session for untrusted servers: watched sockets, gzip/deflate only, no redirects."""
    s = _NoRedirectSession()
    adapter = _WatchedAdapter()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["Accept-Encoding"] = "gzip, deflate"
    return s


def read_body(resp: requests.Response, limit: int) -> bytes:
    """The body of a response sent with `stream=True`, decoded, refused past `limit` bytes.

    Raises `BodyTooLarge`; `requests` errors (a reset, a cut-short body) come through as they are.
    """
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    inflater: Any
    if encoding in ("", "identity"):
        inflater = None
    elif encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = _DeflateEither()
    else:
        raise requests.exceptions.ContentDecodingError(f"unsupported Content-Encoding {encoding[:40]!r}")
    parts: list[bytes] = []
    size = 0
    try:
        for piece in resp.raw.stream(CHUNK, decode_content=False):
            if inflater is None:
                outputs: Iterator[bytes] = iter((piece,))
            else:
                outputs = _inflate(inflater, piece, limit - size + 1)
            for out in outputs:
                size += len(out)
                if size > limit:
                    raise BodyTooLarge(f"the answer is larger than {limit // (1024 * 1024)} MiB")
                parts.append(out)
        if inflater is not None:
            for out in _inflate(inflater, b"", limit - size + 1):
                size += len(out)
                if size > limit:
                    raise BodyTooLarge(f"the answer is larger than {limit // (1024 * 1024)} MiB")
                parts.append(out)
    except zlib.error as exc:
        raise requests.exceptions.ContentDecodingError(f"cannot decode the answer: {exc}") from None
    except Exception as exc:  # urllib3's errors, as requests would have named them
        if isinstance(exc, u3.ProtocolError):
            raise requests.exceptions.ChunkedEncodingError(exc) from None
        if isinstance(exc, u3.ReadTimeoutError):
            raise requests.exceptions.ReadTimeout(exc) from None
        if isinstance(exc, u3.HTTPError) and not isinstance(exc, BodyTooLarge):
            raise requests.exceptions.ConnectionError(exc) from None
        raise
    finally:
        resp.close()
    return b"".join(parts)


class _DeflateEither:
    """HTTP "deflate" is zlib-wrapped by the standard and raw deflate by some servers."""

    def __init__(self) -> None:
        self._d: Any = None
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._d is None:
            self._d = zlib.decompressobj()
            try:
                out: bytes = self._d.decompress(data, max_length)
            except zlib.error:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._d.decompress(data, max_length)
        else:
            out = self._d.decompress(data, max_length)
        self.unconsumed_tail = self._d.unconsumed_tail
        return out

    def flush(self) -> bytes:
        return self._d.flush() if self._d is not None else b""


def _inflate(inflater: Any, data: bytes, room: int) -> Iterator[bytes]:
    """Inflate `data`, never more than `room` bytes at a time (the caller stops past its cap)."""
    step = max(1, min(room, CHUNK * 16))
    out: bytes = inflater.decompress(data, step)
    yield out
    while inflater.unconsumed_tail:
        out = inflater.decompress(inflater.unconsumed_tail, step)
        yield out
    if not data:
        yield inflater.flush()
