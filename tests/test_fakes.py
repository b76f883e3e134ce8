"""Tests of the loopback NCBI fakes themselves (tests/fakes): protocol shapes and quirks.

Every XML answer is parsed with ``Bio.Entrez.read(..., validate=True)``; the autouse fixture
makes any DTD download attempt fail, so Biopython's bundled DTDs must be enough.
"""

from __future__ import annotations

import io
import time
from datetime import date, timedelta
from pathlib import Path

import Bio.Entrez.Parser
import pytest
import requests
from Bio import Entrez

from tests.fakes import FakeEutils, FakeICite, article_set, esc, make_article
from tests.fakes.eutils import RETSTART_ERROR

DTD_DIR = Path(Bio.Entrez.Parser.__file__).parent / "DTDs"
IDENT = {"tool": "litwatch-tests", "email": "tests@example.org"}


@pytest.fixture(autouse=True)
def no_dtd_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"Bio.Entrez tried to download a DTD: {args!r}")

    monkeypatch.setattr(Bio.Entrez.Parser, "urlopen", refuse)


@pytest.fixture
def http():
    with requests.Session() as session:
        session.trust_env = False  # never route loopback calls through a proxy from the env
        yield session


@pytest.fixture
def ncbi():
    with FakeEutils(rate_limit=None) as fake:
        yield fake
        assert fake.errors == []


def read(content: bytes):
    return Entrez.read(io.BytesIO(content), validate=True)


def lxml_valid(content: bytes, dtd_name: str) -> None:
    """Full content-model validation (element order too) against a bundled DTD, when lxml is here."""
    etree = pytest.importorskip("lxml.etree")
    dtd = etree.DTD(str(DTD_DIR / dtd_name))
    doc = etree.fromstring(content, etree.XMLParser(load_dtd=False, no_network=True))
    assert dtd.validate(doc), dtd.error_log.filter_from_errors()


def esearch(http, fake, **params):
    r = http.get(fake.base_url + "esearch.fcgi", params={"db": "pubmed", **IDENT, **params}, timeout=5)
    assert r.status_code == 200
    return r


def pmids(n: int, start: int = 41000001) -> list[str]:
    return [str(start + i) for i in range(n)]


def populate(fake: FakeEutils, query: str, n: int) -> list[str]:
    """n records with distinct Entrez dates (newest = highest pmid); returns newest-first ids."""
    ids = pmids(n)
    base = date(2026, 1, 1)
    for i, pmid in enumerate(ids):
        fake.add_article(pmid, f"Paper {i}", edat=base + timedelta(days=i))
    fake.searches[query] = list(ids)
    return ids[::-1]


# --- pubmed_xml ------------------------------------------------------------------------------

RICH = dict(
    authors=(("Smith", "John", "J"), ("Ødegård", "Åse", "Å")),
    collective="AML Study Group",
    doi="10.1182/blood.2026000001",
    pmcid="PMC12345678",
    abstract=[("Background", "Why <i>TP53</i>."), ("Methods", "How."), ("Results", "p &lt; 0.05"),
              ("Conclusions", "So.")],
    publication_types=("Journal Article", "Retracted Publication", "Randomized Controlled Trial"),
    comments_corrections=[("RetractionIn", "Blood. 2027 Jan;149(1):1", "41999999"),
                          ("CommentIn", "Blood. 2026;148:2", None)],
    keywords=("AML", "R&D"),
    mesh=("Humans", ("Leukemia, Myeloid, Acute", True)),
    status="epublish",
    epub="2026-11-18",
    nct_ids=("NCT01234567",),
    references=(("Ref one. Blood. 2020.", "30000001"), ("Ref two.", None)),
    pages="1-10",
    volume="148",
    issue="21",
)


def test_article_set_parses_with_bundled_dtd_and_keeps_fields():
    xml = make_article("41000001", "CAR-T in <i>TP53</i>-mutant " + esc("AML & MDS"), **RICH)
    rec = read(article_set(xml, make_article("41000002", "Second")))
    assert len(rec["PubmedArticle"]) == 2
    art = rec["PubmedArticle"][0]
    cit, data = art["MedlineCitation"], art["PubmedData"]
    assert str(cit["PMID"]) == "41000001"
    assert cit["Article"]["ArticleTitle"] == "CAR-T in <i>TP53</i>-mutant AML & MDS"
    assert [a.get("CollectiveName") for a in cit["Article"]["AuthorList"]][-1] == "AML Study Group"
    assert cit["Article"]["AuthorList"][1]["LastName"] == "Ødegård"
    sections = cit["Article"]["Abstract"]["AbstractText"]
    assert [s.attributes["Label"] for s in sections] == ["Background", "Methods", "Results", "Conclusions"]
    assert sections[0].attributes["NlmCategory"] == "BACKGROUND"
    assert [str(p) for p in cit["Article"]["PublicationTypeList"]][1] == "Retracted Publication"
    cc = cit["CommentsCorrectionsList"][0]
    assert cc.attributes["RefType"] == "RetractionIn" and str(cc["PMID"]) == "41999999"
    assert cit["Article"]["DataBankList"][0]["AccessionNumberList"] == ["NCT01234567"]
    ids = {i.attributes["IdType"]: str(i) for i in data["ArticleIdList"]}
    assert ids == {"pubmed": "41000001", "doi": "10.1182/blood.2026000001", "pmc": "PMC12345678"}
    assert data["PublicationStatus"] == "epublish"
    entrez = [d for d in data["History"] if d.attributes["PubStatus"] == "entrez"][0]
    assert (entrez["Year"], entrez["Month"], entrez["Day"]) == ("2026", "11", "20")


def test_article_follows_dtd_element_order():
    body = article_set(
        make_article("41000001", "Full <b>record</b>", **RICH),
        make_article("41000002", "Bare", authors=(), season="Spring"),
        make_article("41000003", "Medline date", medline_date="1998 Dec-1999 Jan", abstract="Plain."),
        make_article("41000004", "Ahead of print", status="aheadofprint", epub="2026-11-01", month=None),
    )
    assert body.startswith(b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC '
                           b'"-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
                           b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">')
    lxml_valid(body, "pubmed_250101.dtd")


def test_empty_article_set_parses():
    assert read(article_set()) == {"PubmedArticle": [], "PubmedBookArticle": []}


def test_make_article_rejects_bad_pmid():
    with pytest.raises(ValueError):
        make_article("PMC1", "x")


# --- esearch ---------------------------------------------------------------------------------

def test_esearch_default_retmax_is_20_of_63(http, ncbi):
    newest_first = populate(ncbi, "biopython", 63)
    r = esearch(http, ncbi, term="biopython")
    assert r.headers["Content-Type"].startswith("text/xml")
    assert r.text.startswith('<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC '
                             '"-//NLM//DTD esearch 20060628//EN"')
    assert "<eSearchResult><Count>63</Count><RetMax>20</RetMax><RetStart>0</RetStart><IdList>\n<Id>" in r.text
    rec = read(r.content)
    assert (rec["Count"], rec["RetMax"], rec["RetStart"]) == ("63", "20", "0")
    assert rec["IdList"] == newest_first[:20]
    assert "WebEnv" not in rec
    lxml_valid(r.content, "esearch.dtd")


def test_esearch_paging_with_retstart(http, ncbi):
    newest_first = populate(ncbi, "biopython", 63)
    seen = []
    for start in (0, 20, 40, 60):
        rec = read(esearch(http, ncbi, term="biopython", retstart=start).content)
        assert rec["RetStart"] == str(start)
        seen += rec["IdList"]
    assert seen == newest_first
    last = read(esearch(http, ncbi, term="biopython", retstart=60, retmax=100).content)
    assert (last["RetMax"], len(last["IdList"])) == ("3", 3)
    beyond = read(esearch(http, ncbi, term="biopython", retstart=70).content)
    assert beyond["IdList"] == [] and beyond["Count"] == "63"


def test_esearch_orders_newest_edat_then_pmid_desc(http, ncbi):
    ncbi.edat.update({"5": date(2026, 1, 2), "9": date(2026, 1, 1), "7": date(2026, 1, 2)})
    ncbi.searches["q"] = ["9", "5", "7"]
    assert read(esearch(http, ncbi, term="q").content)["IdList"] == ["7", "5", "9"]


def test_esearch_rettype_count_and_whitespace_normalisation(http, ncbi):
    populate(ncbi, "leukemia[tiab]  AND\n  2026[dp]", 5)
    r = esearch(http, ncbi, term=" leukemia[tiab] AND 2026[dp] ", rettype="count")
    assert read(r.content) == {"Count": "5"}
    assert "<IdList" not in r.text


def test_esearch_unknown_query_like_esearch8(http, ncbi):
    r = esearch(http, ncbi, term="abcXYZ")
    assert r.text.endswith(
        "<eSearchResult><Count>0</Count><RetMax>0</RetMax><RetStart>0</RetStart><IdList/><TranslationSet/>"
        "<QueryTranslation>(abcXYZ[All Fields])</QueryTranslation><ErrorList><PhraseNotFound>abcXYZ"
        "</PhraseNotFound></ErrorList><WarningList><OutputMessage>No items found.</OutputMessage>"
        "</WarningList></eSearchResult>\n")
    rec = read(r.content)
    assert rec["ErrorList"]["PhraseNotFound"] == ["abcXYZ"]
    lxml_valid(r.content, "esearch.dtd")


def test_esearch_warning_and_translation_quirks(http, ncbi):
    populate(ncbi, "aml OR xqzv", 2)
    ncbi.warnings["aml OR xqzv"] = "xqzv"
    ncbi.translations["aml OR xqzv"] = '"aml"[All Fields]'
    rec = read(esearch(http, ncbi, term="aml OR xqzv").content)
    assert rec["Count"] == "2"
    assert rec["ErrorList"]["PhraseNotFound"] == ["xqzv"]
    assert rec["QueryTranslation"] == '"aml"[All Fields]'


def test_esearch_9999_cap(http, ncbi):
    ncbi.searches["cancer"] = pmids(10050, start=30000000)
    r = esearch(http, ncbi, term="cancer", retstart=9999)
    assert r.status_code == 200
    assert "<eSearchResult><ERROR>Search Backend failed: Exception:\n'retstart' cannot be larger than 9998." in r.text
    with pytest.raises(RuntimeError) as err:
        read(r.content)
    assert str(err.value) == RETSTART_ERROR

    near = read(esearch(http, ncbi, term="cancer", retstart=9990, retmax=20).content)
    assert len(near["IdList"]) == 9 and near["RetMax"] == "9"
    assert near["WarningList"]["OutputMessage"] == ["Restrictions achieved. start and count adjusted to 9990, 9"]

    big = read(esearch(http, ncbi, term="cancer", retmax=20000).content)
    assert (big["Count"], big["RetMax"], len(big["IdList"])) == ("10050", "9999", 9999)

    small = read(esearch(http, ncbi, term="cancer", retstart=100, retmax=100).content)
    assert "WarningList" not in small and len(small["IdList"]) == 100


def test_esearch_date_filters_on_edat(http, ncbi):
    for pmid, d in {"1": date(2026, 10, 31), "2": date(2026, 11, 1), "3": date(2026, 11, 15),
                    "4": date(2026, 11, 30), "5": date(2026, 12, 1)}.items():
        ncbi.add_article(pmid, edat=d)
    ncbi.searches["q"] = ["1", "2", "3", "4", "5"]

    def ids(**params):
        return read(esearch(http, ncbi, term="q", **params).content)

    rec = ids(datetype="edat", mindate="2026/11/01", maxdate="2026/11/30")
    assert rec["IdList"] == ["4", "3", "2"] and rec["Count"] == "3"
    assert rec["QueryTranslation"] == "(q) AND 2026/11/01:2026/11/30[Date - Entry]"
    assert ids(datetype="edat", mindate="2026/11", maxdate="2026/11")["IdList"] == ["4", "3", "2"]
    assert ids(datetype="edat", mindate="2026", maxdate="2026")["Count"] == "5"
    assert ids(datetype="pdat", mindate="2026/11/01", maxdate="2026/11/30")["Count"] == "5"  # only edat filters
    assert ids(datetype="edat", mindate="2026/11/01")["Count"] == "5"  # both bounds needed
    ncbi.today = date(2026, 12, 1)
    assert ids(datetype="edat", reldate=1)["IdList"] == ["5", "4"]
    assert ncbi.ids_for("q", mindate="2026/11/15", maxdate="2026/12/31") == ["5", "4", "3"]
    with pytest.raises(RuntimeError, match="Invalid date"):
        ids(datetype="edat", mindate="yesterday", maxdate="2026")


def test_edat_falls_back_to_record_entrez_date(http, ncbi):
    ncbi.records["7"] = make_article("7", "x", entrez_date="2026/11/20")
    ncbi.records["8"] = make_article("8", "y", entrez_date="2026/10/20")
    ncbi.searches["q"] = ["7", "8"]
    rec = read(esearch(http, ncbi, term="q", datetype="edat", mindate="2026/11/01", maxdate="2026/11/30").content)
    assert rec["IdList"] == ["7"]


def test_usehistory_then_efetch_by_webenv(http, ncbi):
    newest_first = populate(ncbi, "biopython", 63)
    rec = read(esearch(http, ncbi, term="biopython", usehistory="y").content)
    assert rec["QueryKey"] == "1" and rec["WebEnv"].startswith("MCID_")
    assert ncbi.history_ids(rec["WebEnv"], 1) == newest_first
    again = read(esearch(http, ncbi, term="biopython", usehistory="y", WebEnv=rec["WebEnv"]).content)
    assert (again["WebEnv"], again["QueryKey"]) == (rec["WebEnv"], "2")

    got = []
    for start in (0, 50):
        r = http.post(ncbi.base_url + "efetch.fcgi", timeout=5, data={
            "db": "pubmed", "retmode": "xml", "WebEnv": rec["WebEnv"], "query_key": "1",
            "retstart": start, "retmax": 50, **IDENT})
        got += [str(a["MedlineCitation"]["PMID"]) for a in read(r.content)["PubmedArticle"]]
    assert got == newest_first
    default = read(http.get(ncbi.base_url + "efetch.fcgi", timeout=5, params={
        "db": "pubmed", "WebEnv": rec["WebEnv"], "query_key": "1"}).content)
    assert len(default["PubmedArticle"]) == 20  # the fake's efetch retmax default: pass retmax
    bad = http.get(ncbi.base_url + "efetch.fcgi", timeout=5, params={"WebEnv": "MCID_nope", "query_key": "1"})
    assert bad.status_code == 200 and "<ERROR>Cannot retrieve history data" in bad.text


def test_epost_then_efetch(http, ncbi):
    populate(ncbi, "q", 3)
    r = http.post(ncbi.base_url + "epost.fcgi", data={"db": "pubmed", "id": "41000001,41000003", **IDENT}, timeout=5)
    assert r.text.startswith('<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE ePostResult PUBLIC '
                             '"-//NLM//DTD epost 20090526//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/'
                             '20090526/epost.dtd"><ePostResult>\n\t<QueryKey>1</QueryKey>\n\t<WebEnv>MCID_')
    lxml_valid(r.content, "epost.dtd")
    rec = read(r.content)
    fetched = read(http.get(ncbi.base_url + "efetch.fcgi", timeout=5, params={
        "db": "pubmed", "WebEnv": rec["WebEnv"], "query_key": rec["QueryKey"], "retmax": 10}).content)
    assert [str(a["MedlineCitation"]["PMID"]) for a in fetched["PubmedArticle"]] == ["41000001", "41000003"]


# --- efetch ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_efetch_300_ids(http, ncbi, method):
    known = pmids(290)
    for pmid in known:
        ncbi.records[pmid] = make_article(pmid, f"Title {pmid}")
    asked = known[:150] + pmids(10, start=49000000) + known[150:]  # 10 unknown ones in the middle
    params = {"db": "pubmed", "rettype": "abstract", "retmode": "xml", "id": ",".join(asked), **IDENT}
    if method == "GET":
        r = http.get(ncbi.base_url + "efetch.fcgi", params=params, timeout=10)
    else:
        r = http.post(ncbi.base_url + "efetch.fcgi", data=params, timeout=10)
    assert r.status_code == 200
    rec = read(r.content)
    assert [str(a["MedlineCitation"]["PMID"]) for a in rec["PubmedArticle"]] == known
    assert ncbi.requests[-1].method == method and len(ncbi.requests[-1].params["id"][0].split(",")) == 300


def test_efetch_repeated_id_params_and_unknown_only(http, ncbi):
    ncbi.records["1"] = make_article("1", "one")
    r = http.get(ncbi.base_url + "efetch.fcgi", params=[("db", "pubmed"), ("id", "1"), ("id", "2")], timeout=5)
    assert len(read(r.content)["PubmedArticle"]) == 1
    empty = http.get(ncbi.base_url + "efetch.fcgi", params={"db": "pubmed", "id": "99999999"}, timeout=5)
    assert b"<PubmedArticleSet></PubmedArticleSet>" in empty.content
    assert read(empty.content)["PubmedArticle"] == []


# --- elink -----------------------------------------------------------------------------------

def test_elink_one_linkset_per_id_param_vs_merged(http, ncbi):
    ncbi.citedin.update({"100": ["300", "500", "400"], "200": ["500", "600"]})
    base = [("dbfrom", "pubmed"), ("db", "pubmed"), ("linkname", "pubmed_pubmed_citedin"),
            ("tool", IDENT["tool"]), ("email", IDENT["email"])]

    separate = http.get(ncbi.base_url + "elink.fcgi", params=base + [("id", "100"), ("id", "200"), ("id", "300")],
                        timeout=5)
    assert separate.text.startswith('<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eLinkResult PUBLIC '
                                    '"-//NLM//DTD elink 20101123//EN"')
    # (no lxml check here: libxml2 rejects elink.dtd itself, its LinkSet model is non-deterministic)
    sets = read(separate.content)
    assert [s["IdList"] for s in sets] == [["100"], ["200"], ["300"]]
    assert [[link["Id"] for link in s["LinkSetDb"][0]["Link"]] for s in sets[:2]] == [["500", "400", "300"],
                                                                                      ["600", "500"]]
    assert sets[0]["LinkSetDb"][0]["LinkName"] == "pubmed_pubmed_citedin"
    assert sets[2]["LinkSetDb"] == []  # no citations: IdList, no LinkSetDb
    assert "<LinkSetDb>" not in separate.text.split("<Id>300</Id>\n\t</IdList>")[1]

    merged = read(http.post(ncbi.base_url + "elink.fcgi", data=base + [("id", "100,200")], timeout=5).content)
    assert len(merged) == 1
    assert merged[0]["IdList"] == ["100", "200"]
    assert [link["Id"] for link in merged[0]["LinkSetDb"][0]["Link"]] == ["600", "500", "400", "300"]


def test_elink_other_linkname_has_no_citedin(http, ncbi):
    ncbi.citedin["100"] = ["300"]
    sets = read(http.get(ncbi.base_url + "elink.fcgi", timeout=5, params={
        "dbfrom": "pubmed", "db": "pubmed", "linkname": "pubmed_pubmed_refs", "id": "100"}).content)
    assert sets[0]["LinkSetDb"] == []


# --- protocol behaviour ----------------------------------------------------------------------

def test_rate_limit_429_past_three_per_second(http):
    with FakeEutils() as fake:
        fake.searches["q"] = []
        url = fake.base_url + "esearch.fcgi"
        codes = [http.get(url, params={"term": "q", **IDENT}, timeout=5).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        last = http.get(url, params={"term": "q", **IDENT}, timeout=5)
        assert last.status_code == 429
        assert last.headers["Retry-After"] == "1"
        assert last.headers["Content-Type"].startswith("application/json")
        assert last.json() == {"error": "API rate limit exceeded", "api-key": "127.0.0.1",
                               "count": "5", "limit": "3"}
        assert last.text.startswith('{"error":"API rate limit exceeded","api-key":')
        assert fake.requests[-1].fault == "rate_limit" and fake.requests[-1].status == 429

        keyed = [http.get(url, params={"term": "q", "api_key": "K1", **IDENT}, timeout=5).status_code
                 for _ in range(11)]
        assert keyed == [200] * 10 + [429]
        assert http.get(url, params={"term": "q", "api_key": "K1"}, timeout=5).json()["api-key"] == "K1"


def test_no_429_when_paced(http):
    with FakeEutils() as fake:
        fake.searches["q"] = []
        codes = []
        for _ in range(5):
            codes.append(http.get(fake.base_url + "esearch.fcgi", params={"term": "q", **IDENT}, timeout=5).status_code)
            time.sleep(0.34)
        assert codes == [200] * 5
        assert fake.requests[0].time < fake.requests[-1].time


def test_rate_limit_is_configurable(http):
    with FakeEutils(rate_limit=1) as fake:
        fake.searches["q"] = []
        codes = [http.get(fake.base_url + "esearch.fcgi", params={"term": "q"}, timeout=5).status_code
                 for _ in range(2)]
        assert codes == [200, 429]


def test_request_log_records_identity_and_merged_params(http, ncbi):
    ncbi.searches["q"] = []
    http.get(ncbi.base_url + "esearch.fcgi", params={"term": "q", **IDENT}, timeout=5)
    http.post(ncbi.base_url + "efetch.fcgi?db=pubmed&tool=t", data={"id": "1,2", "email": "e@x"}, timeout=5)
    http.get(ncbi.base_url + "elink.fcgi", params={"dbfrom": "pubmed", "id": "1"}, timeout=5)
    first, second, third = ncbi.requests
    assert (first.method, first.endpoint, first.status, first.has_identity) == ("GET", "esearch", 200, True)
    assert second.method == "POST" and second.params == {"db": ["pubmed"], "tool": ["t"], "id": ["1,2"],
                                                          "email": ["e@x"]}
    assert second.has_identity and not third.has_identity
    assert ncbi.missing_identity() == [third]
    assert ncbi.count() == 3 and ncbi.count("efetch") == 1
    ncbi.clear()
    assert ncbi.count() == 0


def test_latency(http, ncbi):
    ncbi.searches["q"] = []
    ncbi.latency = 0.2
    t0 = time.monotonic()
    esearch(http, ncbi, term="q")
    assert time.monotonic() - t0 >= 0.2


def test_down_answers_503(http, ncbi):
    ncbi.down = True
    r = http.get(ncbi.base_url + "esearch.fcgi", params={"term": "q"}, timeout=5)
    assert r.status_code == 503 and "503" in r.text
    ncbi.down = False
    assert http.get(ncbi.base_url + "esearch.fcgi", params={"term": "q"}, timeout=5).status_code == 200


def _search_url(fake):
    return fake.base_url + "esearch.fcgi"


@pytest.mark.parametrize("kind, status, ctype, check", [
    ("500", 500, "text/html", lambda r: "<h1>500 Internal Server Error</h1>" in r.text),
    ("502", 502, "text/html", lambda r: r.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ("503", 503, "text/html", lambda r: "503" in r.text),
    ("429", 429, "application/json", lambda r: r.json()["error"] == "API rate limit exceeded"
     and r.headers["Retry-After"] == "1"),
    ("json_error200", 200, "application/json", lambda r: "error" in r.json()),
    ("html200", 200, "text/html", lambda r: r.text.lstrip().lower().startswith("<!doctype html")),
    ("empty200", 200, "text/xml", lambda r: r.content == b""),
])
def test_fault_kinds_simple(http, ncbi, kind, status, ctype, check):
    ncbi.searches["q"] = []
    ncbi.fail_next(kind)
    r = http.get(_search_url(ncbi), params={"term": "q"}, timeout=5)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith(ctype)
    assert check(r)
    assert ncbi.requests[-1].fault == kind and ncbi.requests[-1].status == status
    assert http.get(_search_url(ncbi), params={"term": "q"}, timeout=5).status_code == 200  # consumed


def test_fault_error200_bare_and_with_doctype(http, ncbi):
    ncbi.fail_next("error200")
    ncbi.fail_next("error200_dtd")
    bare = http.get(_search_url(ncbi), params={"term": "q"}, timeout=5)
    assert bare.status_code == 200
    assert bare.text.startswith('<?xml version="1.0"?><eSearchResult><ERROR>Search Backend failed: ')
    with pytest.raises(ValueError):  # no DTD: Bio.Entrez cannot parse it
        read(bare.content)
    typed = http.get(_search_url(ncbi), params={"term": "q"}, timeout=5)
    with pytest.raises(RuntimeError, match="Search Backend failed"):
        read(typed.content)
    ncbi.fail_next("error200", endpoint="efetch")
    ncbi.fail_next("error200", endpoint="elink")
    assert "<eFetchResult><ERROR>" in http.get(ncbi.base_url + "efetch.fcgi", params={"id": "1"}, timeout=5).text
    assert "<eLinkResult><ERROR>" in http.get(ncbi.base_url + "elink.fcgi", params={"id": "1"}, timeout=5).text


def test_fault_truncated(http, ncbi):
    populate(ncbi, "q", 30)
    ncbi.fail_next("truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(_search_url(ncbi), params={"term": "q"}, timeout=5)
    assert ncbi.requests[-1].fault == "truncated" and ncbi.requests[-1].status == 200
    assert read(http.get(_search_url(ncbi), params={"term": "q"}, timeout=5).content)["Count"] == "30"


def test_fault_reset(http, ncbi):
    ncbi.fail_next("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(_search_url(ncbi), params={"term": "q"}, timeout=5)
    assert ncbi.requests[-1].fault == "reset" and ncbi.requests[-1].status is None
    assert http.get(_search_url(ncbi), params={"term": "q"}, timeout=5).status_code == 200


def test_fault_slow_triggers_read_timeout(http, ncbi):
    ncbi.slow_seconds = 0.5
    ncbi.fail_next("slow")
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(_search_url(ncbi), params={"term": "q"}, timeout=0.15)
    time.sleep(0.45)  # let the slow handler finish before the next call
    assert http.get(_search_url(ncbi), params={"term": "q"}, timeout=5).status_code == 200


def test_faults_fifo_per_endpoint_and_count(http, ncbi):
    ncbi.fail_next("502", count=2, endpoint="efetch")
    ncbi.fail_next("503")
    with pytest.raises(ValueError):
        ncbi.fail_next("teapot")
    assert http.get(_search_url(ncbi), params={"term": "q"}, timeout=5).status_code == 503  # efetch fault skipped
    assert http.get(_search_url(ncbi), params={"term": "q"}, timeout=5).status_code == 200
    codes = [http.get(ncbi.base_url + "efetch.fcgi", params={"id": "1"}, timeout=5).status_code for _ in range(3)]
    assert codes == [502, 502, 200]
    assert ncbi.pending_faults() == []


def test_eutils_unknown_endpoint_is_404(http, ncbi):
    assert http.get(ncbi.base_url + "einfo.fcgi", timeout=5).status_code == 404
    assert ncbi.requests[-1].endpoint == "einfo"


# --- iCite -----------------------------------------------------------------------------------

@pytest.fixture
def icite():
    with FakeICite() as fake:
        yield fake
        assert fake.errors == []


def test_icite_shape(http, icite):
    assert icite.base_url.endswith("/api/")
    icite.add_pub("100", cited_by=["300", "400"], references=["50"], year=2025, title="A paper", doi="10.1/x")
    icite.cited_by["200"] = []
    r = http.get(icite.base_url + "pubs", params={"pmids": "100,999,200", "format": "json"}, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"meta", "links", "data"}
    assert body["meta"]["pmids"] == "100,999,200"
    first, second = body["data"]  # 999 is unknown: left out
    assert first["_id"] == "100" and first["pmid"] == 100
    assert first["cited_by"] == [300, 400] and first["references"] == [50]
    assert (first["year"], first["title"], first["doi"], first["citation_count"]) == (2025, "A paper", "10.1/x", 2)
    assert second["pmid"] == 200 and second["cited_by"] == []

    only = http.get(icite.base_url + "pubs", params={"pmids": "100", "fl": "pmid,cited_by"}, timeout=5).json()
    assert only["data"] == [{"pmid": 100, "cited_by": [300, 400]}]


def test_icite_1000_pmid_cap(http, icite):
    icite.cited_by.update({p: [] for p in pmids(1000)})
    ok = http.get(icite.base_url + "pubs", params={"pmids": ",".join(pmids(1000))}, timeout=10)
    assert ok.status_code == 200 and len(ok.json()["data"]) == 1000
    too_many = http.get(icite.base_url + "pubs", params={"pmids": ",".join(pmids(1001))}, timeout=10)
    assert too_many.status_code == 400 and "error" in too_many.json()


def test_icite_faults_down_and_log(http, icite):
    icite.add_pub("1", cited_by=["2"])
    icite.fail_next("json_error200")
    icite.fail_next("502")
    assert http.get(icite.base_url + "pubs", params={"pmids": "1"}, timeout=5).json() == {
        "error": "Internal server error"}
    assert http.get(icite.base_url + "pubs", params={"pmids": "1"}, timeout=5).status_code == 502
    icite.down = True
    assert http.get(icite.base_url + "pubs", params={"pmids": "1"}, timeout=5).status_code == 503
    icite.down = False
    assert http.get(icite.base_url + "pubs", params={"pmids": "1"}, timeout=5).json()["data"][0]["cited_by"] == [2]
    assert icite.count("pubs") == 4 and [r.status for r in icite.requests] == [200, 502, 503, 200]


def test_servers_bind_loopback_and_stop():
    fake = FakeEutils().start()
    assert fake.base_url.startswith("http://127.0.0.1:") and fake.base_url.endswith("/entrez/eutils/")
    port = fake.port
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/entrez/eutils/esearch.fcgi", timeout=1)
