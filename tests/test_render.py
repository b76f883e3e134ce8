"""Tests for notifications.render and notifications.exports: golden messages, caps, escaping, layout.

Set UPDATE_GOLDEN=1 to rewrite tests/golden/*.  No test touches the network; the Chromium layout
test is skipped when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import os
import re
import subprocess
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import rispy

from litwatch.notifications import render as render_module
from litwatch.notifications.exports import articles_to_csv, articles_to_ris, split_pages
from litwatch.notifications.model import ArticleMemo, Correction, Digest, Entry, PaperRef, WatchNote
from litwatch.notifications.render import (
    HTML_BUDGET_BYTES,
    format_authors,
    highlight_terms,
    message_bytes,
    publication_badges,
    render_digest,
    snippet,
    subject_line,
    trial_ids,
)
from litwatch.watchers.articles import AbstractSection, Article, Author, PubDate
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS

GOLDEN = Path(__file__).parent / "golden"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

SENDER = "litwatch <litwatch@example.org>"
MESSAGE_ID = "<20250303073000.digest-1@litwatch.example.org>"
CREATED = datetime(2025, 3, 3, 7, 30, tzinfo=UTC)

W_BTK = "BTK inhibitors in ITP"
W_RILZA = "Rilzabrutinib"

# The tracked paper named in the brief; every other PMID below (99xxxxxx) is made up.
TRACKED = PaperRef(
    pmid="39973148",
    title=(
        "A Case Series and Literature Review on Zanubrutinib Therapy for the Treatment of "
        "Relapsed/Refractory Immune Thrombocytopenia"
    ),
    year=2025,
)


def person(last: str, initials: str, fore: str = "") -> Author:
    return Author(last_name=last, fore_name=fore or initials, initials=initials)


def citing_article() -> Article:
    """Cites the tracked paper and is also a BTK watch hit; ahead of print; free in PMC."""
    return Article(
        pmid="99000011",
        title_html="Zanubrutinib in relapsed immune thrombocytopenia: a multicentre retrospective cohort",
        authors=(person("Nakamura", "K", "Kenji"), person("Okafor", "CE"), person("Lindqvist", "A")),
        journal="British journal of haematology",
        journal_iso="Br J Haematol",
        pub_date=PubDate(year=2025, month=3, day=1),
        epub_date="2025-03-01",
        doi="10.1111/bjh.99000011",
        pmcid="PMC99000011",
        abstract=(
            AbstractSection(
                "",
                "Bruton tyrosine kinase (BTK) inhibitors are being studied in immune thrombocytopenia "
                "(ITP). We reviewed 41 adults treated with zanubrutinib after at least two prior lines "
                "of therapy at six centres. Platelet responses were seen in 24 of 41 patients (59%), "
                "with a median time to response of 3 weeks. Bleeding events fell during treatment.",
            ),
        ),
        publication_types=("Journal Article", "Multicenter Study"),
        keywords=("BTK inhibitor", "immune thrombocytopenia", "zanubrutinib"),
        language="eng",
        publication_status="aheadofprint",
    )


def rct_article() -> Article:
    """Found by both watches; phase 3 RCT with an NCT number; structured abstract; 6 authors."""
    return Article(
        pmid="99000021",
        title_html="Rilzabrutinib versus placebo in persistent or chronic immune thrombocytopenia",
        authors=(
            person("Garcia", "ML"),
            person("Chen", "Y"),
            person("Dubois", "P"),
            person("Ivanova", "E"),
            person("Smith", "J"),
            person("Kowalski", "T"),
        ),
        journal="The New England journal of medicine",
        journal_iso="N Engl J Med",
        volume="392",
        issue="9",
        pages="871-83",
        pub_date=PubDate(year=2025, month=2, day=27),
        doi="10.1056/NEJMoa99000021",
        abstract=(
            AbstractSection("BACKGROUND", "Rilzabrutinib is an oral, reversible BTK inhibitor.", "BACKGROUND"),
            AbstractSection(
                "METHODS",
                "In this phase 3 trial (ClinicalTrials.gov number, NCT04562766) adults were randomly "
                "assigned 2:1 to rilzabrutinib 400 mg twice daily or placebo for 24 weeks.",
                "METHODS",
            ),
            AbstractSection("RESULTS", "A durable platelet response occurred in 23% vs 0%.", "RESULTS"),
            AbstractSection(
                "CONCLUSIONS",
                "Rilzabrutinib produced durable platelet responses &amp; less bleeding than placebo "
                "in patients with immune thrombocytopenia.",
                "CONCLUSIONS",
            ),
        ),
        publication_types=(
            "Clinical Trial, Phase III",
            "Journal Article",
            "Multicenter Study",
            "Randomized Controlled Trial",
            "Research Support, Non-U.S. Gov't",
        ),
        databank_ids=("NCT04562766",),
        publication_status="ppublish",
    )


def review_article() -> Article:
    return Article(
        pmid="99000031",
        title_html="BTK inhibitors in autoimmune cytopenias: a review",
        authors=(person("Rossi", "F"), person("Haddad", "N")),
        journal="Blood reviews",
        journal_iso="Blood Rev",
        volume="70",
        pages="101244",
        pub_date=PubDate(year=2025, month=3),
        doi="10.1016/j.blre.2025.99000031",
        abstract=(
            AbstractSection(
                "",
                "Inhibitors of Bruton tyrosine kinase were developed for B-cell malignancies but also "
                "dampen autoantibody production and Fc\u03b3-receptor-mediated platelet clearance by "
                "macrophages. This review summarises the pharmacology of ibrutinib, zanubrutinib and "
                "rilzabrutinib, the clinical data in immune thrombocytopenia and autoimmune "
                "haemolytic anaemia, and the safety signals that matter for patients who are not "
                "being treated for cancer.",
            ),
        ),
        publication_types=("Journal Article", "Review"),
        publication_status="ppublish",
    )


def italic_article() -> Article:
    return Article(
        pmid="99000041",
        title_html="Rilzabrutinib reduces <i>FCGR2A</i>-dependent platelet phagocytosis <i>in vitro</i>",
        authors=(
            person("Olsen", "B"),
            person("Tanaka", "H"),
            person("Mensah", "K"),
            person("Weber", "L"),
        ),
        journal="Haematologica",
        journal_iso="Haematologica",
        pub_date=PubDate(year=2025, month=2, day=20),
        abstract=(
            AbstractSection(
                "",
                "We tested whether rilzabrutinib changes antibody-mediated platelet uptake by human "
                "macrophages. Rilzabrutinib reduced phagocytosis of opsonised platelets in a "
                "concentration-dependent way.",
            ),
        ),
        publication_types=("Journal Article", "Preprint"),
        publication_status="ppublish",
    )


def golden_digest() -> Digest:
    return Digest(
        recipient="Dr Ada Example <ada@example.org>",
        created=CREATED,
        entries=(
            Entry(citing_article(), watches=(W_BTK,), cites=(TRACKED,), citation_sources=("pubmed",)),
            Entry(review_article(), watches=(W_BTK,)),
            Entry(rct_article(), watches=(W_BTK, W_RILZA)),
            Entry(italic_article(), watches=(W_RILZA,)),
        ),
        corrections=(
            Correction(
                paper=PaperRef("99000100", "Ibrutinib for refractory ITP: a pilot study", "Doe A", 2023),
                kind="RetractionIn",
                notice_pmid="99000200",
                notice_source="Blood Adv. 2025;9(4):1001",
            ),
        ),
        notes=(
            WatchNote(W_RILZA, "First run: 37 existing articles recorded as the baseline; only newer ones will be reported."),
            WatchNote("Ibrutinib ITP", "PubMed rejected the query: unbalanced parentheses.", is_problem=True),
        ),
        watch_terms={
            W_BTK: ("BTK inhibitor*", "zanubrutinib", "immune thrombocytopenia"),
            W_RILZA: ("rilzabrutinib",),
        },
        watch_queries={
            W_BTK: '("BTK inhibitor*"[tiab] OR zanubrutinib OR rilzabrutinib) AND (ITP OR "immune thrombocytopenia")',
            W_RILZA: "rilzabrutinib",
        },
    )


# -- helpers --------------------------------------------------------------------------------------


def roundtrip(message: EmailMessage) -> EmailMessage:
    raw = message.as_bytes()
    assert b"\r\n" in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


def attachments(message: EmailMessage) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        found[str(part.get_filename())] = part
    return found


def normalise_boundaries(text: str) -> str:
    boundaries = re.findall(r'boundary="([^"]+)"', text)
    for i, boundary in enumerate(boundaries):
        text = text.replace(boundary, f"BOUNDARY-{i}")
    return text


def header_block(raw: bytes) -> str:
    """The top-level header block of a wire-format message, boundaries normalised, LF line ends."""
    text = raw.decode("ascii")
    assert "\r\n\r\n" in text and "\n" not in text.replace("\r\n", "")
    head = text.split("\r\n\r\n", 1)[0].replace("\r\n", "\n")
    return normalise_boundaries(head) + "\n"


def check_golden(name: str, actual: str) -> None:
    """Compare with tests/golden/<name> (line ends normalised to LF); UPDATE_GOLDEN=1 rewrites it."""
    actual = actual.replace("\r\n", "\n")
    path = GOLDEN / name
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"{path} is missing; run with UPDATE_GOLDEN=1 to create it")
        path.write_text(actual, encoding="utf-8", newline="")
        return
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the golden file; UPDATE_GOLDEN=1 rewrites it"


@pytest.fixture(scope="module")
def golden_raw() -> bytes:
    """The golden digest as it would go on the wire (policy SMTP: CRLF line ends)."""
    message = render_digest(golden_digest(), sender=SENDER, message_id=MESSAGE_ID, attach=("ris", "csv"))
    return message_bytes(message)  # as the run stores and sends it


@pytest.fixture(scope="module")
def golden_message(golden_raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(golden_raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


# -- golden files ---------------------------------------------------------------------------------


def test_golden_text(golden_message: EmailMessage) -> None:
    check_golden("digest.txt", body(golden_message, "plain"))


def test_golden_html(golden_message: EmailMessage) -> None:
    check_golden("digest.html", body(golden_message, "html"))


def test_golden_headers(golden_raw: bytes) -> None:
    check_golden("headers.txt", header_block(golden_raw))


# -- message structure ----------------------------------------------------------------------------


def test_message_headers_and_structure(golden_message: EmailMessage) -> None:
    m = golden_message
    assert m["From"] == SENDER
    assert m["To"] == "Dr Ada Example <ada@example.org>"
    assert m["Message-ID"] == MESSAGE_ID
    assert m["Date"] == "Mon, 03 Mar 2025 07:30:00 +0000"
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["List-Id"] == "litwatch digest <digest.litwatch.invalid>"
    assert m["X-Auto-Response-Suppress"] == "All"
    assert m["Precedence"] == "bulk"
    assert m["Subject"] == "[litwatch] 3 new articles, 1 new citation, 1 retraction, 1 watch problem"
    assert m.get_content_type() == "multipart/mixed"
    alternative = next(iter(m.iter_parts()))
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert sorted(attachments(m)) == ["litwatch-2025-03-03.csv", "litwatch-2025-03-03.ris"]
    assert attachments(m)["litwatch-2025-03-03.ris"].get_content_type() == "application/x-research-info-systems"


def test_the_bytes_sent_are_the_email_packages_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """`message_bytes` (bodies written in one piece) and the kept parsed headers give the very bytes
    of the stdlib's generator and its SMTP policy, for every digest of a run (headers kept alike)."""

    def rendered() -> EmailMessage:
        return render_digest(golden_digest(), sender=SENDER, message_id=MESSAGE_ID, attach=("ris", "csv"))

    ours = [rendered() for _ in range(3)]
    monkeypatch.setattr(render_module, "DIGEST_POLICY", email.policy.SMTP)
    theirs = rendered()
    expected = normalise_boundaries(theirs.as_bytes().decode("ascii"))
    assert b"=\r\n" in theirs.as_bytes() and b"Content-Disposition: attachment" in theirs.as_bytes()
    for message in ours:
        assert message_bytes(message) == message.as_bytes()
        assert normalise_boundaries(message_bytes(message).decode("ascii")) == expected


def test_only_top_level_has_mime_version(golden_raw: bytes) -> None:
    assert golden_raw.count(b"MIME-Version:") == 1


def test_order_and_each_article_once(golden_message: EmailMessage) -> None:
    for text in (body(golden_message, "plain"), body(golden_message, "html")):
        lowered = text.lower()
        positions = [
            lowered.index("retracted"),
            lowered.index("new citations of tracked papers"),
            lowered.index("new: btk inhibitors in itp"),
            lowered.index("new: rilzabrutinib"),
            lowered.index("watch notes"),
        ]
        assert positions == sorted(positions)
    plain = body(golden_message, "plain")
    # the RCT found by both watches is listed once, under the first, with "also"
    assert plain.count("Rilzabrutinib versus placebo") == 1
    assert "also: Rilzabrutinib" in plain
    # the citing paper names the tracked paper and its watch, and is not repeated as a hit
    assert plain.count("Zanubrutinib in relapsed immune thrombocytopenia") == 1
    assert "PMID 39973148" in plain and "Also found by: BTK inhibitors in ITP" in plain
    html = body(golden_message, "html")
    assert html.count("Rilzabrutinib versus placebo") == 1
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/99000200/"' in html  # the retraction notice
    assert 'href="https://clinicaltrials.gov/study/NCT04562766"' in html
    assert 'href="https://pmc.ncbi.nlm.nih.gov/articles/PMC99000011/"' in html
    assert 'href="https://doi.org/10.1056/NEJMoa99000021"' in html
    assert "<i>FCGR2A</i>" in html  # the italic title kept as markup
    assert "Problem:" in html and "PROBLEM:" in plain


def test_html_is_email_safe(golden_message: EmailMessage) -> None:
    html = body(golden_message, "html")
    assert '<meta name="color-scheme" content="light dark">' in html
    assert '<meta name="supported-color-schemes" content="light dark">' in html
    assert "@media (prefers-color-scheme:dark)" in html  # kept in <style> for the clients that read it
    assert "max-width:640px" in html
    assert "overflow-wrap:anywhere" in html and "word-break:break-word" in html
    assert "font-family:-apple-system" in html
    for forbidden in ("<script", "<img", "<link", "@import", "@font-face", "src="):
        assert forbidden not in html
    # everything outside the at-rules is inlined
    style_blocks = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert all(block.lstrip().startswith("@media") for block in style_blocks)


def test_text_part_wrapped_and_urls_whole(golden_message: EmailMessage) -> None:
    plain = body(golden_message, "plain")
    for line in plain.splitlines():
        if "http" in line:
            assert line.strip().startswith("https://"), f"URL not on its own line: {line!r}"
            assert " " not in line.strip()
        else:
            assert len(line) <= 72, f"line longer than 72 columns: {line!r}"
    assert "https://clinicaltrials.gov/study/NCT04562766" in plain.splitlines()[
        plain.splitlines().index("   Trial registration NCT04562766:") + 1
    ]


# -- caps and size --------------------------------------------------------------------------------


def bulk_article(i: int, *, cites_long: bool = False) -> Article:
    return Article(
        pmid=str(98000000 + i),
        title_html=(
            f"Outcomes of Bruton tyrosine kinase inhibition in adults with primary immune "
            f"thrombocytopenia: a registry analysis, part {i}"
        ),
        authors=tuple(person(f"Author{j}", "AB") for j in range(12)),
        journal="Journal of thrombosis and haemostasis : JTH",
        journal_iso="J Thromb Haemost",
        volume="23",
        issue="4",
        pages=f"{1000 + i}-{1010 + i}",
        pub_date=PubDate(year=2025, month=4),
        doi=f"10.1016/j.jtha.2025.{i:05d}",
        pmcid=f"PMC{11000000 + i}",
        abstract=(
            AbstractSection("BACKGROUND", "Zanubrutinib and rilzabrutinib are oral BTK inhibitors. " * 6, "BACKGROUND"),
            AbstractSection("METHODS", f"Registry study NCT{10000000 + i}. " + "Adults were followed. " * 20, "METHODS"),
            AbstractSection(
                "CONCLUSIONS",
                "BTK inhibitors gave durable platelet responses in adults with immune thrombocytopenia "
                "who had failed at least two previous treatments; bleeding fell and no new safety "
                "signals were seen over a median follow-up of 14 months.",
                "CONCLUSIONS",
            ),
        ),
        publication_types=("Journal Article", "Multicenter Study", "Observational Study"),
        keywords=("ITP", "BTK"),
        publication_status="aheadofprint",
    )


def bulk_digest(n: int, *, citing: int = 20, corrections: int = 0) -> Digest:
    watches = (W_BTK, W_RILZA, "Zanubrutinib safety")
    entries = []
    for i in range(n):
        if i < citing:
            entries.append(Entry(bulk_article(i), watches=(watches[i % 3],), cites=(TRACKED,)))
        else:
            entries.append(Entry(bulk_article(i), watches=(watches[i % 3], watches[(i + 1) % 3])))
    return Digest(
        recipient="ada@example.org",
        created=CREATED,
        entries=tuple(entries),
        corrections=tuple(
            Correction(PaperRef(str(97000000 + k), f"Tracked paper {k}"), "ErratumIn", str(96000000 + k))
            for k in range(corrections)
        ),
        watch_terms={w: ("BTK inhibitor*", "immune thrombocytopenia") for w in watches},
    )


def test_500_articles_capped_at_50() -> None:
    message = roundtrip(
        render_digest(bulk_digest(500), sender=SENDER, message_id=MESSAGE_ID, max_items=50, attach=("ris", "csv"))
    )
    html = body(message, "html")
    plain = body(message, "plain")
    assert len(html.encode("utf-8")) < HTML_BUDGET_BYTES
    assert "and 450 more" in html and "and 450 more" in plain
    assert len(re.findall(r'<div class="ent"', html)) == 50
    listed = set(re.findall(r'<p class="ttl"[^>]*>\d+\. <a href="https://pubmed.ncbi.nlm.nih.gov/(\d+)/"', html))
    assert len(listed) == 50
    assert {str(98000000 + i) for i in range(20)} <= listed  # citations first
    more_url = re.search(r'href="(https://pubmed.ncbi.nlm.nih.gov/\?term=[^"]+)"', html.split("and 450 more")[1])
    assert more_url is not None
    from urllib.parse import parse_qs, urlsplit

    term = parse_qs(urlsplit(more_url.group(1).replace("&amp;", "&")).query)["term"][0]
    rest = set(term.split(","))
    assert len(rest) == 450 and not (rest & listed)
    ris = attachments(message)["litwatch-2025-03-03.ris"].get_content()
    records = rispy.loads(ris.decode("utf-8"))
    assert len(records) == 500
    rows = list(csv.DictReader(io.StringIO(attachments(message)["litwatch-2025-03-03.csv"].get_content())))
    assert len(rows) == 500


def test_corrections_never_cut_and_count_toward_cap() -> None:
    digest = bulk_digest(5, citing=1, corrections=3)
    message = roundtrip(render_digest(digest, sender=SENDER, message_id=MESSAGE_ID, max_items=4))
    html = body(message, "html")
    assert html.count('class="notice') == 3
    assert len(re.findall(r'<div class="ent"', html)) == 1  # 4 - 3 corrections
    assert "98000000" in html  # the citation is listed first
    assert "and 4 more" in html
    message = roundtrip(render_digest(digest, sender=SENDER, message_id=MESSAGE_ID, max_items=1))
    html = body(message, "html")
    assert html.count('class="notice') == 3 and '<div class="ent"' not in html
    assert "and 5 more" in html


def test_html_budget_cuts_below_max_items() -> None:
    many_cites = tuple(
        PaperRef(str(95000000 + k), "A very long tracked paper title about thrombopoietin receptor agonists " * 3, "Doe A", 2020)
        for k in range(8)
    )
    entries = tuple(Entry(bulk_article(i), watches=(W_BTK,), cites=many_cites) for i in range(80))
    digest = Digest(recipient="ada@example.org", created=CREATED, entries=entries)
    message = roundtrip(render_digest(digest, sender=SENDER, message_id=MESSAGE_ID, max_items=50))
    html = body(message, "html")
    listed = len(re.findall(r'<div class="ent"', html))
    assert len(html.encode("utf-8")) < HTML_BUDGET_BYTES
    assert 0 < listed < 50
    assert f"and {80 - listed} more" in html


# -- escaping -------------------------------------------------------------------------------------


def test_autoescape_blocks_markup_injection() -> None:
    article = Article(
        pmid="99000051",
        title_html="Safe title &lt;script&gt;alert(1)&lt;/script&gt; with <i>italics</i>",
        authors=(Author(collective="<img src=x onerror=alert(1)>"), person("O'Brien <b>", "J")),
        journal='Journal "<script>x</script>"',
        abstract=(AbstractSection("", "Platelets &lt;img src=x&gt; and <b>BTK</b> inhibitors."),),
        keywords=("<script>",),
    )
    digest = Digest(
        recipient="ada@example.org",
        created=CREATED,
        entries=(Entry(article, watches=("<script>alert('w')</script>",)),),
        notes=(WatchNote("<img src=y>", "<script>bad()</script>", is_problem=True),),
        watch_terms={"<script>alert('w')</script>": ("<script>", "BTK inhibitor*")},
        watch_queries={"<script>alert('w')</script>": "<img src=q>"},
    )
    html = body(roundtrip(render_digest(digest, sender=SENDER, message_id=MESSAGE_ID)), "html")
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<i>italics</i>" in html
    assert "<strong>BTK inhibitors</strong>" in html


# -- pieces ---------------------------------------------------------------------------------------


def test_term_bolding() -> None:
    text = "BTK inhibitors & zanubrutinib <in> Immune Thrombocytopenia; not xzanubrutinib."
    html = str(highlight_terms(text, ("BTK inhibitor*", "Zanubrutinib", "immune thrombocytopenia")))
    assert html == (
        "<strong>BTK inhibitors</strong> &amp; <strong>zanubrutinib</strong> &lt;in&gt; "
        "<strong>Immune Thrombocytopenia</strong>; not xzanubrutinib."
    )
    assert str(highlight_terms("a <b> c", ())) == "a &lt;b&gt; c"
    assert str(highlight_terms("class strong", ("strong", "class"))) == "<strong>class</strong> <strong>strong</strong>"
    assert str(highlight_terms("ITP and ITPase", ('"ITP"[tiab]',))) == "<strong>ITP</strong> and ITPase"


def test_snippet_conclusions_and_opening() -> None:
    label, text = snippet(rct_article())
    assert label == "Conclusions" and text.startswith("Rilzabrutinib produced durable") and "&" in text
    label, text = snippet(review_article())
    assert label == "" and text.endswith("\u2026") and len(text) <= 301
    assert text[:-1] == text[:-1].rstrip() and "immune" in text.split()[-1]
    assert snippet(Article(pmid="1", title_html="x")) == ("", "")


def test_author_truncation() -> None:
    def names(n: int) -> Article:
        return Article(pmid="1", title_html="x", authors=tuple(person(f"A{i}", "X") for i in range(n)))

    assert format_authors(names(0)) == ""
    assert format_authors(names(1)) == "A0 X"
    assert format_authors(names(4)) == "A0 X, A1 X, A2 X, A3 X"
    assert format_authors(names(5)) == "A0 X, A1 X, A2 X, et al., A4 X"
    assert format_authors(rct_article()) == "Garcia ML, Chen Y, Dubois P, et al., Kowalski T"
    group = Article(pmid="1", title_html="x", authors=(Author(collective="ITP Study Group"),))
    assert format_authors(group) == "ITP Study Group"


def test_badges() -> None:
    labels = [b.label for b in publication_badges(rct_article().publication_types)]
    assert labels == ["Randomized Controlled Trial", "Clinical Trial, Phase III"]
    labels = [b.label for b in publication_badges(["Journal Article", "Systematic Review", "Review", "Meta-Analysis"])]
    assert labels == ["Meta-Analysis", "Systematic Review"]
    badges = publication_badges(["Retracted Publication", "Case Reports", "Practice Guideline", "Guideline"])
    assert [(b.label, b.alert) for b in badges] == [
        ("Retracted Publication", True),
        ("Practice Guideline", False),
        ("Case Reports", False),
    ]
    assert publication_badges(["Journal Article", "Research Support, N.I.H., Extramural", "English Abstract"]) == ()
    assert [b.label for b in publication_badges(["Clinical Trial"])] == ["Clinical Trial"]
    assert [b.label for b in publication_badges(["Expression of Concern", "Preprint"])] == [
        "Expression of Concern",
        "Preprint",
    ]


def test_badges_and_ahead_of_print_in_message(golden_message: EmailMessage) -> None:
    html = body(golden_message, "html")
    plain = body(golden_message, "plain")
    assert ">Randomized Controlled Trial</span>" in html and ">Clinical Trial, Phase III</span>" in html
    assert ">Review</span>" in html and ">Preprint</span>" in html
    assert ">Journal Article<" not in html and "Multicenter Study" not in html
    assert "[Randomized Controlled Trial] [Clinical Trial, Phase III]" in plain
    assert ">Ahead of print (Epub 2025-03-01)</span>" in html
    assert "Br J Haematol. 2025 Mar 1. Ahead of print (Epub 2025-03-01)." in plain
    assert plain.count("Ahead of print") == 1


def test_trial_ids() -> None:
    article = Article(
        pmid="1",
        title_html="Trial nct01234567 extension",
        abstract=(AbstractSection("", "Registered as NCT04562766 and NCT04562766; not NCT123."),),
        databank_ids=("NCT04562766", "ISRCTN12345678"),
    )
    assert trial_ids(article) == ("NCT04562766", "NCT01234567")


def test_subject_wording() -> None:
    empty = Digest(recipient="a@example.org", created=CREATED)
    assert subject_line(empty) == "[litwatch] nothing new"
    one = Digest(recipient="a@example.org", created=CREATED, entries=(Entry(review_article(), watches=(W_BTK,)),))
    assert subject_line(one) == "[litwatch] 1 new article"
    cite = Entry(citing_article(), watches=(W_BTK,), cites=(TRACKED,))
    many = Digest(
        recipient="a@example.org",
        created=CREATED,
        entries=(
            cite,
            Entry(review_article(), watches=(W_BTK,)),
            Entry(rct_article(), watches=(W_BTK, W_RILZA)),
            Entry(italic_article(), watches=(W_RILZA,)),
            Entry(bulk_article(1), watches=(W_RILZA,)),
            Entry(bulk_article(2), cites=(TRACKED,)),
        ),
        corrections=(
            Correction(TRACKED, "RetractionIn"),
            Correction(TRACKED, "Retracted Publication"),
            Correction(TRACKED, "ErratumIn"),
            Correction(TRACKED, "ExpressionOfConcernIn"),
        ),
    )
    assert subject_line(many) == (
        "[litwatch] 4 new articles, 2 new citations, 2 retractions, 1 expression of concern, 1 correction"
    )
    only_notice = Digest(recipient="a@example.org", created=CREATED, corrections=(Correction(TRACKED, "ErratumIn"),) * 2)
    assert subject_line(only_notice) == "[litwatch] 2 corrections"
    problem = Digest(
        recipient="a@example.org", created=CREATED, notes=(WatchNote("w", "query failed", is_problem=True),)
    )
    assert subject_line(problem) == "[litwatch] nothing new, 1 watch problem"
    baseline = Digest(recipient="a@example.org", created=CREATED, notes=(WatchNote("w", "baseline: 12 articles"),))
    assert subject_line(baseline) == "[litwatch] nothing new, 1 note"


def test_empty_digest_has_no_attachments() -> None:
    digest = Digest(recipient="a@example.org", created=CREATED)
    message = roundtrip(render_digest(digest, sender=SENDER, message_id="plain-id@example.org", attach=("ris", "csv")))
    assert message.get_content_type() == "multipart/alternative"
    assert list(message.iter_attachments()) == []
    assert message["Message-ID"] == "<plain-id@example.org>"
    assert "Nothing new since the last digest." in body(message, "plain")
    assert "Nothing new since the last digest." in body(message, "html")


def test_templates_dir_overrides(tmp_path: Path) -> None:
    (tmp_path / "digest.txt.j2").write_text("Custom: {{ subject }} / {{ citations | length }}\n")
    message = roundtrip(
        render_digest(golden_digest(), sender=SENDER, message_id=MESSAGE_ID, templates_dir=tmp_path, attach=())
    )
    assert body(message, "plain").replace("\r\n", "\n") == "Custom: [litwatch] 3 new articles, 1 new citation, 1 retraction, 1 watch problem / 1\n"
    assert "New citations of tracked papers" in body(message, "html")  # packaged template still used
    assert message.get_content_type() == "multipart/alternative"


def test_an_edited_override_is_used_by_the_next_run_not_its_compiled_copy(tmp_path: Path) -> None:
    """Compiled templates are cached on disk between runs (jinja2.FileSystemBytecodeCache); a
    template whose text changed is compiled again."""
    import litwatch.notifications.render as render

    template = tmp_path / "digest.txt.j2"

    def run_with(text: str) -> str:
        template.write_text(text)
        render._environment.cache_clear()  # a new process: only the on-disk cache is left
        message = render_digest(golden_digest(), sender=SENDER, message_id=MESSAGE_ID, templates_dir=tmp_path, attach=())
        return body(roundtrip(message), "plain").strip()

    assert render._environment(str(tmp_path)).bytecode_cache is not None
    assert run_with("First {{ citations | length }}\n") == "First 1"
    assert run_with("Second {{ citations | length }}\n") == "Second 1"


def test_unknown_attachment_kind_rejected() -> None:
    with pytest.raises(ValueError):
        render_digest(golden_digest(), sender=SENDER, message_id=MESSAGE_ID, attach=("pdf",))


# -- exports --------------------------------------------------------------------------------------


def test_split_pages() -> None:
    assert split_pages("871-83") == ("871", "883")
    assert split_pages("1234-56") == ("1234", "1256")
    assert split_pages("e70152") == ("e70152", "")
    assert split_pages("S12-S19") == ("S12", "S19")
    assert split_pages("") == ("", "")


def test_ris_export_fields() -> None:
    records = rispy.loads(articles_to_ris([rct_article(), Entry(citing_article(), watches=(W_BTK,))]))
    assert len(records) == 2
    rct = records[0]
    assert rct["type_of_reference"] == "JOUR"
    assert rct["title"] == "Rilzabrutinib versus placebo in persistent or chronic immune thrombocytopenia"
    assert rct["authors"][0] == "Garcia, ML" and len(rct["authors"]) == 6
    assert rct["year"] == "2025" and rct["date"] == "2025/02/27"
    assert rct["journal_name"] == "The New England journal of medicine"
    assert rct["alternate_title1"] == "N Engl J Med"
    assert (rct["volume"], rct["number"], rct["start_page"], rct["end_page"]) == ("392", "9", "871", "883")
    assert rct["doi"] == "10.1056/NEJMoa99000021"
    assert rct["accession_number"] == "99000021"
    assert rct["urls"] == ["https://pubmed.ncbi.nlm.nih.gov/99000021/"]
    assert rct["name_of_database"] == "PubMed"
    assert "CONCLUSIONS: Rilzabrutinib produced durable platelet responses & less" in rct["abstract"]
    assert records[1]["keywords"] == ["BTK inhibitor", "immune thrombocytopenia", "zanubrutinib"]
    assert articles_to_ris([]) == ""


def test_csv_export_columns() -> None:
    text = articles_to_csv([Entry(citing_article(), watches=(W_BTK,), cites=(TRACKED,)), italic_article()])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "pmid", "title", "authors", "journal", "year", "doi", "pmcid",
        "publication_types", "watches", "cites", "url",
    ]
    assert rows[0]["cites"] == "39973148" and rows[0]["watches"] == W_BTK
    assert rows[0]["pmcid"] == "PMC99000011"
    assert rows[1]["title"] == "Rilzabrutinib reduces FCGR2A-dependent platelet phagocytosis in vitro"
    assert rows[1]["watches"] == "" and rows[1]["year"] == "2025"


# -- layout in a real browser ---------------------------------------------------------------------

# Runs inside the digest (in an iframe): reports whether anything overflows horizontally by writing
# a marker into the title of the page that --dump-dom prints.
_PROBE = (
    "<script>window.addEventListener('load', function () {"
    "var d = document.documentElement;"
    "window.parent.document.title = 'overflow:' + (d.scrollWidth <= window.innerWidth ? 'ok' : 'bad')"
    " + ':' + d.scrollWidth + ':' + window.innerWidth; });</script>"
)


def _frame_page(html: str, width: int, height: int = 800) -> str:
    """A page showing `html` in a `width` px iframe.

    Headless Chromium will not make a window narrower than 500 px, so phone widths are tested in an
    iframe; srcdoc keeps the frame same-origin with the page, so the probe can reach the title.
    """
    from html import escape as attr

    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>pending</title>"
        "<style>html,body{margin:0;padding:0;background:#888}iframe{border:0;display:block}</style>"
        f"</head><body><iframe width='{width}' height='{height}' srcdoc=\"{attr(html, quote=True)}\">"
        "</iframe></body></html>"
    )


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        *CHROMIUM_FLAGS,
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=25)


def _overflow(html: str, width: int, tmp_path: Path) -> tuple[str, int, int]:
    """('ok' | 'bad', scrollWidth, innerWidth) of `html` shown `width` px wide."""
    page = tmp_path / f"probe-{width}.html"
    page.write_text(_frame_page(html.replace("</body>", _PROBE + "</body>", 1), width), encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    result = _chromium([f"--window-size={max(width, 500)},800", "--dump-dom", page.as_uri()], profile)
    match = re.search(r"<title>overflow:(\w+):(\d+):(\d+)</title>", result.stdout)
    assert match, f"probe did not run (rc={result.returncode}): {result.stderr[-2000:]}"
    return match.group(1), int(match.group(2)), int(match.group(3))


def _screenshot(html: str, width: int, name: str, tmp_path: Path, *extra: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    page = tmp_path / f"shot-{name}.html"
    page.write_text(_frame_page(html, width), encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp_path))
    result = _chromium(
        [f"--window-size={max(width, 500)},800", *extra, f"--screenshot={shot}", page.as_uri()], profile
    )
    assert shot.exists() and shot.stat().st_size > 0, result.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")
    return shot


def layout_digest() -> Digest:
    """The golden digest plus things that like to overflow: an unbreakable word and a long URL."""
    base = golden_digest()
    long_word = Article(
        pmid="99000061",
        title_html="N-(4-{[4-(pyridin-3-yl)pyrimidin-2-yl]amino}phenyl)" + "methylpiperazinylbenzamide" * 4,
        authors=(person("Longname" * 6, "X"),),
        journal="Journal of extraordinarily long identifiers",
        doi="10.1000/" + "averylongdoisuffixwithoutanybreaks" * 3,
        abstract=(AbstractSection("", "See https://example.org/" + "path/segment" * 20 + " for data."),),
    )
    entries = base.entries + (Entry(long_word, watches=(W_RILZA,)),)
    return Digest(
        recipient=base.recipient,
        created=base.created,
        entries=entries,
        corrections=base.corrections,
        notes=base.notes,
        watch_terms=base.watch_terms,
        watch_queries={**base.watch_queries, W_RILZA: "rilzabrutinib[tiab] AND " + "x" * 150},
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")
def test_layout_in_headless_chromium(tmp_path: Path) -> None:
    html = body(roundtrip(render_digest(layout_digest(), sender=SENDER, message_id=MESSAGE_ID)), "html")
    # the probe itself must notice an overflow, or a pass would mean nothing
    wide = "<html><body><table width='600'><tr><td>x</td></tr></table></body></html>"
    assert _overflow(wide, 375, tmp_path)[0] == "bad"
    for width in (375, 700):
        verdict, scroll_width, inner_width = _overflow(html, width, tmp_path)
        assert inner_width == width
        assert verdict == "ok", f"horizontal overflow at {width}px: scrollWidth {scroll_width} > {inner_width}"
        _screenshot(html, width, f"digest-{width}.png", tmp_path)
    _screenshot(html, 375, "digest-375-dark.png", tmp_path, "--force-dark-mode")


def test_attachments_stop_at_attach_max(monkeypatch: pytest.MonkeyPatch) -> None:
    """A huge digest (a large backfill) attaches the first ATTACH_MAX articles and says so:
    a mail server would refuse a message of every one of 50,000 articles."""
    import litwatch.notifications.render as render

    monkeypatch.setattr(render, "ATTACH_MAX", 120)
    message = roundtrip(render.render_digest(bulk_digest(500), sender=SENDER, message_id=MESSAGE_ID, max_items=50))
    records = rispy.loads(attachments(message)["litwatch-2025-03-03.ris"].get_content().decode("utf-8"))
    assert len(records) == 120
    assert "the first 120 of 500 articles (litwatch export gives them all)" in " ".join(body(message, "plain").split())


def test_the_outbox_reads_the_html_without_the_attachments(tmp_path: Path) -> None:
    """OutboxDeliverer writes NAME.html from the message cut before its attachments: the same HTML
    as a whole parse gives, and the .eml is the whole message, byte for byte."""
    from litwatch.notifications.delivery import OutboxDeliverer, _before_attachments

    raw = render_digest(bulk_digest(300), sender=SENDER, message_id=MESSAGE_ID, attach=("ris", "csv")).as_bytes()
    cut = _before_attachments(raw)
    assert len(cut) < len(raw) / 3 and b"TY  - JOUR" not in cut and cut.endswith(b"--\r\n")
    whole = email.message_from_bytes(raw, policy=email.policy.default)
    OutboxDeliverer(tmp_path).deliver(raw, "litwatch@example.org", "lab@example.org")
    (html_file,) = tmp_path.glob("*.html")
    assert html_file.read_bytes().decode("utf-8") == whole.get_body(("html",)).get_content()
    assert next(tmp_path.glob("*.eml")).read_bytes() == raw
    plain = b"From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n"
    assert _before_attachments(plain) == plain


def test_what_is_kept_of_an_article_is_for_that_very_article() -> None:
    """`ArticleMemo` (entry views, RIS texts, ranking's reading of an article): a value is reused only
    for the article object it was made from; a record read again (a new object, perhaps changed)
    is worked out again, and only the last `size` articles are kept."""
    made: list[str] = []

    def make(article: Article) -> str:
        made.append(article.pmid)
        return article.title_html

    memo = ArticleMemo(make, size=2)
    first = Article(pmid="1", title_html="First", entrez_date="2025-03-01", pub_date=PubDate())
    assert memo(first) == "First" and memo(first) == "First"
    assert made == ["1"]
    changed = Article(pmid="1", title_html="First, corrected", entrez_date="2025-03-01", pub_date=PubDate())
    assert memo(changed) == "First, corrected"
    others = [Article(pmid=p, title_html=p, entrez_date="2025-03-01", pub_date=PubDate()) for p in ("2", "3")]
    for a in others:
        memo(a)
    assert memo(changed) == "First, corrected"
    assert made == ["1", "1", "2", "3", "1"], "PMID 1 was dropped for the two newer ones"
