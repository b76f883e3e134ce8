"""Replies from NCBI are untrusted (issue 13, B and C10): a gzip bomb, a server that trickles, a
redirect elsewhere, an error body built to drive a terminal, an API key echoed past the snippet cut.
Against the loopback fake E-utilities speaking real HTTP."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer
from tests.conftest import API_KEY, Q_BTK, add_itp_article
from tests.fakes import FakeEutils


def _client(ncbi: FakeEutils, **kwargs: object) -> EntrezClient:
    ncbi.rate_limit = ncbi.rate_limit_with_key = None
    opts: dict = dict(email="lab@example.org", api_key=API_KEY, base_url=ncbi.base_url, timeout=2, retries=0,
                      backoff=0.01, pacer=Pacer(sleep=lambda s: None))
    opts.update(kwargs)
    return EntrezClient(**opts)  # type: ignore[arg-type]


def _seed(ncbi: FakeEutils) -> None:
    add_itp_article(ncbi, "41000001", days_ago=3)
    ncbi.add_search(Q_BTK, ["41000001"])


def test_a_gzip_bomb_is_refused_at_the_cap_after_decompression(ncbi: FakeEutils) -> None:
    """300 KB of gzip inflating to 300 MiB: refused once 200 MiB are decoded, never held whole."""
    from tests.fakes import gzip_bomb

    _seed(ncbi)
    gzip_bomb(ncbi.bomb_bytes)  # built now (a second or two), not while the client waits for it
    ncbi.fail_next("gzip_bomb", endpoint="efetch")
    client = _client(ncbi, timeout=10)
    tracemalloc.start()
    try:
        with pytest.raises(EntrezError) as caught:
            list(client.fetch_records(["41000001"]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "larger than 200 MiB" in str(caught.value)
    assert peak < 230 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
    # the same cap on a small scale, and a gzip answer within it is read as usual
    ncbi.bomb_bytes = 2 * 1024 * 1024
    ncbi.fail_next("gzip_bomb", endpoint="efetch")
    with pytest.raises(EntrezError, match="larger than 1 MiB"):
        list(_client(ncbi, max_body=1024 * 1024).fetch_records(["41000001"]))
    assert [r.pmid for r in _client(ncbi).fetch_records(["41000001"])] == ["41000001"]


def test_a_trickling_server_meets_the_deadline(ncbi: FakeEutils) -> None:
    """One byte every 0.3 s never trips a 2 s read timeout; the 3 s deadline ends the request."""
    _seed(ncbi)
    ncbi.trickle_seconds = 0.3
    ncbi.fail_next("trickle", endpoint="esearch")
    client = _client(ncbi, deadline=3)
    started = time.monotonic()
    with pytest.raises(EntrezError) as caught:
        client.esearch(Q_BTK)
    took = time.monotonic() - started
    assert took < 6, took
    assert "no complete answer within 3 s" in str(caught.value)
    # retried: the next attempt is a whole answer
    ncbi.fail_next("trickle", endpoint="esearch")
    page = _client(ncbi, deadline=3, retries=1).esearch(Q_BTK)
    assert page.ids == ["41000001"]


def test_no_redirect_is_followed(ncbi: FakeEutils) -> None:
    """A 307 on a POSTed efetch (API key in the body) to another server: not followed, one line."""
    _seed(ncbi)
    with FakeEutils() as elsewhere:
        ncbi.redirect_to = elsewhere.origin
        ids = [str(41000001 + i) for i in range(250)]  # over POST_ABOVE: sent as POST
        ncbi.fail_next("redirect", endpoint="efetch")
        with pytest.raises(EntrezError) as caught:
            list(_client(ncbi, retries=3).fetch_records(ids))
        assert elsewhere.count() == 0
        assert ncbi.count("efetch") == 1  # a redirect is not retried
        message = str(caught.value)
        assert "HTTP 307" in message and f"127.0.0.1:{elsewhere.port}" in message and "redirect" in message
        assert API_KEY not in message and "\n" not in message


def test_an_api_key_echoed_at_the_snippet_edge_is_redacted_whole(ncbi: FakeEutils) -> None:
    """The key straddles the 120-character cut of the error snippet: not one character of it."""
    _seed(ncbi)
    from tests.fakes import Response

    padding = "x" * 100
    original = ncbi.handle

    def echo(endpoint: str, params: dict[str, list[str]]) -> Response:
        if endpoint == "esearch":
            return Response(400, f"{padding} api_key={API_KEY} is not valid".encode(), "text/plain")
        return original(endpoint, params)

    ncbi.handle = echo  # type: ignore[method-assign]
    with pytest.raises(EntrezError) as caught:
        _client(ncbi).esearch(Q_BTK)
    message = str(caught.value)
    assert "***" in message
    for i in range(0, len(API_KEY) - 7):
        assert API_KEY[i : i + 8] not in message, message


def test_an_ncbi_error_body_cannot_drive_the_terminal(tmp_path, ncbi: FakeEutils, smtp, litwatch) -> None:  # noqa: ANN001
    """NCBI's error text carrying ESC/CSI sequences, a C1 CSI and a bidi override: `run` (text and
    JSON logs) and `status` (text, --check, --json) show each as U+FFFD or an escape."""
    from tests.conftest import scenario_config
    from tests.fakes import Response

    _seed(ncbi)
    original = ncbi.handle
    hostile = "bad \x1b[2J\x1b]0;owned\x07 \x9b31m \u202eflipped\u202c request"

    def refuse(endpoint: str, params: dict[str, list[str]]) -> Response:
        if endpoint == "esearch":
            return Response(400, hostile.encode(), "text/plain; charset=UTF-8")
        return original(endpoint, params)

    ncbi.handle = refuse  # type: ignore[method-assign]
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0)
    outputs = []
    run = litwatch("run", "--config", str(cfg))
    assert run.code == 1 and "flipped" in run.err
    outputs.append(run.err + run.out)
    run = litwatch("run", "--config", str(cfg), "--log-format", "json")
    outputs.append(run.err + run.out)
    for args in ((), ("--check",), ("--json",)):
        shown = litwatch("status", "--config", str(cfg), *args)
        assert "flipped" in shown.out, args
        outputs.append(shown.out + shown.err)
    for out in outputs:
        assert not any(c in out for c in "\x1b\x07\x9b\u202e\u202c"), out


def test_the_json_services_take_the_same_care(epmc) -> None:  # noqa: ANN001
    """Europe PMC and OpenAlex (watchers/jsonapi.py) read through the same transport: a gzip
    bomb refused at the cap, a trickle ended by the deadline, a redirect not followed."""
    from litwatch.watchers import jsonapi
    from litwatch.watchers.europepmc import EuropePMCClient, EuropePMCError
    from tests.fakes import gzip_bomb
    from tests.fakes.europepmc import FakeEuropePMC

    assert isinstance(epmc, FakeEuropePMC)
    epmc.bomb_bytes = jsonapi.MAX_BODY + 1024 * 1024
    gzip_bomb(epmc.bomb_bytes)
    epmc.fail_next("gzip_bomb")
    client = EuropePMCClient(epmc.base_url, retries=0, timeout=10, sleep=lambda s: None)
    with pytest.raises(EuropePMCError, match="larger than 64 MiB"):
        client.count("covid")
    epmc.trickle_seconds = 0.3
    epmc.fail_next("trickle")
    slow = EuropePMCClient(epmc.base_url, retries=0, timeout=2, deadline=3, sleep=lambda s: None)
    started = time.monotonic()
    with pytest.raises(EuropePMCError, match="no complete answer within 3 s"):
        slow.count("covid")
    assert time.monotonic() - started < 6
    with FakeEutils() as elsewhere:
        epmc.redirect_to = elsewhere.origin
        epmc.fail_next("redirect")
        with pytest.raises(EuropePMCError, match="HTTP 307: redirected to 127.0.0.1"):
            client.count("covid")
        assert elsewhere.count() == 0
