"""A loopback stand-in for NCBI's DTD host (dtd.nlm.nih.gov): serves DTD files by path.

``files`` maps a URL path ('/ncbi/pubmed/out/pubmed_270101.dtd') to the bytes served; other paths
get 404.  ``redirects`` maps a path to a Location answered with 302; a path in ``drip`` gets its
file one byte every 0.2 s (a host that never quite stops answering).  Point litwatch at it with
``LITWATCH_TEST_DTD_BASE_URL = fake.origin`` (watchers.dtds: tests only).
"""

from __future__ import annotations

import time

from tests.fakes import FakeService, Recorded, Response

__all__ = ["FakeDtdHost"]


class FakeDtdHost(FakeService):
    path_prefix = "/"

    def __init__(self) -> None:
        super().__init__(rate_limit=None)
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.drip: set[str] = set()

    def _serve(self, handler, req) -> None:  # noqa: ANN001
        if req.path not in self.drip:
            super()._serve(handler, req)
            return
        with self.lock:
            self.requests.append(Recorded(req.method, req.path.rsplit("/", 1)[-1], req.params, time.monotonic(), req.path))
        body = self.files.get(req.path, b"")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/xml-dtd")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for i in range(len(body)):
            if self._stopping.is_set():
                break
            handler.wfile.write(body[i : i + 1])
            handler.wfile.flush()
            time.sleep(0.2)

    def handle(self, endpoint: str, params: dict[str, list[str]]) -> Response:
        path = "/" + endpoint
        if path in self.redirects:
            return Response(302, b"", "text/html", {"Location": self.redirects[path]})
        if path in self.files:
            return Response(200, self.files[path], "application/xml-dtd")
        return Response(404, b"<html><body>404 Not Found</body></html>", "text/html")
