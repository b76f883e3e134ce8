"""Hostile PubMed records, through full runs against the fake E-utilities server: markup and
scripts, control and bidi characters, a 1 MB abstract, invalid UTF-8, DOCTYPEs and entities
pointing elsewhere, entity bombs.  The digest stays inert HTML; a record that cannot be read fails
the run cleanly, naming the PMID, and fetches nothing from anywhere."""

from __future__ import annotations

import csv
import html.parser
import io
import sqlite3
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import Bio.Entrez.Parser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litwatch.notifications.digest import build_digest
from litwatch.notifications.render import HTML_BUDGET_BYTES, render_digest
from litwatch.watchers.announcements import Hit
from litwatch.watchers.articles import ArticleParseError, parse_pubmed_xml
from litwatch.watchers.ncbi_xml import NCBIXMLError
from tests.conftest import Q_BTK, add_itp_article, scenario_config
from tests.fakes import Response
from tests.fakes.pubmed_xml import DOCTYPE, XML_DECLARATION, article_set, esc, make_article
from tests.reliability_helpers import baseline, block_internet, fast_retries, html_of, pmids_in

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, ncbi) -> list[str]:  # noqa: ANN001
    """Loopback only; and no DTD or entity is ever downloaded."""

    def urlopen(url, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise AssertionError(f"tried to download {url!r}")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(Bio.Entrez.Parser, "urlopen", urlopen)
    fast_retries(monkeypatch, ncbi)
    attempts = block_internet(monkeypatch)
    yield attempts
    assert attempts == [], "a connection to a host other than loopback was attempted"


class HtmlAudit(html.parser.HTMLParser):
    """Every tag and attribute of the digest's HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "div", "p", "a", "span", "b", "i", "u", "sup", "sub",
    "strong", "em", "br", "h1", "h2", "h3", "h4", "table", "tr", "td", "th", "tbody", "thead", "ul", "li",
    "ol", "hr", "small", "code", "center", "font", "img",
}  # fmt: skip


def assert_inert(message) -> None:  # noqa: ANN001
    """The digest's HTML runs nothing and links nowhere but http(s)/mailto; no header can spoof."""
    page = html_of(message)
    lowered = page.lower()
    assert "<script" not in lowered and "<iframe" not in lowered and "<object" not in lowered
    audit = HtmlAudit()
    audit.feed(page)
    assert set(audit.tags) <= ALLOWED_TAGS, set(audit.tags) - ALLOWED_TAGS
    for tag, name, value in audit.attrs:
        assert not name.startswith("on"), (tag, name, value)
        if name in ("href", "src", "action", "background"):
            assert value.startswith(("https://", "http://", "mailto:", "#", "cid:")), (tag, name, value)
        squeezed = "".join(c for c in value.lower() if c.isprintable() and not c.isspace())
        assert not squeezed.startswith(("javascript:", "vbscript:", "data:")), (tag, name, value)
    for name, value in message.items():
        assert not any(c in str(value) for c in BIDI), f"{name}: a bidi control character in a header"
        assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in str(value).replace("\t", " ")), name


def first_run(tmp_path: Path, ncbi, smtp, litwatch, **kwargs) -> tuple[Path, list[str]]:  # noqa: ANN001, ANN003
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, **kwargs)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    smtp.received.clear()
    return cfg, base


# -- records that parse: their content must stay inert ---------------------------------------------

HOSTILE_TITLES = {
    "41100001": esc("<script>alert(1)</script> Zanubrutinib & ITP") + " <i>in vivo</i>",
    "41100002": 'Raw <script type="text/javascript">alert(document.cookie)</script> markup',
    "41100003": 'A <a href="javascript:alert(1)">link</a> and <i onclick="alert(1)" style="x">styled</i> text',
    "41100004": "Control \u0085characters \u009b31m (C1 controls, allowed in XML 1.0)",
    "41100005": "Right-to-left \u202egnp.exe override \u2066isolate\u2069",
    "41100006": esc('"><img src=x onerror=alert(1)>') + " <sup>2</sup>",
    "41100007": "=HYPERLINK(\"http://evil.example/\",\"click\")",
}


def test_markup_scripts_links_and_control_characters_are_inert(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg, base = first_run(tmp_path, ncbi, smtp, litwatch, digest_extra='attach = ["ris", "csv"]')
    for pmid, title in HOSTILE_TITLES.items():
        add_itp_article(
            ncbi,
            pmid,
            days_ago=0,
            title=title,
            abstract=[("Background", esc("<script>x()</script>") + " \u202e reversed"), ("Conclusions", title)],
            doi='javascript:alert(1)" onmouseover="alert(2)',
            pmcid="javascript:alert(3)",
            journal='<script>alert("journal")</script>',
            authors=(("<b>Bold</b>", "\u202eEvil", "E"), ("O'Brien", "J", "J")),
            keywords=("<script>k</script>",),
        )
    ncbi.add_search(Q_BTK, base + list(HOSTILE_TITLES))
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    assert pmids_in(msg) == set(HOSTILE_TITLES), "every hostile article is announced"
    assert_inert(msg)
    assert "\u202e" not in msg["Subject"]
    page = html_of(msg)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, "escaped markup is shown as text"
    assert "<i>in vivo</i>" in page and "<sup>2</sup>" in page, "PubMed's inline markup is kept"

    # the CSV attachment is no spreadsheet formula
    (attachment,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
    rows = list(csv.reader(io.StringIO(attachment.get_content())))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], "a cell a spreadsheet would run as a formula"


def test_a_megabyte_abstract(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg, base = first_run(tmp_path, ncbi, smtp, litwatch)
    huge = ("Zanubrutinib was given to adults with chronic ITP. " * 21000)[: 1024 * 1024]
    add_itp_article(ncbi, "41100001", days_ago=0, abstract=[("Background", huge), ("Conclusions", huge)])
    ncbi.add_search(Q_BTK, base + ["41100001"])
    started = time.monotonic()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert time.monotonic() - started < 20
    (msg,) = smtp.messages()
    assert pmids_in(msg) == {"41100001"}
    assert len(html_of(msg).encode()) < HTML_BUDGET_BYTES
    assert len(msg.get_body(("plain",)).get_content()) < 50_000, "the digest shows a snippet, not the abstract"


# -- records that cannot be read: a clean failure naming the PMID, nothing fetched -------------------


def _document(body: str) -> bytes:
    return f"{XML_DECLARATION}\n{DOCTYPE}\n<PubmedArticleSet>{body}</PubmedArticleSet>".encode()


def _with_dtd(dtd: str, body: str) -> bytes:
    return f'{XML_DECLARATION}\n<!DOCTYPE PubmedArticleSet {dtd}>\n<PubmedArticleSet>{body}</PubmedArticleSet>'.encode()


BOMB = (
    'PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd" [\n'
    '<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]"
)

UNREADABLE = {
    "invalid UTF-8": lambda a: _document(a).replace(b"Zanubrutinib", b"Zanu\xff\xfe\xc3brutinib"),
    "DOCTYPE elsewhere": lambda a: _with_dtd('SYSTEM "http://evil.example/pubmed.dtd"', a),
    "DOCTYPE on an NCBI look-alike": lambda a: _with_dtd('PUBLIC "x" "https://dtd.nlm.nih.gov.evil.example/pubmed_250101.dtd"', a),
    "external entity": lambda a: _with_dtd(
        '[<!ENTITY xxe SYSTEM "file:///etc/passwd">]', a.replace("Zanubrutinib", "&xxe;")
    ),
    "external entity over http": lambda a: _with_dtd(
        '[<!ENTITY xxe SYSTEM "http://evil.example/x">]', a.replace("Zanubrutinib", "&xxe;")
    ),
    "entity bomb": lambda a: _with_dtd(BOMB, a.replace("Zanubrutinib", "&lol9;")),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_an_unreadable_record_fails_the_run_cleanly_naming_the_pmid(
    tmp_path: Path, ncbi, smtp, litwatch, kind: str  # noqa: ANN001
) -> None:
    cfg, base = first_run(tmp_path, ncbi, smtp, litwatch)
    add_itp_article(ncbi, "41100001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001"])
    served = UNREADABLE[kind](ncbi.records["41100001"])
    real_efetch = ncbi._efetch

    def efetch(params):  # noqa: ANN001, ANN202
        if "41100001" in ",".join(params.get("id", [])):
            return Response(200, served)
        return real_efetch(params)

    ncbi._efetch = efetch
    db = sqlite3.connect(tmp_path / "litwatch.db")
    hits = db.execute("SELECT COUNT(*) FROM watch_hits").fetchone()[0]
    started = time.monotonic()
    r = litwatch("run", "--config", str(cfg))
    assert time.monotonic() - started < 10, "bounded"
    assert r.code == 1
    assert "Traceback" not in r.err
    assert "41100001" in r.err, r.err
    assert "nothing was stored" in r.err
    assert db.execute("SELECT COUNT(*) FROM watch_hits").fetchone()[0] == hits
    assert smtp.received == []

    # NCBI serves a good record again: the article is announced, once
    ncbi._efetch = real_efetch
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100001"}]


def test_an_unreadable_record_is_held_back_and_the_others_go_ahead(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    """A record PubMed serves without its Article: not announced (nor recorded) until PubMed
    serves a readable one; the run's other new articles are not held back."""
    cfg, base = first_run(tmp_path, ncbi, smtp, litwatch)
    add_itp_article(ncbi, "41100001", days_ago=0)
    add_itp_article(ncbi, "41100002", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001", "41100002"])
    good = ncbi.records["41100001"]
    ncbi.records["41100001"] = (
        '<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">41100001</PMID>'
        "</MedlineCitation></PubmedArticle>"
    )
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert "Traceback" not in r.err and "PMID 41100001" in r.err and "not announced" in r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100002"}]

    ncbi.records["41100001"] = good
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100001"}]


def test_titles_printed_on_a_terminal_cannot_drive_it(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    """A title with a C1 control (CSI: clear the screen) and a bidi override, through every command
    that prints titles: each is shown as U+FFFD, never sent to the terminal as it is."""
    cfg, base = first_run(tmp_path, ncbi, smtp, litwatch)
    hostile = "Zanubrutinib \x9b2J\u202eevil\u202c in ITP \u2066isolate\u2069"
    add_itp_article(ncbi, "41100009", days_ago=0, title=esc(hostile), authors=(("Zh\u202eang", "Wei", "W"),))
    ncbi.add_search(Q_BTK, base + ["41100009"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    outputs = {
        "track add": litwatch("track", "add", "41100009", "--config", str(cfg)).out,
        "track list": litwatch("track", "list", "--config", str(cfg)).out,
        "history": litwatch("history", "--config", str(cfg)).out,
        "show": litwatch("show", "41100009", "--config", str(cfg)).out,
    }
    for command, out in outputs.items():
        assert "evil" in out and "\ufffd" in out, command
        assert not any(c in out for c in "\x9b\u202e\u202c\u2066\u2069\x1b\r"), command


# -- fuzzing: PubMed XML -> Article -> digest -------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).map(
    lambda s: "".join(c for c in s if c in "\t\n\r" or (ord(c) >= 0x20 and ord(c) not in (0xFFFE, 0xFFFF)))
)
markup = st.lists(
    st.one_of(text.map(esc), st.sampled_from(["<i>", "</i>", "<sup>", "</sup>", "<b>x</b>", "<u>y</u>", "&amp;", "&lt;"])),
    max_size=6,
).map("".join)


@st.composite
def records(draw) -> tuple[str, str]:  # noqa: ANN001
    pmid = str(draw(st.integers(1, 99_999_999)))
    xml = make_article(
        pmid,
        draw(markup),
        authors=draw(st.lists(st.tuples(text, text, text), max_size=3)),
        collective=draw(st.none() | text),
        journal=draw(text),
        iso=draw(text),
        year=draw(st.integers(1, 9999)),
        month=draw(st.none() | st.integers(1, 12)),
        day=draw(st.none() | st.integers(1, 28)),
        season=draw(st.none() | st.sampled_from(["Spring", "Winter", "Fall"]) | text),
        medline_date=draw(st.none() | text),
        volume=draw(st.none() | text),
        pages=draw(st.none() | text),
        doi=draw(st.none() | text),
        pmcid=draw(st.none() | text),
        abstract=draw(st.none() | markup | st.lists(st.tuples(text, markup), max_size=3)),
        keywords=draw(st.lists(text, max_size=3)),
        comments_corrections=draw(
            st.lists(st.tuples(st.sampled_from(["RetractionIn", "ErratumIn", "CommentIn"]), text, st.none() | text), max_size=2)
        ),
        nct_ids=draw(st.lists(text, max_size=2)),
        status=draw(st.sampled_from(["ppublish", "epublish", "aheadofprint"])),
    )
    return pmid, xml


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records())
def test_fuzz_records_convert_and_render_inertly(record: tuple[str, str]) -> None:
    pmid, xml = record
    try:
        articles = parse_pubmed_xml(article_set(xml))
    except ArticleParseError as exc:
        assert str(exc).startswith(f"PMID {pmid}: ") and exc.pmid == pmid
        return
    except NCBIXMLError as exc:  # only for what the DTD refuses (e.g. an empty required element)
        assert str(exc) and "\n" not in str(exc)
        return
    (article,) = articles
    assert article.pmid == pmid
    digest = build_digest(
        "lab@example.org",
        [Hit(pmid, "Watch")],
        {pmid: article},
        created=datetime(2026, 11, 25, 6, 0, tzinfo=UTC),
        watch_order=["Watch"],
        watch_queries={"Watch": "x[tiab]"},
    )
    message = render_digest(digest, sender="litwatch@example.org", message_id="<fuzz@example.org>", attach=("ris", "csv"))
    assert_inert(message)
