"""Hostile PubMed records (issue 13, A) and PubMed's own citation details (E17, E18): markup bounded,
balanced and sanitised in linear time, stored text capped, attachments within budget, BibTeX that
no field can break out of; author suffixes and e-locators."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litwatch.notifications.bibtex import articles_to_bibtex
from litwatch.notifications.exports import articles_to_csv, articles_to_ris, split_pages
from litwatch.notifications.model import Digest, Entry
from litwatch.notifications.render import ATTACHMENT_BUDGET_BYTES, HTML_BUDGET_BYTES, render_digest
from litwatch.watchers.articles import (
    MAX_ABSTRACT_CHARS,
    MAX_FIELD_CHARS,
    MAX_LIST_ITEMS,
    MAX_TITLE_CHARS,
    AbstractSection,
    Article,
    Author,
    parse_pubmed_xml,
)
from litwatch.watchers.markup import INLINE_TAGS, MAX_INLINE_DEPTH, MAX_INLINE_TAGS, sanitize
from tests.fakes.pubmed_xml import article_set, esc, make_article

SENDER = "litwatch <litwatch@example.org>"
CREATED = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def parse_one(xml: str) -> Article:
    (article,) = parse_pubmed_xml(article_set(xml))
    return article


def digest_of(*articles: Article) -> Digest:
    return Digest(
        recipient="lab@example.org",
        created=CREATED,
        entries=tuple(Entry(a, watches=("w",)) for a in articles),
    )


def render(*articles: Article, attach: tuple[str, ...] = ("ris", "csv")) -> bytes:
    message = render_digest(digest_of(*articles), sender=SENDER, message_id="<x@example.org>", attach=attach)
    return message.as_bytes()


class TagBalance(HTMLParser):
    """The open-tag stack of an HTML fragment, and its deepest nesting."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.deepest = 0
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)
        self.deepest = max(self.deepest, len(self.stack))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def balance(fragment: str) -> TagBalance:
    audit = TagBalance()
    audit.feed(fragment)
    audit.close()
    return audit


# -- A1: inline markup is bounded --------------------------------------------------------------------


def test_deeply_nested_markup_is_bounded_so_no_renderer_sees_it(tmp_path) -> None:  # noqa: ANN001
    """20,000 nested <i> (valid XML) killed the CSS inliner with SIGSEGV after the record was stored."""
    title = "<i>" * 20_000 + "Deep" + "</i>" * 20_000 + " and " + "<b>x</b>" * 5_000
    article = parse_one(make_article("41300001", title, abstract=[("Background", title)]))
    for fragment in (article.title_html, article.abstract[0].html):
        audit = balance(fragment)
        assert audit.deepest <= MAX_INLINE_DEPTH and not audit.stack and not audit.errors
        assert fragment.count("<") <= 2 * MAX_INLINE_TAGS
        assert "Deep" in fragment, "past the bound the text stays, as plain text"
    assert article.title.startswith("Deep and xxx")
    # and the digest renders, in a child process so that a crash is a failure, not the end of pytest
    stored = tmp_path / "article.json"
    stored.write_text(article.to_json())
    script = textwrap.dedent(
        f"""
        import pathlib
        from tests.test_records import render
        from litwatch.watchers.articles import Article
        article = Article.from_json(pathlib.Path({str(stored)!r}).read_text())
        print(len(render(article)))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


def test_a_stored_record_with_unbounded_markup_is_bounded_when_rendered(tmp_path) -> None:  # noqa: ANN001
    """A record stored by an older version (title_html unbounded) is bounded again by the renderer."""
    old = Article(pmid="41300002", title_html="<i>" * 20_000 + "Old" + "</i>" * 20_000)
    stored = tmp_path / "article.json"
    stored.write_text(old.to_json())
    script = textwrap.dedent(
        f"""
        import pathlib
        from tests.test_records import render
        from litwatch.watchers.articles import Article
        print(len(render(Article.from_json(pathlib.Path({str(stored)!r}).read_text()))))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


# -- A3: linear time -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pairs", [16_000, 64_000])
def test_title_sanitising_is_linear(pairs: int) -> None:
    """16,000 `<math-x></math-x>` pairs took 23-31 s (a regex rescanned the rest of the title for
    `</math>` at each one); 64,000 now take well under a second."""
    title = "Title " + "<math-x></math-x>" * pairs + " end"
    xml = article_set(make_article("41300003", title))
    started = time.perf_counter()
    (article,) = parse_pubmed_xml(xml)
    assert time.perf_counter() - started < 3.0
    assert article.title == "Title end"


def test_sanitising_keeps_exactly_pubmeds_inline_elements() -> None:
    """`math` is the element named math, not every name starting so; MathML becomes its text."""
    assert sanitize("a<math-x>b</math-x>c") == "abc"
    assert sanitize("<mathx>b</mathx>") == "b"
    assert sanitize('x <math xmlns="http://www.w3.org/1998/Math/MathML">\n  <mi>a</mi>\n  <mo>+</mo>\n</math>') == "x a+"
    assert sanitize('<i class="x">a</i><span>b</span><sup>2</sup><strong>c</strong>') == "<i>a</i>b<sup>2</sup>c"
    for tag in INLINE_TAGS:
        assert sanitize(f"<{tag}>t</{tag}>") == f"<{tag}>t</{tag}>"


# -- A4: balanced within each field --------------------------------------------------------------------


def test_unbalanced_markup_is_balanced_within_each_field() -> None:
    """The issue's record: closing tags were lost and bold/italic/underline ran through the digest."""
    hostile = "<u><i><b>Hostile<math-x>a</math-x></b></i></u><math>b</math>"
    article = parse_one(make_article("41300004", hostile, abstract=[("Background", hostile), ("Results", "Plain")]))
    assert article.title_html == "<u><i><b>Hostilea</b></i></u>b"
    assert article.abstract[0].html == "<u><i><b>Hostilea</b></i></u>b"
    assert article.abstract[1].html == "Plain"
    page = render(article, attach=())
    html = re.search(rb"<body.*</body>", page.replace(b"=\r\n", b""), re.S)
    assert html is not None
    text = html.group().decode("utf-8", "replace").replace("=3D", "=")
    audit = balance(text)
    assert not [t for t in audit.stack if t in INLINE_TAGS], audit.stack


@pytest.mark.parametrize(
    "fragment, expected",
    [
        ("<i>open", "<i>open</i>"),
        ("stray</b> close", "stray close"),
        ("<b><i>crossed</b></i>", "<b><i>crossed</i></b>"),
    ],
)
def test_stored_html_is_balanced(fragment: str, expected: str) -> None:
    assert sanitize(fragment) == expected


# -- A2: stored text and attachments are capped -----------------------------------------------------------


def test_stored_text_fields_are_capped() -> None:
    """A 30 MB abstract made a 41 MB message that the mail server refused for good (552)."""
    huge = "Zanubrutinib was given to adults. " * 900_000  # about 30 MB
    xml = make_article(
        "41300005",
        "T" * 50_000,
        abstract=[("Background", huge), ("Results", huge)],
        journal="J" * 100_000,
        authors=[("L" * 10_000, "F" * 10_000, "I")] + [("Smith", "John", "J")] * 10,
        keywords=[f"k{i}" for i in range(5_000)],
        mesh=[f"M{i}" for i in range(2_000)],
    )
    article = parse_one(xml)
    assert len(article.title) <= MAX_TITLE_CHARS + 1 and article.title.endswith("…")
    assert sum(len(s.html) for s in article.abstract) <= MAX_ABSTRACT_CHARS + 2
    assert article.abstract[0].html.endswith("…")
    assert len(article.journal) <= MAX_FIELD_CHARS + 1
    assert len(article.authors[0].last_name) <= MAX_FIELD_CHARS + 1
    assert len(article.keywords) == MAX_LIST_ITEMS and len(article.mesh_headings) == MAX_LIST_ITEMS
    assert len(article.to_json()) < 200_000
    message = render(article)
    assert len(message) < 1_000_000


def test_attachments_stay_within_their_budget() -> None:
    """Even with every stored field at its cap, each attachment stays under its budget: the first
    articles that fit are attached, and the message says how many."""
    long_abstract = ("Platelet counts rose in most adults. " * 2_000)[: MAX_ABSTRACT_CHARS - 10]
    articles = [
        parse_one(make_article(str(41310000 + i), f"Article {i}", abstract=[("Background", long_abstract)]))
        for i in range(120)
    ]
    message = render_digest(digest_of(*articles), sender=SENDER, message_id="<x@example.org>", attach=("ris", "csv"))
    sizes = {part.get_filename(): len(part.get_content()) for part in message.iter_attachments()}
    assert sizes and all(size <= ATTACHMENT_BUDGET_BYTES for size in sizes.values()), sizes
    plain = " ".join(str(message.get_body(("plain",)).get_content()).split())  # type: ignore[union-attr]
    assert re.search(r"the first \d+ of 120 articles", plain), plain[-600:]
    html = message.get_body(("html",))
    assert html is not None and len(str(html.get_content()).encode()) < HTML_BUDGET_BYTES


# -- A5: BibTeX: no field can end early and add others -------------------------------------------------

BREAKOUT = "x}, title = {\\input{/etc/passwd}}, note = {"


def test_bibtex_export_of_hostile_records_parses_back_field_for_field() -> None:
    """A DOI `10.1/x}, title = {\\input{/etc/passwd}}, note = {` added fields; every field is now escaped
    (text) or left out (verbatim fields that cannot hold it); bibtexparser reads back exactly one
    entry per article, with only the fields written, none of them holding `\\input`."""
    import bibtexparser

    hostile = [
        Article(
            pmid="41300010",
            title_html=esc("Lone } brace " + BREAKOUT),
            authors=(
                Author(last_name="Smith" + BREAKOUT, fore_name="J}", initials="J", suffix="Jr}"),
                Author(collective="Group } and {"),
            ),
            journal="J " + BREAKOUT,
            journal_iso="J\\",
            volume="1}",
            issue="{2",
            pages="3}-4",
            doi="10.1/" + BREAKOUT,
            pmcid="PMC1" + BREAKOUT,
            keywords=("k}", "{k"),
            language="eng}",
            abstract=(AbstractSection("Background}", esc(BREAKOUT)),),
        ),
        Article(pmid="41300011", title_html="A normal {paired} title", doi="10.1000/xyz(123)<4>;5"),
    ]
    text = articles_to_bibtex(hostile)
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks and len(library.blocks) == 2, text
    first, second = library.entries
    assert first.key == "pmid41300010" and second.key == "pmid41300011"
    written = {"title", "author", "journal", "shortjournal", "volume", "number", "pages", "pmid", "url",
               "abstract", "keywords", "language"}  # fmt: skip
    assert set(first.fields_dict) == written, "no field added, and the DOI/PMCID that could not be written left out"
    assert "note" not in first.fields_dict
    for field in first.fields:
        assert "\\input" not in str(field.value), field
        assert _bibtex_braces_balanced(str(field.value)), field
    assert second["doi"] == "10.1000/xyz(123)<4>;5", "a real DOI stays verbatim"
    assert second["title"] == "A normal {\\{}paired{\\}} title"


def _bibtex_braces_balanced(value: str) -> bool:
    """Brace depth as BibTeX counts it (an escaped brace counts too): never below zero, zero at the end."""
    depth = 0
    for char in value:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


# -- E17, E18: author suffixes; pii is no page; e-locators stay whole ---------------------------------------


def test_author_suffixes_are_kept_and_shown() -> None:
    """Father and son differ only by their suffix."""
    xml = make_article("41300020", "Father and son").replace(
        "<Initials>J</Initials></Author>",
        "<Initials>J</Initials><Suffix>Jr</Suffix></Author>"
        '<Author ValidYN="Y"><LastName>Smith</LastName><ForeName>John</ForeName><Initials>J</Initials>'
        "<Suffix>Sr</Suffix></Author>"
        '<Author ValidYN="Y"><LastName>Doe</LastName><ForeName>Ann</ForeName><Initials>A</Initials>'
        "<Suffix>3rd</Suffix></Author>",
    )
    article = parse_one(xml)
    assert [a.display for a in article.authors] == ["Smith J Jr", "Smith J Sr", "Doe A 3rd"]
    assert Article.from_json(article.to_json()) == article
    assert "Smith J Jr, Smith J Sr, Doe A 3rd" in render(article).decode()
    ris = articles_to_ris([article])
    assert "AU  - Smith, John, Jr" in ris and "AU  - Smith, John, Sr" in ris
    assert "Smith J Jr; Smith J Sr" in articles_to_csv([article])
    assert "author = {Smith, Jr, John and Smith, Sr, John and Doe, 3rd, Ann}" in articles_to_bibtex([article])


def test_a_publisher_item_identifier_is_not_shown_as_pages() -> None:
    pii = make_article("41300021", "Ahead of print", status="aheadofprint").replace(
        '<ELocationID EIdType="pii" ValidYN="Y">e41300021</ELocationID>',
        '<ELocationID EIdType="pii" ValidYN="Y">S1569-9048(12)00312-6</ELocationID>'
        '<ELocationID EIdType="doi" ValidYN="Y">10.1016/j.resp.2012.09.010</ELocationID>',
    )
    article = parse_one(pii)
    assert article.pages == "" and article.pii == "S1569-9048(12)00312-6"
    assert "S1569" not in articles_to_ris([article]) and "pages" not in articles_to_bibtex([article])


def test_e_locators_stay_as_pubmed_shows_them() -> None:
    article = parse_one(make_article("41300022", "mBio article", pages="e01965-19"))
    assert article.pages == "e01965-19"
    assert split_pages("e01965-19") == ("e01965-19", "")
    assert "SP  - e01965-19" in articles_to_ris([article]) and "EP  -" not in articles_to_ris([article])
    assert "pages = {e01965-19}" in articles_to_bibtex([article])
    assert "e01965-19" in render(article).decode()
    # an e-locator given only as the ELocationID (no MedlinePgn) is PubMed's citation too
    assert parse_one(make_article("41300023", "No pages")).pages == "e41300023"
    assert split_pages("S12-S19") == ("S12", "S19") and split_pages("123-9") == ("123", "129")


# -- the sanitiser, on random markup (hypothesis) ------------------------------------------------------------

_TAGS = ["i", "b", "sup", "sub", "u", "math", "math-x", "mi", "span"]
_pieces = st.one_of(
    st.sampled_from([f"<{t}>" for t in _TAGS] + [f"</{t}>" for t in _TAGS] + ["&amp;", "&lt;", " ", "\n  "]),
    st.text(alphabet="abcXYZ 12", min_size=1, max_size=5),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=60), st.one_of(st.none(), st.integers(min_value=1, max_value=40)))
def test_sanitised_markup_is_always_balanced_bounded_and_kept_text(pieces: list[str], max_chars: int | None) -> None:
    fragment = "".join(pieces)
    out = sanitize(fragment, max_chars=max_chars)
    audit = balance(out)
    assert not audit.stack and not audit.errors, out
    assert audit.deepest <= MAX_INLINE_DEPTH
    assert set(re.findall(r"</?([^\s>/]*)", out)) <= INLINE_TAGS
    assert sanitize(out) == out, "idempotent: stored HTML sanitised again is unchanged"
    if max_chars is None and "math" not in fragment:
        from litwatch.watchers.markup import html_to_text

        assert html_to_text(out) == html_to_text(fragment), "no text lost"


def test_a_record_stored_before_the_caps_is_capped_as_it_is_read() -> None:
    """A 30 MB abstract already in a store (queued before the fix) never reaches a message whole."""
    from litwatch.watchers.articles import AbstractSection as Section

    huge = "Zanubrutinib was given to adults. " * 900_000
    stored = Article(
        pmid="41300030",
        title_html="<i>" * 20_000 + "Old" + "</i>" * 20_000,
        abstract=(Section("Background", huge), Section("Results", huge)),
        keywords=tuple(f"k{i}" for i in range(5_000)),
    ).to_json()
    assert len(stored) > 60_000_000
    article = Article.from_json(stored)
    assert sum(len(s.html) for s in article.abstract) <= MAX_ABSTRACT_CHARS + 2
    assert balance(article.title_html).deepest <= MAX_INLINE_DEPTH
    assert len(article.keywords) == MAX_LIST_ITEMS
    assert len(render(article)) < 1_000_000


def test_a_run_announces_a_record_of_20000_nested_tags(tmp_path, ncbi, smtp) -> None:  # noqa: ANN001
    """The issue's run: a real `litwatch run` (a child process, so that a crash is a failed test and
    not a dead pytest) stores, queues and delivers the record instead of dying with SIGSEGV."""
    from tests.conftest import Q_BTK, add_itp_article, baseline, run_subprocess, scenario_config

    ncbi.rate_limit = ncbi.rate_limit_with_key = None
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    assert run_subprocess("run", "--config", str(cfg)).returncode == 0
    smtp.received.clear()
    add_itp_article(ncbi, "41300040", days_ago=0, title="<i>" * 20_000 + "Deep" + "</i>" * 20_000)
    ncbi.add_search(Q_BTK, base + ["41300040"])
    done = run_subprocess("run", "--config", str(cfg), timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-1000:])
    (message,) = smtp.messages()
    assert "41300040" in message.as_string()
