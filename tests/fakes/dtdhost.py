"""A loopback stand-in for NCBI's DTD host (dtd.nlm.nih.gov): serves DTD files by path.

``files`` maps a URL path ('/ncbi/pubmed/out/pubmed_270101.dtd') to the bytes served; other paths
get 404.  ``redirects`` maps a path to a Location answered with 302.  Point litwatch at it with
``LITWATCH_TEST_DTD_BASE_URL = fake.origin`` (watchers.dtds: tests only).
"""

from __future__ import annotations

from tests.fakes import FakeService, Response

__all__ = ["FakeDtdHost"]


class FakeDtdHost(FakeService):
    path_prefix = "/"

    def __init__(self) -> None:
        super().__init__(rate_limit=None)
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}

    def handle(self, endpoint: str, params: dict[str, list[str]]) -> Response:
        path = "/" + endpoint
        if path in self.redirects:
            return Response(302, b"", "text/html", {"Location": self.redirects[path]})
        if path in self.files:
            return Response(200, self.files[path], "application/xml-dtd")
        return Response(404, b"<html><body>404 Not Found</body></html>", "text/html")
