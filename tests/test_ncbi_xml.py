"""watchers.ncbi_xml: Biopython's Entrez parser, offline and guarded against hostile XML."""

from __future__ import annotations

import io
import time
import urllib.request
from pathlib import Path
from typing import Any

import Bio.Entrez.Parser
import pytest
from Bio import Entrez

from litwatch.watchers import ncbi_xml
from litwatch.watchers.ncbi_xml import NCBIXMLError

DATA = Path(__file__).parent / "data" / "ncbi"

ESEARCH_DOCTYPE = (
    '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd"'
)
PUBMED_DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)


class NetworkUsed(AssertionError):
    """Raised by the patched urlopen: a test tried to download something."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail the test on any download attempt; returns the list of attempted URLs."""
    calls: list[Any] = []

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(url)
        raise NetworkUsed(f"tried to download {url!r}")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(Bio.Entrez.Parser, "urlopen", urlopen)
    return calls


def fixture_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def esearch(body: str, internal_subset: str = "") -> bytes:
    subset = f" [\n{internal_subset}\n]" if internal_subset else ""
    return f'<?xml version="1.0" encoding="UTF-8" ?>\n{ESEARCH_DOCTYPE}{subset}>\n{body}'.encode()


def read_error(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(NCBIXMLError) as info:
        ncbi_xml.read(data, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message, "NCBIXMLError messages are one line"
    return message


# -- same records as Bio.Entrez.read ----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "esearch1.xml",
        "esearch8.xml",
        "elink1.xml",
        "epost1.xml",
        "pubmed1.xml",
        "pubmed2.xml",
        "pubmed4.xml",
        "pubmed6.xml",
        "pubmed7.xml",
    ],
)
@pytest.mark.parametrize("escape", [False, True])
def test_same_record_as_bio_entrez_read(name: str, escape: bool, no_network: list[Any]) -> None:
    ours = ncbi_xml.read(fixture_bytes(name), escape=escape)
    with open(DATA / name, "rb") as stream:
        theirs = Entrez.read(stream, escape=escape)
    assert ours == theirs
    assert type(ours) is type(theirs)
    assert no_network == []


def test_esearch_values() -> None:
    record = ncbi_xml.read(fixture_bytes("esearch1.xml"))
    assert record["Count"] == "63"
    assert record["RetMax"] == "20"
    assert len(record["IdList"]) == 20
    assert record["IdList"][0] == "41282813"


def test_esearch_without_hits_keeps_error_list() -> None:
    record = ncbi_xml.read(fixture_bytes("esearch8.xml"))
    assert record["Count"] == "0"
    assert record["IdList"] == []
    assert record["ErrorList"]["PhraseNotFound"] == ["abcXYZ"]


def test_epost_and_elink() -> None:
    epost = ncbi_xml.read(fixture_bytes("epost1.xml"))
    assert epost["QueryKey"] == "1"
    assert epost["WebEnv"].startswith("MCID_")
    elink = ncbi_xml.read(fixture_bytes("elink1.xml"))
    assert elink[0]["IdList"] == ["9298984"]
    assert elink[0]["LinkSetDb"][0]["LinkName"] == "pubmed_pubmed"


def test_escape_keeps_inline_markup_and_escapes_text() -> None:
    record = ncbi_xml.read(fixture_bytes("pubmed4.xml"), escape=True)
    article = record["PubmedArticle"][0]["MedlineCitation"]["Article"]
    assert "<i>TERT</i>" in article["ArticleTitle"]
    results = article["Abstract"]["AbstractText"][2]
    assert results.attributes["Label"] == "RESULTS"
    assert "r<sup>2</sup>&lt;0.25" in results
    raw = ncbi_xml.read(fixture_bytes("pubmed4.xml"))
    assert "r<sup>2</sup><0.25" in raw["PubmedArticle"][0]["MedlineCitation"]["Article"]["Abstract"]["AbstractText"][2]


def test_relative_doctype_is_resolved_locally() -> None:
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE ePostResult PUBLIC "-//NLM//DTD epost 20090526//EN" "epost.dtd">'
        b"<ePostResult><QueryKey>7</QueryKey><WebEnv>abc</WebEnv></ePostResult>"
    )
    assert ncbi_xml.read(data)["QueryKey"] == "7"


# -- never downloads ----------------------------------------------------------------------------


def test_dtd_not_bundled_is_refused_not_downloaded(no_network: list[Any]) -> None:
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20990101//EN" '
        b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20990101/esearch_2099.dtd">'
        b"<eSearchResult><Count>1</Count></eSearchResult>"
    )
    message = read_error(data)
    assert message == "DTD esearch_2099.dtd is not bundled with Biopython; refusing to download it"
    assert no_network == []
    # Bio.Entrez.read itself would have tried to download it:
    with pytest.raises((NetworkUsed, RuntimeError)):
        Entrez.read(io.BytesIO(data))
    assert no_network == ["https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20990101/esearch_2099.dtd"]


@pytest.mark.parametrize(
    "system_id",
    [
        "http://example.com/evil.dtd",
        "https://example.com/evil.dtd",
        "https://example.com/pubmed_250101.dtd",  # a bundled name on a foreign host: still refused
        "https://nlm.nih.gov.example.com/esearch.dtd",
        "file:///etc/passwd",
        "ftp://ftp.ncbi.nlm.nih.gov/esearch.dtd",
    ],
)
def test_foreign_doctype_is_refused(system_id: str, no_network: list[Any]) -> None:
    data = (
        f'<?xml version="1.0"?>\n<!DOCTYPE eSearchResult SYSTEM "{system_id}">'
        "<eSearchResult><Count>1</Count></eSearchResult>"
    ).encode()
    message = read_error(data)
    assert system_id in message
    assert no_network == []


def test_evil_dtd_in_parameter_entity_is_refused(no_network: list[Any]) -> None:
    data = esearch(
        "<eSearchResult><Count>1</Count></eSearchResult>",
        '<!ENTITY % evil SYSTEM "http://example.com/evil.dtd"> %evil;',
    )
    read_error(data)
    assert no_network == []


def test_external_general_entity_is_refused(no_network: list[Any]) -> None:
    data = esearch(
        "<eSearchResult><Count>&xxe;</Count></eSearchResult>",
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
    )
    assert "refused" in read_error(data)
    assert no_network == []


def test_missing_xsd_is_refused_not_downloaded(no_network: list[Any]) -> None:
    for location in (
        "https://www.ncbi.nlm.nih.gov/data_specs/schema/other/NotBundled.xsd",
        "https://example.com/IPGReportSet.xsd",
    ):
        data = (
            '<?xml version="1.0"?>\n<IPGReportSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:noNamespaceSchemaLocation="{location}"></IPGReportSet>'
        ).encode()
        read_error(data)
    assert no_network == []


# -- hostile and broken input ------------------------------------------------------------------


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return esearch("<eSearchResult><QueryTranslation>&lol9;</QueryTranslation></eSearchResult>", "\n".join(entities))


def test_entity_bomb_errors_quickly() -> None:
    start = time.perf_counter()
    message = read_error(billion_laughs())
    assert time.perf_counter() - start < 2
    assert "entity" in message


def test_quadratic_blowup_errors_quickly() -> None:
    data = esearch(
        "<eSearchResult><QueryTranslation>" + "&a;" * 50_000 + "</QueryTranslation></eSearchResult>",
        '<!ENTITY a "' + "A" * 50_000 + '">',
    )
    start = time.perf_counter()
    read_error(data)
    assert time.perf_counter() - start < 2


def test_expat_itself_bounds_entity_expansion() -> None:
    """Second line of defence: this Python's expat (>= 2.4) refuses billion laughs on its own."""
    start = time.perf_counter()
    with pytest.raises(ValueError, match="amplification"):
        Entrez.read(io.BytesIO(billion_laughs()))
    assert time.perf_counter() - start < 2


def test_html_error_page_is_not_xml() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body><h1>502 Bad Gateway</h1></body></html>"
    assert read_error(page).startswith("not XML")


def test_truncated_xml() -> None:
    data = fixture_bytes("pubmed2.xml")
    assert "XML" in read_error(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"\x00\x01\x02",
        b'<?xml version="1.0"?>\n<eSearchResult><Count>1</Count></eSearchResult>',  # no DTD
        b'<?xml version="1.0"?>',
        b"\xef\xbb\xbf",
    ],
)
def test_garbage(data: bytes) -> None:
    read_error(data)


def test_element_not_in_dtd() -> None:
    message = read_error(esearch("<eSearchResult><Count>1</Count><Bogus>x</Bogus></eSearchResult>"))
    assert message == "element <Bogus> is not defined in the DTD"


def test_ncbi_error_element() -> None:
    message = read_error(esearch("<eSearchResult><ERROR>Invalid db name specified: pubmd</ERROR></eSearchResult>"))
    assert message == "NCBI returned an error: Invalid db name specified: pubmd"


def test_unknown_namespace() -> None:
    read_error(esearch('<eSearchResult xmlns:evil="urn:x"><Count>1</Count></eSearchResult>'))


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = fixture_bytes("epost1.xml")
    monkeypatch.setattr(ncbi_xml, "MAX_XML_BYTES", len(data) - 1)
    assert "limit" in read_error(data)
    monkeypatch.setattr(ncbi_xml, "MAX_XML_BYTES", len(data))
    assert ncbi_xml.read(data)["QueryKey"] == "1"


def test_default_limit_is_200_mib() -> None:
    assert ncbi_xml.MAX_XML_BYTES == 200 * 1024 * 1024


def test_text_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        ncbi_xml.read(fixture_bytes("epost1.xml").decode())  # type: ignore[arg-type]


def test_escaped_inline_markup_cannot_smuggle_attributes() -> None:
    """Biopython copies attributes of inline tags verbatim; with escape=True we escape them."""
    title = '<i title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">x</i>'
    data = (
        f'<?xml version="1.0"?>\n{PUBMED_DOCTYPE}<PubmedArticleSet><PubmedArticle><MedlineCitation>'
        f"<PMID>1</PMID><Article><ArticleTitle>{title}</ArticleTitle></Article></MedlineCitation>"
        "</PubmedArticle></PubmedArticleSet>"
    ).encode()
    ours = ncbi_xml.read(data, escape=True)["PubmedArticle"][0]["MedlineCitation"]["Article"]["ArticleTitle"]
    assert ours == '<i title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">x</i>'
    stock = Entrez.read(io.BytesIO(data), escape=True)
    assert "<script>" in stock["PubmedArticle"][0]["MedlineCitation"]["Article"]["ArticleTitle"]


# -- each: records handed over one at a time -------------------------------------------------------


@pytest.mark.parametrize("name", ["pubmed1.xml", "pubmed2.xml", "pubmed4.xml", "pubmed7.xml"])
def test_each_hands_over_every_article_in_order_and_keeps_none(name: str) -> None:
    data = (DATA / name).read_bytes()
    whole = ncbi_xml.read(data, escape=True)
    handed: list[Any] = []
    rest = ncbi_xml.read(data, escape=True, each=("PubmedArticle", handed.append))
    assert handed == list(whole["PubmedArticle"]) and handed, "the same elements, in document order"
    assert rest.tag == "PubmedArticleSet"
    assert list(rest["PubmedArticle"]) == [], "none is kept in the returned record"
    assert {k: v for k, v in rest.items() if k != "PubmedArticle"} == {
        k: v for k, v in whole.items() if k != "PubmedArticle"
    }


def test_each_ignores_deeper_elements_with_the_tag() -> None:
    """Only children of the document element are handed over."""
    data = (DATA / "elink1.xml").read_bytes()
    handed: list[Any] = []
    assert ncbi_xml.read(data, each=("LinkSetDb", handed.append)) == ncbi_xml.read(data)
    assert handed == []


def test_a_failing_callback_ends_the_parse_with_one_clear_error() -> None:
    def explode(_element: Any) -> None:
        raise KeyError("boom")

    with pytest.raises(NCBIXMLError, match="KeyError"):
        ncbi_xml.read((DATA / "pubmed1.xml").read_bytes(), each=("PubmedArticle", explode))


def test_a_parsed_document_is_freed_as_soon_as_it_is_dropped() -> None:
    """No reference cycle keeps it for the cyclic collector (59,000 search ids were 13 MB)."""
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        record = ncbi_xml.read((DATA / "esearch1.xml").read_bytes())
        ref = weakref.ref(record)
        del record
        assert ref() is None
    finally:
        gc.enable()
