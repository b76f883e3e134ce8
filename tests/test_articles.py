"""watchers.articles: PubMed efetch XML -> Article, on recorded NCBI responses and synthetic edge cases."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import Bio.Entrez.Parser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litwatch.watchers.articles import (
    AbstractSection,
    Article,
    ArticleParseError,
    Author,
    CommentCorrection,
    PubDate,
    parse_pubmed_xml,
)
from litwatch.watchers.ncbi_xml import NCBIXMLError

DATA = Path(__file__).parent / "data" / "ncbi"

DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"tried to download {url!r}")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(Bio.Entrez.Parser, "urlopen", urlopen)


def load(name: str) -> list[Article]:
    return parse_pubmed_xml((DATA / name).read_bytes())


def article_set(*articles: str, tail: str = "") -> bytes:
    body = "".join(articles)
    return f'<?xml version="1.0" ?>\n{DOCTYPE}\n<PubmedArticleSet>{body}{tail}</PubmedArticleSet>'.encode()


def make_article(
    pmid: str = "41000001",
    title: str = "A title.",
    *,
    pub_date: str = "<Year>2025</Year><Month>Feb</Month><Day>18</Day>",
    journal: str = "Blood",
    pagination: str = "<Pagination><MedlinePgn>1-9</MedlinePgn></Pagination>",
    elocations: str = "",
    abstract: str = "",
    authors: str = '<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Smith</LastName>'
    "<ForeName>Jane A</ForeName><Initials>JA</Initials></Author></AuthorList>",
    databanks: str = "",
    vernacular: str = "",
    article_dates: str = "",
    citation_extra: str = "",
    history: str = '<History><PubMedPubDate PubStatus="entrez"><Year>2025</Year><Month>2</Month>'
    "<Day>19</Day><Hour>6</Hour><Minute>0</Minute></PubMedPubDate></History>",
    status: str = "ppublish",
    article_ids: str = "",
    pmid_element: str | None = None,
) -> str:
    """One PubmedArticle in 2025-DTD element order; every argument is inserted as raw XML."""
    pmid_xml = f'<PMID Version="1">{pmid}</PMID>' if pmid_element is None else pmid_element
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">{pmid_xml}'
        '<Article PubModel="Print"><Journal><ISSN IssnType="Print">0006-4971</ISSN>'
        f'<JournalIssue CitedMedium="Print"><Volume>145</Volume><Issue>7</Issue><PubDate>{pub_date}</PubDate>'
        f"</JournalIssue><Title>{journal}</Title><ISOAbbreviation>Blood</ISOAbbreviation></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle>{pagination}{elocations}{abstract}{authors}"
        f"<Language>eng</Language>{databanks}"
        '<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>'
        f"</PublicationTypeList>{vernacular}{article_dates}</Article>"
        "<MedlineJournalInfo><Country>United States</Country><MedlineTA>Blood</MedlineTA>"
        f"<NlmUniqueID>7603509</NlmUniqueID></MedlineJournalInfo>{citation_extra}</MedlineCitation>"
        f"<PubmedData>{history}<PublicationStatus>{status}</PublicationStatus>"
        f'<ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId>{article_ids}</ArticleIdList>'
        "</PubmedData></PubmedArticle>"
    )


def one(**kwargs: Any) -> Article:
    (article,) = parse_pubmed_xml(article_set(make_article(**kwargs)))
    return article


# -- recorded NCBI responses ----------------------------------------------------------------------


def test_pubmed1_two_medline_articles() -> None:
    first, second = load("pubmed1.xml")
    assert first.pmid == "12091962"
    assert first.title == "The treatment of AIDS behind the walls of correctional facilities."
    assert first.authors == (Author("Olivero", "J Michael", "JM"),)
    assert first.first_author == "Olivero JM"
    assert first.journal == "Social justice (San Francisco, Calif.)"
    assert first.journal_iso == "Soc Justice"
    assert (first.volume, first.issue, first.pages) == ("17", "1", "113-25")
    assert first.pub_date == PubDate(year=1990, month=3, season="Spring")
    assert first.pub_date.display() == "1990 Spring"
    assert first.year == 1990
    assert first.doi == "" and first.pmcid == "" and first.abstract == ()
    assert first.publication_types == ("Journal Article", "Review")
    assert "Acquired Immunodeficiency Syndrome" in first.mesh_headings
    assert len(first.mesh_headings) == 19
    assert first.keywords == ("Health Care and Public Health", "Legal Approach")
    assert first.language == "eng"
    assert first.entrez_date == "1990-04-01"
    assert first.publication_status == "ppublish"
    assert not first.is_ahead_of_print

    assert second.pmid == "9997"
    assert second.doi == "10.1016/0005-2795(76)90109-4"
    assert second.pub_date == PubDate(year=1976, month=9, day=28)
    assert second.pub_date.display() == "1976 Sep 28"
    assert second.abstract_text.startswith("Electron paramagnetic resonance and magnetic susceptibility")
    assert second.abstract[0].label == ""
    assert second.entrez_date == "1976-09-28"


def test_pubmed2_two_articles_2025_dtd() -> None:
    articles = load("pubmed2.xml")
    assert [a.pmid for a in articles] == ["11748933", "11700088"]
    first, second = articles
    assert first.title.startswith("Is cryopreservation a homogeneous process?")
    assert len(first.authors) == 8
    assert first.first_author == "Taddei AR"
    assert first.authors[-1] == Author("Mazzini", "M", "M")
    assert first.journal == "Cryobiology"
    assert first.pub_date.display() == "2001 Jun"
    assert first.doi == "10.1006/cryo.2001.2328"
    assert first.entrez_date == "2001-12-26"
    assert first.publication_types == ("Journal Article", "Research Support, Non-U.S. Gov't")
    assert "Sea Bream" in first.mesh_headings
    # text is HTML-escaped in the html field, plain in the text view
    assert "(P &lt; 0.001)" in first.abstract[0].html
    assert "(P < 0.001)" in first.abstract_text
    assert second.title == "Proton MRI of (13)C distribution by J and chemical shift editing."
    assert second.journal == "Journal of magnetic resonance (San Diego, Calif. : 1997)"
    assert [a.display for a in second.authors][-1] == "De Luca F"
    assert second.doi == "10.1006/jmre.2001.2429"
    assert second.mesh_headings == ()


def test_pubmed4_structured_abstract_comment_in_pmc() -> None:
    (article,) = load("pubmed4.xml")
    assert article.pmid == "27797938"
    assert article.title_html == (
        "Leucocyte telomere length, genetic variants at the <i>TERT</i> gene region and risk of pancreatic cancer."
    )
    assert article.title == (
        "Leucocyte telomere length, genetic variants at the TERT gene region and risk of pancreatic cancer."
    )
    assert [s.label for s in article.abstract] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    results = article.abstract[2].html
    assert "p<sub>trend</sub>=0.048" in results
    assert "r<sup>2</sup>&lt;0.25" in results
    lines = article.abstract_text.split("\n")
    assert len(lines) == 4
    assert lines[0].startswith("OBJECTIVE: Telomere shortening occurs")
    assert lines[2].startswith("RESULTS: ") and "r2<0.25" in lines[2]
    assert article.comments_corrections == (CommentCorrection("CommentIn", "Gut. 2017 Jun;66(6):1", "27920200"),)
    assert article.pmcid == "PMC5442267"
    assert article.doi == "10.1136/gutjnl-2016-312510"
    assert article.epub_date == "2016-10-21"
    assert article.pub_date == PubDate(year=2017, month=6)
    assert article.pages == "1116-1122"
    assert len(article.authors) == 22
    assert article.authors[0] == Author("Bao", "Ying", "Y")
    assert article.keywords == ("PANCREATIC CANCER",)
    assert article.entrez_date == "2016-11-01"
    assert "Telomere Shortening" in article.mesh_headings
    assert "Observational Study" in article.publication_types


def test_pubmed6_not_medline_inline_markup_and_mathml() -> None:
    (article,) = load("pubmed6.xml")
    assert article.pmid == "30108519"
    assert article.title_html.startswith('A "<i>Blood Relationship"</i> Between the Overlooked')
    assert article.title.startswith('A "Blood Relationship" Between the Overlooked Minimum Lactate')
    assert article.pmcid == "PMC6079548"
    assert article.doi == "10.3389/fphys.2018.01034"
    assert article.publication_status == "epublish"
    assert (article.volume, article.issue, article.pages) == ("9", "", "1034")
    assert article.pub_date == PubDate(year=2018)
    assert article.pub_date.display() == "2018"
    assert article.epub_date == "2018-07-31"
    assert article.entrez_date == "2018-08-16"
    assert article.authors == (Author("Garcia-Tabar", "Ibai", "I"), Author("Gorostiaga", "Esteban M", "EM"))
    assert article.keywords[0] == "Owles' point"
    assert len(article.keywords) == 8
    assert article.comments_corrections == ()  # only "Cites" entries, which are references
    html = article.abstract[0].html
    assert "(LE<sub>min</sub>)" in html
    assert "km·h<sup>-1</sup>" in html
    assert "(<i>P</i> &lt; 0.001" in html
    # MathML is flattened to text; no MathML tags leak into the HTML
    assert "<math" not in html and "<mi>" not in html and "xmlns" not in html
    assert "maximal oxygen uptake ( V.O2max )" in html


def test_pubmed7_collective_author() -> None:
    (article,) = load("pubmed7.xml")
    assert article.pmid == "29963580"
    assert len(article.authors) == 9
    assert article.first_author == "Guo F"
    assert article.authors[-1] == Author(collective="Canadian Respiratory Research Network")
    assert article.authors[-1].display == "Canadian Respiratory Research Network"
    assert article.journal_iso == "J Med Imaging (Bellingham)"
    assert article.pages == "026002"
    assert article.pub_date.display() == "2018 Apr"
    assert article.doi == "10.1117/1.JMI.5.2.026002"
    assert article.pmcid == "PMC6022861"
    assert article.epub_date == "2018-06-28"
    assert article.entrez_date == "2018-07-03"
    assert "<math" not in article.abstract[0].html
    assert "inhaled He3/Xe129 MRI ventilation" in article.abstract_text


@pytest.mark.parametrize("name", ["pubmed1.xml", "pubmed2.xml", "pubmed4.xml", "pubmed6.xml", "pubmed7.xml"])
def test_json_round_trip(name: str) -> None:
    for article in load(name):
        data = json.loads(json.dumps(article.to_dict()))
        assert Article.from_dict(data) == article


def test_from_dict_ignores_unknown_and_defaults_missing() -> None:
    article = Article.from_dict(
        {"pmid": 123, "title_html": "<i>T</i>", "authors": [{"last_name": "Li", "extra": 1}], "future": "x"}
    )
    assert article == Article(pmid="123", title_html="<i>T</i>", authors=(Author(last_name="Li"),))
    assert article.to_dict()["pub_date"] == {"year": None, "month": None, "day": None, "season": "", "medline_date": ""}


# -- model behaviour --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "text"),
    [
        (PubDate(2025, 2, 18), "2025 Feb 18"),
        (PubDate(2025, 2), "2025 Feb"),
        (PubDate(1990, 3, season="Spring"), "1990 Spring"),
        (PubDate(medline_date="1998 Dec-1999 Jan"), "1998 Dec-1999 Jan"),
        (PubDate(2025), "2025"),
        (PubDate(), ""),
        (PubDate(None, 5, 1), ""),
        (PubDate(2025, 13), "2025"),
    ],
)
def test_pub_date_display(date: PubDate, text: str) -> None:
    assert date.display() == text


def test_year_fallbacks() -> None:
    assert Article("1", "", pub_date=PubDate(2020)).year == 2020
    assert Article("1", "", pub_date=PubDate(medline_date="Winter 1998-1999")).year == 1998
    assert Article("1", "", epub_date="2024-05-01", entrez_date="2024-06-01").year == 2024
    assert Article("1", "", entrez_date="2023-01-02").year == 2023
    assert Article("1", "").year is None


def test_small_properties() -> None:
    article = Article(
        "1",
        "x",
        abstract=(AbstractSection("", "plain &amp; simple"), AbstractSection("METHODS", "")),
        publication_status="aheadofprint",
    )
    assert article.abstract_text == "plain & simple\nMETHODS"
    assert article.is_ahead_of_print
    assert article.first_author == ""


# -- synthetic edge cases ---------------------------------------------------------------------------


def test_synthetic_baseline() -> None:
    article = one()
    assert article.pmid == "41000001"
    assert article.title == "A title."
    assert article.authors == (Author("Smith", "Jane A", "JA"),)
    assert article.pub_date.display() == "2025 Feb 18"
    assert article.entrez_date == "2025-02-19"


def test_escaped_script_in_title_stays_escaped() -> None:
    article = one(title="&lt;script&gt;alert(1)&lt;/script&gt; in <i>vivo</i> &amp; more")
    assert article.title_html == "&lt;script&gt;alert(1)&lt;/script&gt; in <i>vivo</i> &amp; more"
    assert article.title == "<script>alert(1)</script> in vivo & more"


def test_markup_elements_outside_pubmeds_inline_set_are_dropped() -> None:
    """Biopython keeps *any* child element of a text element as a raw tag; we keep only i/b/sup/sub/u."""
    article = one(
        title='<script>alert(1)</script> <b onclick="x()">bold</b> <u>u</u> '
        '<i title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">it</i>'
    )
    assert article.title_html == "alert(1) <b>bold</b> <u>u</u> <i>it</i>"
    assert article.title == "alert(1) bold u it"


def test_plain_text_fields_are_unescaped() -> None:
    article = one(
        journal="Science &amp; Society &lt;Online&gt;",
        authors='<AuthorList><Author><LastName>O&apos;Brien &amp; Co</LastName><Initials>J</Initials></Author>'
        "<Author><CollectiveName>The <i>TP53</i> &amp; Friends Group</CollectiveName></Author></AuthorList>",
        citation_extra='<KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="N"><i>BRCA1</i> &amp; '
        "<i>BRCA2</i></Keyword></KeywordList>",
    )
    assert article.journal == "Science & Society <Online>"
    assert article.authors == (Author("O'Brien & Co", "", "J"), Author(collective="The TP53 & Friends Group"))
    assert article.keywords == ("BRCA1 & BRCA2",)


def test_vernacular_title_fallback() -> None:
    article = one(title="", vernacular="<VernacularTitle>Titre en fran&#231;ais</VernacularTitle>")
    assert article.title == "Titre en français"


def test_medline_date_and_seasons() -> None:
    article = one(pub_date="<MedlineDate>1998 Dec-1999 Jan</MedlineDate>")
    assert article.pub_date == PubDate(medline_date="1998 Dec-1999 Jan")
    assert article.year == 1998
    for season, month in [("Spring", 3), ("Summer", 6), ("Autumn", 9), ("Fall", 9), ("Winter", 12)]:
        date = one(pub_date=f"<Year>2001</Year><Season>{season}</Season>").pub_date
        assert date == PubDate(2001, month, season=season)
    assert one(pub_date="<Year>2001</Year><Month>09</Month><Day>7</Day>").pub_date == PubDate(2001, 9, 7)
    assert one(pub_date="<Year>2001</Year><Month>Smarch</Month>").pub_date == PubDate(2001)


def test_pages_fallbacks() -> None:
    start_end = "<Pagination><StartPage>e70001</StartPage><EndPage>e70009</EndPage></Pagination>"
    assert one(pagination=start_end).pages == "e70001-e70009"
    assert one(pagination="<Pagination><StartPage>12</StartPage></Pagination>").pages == "12"
    locations = (
        '<ELocationID EIdType="doi" ValidYN="Y">10.1000/xyz</ELocationID>'
        '<ELocationID EIdType="pii" ValidYN="Y">e2025001</ELocationID>'
    )
    article = one(pagination="", elocations=locations)
    assert article.pages == "e2025001"
    assert article.doi == "10.1000/xyz"  # no ArticleId doi: the ELocationID one


def test_article_id_doi_wins_over_elocation() -> None:
    article = one(
        elocations='<ELocationID EIdType="doi" ValidYN="Y">10.1000/eloc</ELocationID>',
        article_ids='<ArticleId IdType="doi">10.1000/aid</ArticleId><ArticleId IdType="pmc">PMC11840241</ArticleId>',
    )
    assert (article.doi, article.pmcid) == ("10.1000/aid", "PMC11840241")


def test_databank_nct_numbers() -> None:
    article = one(
        databanks="<DataBankList CompleteYN=\"Y\"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>"
        "<AccessionNumberList><AccessionNumber>NCT01234567</AccessionNumber>"
        "<AccessionNumber>NCT07654321</AccessionNumber></AccessionNumberList></DataBank>"
        "<DataBank><DataBankName>GEO</DataBankName></DataBank></DataBankList>"
    )
    assert article.databank_ids == ("NCT01234567", "NCT07654321")


def test_retraction_and_epub_ahead_of_print() -> None:
    article = one(
        status="aheadofprint",
        article_dates='<ArticleDate DateType="Electronic"><Year>2025</Year><Month>01</Month><Day>05</Day></ArticleDate>',
        citation_extra='<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
        '<RefSource>Blood. 2026 Jan;147(1):1</RefSource><PMID Version="1">41000099</PMID></CommentsCorrections>'
        '<CommentsCorrections RefType="ErratumIn"><RefSource>Blood. 2025;1:2</RefSource></CommentsCorrections>'
        "</CommentsCorrectionsList>",
    )
    assert article.is_ahead_of_print
    assert article.epub_date == "2025-01-05"
    assert article.comments_corrections == (
        CommentCorrection("RetractionIn", "Blood. 2026 Jan;147(1):1", "41000099"),
        CommentCorrection("ErratumIn", "Blood. 2025;1:2", ""),
    )


def test_abstract_categories() -> None:
    article = one(
        abstract='<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Why.</AbstractText>'
        '<AbstractText Label="Main results" NlmCategory="RESULTS">H<sub>2</sub>O.</AbstractText></Abstract>'
    )
    assert article.abstract == (
        AbstractSection("BACKGROUND", "Why.", "BACKGROUND"),
        AbstractSection("Main results", "H<sub>2</sub>O.", "RESULTS"),
    )
    assert article.abstract_text == "BACKGROUND: Why.\nMain results: H2O."


def test_invalid_authors_skipped_and_entrez_falls_back_to_pubmed() -> None:
    article = one(
        authors='<AuthorList><Author ValidYN="N"><LastName>Smiht</LastName></Author>'
        '<Author ValidYN="Y"><LastName>Smith</LastName><Initials>J</Initials></Author></AuthorList>',
        history='<History><PubMedPubDate PubStatus="pubmed"><Year>2024</Year><Month>12</Month><Day>31</Day>'
        "</PubMedPubDate></History>",
    )
    assert article.authors == (Author("Smith", "", "J"),)
    assert article.entrez_date == "2024-12-31"


def test_book_articles_read_and_deletions_skipped() -> None:
    """Book records are read in document order (issue 13, E16: they were dropped); deletions skipped."""
    book = (
        "<PubmedBookArticle><BookDocument><PMID Version=\"1\">20301295</PMID><ArticleIdList>"
        '<ArticleId IdType="bookaccession">NBK1116</ArticleId></ArticleIdList><Book><Publisher>'
        "<PublisherName>University of Washington, Seattle</PublisherName></Publisher>"
        "<BookTitle>GeneReviews</BookTitle><PubDate><Year>1993</Year></PubDate></Book><ArticleTitle>Book</ArticleTitle>"
        "</BookDocument><PubmedBookData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
        '<ArticleId IdType="pubmed">20301295</ArticleId></ArticleIdList></PubmedBookData></PubmedBookArticle>'
    )
    data = article_set(
        make_article("1"),
        book,
        make_article("2"),
        tail='<DeleteCitation><PMID Version="1">3</PMID></DeleteCitation>',
    )
    parsed = parse_pubmed_xml(data)
    assert [a.pmid for a in parsed] == ["1", "20301295", "2"]
    assert parsed[1].record_type == "chapter" and parsed[1].book_title == "GeneReviews"


def test_empty_article_set() -> None:
    assert parse_pubmed_xml(article_set()) == []


# -- errors ------------------------------------------------------------------------------------------


def test_missing_pmid_is_article_parse_error() -> None:
    with pytest.raises(ArticleParseError, match="without a PMID"):
        parse_pubmed_xml(article_set(make_article(pmid="", pmid_element="")))


def test_invalid_pmid() -> None:
    with pytest.raises(ArticleParseError, match="invalid PMID") as info:
        parse_pubmed_xml(article_set(make_article(pmid="12x")))
    assert info.value.pmid == ""


def test_bad_record_names_its_pmid() -> None:
    broken = '<PubmedArticle><MedlineCitation><PMID Version="1">555</PMID></MedlineCitation></PubmedArticle>'
    with pytest.raises(ArticleParseError, match=r"^PMID 555: ") as info:
        parse_pubmed_xml(article_set(make_article("1"), broken))
    assert info.value.pmid == "555"
    assert isinstance(info.value, ValueError)


def test_not_a_pubmed_article_set() -> None:
    with pytest.raises(NCBIXMLError, match="expected a PubmedArticleSet, found eSearchResult"):
        parse_pubmed_xml((DATA / "esearch1.xml").read_bytes())


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>Service unavailable</body></html>",
        b"",
        b'<?xml version="1.0" ?>\n' + DOCTYPE.encode() + b"\n<PubmedArticleSet><PubmedArticle>",
        b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet SYSTEM "http://example.com/evil.dtd"><PubmedArticleSet/>',
    ],
)
def test_document_errors(data: bytes) -> None:
    with pytest.raises(NCBIXMLError):
        parse_pubmed_xml(data)


# -- fuzzing ------------------------------------------------------------------------------------------

SEED = (DATA / "pubmed2.xml").read_bytes()
TITLE_AT = SEED.index(b"<ArticleTitle>") + len(b"<ArticleTitle>")
TOKENS = [
    "<i>", "</i>", "<sup>", "&lt;", "&amp;", "&#0;", "&#x110000;", "<![CDATA[", "]]>", "<!--", "-->",
    "<script>", "</script>", "<PMID>", "</ArticleTitle>", "&foo;", '<i a="&quot;>">', "<mml:math>",
]  # fmt: skip


def _check(data: bytes) -> None:
    try:
        articles = parse_pubmed_xml(data)
    except (ArticleParseError, NCBIXMLError) as exc:
        assert str(exc)
    else:
        assert isinstance(articles, list)
        for article in articles:
            assert isinstance(article, Article)
            assert Article.from_dict(json.loads(json.dumps(article.to_dict()))) == article


mutations = st.one_of(
    # overwrite some bytes
    st.lists(
        st.tuples(st.integers(0, len(SEED) - 1), st.binary(min_size=1, max_size=8)), min_size=1, max_size=6
    ).map(lambda edits: _overwrite(SEED, edits)),
    # truncate
    st.integers(0, len(SEED)).map(lambda n: SEED[:n]),
    # inject text (markup, entities, garbage) into the first title
    st.lists(st.sampled_from(list("<>&;/\"'=!?[]#x ab\u00e9\U0001f600\x00")) | st.sampled_from(TOKENS), max_size=12)
    .map("".join)
    .map(lambda text: SEED[:TITLE_AT] + text.encode() + SEED[TITLE_AT:]),
    # insert random bytes anywhere
    st.tuples(st.integers(0, len(SEED)), st.binary(min_size=1, max_size=16)).map(
        lambda ins: SEED[: ins[0]] + ins[1] + SEED[ins[0] :]
    ),
)


def _overwrite(data: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    buffer = bytearray(data)
    for position, chunk in edits:
        buffer[position : position + len(chunk)] = chunk
    return bytes(buffer)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_fuzz_only_clean_errors(data: bytes) -> None:
    _check(data)
