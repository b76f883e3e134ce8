"""Book records (issue 13, E16): PubmedBookArticle (GeneReviews chapters, NCBI Bookshelf reports)
were dropped without a trace.  They are read (book and chapter title, authors, editors, publisher,
date, PMID, links) and announced like articles: digest, RIS, CSV, BibTeX, feeds."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import bibtexparser
import pytest
import rispy

from litwatch.jobs.run.feeds import citation_line
from litwatch.notifications.bibtex import articles_to_bibtex
from litwatch.notifications.exports import articles_to_csv, articles_to_ris
from litwatch.watchers.articles import Article, parse_pubmed_xml
from tests.conftest import Q_BTK
from tests.reliability_helpers import baseline, fast_retries, html_of, pmids_in

REAL = Path(__file__).parent / "data" / "ncbi" / "real" / "book"
GENEREVIEWS = REAL / "metapub-genereviews-20301577-2025dtd.xml"  # a chapter, 2025 DTD
WHOLE_BOOK = REAL / "ncbi-toolkit-pubmed28211659-book-structured.xml"  # a whole book, 2019 DTD


def chapter() -> Article:
    (article,) = parse_pubmed_xml(GENEREVIEWS.read_bytes())
    return article


def test_a_genereviews_chapter_is_read() -> None:
    article = chapter()
    assert article.pmid == "20301577" and article.record_type == "chapter" and article.is_book
    assert article.title_html == "<i>CACNA1C</i>-Related Disorders"
    assert article.book_title == "GeneReviews®"
    assert [a.display for a in article.authors] == ["Napolitano C", "Priori SG"]
    assert [a.display for a in article.editors] == ["Adam MP", "Feldman J", "Mirzaa GM", "Pagon RA", "Wallace SE", "Amemiya A"]
    assert (article.publisher, article.publisher_location) == ("University of Washington, Seattle", "Seattle (WA)")
    assert article.pub_date.year == 1993 and article.entrez_date == "2024-12-19"
    assert article.book_accession == "NBK1403"
    assert article.bookshelf_url == "https://www.ncbi.nlm.nih.gov/books/NBK1403/"
    assert article.publication_types == ("Review",) and article.language == "eng"
    assert [s.label for s in article.abstract][:2] == ["CLINICAL CHARACTERISTICS", "DIAGNOSIS/TESTING"]
    assert article.book_citation == "In: GeneReviews®. Seattle (WA): University of Washington, Seattle; 1993."
    assert Article.from_json(article.to_json()) == article


def test_a_whole_book_is_read() -> None:
    (book,) = parse_pubmed_xml(WHOLE_BOOK.read_bytes())
    assert book.pmid == "28211659" and book.record_type == "book"
    assert book.title.startswith("Support at Home: Interventions to Enhance Life in Dementia")
    assert book.authors[0].display == "Orrell M" and book.doi == "10.3310/pgfar05050"
    assert book.publisher == "NIHR Journals Library" and book.publisher_location == "Southampton (UK)"
    assert book.book_citation == "Southampton (UK): NIHR Journals Library; 2017 Feb."
    assert book.bookshelf_url == "https://www.ncbi.nlm.nih.gov/books/NBK424174/"


def test_books_among_articles_keep_document_order() -> None:
    body = GENEREVIEWS.read_bytes()
    head, _, rest = body.partition(b"<PubmedBookArticle>")
    journal = (Path(__file__).parent / "data" / "ncbi" / "pubmed2.xml").read_bytes()
    articles = journal.split(b"<PubmedArticleSet>", 1)[1].rsplit(b"</PubmedArticleSet>", 1)[0]
    mixed = head + articles + b"<PubmedBookArticle>" + rest
    parsed = parse_pubmed_xml(mixed)
    assert [a.is_book for a in parsed][-1] is True and parsed[-1].pmid == "20301577"
    assert not any(a.is_book for a in parsed[:-1]) and len(parsed) >= 2


def test_books_in_every_export() -> None:
    article = chapter()
    (ris,) = rispy.loads(articles_to_ris([article]))
    assert ris["type_of_reference"] == "CHAP" and ris["secondary_title"] == "GeneReviews®"
    assert ris["publisher"] == "University of Washington, Seattle" and ris["place_published"] == "Seattle (WA)"
    assert ris["secondary_authors"][0] == "Adam, Margaret P"
    assert "https://www.ncbi.nlm.nih.gov/books/NBK1403/" in ris["urls"]
    (row,) = list(csv.DictReader(io.StringIO(articles_to_csv([article]))))
    assert row["journal"] == "GeneReviews®" and row["pmid"] == "20301577"
    library = bibtexparser.parse_string(articles_to_bibtex([article]))
    (entry,) = library.entries
    assert entry.entry_type == "incollection" and "journal" not in entry.fields_dict
    assert entry["publisher"].startswith("University of Washington") and "Adam" in entry["editor"]
    assert "GeneReviews" in entry["booktitle"]
    assert citation_line(article) == "In: GeneReviews®. Seattle (WA): University of Washington, Seattle; 1993."


def test_a_book_chapter_is_announced_like_an_article(tmp_path: Path, ncbi, smtp, litwatch, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Before: efetch answered the chapter, the parser skipped it, and the reader never heard of it."""
    from tests.conftest import scenario_config

    fast_retries(monkeypatch, ncbi)
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, digest_extra='attach = ["ris", "csv"]')
    assert litwatch("run", "--config", str(cfg)).code == 0
    smtp.received.clear()
    xml = GENEREVIEWS.read_text()
    record = xml[xml.index("<PubmedBookArticle>") : xml.index("</PubmedBookArticle>") + len("</PubmedBookArticle>")]
    ncbi.add_article("20301577", xml=record, edat=ncbi.today)
    ncbi.add_search(Q_BTK, base + ["20301577"])
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (message,) = smtp.messages()
    assert pmids_in(message) == {"20301577"}
    page = html_of(message)
    assert "<i>CACNA1C</i>-Related Disorders" in page
    assert "In: GeneReviews®. Seattle (WA): University of Washington, Seattle; 1993." in page
    assert "https://www.ncbi.nlm.nih.gov/books/NBK1403/" in page
    (ris,) = [p for p in message.iter_attachments() if p.get_filename().endswith(".ris")]
    assert "TY  - CHAP" in ris.get_content().decode()
    r = litwatch("export", "--config", str(cfg), "--format", "bibtex")
    assert r.code == 0 and re.search(r"@incollection\{pmid20301577,", r.out), r.out[:500]
