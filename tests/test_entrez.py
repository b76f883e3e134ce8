"""The Entrez client's manners: identity on every request, one pacer, POST for long id lists,
bounded retries then a clear error."""

from __future__ import annotations

import threading

import pytest

from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer
from tests.fakes.pubmed_xml import esc


def client_for(ncbi, *, api_key: str | None = None, **kwargs) -> EntrezClient:  # noqa: ANN001
    kwargs.setdefault("backoff", 0.01)
    return EntrezClient(email="lab@example.org", api_key=api_key, base_url=ncbi.base_url, pacer=Pacer(), **kwargs)


def test_every_request_carries_tool_email_and_key(ncbi) -> None:  # noqa: ANN001
    ncbi.add_search("zanubrutinib", ["1", "2"])
    client = client_for(ncbi, api_key="k-123")
    client.esearch("zanubrutinib")
    client.cited_by(["1"])
    list(client.fetch_records(["1"]))
    assert ncbi.count() == 3
    for req in ncbi.requests:
        assert req.get("tool") == "litwatch"
        assert req.get("email") == "lab@example.org"
        assert req.api_key == "k-123"


def test_no_api_key_parameter_without_a_key(ncbi) -> None:  # noqa: ANN001
    client = client_for(ncbi)
    client.esearch("nothing")
    assert ncbi.requests[0].api_key is None


@pytest.mark.parametrize(("api_key", "gap"), [(None, 1 / 3), ("k", 0.1)])
def test_pacing_without_and_with_key(ncbi, api_key, gap) -> None:  # noqa: ANN001
    ncbi.add_search("q", ["1"])
    client = client_for(ncbi, api_key=api_key)
    for _ in range(7):
        client.esearch("q")
    times = [r.time for r in ncbi.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= gap * 0.95
    assert all(r.status == 200 for r in ncbi.requests), "never rate limited by the (NCBI-like) server"


def test_one_pacer_for_the_whole_process_across_threads() -> None:
    starts: list[float] = []
    clock_lock = threading.Lock()
    import time

    pacer = Pacer()

    def worker() -> None:
        for _ in range(3):
            pacer.wait(0.05)
            with clock_lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.045


def test_long_id_lists_are_posted(ncbi) -> None:  # noqa: ANN001
    ids = [str(30000000 + i) for i in range(250)]
    for p in ids[:5]:
        ncbi.add_article(p, esc(f"Article {p}"))
    client = client_for(ncbi, api_key="k")
    got = {a.pmid for a in client.fetch_records(ids)}
    assert got == set(ids[:5]), "ids PubMed does not know are simply absent"
    (req,) = ncbi.requests_for("efetch")
    assert req.method == "POST"
    list(client.fetch_records(ids[:3]))
    assert ncbi.requests_for("efetch")[-1].method == "GET"


def test_gives_up_after_bounded_retries_with_a_clear_error(ncbi) -> None:  # noqa: ANN001
    ncbi.down = True
    client = client_for(ncbi, api_key="secret-key-1", retries=2)
    with pytest.raises(EntrezError) as info:
        client.esearch("q")
    assert ncbi.count("esearch") == 3
    assert "HTTP 503" in str(info.value) and "3 attempts" in str(info.value)
    assert "secret-key-1" not in str(info.value)


@pytest.mark.parametrize("kind", ["500", "502", "429", "error200", "error200_dtd", "json_error200", "html200",
                                  "empty200", "truncated", "reset"])
def test_retries_invalid_answers_then_succeeds(ncbi, kind) -> None:  # noqa: ANN001
    ncbi.add_search("q", ["11", "12"])
    ncbi.fail_next(kind, endpoint="esearch")
    client = client_for(ncbi, api_key="k")
    page = client.esearch("q")
    assert page.ids == ["12", "11"] or sorted(page.ids) == ["11", "12"]
    assert ncbi.count("esearch") == 2


def test_http_4xx_other_than_429_is_not_retried(ncbi) -> None:  # noqa: ANN001
    client = EntrezClient(email="lab@example.org", base_url=ncbi.base_url.replace("/eutils/", "/nothing/"),
                          pacer=Pacer(), backoff=0.01)
    with pytest.raises(EntrezError, match="HTTP 404"):
        client.esearch("q")
    assert ncbi.count() == 1


def test_esearch_asks_for_9999_ids_not_the_default_20(ncbi) -> None:  # noqa: ANN001
    ids = [str(20000000 + i) for i in range(63)]
    ncbi.add_search("biopython", ids)
    page = client_for(ncbi, api_key="k").esearch("biopython")
    assert page.count == 63 and len(page.ids) == 63


def test_phrase_not_found_is_reported(ncbi) -> None:  # noqa: ANN001
    page = client_for(ncbi, api_key="k").esearch("abcXYZ")
    assert page.count == 0
    assert page.errors.get("PhraseNotFound") == ["abcXYZ"]


def test_a_late_wake_up_pushes_the_next_start_back() -> None:
    """A request whose thread woke late (a busy CPU, the GIL) must not be followed by one on the
    original schedule: the two would be closer than the interval, and NCBI counts arrivals."""
    now = [0.0]
    late = iter([0.2])  # the second request (the first that sleeps) wakes 0.2 s late

    def sleep(seconds: float) -> None:
        now[0] += seconds + next(late, 0.0)

    pacer = Pacer(clock=lambda: now[0], sleep=sleep)
    pacer.wait(0.34)  # at once (t = 0)
    pacer.wait(0.34)  # due at 0.34, started at 0.54
    second = now[0]
    pacer.wait(0.34)
    assert second == pytest.approx(0.54) and now[0] >= second + 0.34
