"""A PubMed DTD newer than the installed Biopython (issue 13, E15): it never stops a run.  It is
fetched from NCBI's DTD host (here a loopback fake) into the cache beside the store; when that
fails, the answer is read with the newest bundled DTD of its family, with one warning."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from Bio.Entrez.Parser import DataHandler

from litwatch.watchers import ncbi_xml
from litwatch.watchers.dtds import MAX_DTD_BYTES, doctype_system_id
from litwatch.watchers.entrez import EntrezClient, Pacer
from tests.conftest import Q_BTK, add_itp_article
from tests.fakes.dtdhost import FakeDtdHost
from tests.fakes.pubmed_xml import XML_DECLARATION, make_article
from tests.reliability_helpers import baseline, block_internet, fast_retries, pmids_in

BUNDLED = Path(DataHandler.global_dtd_dir) / "pubmed_250101.dtd"
# NCBI's next DTD: this year's, plus an element this Biopython has never heard of
NEW_ELEMENT = b"\n<!ELEMENT\tCitationTrust (#PCDATA)>\n"


def new_dtd() -> bytes:
    text = BUNDLED.read_bytes().replace(b"InvestigatorList*, GeneralNote*)>", b"InvestigatorList*, GeneralNote*, CitationTrust?)>")
    assert b"CitationTrust?" in text
    return text + NEW_ELEMENT


def answer(dtd_name: str, *articles: str, new_element: bool = True) -> bytes:
    doctype = (
        f'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2027//EN" '
        f'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/{dtd_name}">'
    )
    body = "\n".join(articles)
    if new_element:  # where a new DTD might put a new element
        body = body.replace("</MedlineCitation>", "<CitationTrust>high</CitationTrust></MedlineCitation>")
    return f"{XML_DECLARATION}\n{doctype}\n<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n".encode()


@pytest.fixture
def dtd_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDtdHost]:
    with FakeDtdHost() as host:
        monkeypatch.setenv("LITWATCH_TEST_DTD_BASE_URL", host.origin)
        yield host


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    attempts = block_internet(monkeypatch)
    yield
    assert attempts == [], "a host other than loopback was tried"
    ncbi_xml.use_dtd_cache(None)


def client_for(ncbi, cache: Path | None) -> EntrezClient:  # noqa: ANN001
    return EntrezClient(email="lab@example.org", base_url=ncbi.base_url, pacer=Pacer(), backoff=0.01, dtd_cache=cache)


def test_doctype_system_id() -> None:
    assert doctype_system_id(answer("pubmed_270101.dtd")) == "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_270101.dtd"
    assert doctype_system_id(b"<PubmedArticleSet/>") == ""


def test_a_new_dtd_is_fetched_into_the_cache_once(tmp_path: Path, ncbi, dtd_host: FakeDtdHost) -> None:  # noqa: ANN001
    """Before: 'DTD pubmed_270101.dtd is not bundled with Biopython; refusing to download it', every run."""
    dtd_host.files["/ncbi/pubmed/out/pubmed_270101.dtd"] = new_dtd()
    cache = tmp_path / "ncbi-dtds"
    ncbi.answer_next("efetch", answer("pubmed_270101.dtd", make_article("41400001", "New DTD")), count=2)
    client = client_for(ncbi, cache)
    assert [r.pmid for r in client.fetch_records(["41400001"])] == ["41400001"]
    assert (cache / "pubmed_270101.dtd").read_bytes() == new_dtd(), "cached beside the store, as served"
    assert [r.path for r in dtd_host.requests] == ["/ncbi/pubmed/out/pubmed_270101.dtd"]
    # the next answer (and the next process: the cache is read first) needs no request
    assert [r.pmid for r in client_for(ncbi, cache).fetch_records(["41400001"])] == ["41400001"]
    assert len(dtd_host.requests) == 1
    assert ncbi_xml.read(answer("pubmed_270101.dtd", make_article("41400001", "x")))  # the parser reads it


def test_when_the_dtd_cannot_be_fetched_the_newest_bundled_one_reads_the_answer(
    tmp_path: Path, ncbi, dtd_host: FakeDtdHost, caplog: pytest.LogCaptureFixture  # noqa: ANN001
) -> None:
    cache = tmp_path / "ncbi-dtds"
    ncbi.answer_next("efetch", answer("pubmed_280101.dtd", make_article("41400002", "Stand-in")), count=2)
    with caplog.at_level(logging.WARNING):
        client = client_for(ncbi, cache)
        (record,) = client.fetch_records(["41400002"])
        assert record.article().title == "Stand-in"
        assert [r.pmid for r in client.fetch_records(["41400002"])] == ["41400002"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "warned once"
    assert "pubmed_280101.dtd" in warnings[0] and "pubmed_250101.dtd" in warnings[0] and "HTTP 404" in warnings[0]
    assert not (cache / "pubmed_280101.dtd").exists()
    assert len(dtd_host.requests) == 1, "not asked again in the same run"


@pytest.mark.parametrize("fault", ["too large", "redirect", "html page", "down"])
def test_dtd_fetching_is_bounded(tmp_path: Path, ncbi, dtd_host: FakeDtdHost, fault: str, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    name = {"too large": "pubmed_290101.dtd", "redirect": "pubmed_300101.dtd", "html page": "pubmed_310101.dtd",
            "down": "pubmed_320101.dtd"}[fault]  # fmt: skip
    path = f"/ncbi/pubmed/out/{name}"
    if fault == "too large":
        dtd_host.files[path] = new_dtd() + b"<!-- " + b"x" * MAX_DTD_BYTES + b" -->"
    elif fault == "redirect":
        dtd_host.redirects[path] = "https://dtd.example.org/evil.dtd"
    elif fault == "html page":
        dtd_host.files[path] = b"<!DOCTYPE html><html><body>maintenance</body></html>"
    else:
        dtd_host.stop()
    cache = tmp_path / "ncbi-dtds"
    ncbi.answer_next("efetch", answer(name, make_article("41400003", "Bounded")))
    with caplog.at_level(logging.WARNING):
        assert [r.pmid for r in client_for(ncbi, cache).fetch_records(["41400003"])] == ["41400003"]
    assert not (cache / name).exists()
    assert any(name in r.getMessage() for r in caplog.records)


def test_a_dtd_on_another_host_is_still_refused(tmp_path: Path, ncbi, dtd_host: FakeDtdHost) -> None:  # noqa: ANN001
    body = answer("pubmed_330101.dtd", make_article("41400004", "x")).replace(b"dtd.nlm.nih.gov", b"dtd.example.org")
    with pytest.raises(ncbi_xml.NCBIXMLError, match="not on an NCBI host"):
        ncbi_xml.read(body)
    ncbi.answer_next("efetch", body, count=3)
    with pytest.raises(Exception, match="not on an NCBI host"):
        list(EntrezClient(email="lab@example.org", base_url=ncbi.base_url, pacer=Pacer(), backoff=0.01, retries=0,
                          dtd_cache=tmp_path / "c").fetch_records(["41400004"]))
    assert dtd_host.requests == []


def test_a_run_with_a_new_dtd_delivers(tmp_path: Path, ncbi, smtp, litwatch, dtd_host: FakeDtdHost, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from tests.conftest import scenario_config

    fast_retries(monkeypatch, ncbi)
    dtd_host.files["/ncbi/pubmed/out/pubmed_340101.dtd"] = new_dtd()
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    smtp.received.clear()
    add_itp_article(ncbi, "41400005", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41400005"])
    ncbi.answer_next("efetch", answer("pubmed_340101.dtd", ncbi.records["41400005"]))
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (message,) = smtp.messages()
    assert pmids_in(message) == {"41400005"}
    stores = list(tmp_path.rglob("pubmed_340101.dtd"))
    assert len(stores) == 1 and stores[0].parent.name == "ncbi-dtds"


def test_parse_workers_read_the_cached_dtd(tmp_path: Path) -> None:
    """Large fetches are parsed in worker processes: they look in the same cache."""
    from litwatch.watchers.articles import article_records
    from litwatch.watchers.entrez import _parse_pool

    cache = tmp_path / "ncbi-dtds"
    cache.mkdir()
    (cache / "pubmed_350101.dtd").write_bytes(new_dtd())
    body = answer("pubmed_350101.dtd", make_article("41400006", "In a worker"))
    with _parse_pool(3, str(cache)) as pool:
        if pool is None:
            pytest.skip("no worker processes on this machine")
        records, bad = pool.submit(article_records, body).result(timeout=60)
    assert [r.pmid for r in records] == ["41400006"] and bad == []


@pytest.mark.parametrize("system_id", [
    "https://dtd.nlm.nih.gov/ncbi/pubmed/out/",
    "https://dtd.nlm.nih.gov/ncbi/pubmed/out/..",
    "https://dtd.nlm.nih.gov/ncbi/pubmed/out/.hidden.dtd",
])
def test_a_dtd_name_that_is_no_plain_file_name_is_never_fetched_or_written(
    tmp_path: Path, ncbi, dtd_host: FakeDtdHost, system_id: str  # noqa: ANN001
) -> None:
    from litwatch.watchers.dtds import DtdCache

    body = answer("pubmed_360101.dtd", make_article("41400007", "x")).replace(
        b"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_360101.dtd", system_id.encode()
    )
    cache = tmp_path / "cache" / "ncbi-dtds"
    DtdCache(cache).prepare(body)
    assert dtd_host.requests == [] and not (tmp_path / "cache").exists()


def test_a_dtd_host_that_drips_is_given_up_on(tmp_path: Path, ncbi, dtd_host: FakeDtdHost, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Every read gets a byte in time; the fetch as a whole has a deadline all the same."""
    import time

    import litwatch.watchers.dtds as dtds

    monkeypatch.setattr(dtds, "FETCH_DEADLINE", 1.0)
    path = "/ncbi/pubmed/out/pubmed_370101.dtd"
    dtd_host.files[path] = new_dtd()
    dtd_host.drip.add(path)
    ncbi.answer_next("efetch", answer("pubmed_370101.dtd", make_article("41400008", "Drip")))
    started = time.monotonic()
    assert [r.pmid for r in client_for(ncbi, tmp_path / "ncbi-dtds").fetch_records(["41400008"])] == ["41400008"]
    assert time.monotonic() - started < 5
    assert not (tmp_path / "ncbi-dtds" / "pubmed_370101.dtd").exists()
