"""Ranked digests: deterministic scores, the reasons, ratings that move one reader's order only,
nothing ranked low lost, library files, and `rank = false`."""

from __future__ import annotations

import email
import email.policy
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from litwatch.notifications.model import Digest, Entry, PaperRef
from litwatch.notifications.ranking import (
    Batch,
    ReaderProfile,
    ReaderRanker,
    Reference,
    Weights,
    design_of,
    rank_digest,
    term_placement,
)
from litwatch.notifications.render import render_digest, subject_line
from litwatch.watchers.articles import AbstractSection, Article, Author
from litwatch.watchers.library import LibraryError, load_library, parse_library
from tests.conftest import Q_BTK, TRACKED, add_itp_article, baseline, pmids_in, scenario_config, text_of
from tests.fakes.pubmed_xml import esc

LIBRARY = Path(__file__).parent / "data" / "library"
TODAY = date(2026, 11, 30)
CREATED = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
TRACKED_TEXT = (
    "A Case Series and Literature Review on Zanubrutinib Therapy for the Treatment of Relapsed/Refractory "
    "Immune Thrombocytopenia. Bruton tyrosine kinase inhibitor zanubrutinib raised platelet counts in ITP."
)
TRACKED_REF = Reference(TRACKED, TRACKED_TEXT, f"your tracked PMID {TRACKED}")


def art(pmid: str, title: str, abstract: str = "", *, types: tuple[str, ...] = ("Journal Article",), mesh: tuple[str, ...] = (),
        day: str = "2026-11-29", authors: tuple[Author, ...] = (), journal: str = "Blood") -> Article:
    return Article(
        pmid=pmid,
        title_html=esc(title),
        abstract=(AbstractSection("", esc(abstract)),) if abstract else (),
        publication_types=types,
        mesh_headings=mesh,
        entrez_date=day,
        authors=authors,
        journal=journal,
        journal_iso=journal,
    )


PHASE3 = art(
    "41000001",
    "Rilzabrutinib in immune thrombocytopenia: a randomised phase 3 trial",
    "Patients with persistent ITP received the BTK inhibitor or placebo; platelet counts rose.",
    types=("Journal Article", "Randomized Controlled Trial", "Clinical Trial, Phase III"),
)
COHORT = art(
    "41000002",
    "Outcomes of adults with chronic ITP: a registry",
    "In this cohort zanubrutinib and other Bruton tyrosine kinase inhibitor treatments were compared.",
    types=("Journal Article", "Observational Study"),
    mesh=("Cohort Studies", "Purpura, Thrombocytopenic, Idiopathic"),
)
LETTER = art("41000003", "Comment on platelet counting", "A letter about rilzabrutinib dosing.", types=("Letter",))
ERRATUM = art("41000004", "Erratum: platelet figure", types=("Published Erratum",))
OFFTOPIC = art("41000005", "Zebrafish fin regeneration", "Fins of zebrafish regrow after amputation.", mesh=("Zebrafish",))


def test_study_design_tiers() -> None:
    order = [design_of(a) for a in (PHASE3, COHORT, LETTER, ERRATUM)]
    assert order == [
        ("randomised phase 3 trial", 3.0),
        ("cohort study", 1.0),
        ("letter", -1.0),
        ("erratum or notice", -2.0),
    ]
    assert design_of(art("1", "x", types=("Meta-Analysis", "Review")))[0] == "meta-analysis"
    assert design_of(art("1", "x", types=("Practice Guideline",)))[0] == "guideline"
    assert design_of(art("1", "x", types=("Clinical Trial, Phase II",))) == ("phase 2 trial", 2.0)
    assert design_of(art("1", "x", types=("Case Reports",))) == ("case report", -0.5)
    assert design_of(art("1", "x")) == ("", 0.0)


def test_term_placement_title_over_abstract_over_mesh() -> None:
    terms = ("rilzabrutinib", "zanubrutinib", "immune thrombocytopenia")
    assert term_placement(PHASE3, terms) == ("title", "Rilzabrutinib")
    assert term_placement(COHORT, terms) == ("abstract", "zanubrutinib")
    mesh_only = art("9", "A registry", "Platelets.", mesh=("Immune Thrombocytopenia",))
    assert term_placement(mesh_only, terms) == ("MeSH terms", "Immune Thrombocytopenia")
    assert term_placement(OFFTOPIC, terms) == ("", "")
    w = Weights()
    scores = ReaderRanker(ReaderProfile()).score(Batch([PHASE3, COHORT, mesh_only, OFFTOPIC], today=TODAY), terms)
    assert list(scores.place_points) == [w.title, w.abstract, w.mesh, 0.0]


def test_scores_are_deterministic_and_independent_of_order() -> None:
    articles = [PHASE3, COHORT, LETTER, ERRATUM, OFFTOPIC]
    profile = ReaderProfile(positives=(TRACKED_REF,))
    first = ReaderRanker(profile).score(Batch(articles, today=TODAY), ("rilzabrutinib",)).total
    again = ReaderRanker(profile).score(Batch(articles, today=TODAY), ("rilzabrutinib",)).total
    assert list(first) == list(again), "bit for bit"
    shuffled = articles[:]
    random.Random(7).shuffle(shuffled)
    other = ReaderRanker(profile).score(Batch(shuffled, today=TODAY), ("rilzabrutinib",)).total
    by_pmid = {a.pmid: float(s) for a, s in zip(shuffled, other, strict=True)}
    assert {a.pmid: float(s) for a, s in zip(articles, first, strict=True)} == by_pmid
    ranked = [a.pmid for _, a in sorted(zip(-first, articles, strict=True), key=lambda x: x[0])]
    assert ranked[0] == PHASE3.pmid and ranked[-1] in (ERRATUM.pmid, OFFTOPIC.pmid)


def test_the_why_line() -> None:
    batch = Batch([PHASE3, COHORT, OFFTOPIC], today=TODAY)
    scores = ReaderRanker(ReaderProfile(positives=(TRACKED_REF,))).score(batch, ("rilzabrutinib", "zanubrutinib"))
    assert scores.why(0, batch.design_label[0]) == (
        "randomised phase 3 trial \u00b7 \u2018Rilzabrutinib\u2019 in the title \u00b7 close to your tracked PMID 39973148"
    )
    assert scores.why(1, batch.design_label[1]).startswith("cohort study \u00b7 \u2018zanubrutinib\u2019 in the abstract")
    assert scores.why(2, batch.design_label[2]) == "no strong signal: newest first among equals"


def test_favourite_authors_and_journals() -> None:
    kuter = (Author(last_name="Kuter", fore_name="David J", initials="DJ"),)
    a = art("1", "Platelets", authors=kuter, journal="Am J Hematol")
    b = art("2", "Platelets", journal="Blood")
    profile = ReaderProfile(authors=("Kuter DJ",), journals=("blood",))
    batch = Batch([a, b], today=TODAY)
    s = ReaderRanker(profile).score(batch)
    assert s.author == ["Kuter DJ", ""] and s.journal == ["", "Blood"]
    assert s.why(0, "") == "by Kuter DJ" and s.why(1, "") == "in Blood"
    assert ReaderRanker(ReaderProfile(authors=("kuter",))).score(batch).author == ["Kuter DJ", ""], "a family name"


def _ref(a: Article, label: str, *, rated: bool = True) -> Reference:
    from litwatch.notifications.ranking import article_text

    return Reference(a.pmid, article_text(a), label, rated=rated)


def test_the_readers_model_needs_enough_ratings_of_both_kinds() -> None:
    trials = [art(str(100 + i), f"Randomised trial of BTK inhibitor {i} in ITP", "platelet response ITP BTK") for i in range(3)]
    fish = [art(str(200 + i), f"Zebrafish study {i}", "zebrafish fins regrowth") for i in range(3)]
    ups = tuple(_ref(a, f"PMID {a.pmid} you rated up") for a in trials)
    downs = tuple(_ref(a, f"PMID {a.pmid} you rated down") for a in fish)
    assert ReaderRanker(ReaderProfile(positives=ups, negatives=downs)).has_model
    assert not ReaderRanker(ReaderProfile(positives=ups, negatives=downs[:1])).has_model, "one down: no model"
    assert not ReaderRanker(ReaderProfile(positives=ups[:2], negatives=downs[:2])).has_model, "4 < 6 ratings"
    batch = Batch([art("301", "BTK inhibitor trial in ITP", "platelet response"), art("302", "Zebrafish fins", "regrowth")], today=TODAY)
    s = ReaderRanker(ReaderProfile(positives=ups, negatives=downs)).score(batch)
    assert s.model_points[0] > 0 > s.model_points[1]


def golden_like_digest() -> Digest:
    w_btk, w_rilza = "BTK inhibitors in ITP", "Rilzabrutinib"
    return Digest(
        recipient="ada@example.org",
        created=CREATED,
        entries=(
            Entry(COHORT, watches=(w_btk,), cites=(PaperRef(TRACKED),)),
            Entry(LETTER, watches=(w_btk,)),
            Entry(OFFTOPIC, watches=(w_btk,)),
            Entry(PHASE3, watches=(w_btk, w_rilza)),
            Entry(ERRATUM, watches=(w_rilza,)),
        ),
        watch_terms={w_btk: ("zanubrutinib", "immune thrombocytopenia", "ITP"), w_rilza: ("rilzabrutinib",)},
        watch_queries={w_btk: Q_BTK, w_rilza: "rilzabrutinib"},
    )


def test_rank_digest_orders_within_sections_and_keeps_sections() -> None:
    ranked = rank_digest(golden_like_digest(), ReaderProfile(positives=(TRACKED_REF,)))
    assert ranked.ranked and all(e.score is not None and e.why for e in ranked.entries)
    pmids = [e.article.pmid for e in ranked.entries]
    assert pmids[0] == COHORT.pmid, "citations first"
    btk = [e.article.pmid for e in ranked.entries if not e.cites and e.watches[0] == "BTK inhibitors in ITP"]
    assert btk[0] == PHASE3.pmid, "the trial heads its watch's section"
    scores = [e.score for e in ranked.entries if not e.cites and e.watches[0] == "BTK inhibitors in ITP"]
    assert scores == sorted(scores, reverse=True)
    assert subject_line(ranked).endswith(": Rilzabrutinib in immune thrombocytopenia: a randomised phase 3 trial")
    assert rank_digest(golden_like_digest(), ReaderProfile()).entries == rank_digest(golden_like_digest(), ReaderProfile()).entries


def _parts(message: email.message.EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    return plain, html


def test_why_lines_in_both_parts_and_nothing_ranked_low_is_lost() -> None:
    ranked = rank_digest(golden_like_digest(), ReaderProfile(positives=(TRACKED_REF,)), min_score=0.5)
    low = [e for e in ranked.entries if (e.score or 0) < 0.5]
    assert low, "the erratum and the off-topic paper score below 0.5"
    message = render_digest(ranked, sender="lw@example.org", message_id="<m@x>", max_items=2, attach=("ris", "csv"))
    plain, html = _parts(message)
    folded = " ".join(plain.split())
    for e in ranked.entries:
        assert e.article.pmid in plain and e.article.pmid in html, "listed or ranked lower, never out of sight"
        assert e.why in folded, "each why line, whole, in the text part"
        assert e.why in " ".join(html.split()), "and in the HTML part"
    assert "3 MORE, RANKED LOWER" in plain and "3 more, ranked lower</h2>" in html
    assert "The 2 ranked highest are listed here; 3 more, ranked lower, at the end." in " ".join(plain.split())
    lower = plain.split("3 MORE, RANKED LOWER")[1]
    assert ERRATUM.pmid in lower and OFFTOPIC.pmid in lower and PHASE3.pmid not in lower
    assert "Why: randomised phase 3 trial" in plain and "Why: randomised phase 3 trial" in html
    attached = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    ris = attached["litwatch-2026-11-30.ris"]
    ris = ris.decode() if isinstance(ris, bytes) else ris
    assert all(e.article.pmid in ris for e in ranked.entries), "every article in the attachment"
    csv = attached["litwatch-2026-11-30.csv"]
    csv = csv.decode() if isinstance(csv, bytes) else csv
    assert [line.split(",")[0].strip('"') for line in csv.splitlines()[1:3]] == [COHORT.pmid, PHASE3.pmid] or PHASE3.pmid in csv


def test_unranked_digest_renders_as_before() -> None:
    message = render_digest(golden_like_digest(), sender="lw@example.org", message_id="<m@x>", max_items=2)
    plain, html = _parts(message)
    assert "Why:" not in plain and "Why:" not in html and "RANKED LOWER" not in plain
    assert "\u2026and 3 more articles" in plain
    assert subject_line(golden_like_digest()) == "[litwatch] 4 new articles, 1 new citation"


# -- library files --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["zotero.ris", "zotero.bib", "zotero.json"])
def test_library_formats(name: str) -> None:
    papers = load_library(LIBRARY / name)
    assert len(papers) == 2
    first = papers[0]
    assert first.pmid == TRACKED and first.title.startswith("A Case Series and Literature Review on Zanubrutinib")
    assert "zanubrutinib" in first.abstract and first.authors[0] == "Wang L"
    assert first.journal.startswith("Cancer Rep")
    if name != "zotero.json":
        assert papers[1].pmid == "35507478", "a PMID from a note / URL"
    else:
        assert papers[1].pmid == "" and papers[1].label == "\u201cWarm autoimmune haemolytic anaemia: a guideline\u201d"


def test_library_pmid_list_and_bad_files(tmp_path: Path) -> None:
    assert [p.pmid for p in load_library(LIBRARY / "pmids.txt")] == [TRACKED, "35507478", "36511223"]
    for path, problem in (
        (tmp_path / "missing.ris", "library file not found"),
        (LIBRARY / "letter.txt", "not RIS, BibTeX, CSL-JSON or a list of PMIDs"),
        (tmp_path, "library file is a folder"),
    ):
        with pytest.raises(LibraryError) as exc:
            load_library(path)
        assert str(exc.value).startswith(f"{path}: ") and problem in str(exc.value) and "\n" not in str(exc.value)
    bad = tmp_path / "broken.json"
    bad.write_text('[{"title": "x"', encoding="utf-8")
    with pytest.raises(LibraryError, match="broken.json: not a library file: not valid CSL-JSON"):
        load_library(bad)
    with pytest.raises(ValueError):
        parse_library("   ")


# -- end to end: two readers, a rating, the library ------------------------------------------------

A, B = "ann@example.org", "bob@example.org"
TRIAL_ABSTRACT = "Rilzabrutinib raised platelet counts in adults with immune thrombocytopenia in this randomised trial."
NEW = {
    "42000001": ("Rilzabrutinib versus placebo in persistent immune thrombocytopenia", TRIAL_ABSTRACT),
    "42000002": ("Zanubrutinib for warm autoimmune haemolytic anaemia with ITP", "Haemolysis and anaemia improved in warm autoimmune haemolytic anaemia."),
    "42000003": ("Ibrutinib-associated bleeding in ITP", "Bleeding events on ibrutinib in chronic lymphocytic leukaemia and ITP."),
}


def _not_today() -> str:
    return ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[(datetime.now().weekday() + 3) % 7]


def _two_reader_setup(tmp_path: Path, ncbi, smtp, store_url=None, recipients_toml: str = ""):  # noqa: ANN001, ANN202
    ids = baseline(ncbi, n=3)
    recipient_tables = recipients_toml or (
        f'[[recipient]]\nemail = "{A}"\n\n[[recipient]]\nemail = "{B}"\n'
    )
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, store_url=store_url, recipients=[], extra=recipient_tables,
                          watches=[("BTK inhibitors in ITP", Q_BTK)])
    return ids, cfg


def _announce_new(ncbi, ids: list[str]) -> None:  # noqa: ANN001
    for pmid, (title, abstract) in NEW.items():
        add_itp_article(ncbi, pmid, days_ago=0, title=esc(title), abstract=abstract)
    ncbi.add_search(Q_BTK, [*ids, *NEW])


def _order(out: str) -> list[str]:
    import re

    return [p for p in re.findall(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/", out) if p in NEW]


def test_a_rating_moves_that_readers_order_only(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    weekly = f'frequency = "weekly"\nweekday = "{_not_today()}"\n'
    tables = f'[[recipient]]\nemail = "{A}"\n{weekly}\n[[recipient]]\nemail = "{B}"\n{weekly}'
    ids, cfg = _two_reader_setup(tmp_path, ncbi, smtp, store_url, recipients_toml=tables)
    assert litwatch("run", "--config", str(cfg)).code == 0  # (no digest: a weekly one is due on its first run)
    _announce_new(ncbi, ids)
    assert litwatch("run", "--config", str(cfg)).code == 0  # queued, not yet sent
    before = {r: litwatch("preview", "--recipient", r, "--config", str(cfg)).out for r in (A, B)}
    assert _order(before[A]) == _order(before[B]), "same profile, same order"
    assert "Why: " in before[A]
    top_before = _order(before[A])[0]
    # Ann rates up the haemolytic anaemia paper she was never sent (a reference) ... and down the trial
    r = litwatch("rate", "up", "42000002", "--recipient", A, "--config", str(cfg))
    assert r.code == 0 and "never sent" in r.out
    assert litwatch("rate", "down", top_before, "--recipient", A, "--config", str(cfg)).code == 0
    after = {r: litwatch("preview", "--recipient", r, "--config", str(cfg)).out for r in (A, B)}
    assert _order(after[B]) == _order(before[B]), "Bob's digest is untouched"
    assert _order(after[A])[0] == "42000002" and _order(after[A])[-1] == top_before
    folded = " ".join(after[A].split())
    assert "\u00b7 you rated it down" in folded and "\u00b7 you rated it up" in folded, "the rated papers themselves"
    # the next digests are the previews
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(weekly, ""), encoding="utf-8")
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    sent = {m["To"]: m for m in smtp.messages()}
    assert _order(sent[A].get_body(("plain",)).get_content()) == _order(after[A])
    assert _order(sent[B].get_body(("plain",)).get_content()) == _order(before[B])
    assert str(sent[A]["Subject"]).endswith(": Zanubrutinib for warm autoimmune haemolytic anaemia with ITP")


def test_library_and_rank_false(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    (tmp_path / "anaemia.json").write_text(json.dumps([{"title": "Warm autoimmune haemolytic anaemia", "abstract": "Haemolysis and anaemia; warm autoimmune haemolytic anaemia treated."}]), encoding="utf-8")
    tables = (
        f'[[recipient]]\nemail = "{A}"\nlibrary = "anaemia.json"\n\n'
        f'[[recipient]]\nemail = "{B}"\nrank = false\n\n'
        f'[[recipient]]\nemail = "cy@example.org"\nlibrary = "no-such-file.ris"\n'
    )
    ids, cfg = _two_reader_setup(tmp_path, ncbi, smtp, recipients_toml=tables)
    assert litwatch("run", "--config", str(cfg)).code == 0
    _announce_new(ncbi, ids)
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0
    sent = {m["To"]: m for m in smtp.messages()}
    text_a = text_of(sent[A])
    assert _order(sent[A].get_body(("plain",)).get_content())[0] == "42000002"
    assert "close to \u201cWarm autoimmune haemolytic anaemia\u201d in your library" in text_a
    # rank = false: newest first as before, no why lines, no top item in the subject
    text_b = sent[B].get_body(("plain",)).get_content()
    assert "Why:" not in text_b and str(sent[B]["Subject"]) == "[litwatch] 3 new articles"
    # a missing library: one line naming the file; the digest still goes out, ranked without it
    missing = tmp_path / "no-such-file.ris"
    lines = [line for line in r.err.splitlines() if "no-such-file.ris" in line]
    assert lines == [f"litwatch: WARNING: cy@example.org: {missing}: library file not found; this digest is ranked without it"]
    text_c = text_of(sent["cy@example.org"])
    assert "Why:" in text_c and f"{missing}: library file not found" in text_c
    assert pmids_in(sent["cy@example.org"]) >= set(NEW)


def test_golden_ranked_digest() -> None:
    """tests/golden/ranked.{txt,html}: the golden digest of test_render ranked for a reader who
    tracks the zanubrutinib case series, with max_items 3: why lines, and one entry ranked lower."""
    from tests.test_render import MESSAGE_ID, SENDER, body, check_golden, golden_digest

    ranked = rank_digest(golden_digest(), ReaderProfile(positives=(TRACKED_REF,)))
    message = render_digest(ranked, sender=SENDER, message_id=MESSAGE_ID, max_items=3, attach=("ris",))
    check_golden("ranked.txt", body(message, "plain"))
    check_golden("ranked.html", body(message, "html"))
    assert str(message["Subject"]) == (
        "[litwatch] 3 new articles, 1 new citation, 1 retraction, 1 watch problem: "
        "Zanubrutinib in relapsed immune thrombocytopenia: a multicentre retrospective cohort"
    )


def test_a_digest_too_large_to_rank_says_so(tmp_path: Path, ncbi, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from litwatch.jobs.config import load_config
    from litwatch.jobs.parts import make_clock
    from litwatch.jobs.run import compose
    from litwatch.jobs.run.compose import Composer
    from litwatch.watchers.announcements import Hit
    from litwatch.watchers.articles import ArticleRecord
    from litwatch.watchers.store import open_store

    config = load_config(scenario_config(tmp_path, ncbi))
    pmids = [str(41_000_000 + k) for k in range(6)]
    with open_store(path=tmp_path / "big.db") as store:
        with store.transaction():
            store.articles.put(ArticleRecord.of(art(p, f"Article {p}")) for p in pmids)
        composer = Composer(config, store, make_clock(config))
        items = [Hit(p, "BTK inhibitors in ITP") for p in pmids]
        small = composer.digest(config.recipients()[0], items)
        assert small.ranked and not small.notes
        monkeypatch.setattr(compose, "FULL_RECORDS", 4)
        big = composer.digest(config.recipients()[0], items)
    assert not big.ranked and len(big.entries) == 6
    assert [n.text for n in big.notes] == ["6 articles are too many to rank in one digest; they are listed newest first."]


def test_check_reads_the_library_files(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    import shutil

    shutil.copy(LIBRARY / "zotero.bib", tmp_path / "lab.bib")
    tables = f'[[recipient]]\nemail = "{A}"\nlibrary = "lab.bib"\n\n[[recipient]]\nemail = "{B}"\nlibrary = "gone.ris"\n'
    cfg = scenario_config(tmp_path, ncbi, recipients=[], extra=tables)
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1
    assert f"ok       library of {A}: 2 papers (2 with a PMID)" in r.out
    assert f"PROBLEM  library of {B}: {tmp_path / 'gone.ris'}: library file not found" in r.out


def test_a_paper_rated_before_it_is_sent_says_so() -> None:
    from litwatch.notifications.ranking import article_text

    up = Reference(PHASE3.pmid, article_text(PHASE3), f"PMID {PHASE3.pmid} you rated up", rated=True)
    down = Reference(LETTER.pmid, article_text(LETTER), f"PMID {LETTER.pmid} you rated down", rated=True)
    batch = Batch([PHASE3, LETTER, COHORT], today=TODAY)
    s = ReaderRanker(ReaderProfile(positives=(up,), negatives=(down,))).score(batch)
    assert s.why(0, "") == "you rated it up"
    assert s.why(1, "") == "you rated it down"
    assert "\x00" not in s.why(2, "")
    assert s.total[0] > s.total[2] > s.total[1]


def test_min_score_from_the_config_moves_everything_below_into_the_lower_list(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    tables = f'[[recipient]]\nemail = "{A}"\nmin_score = 100.0\n'
    ids, cfg = _two_reader_setup(tmp_path, ncbi, smtp, recipients_toml=tables)
    assert litwatch("run", "--config", str(cfg)).code == 0
    _announce_new(ncbi, ids)
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    plain = msg.get_body(("plain",)).get_content()
    assert "3 MORE, RANKED LOWER" in plain and "Why:" not in plain, "nothing listed in full, all ranked lower"
    assert pmids_in(msg) >= set(NEW), "each still linked"
    ris = next(p for p in msg.iter_attachments() if str(p.get_filename()).endswith(".ris")).get_content()
    ris = ris.decode() if isinstance(ris, bytes) else ris
    assert all(p in ris for p in NEW), "and in the attachment"


def test_term_rows_are_the_term_frequencies_computed_once() -> None:
    """A run's rankers share reference vectors: the same matrix as vectorising afresh, each text once."""
    from litwatch.notifications import ranking

    texts = [TRACKED_TEXT, "Rilzabrutinib in ITP", "", "platelet counts platelet counts rose", TRACKED_TEXT]
    rows = ranking.TermRows(limit=3)
    calls: list[int] = []
    real_tf = ranking._tf

    def counting(t):  # noqa: ANN001, ANN202
        calls.append(len(t))
        return real_tf(t)

    ranking._tf = counting
    try:
        first = rows.matrix(texts)
        again = rows.matrix(texts[1:4])
    finally:
        ranking._tf = real_tf
    expected = real_tf(texts)
    assert (first != expected).nnz == 0 and first.shape == expected.shape
    assert (again != real_tf(texts[1:4])).nnz == 0
    assert calls == [4], "each distinct text vectorised once; the second call vectorised nothing"
    assert len(rows._rows) == 3, "at most `limit` texts kept"
    digest = golden_like_digest()
    shared = rank_digest(digest, ReaderProfile(positives=(TRACKED_REF,)), rows=ranking.TermRows())
    assert shared.entries == rank_digest(digest, ReaderProfile(positives=(TRACKED_REF,))).entries


def test_a_readers_ratings_survive_many_tracked_papers(tmp_path: Path, ncbi, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """More tracked papers than MAX_REFERENCES: the reader's own ratings are kept first, and only
    the tracked papers a profile needs (the last ones) are read from the store, once for all the
    run's readers."""
    from litwatch.jobs.config import load_config
    from litwatch.jobs.run import ranking as run_ranking
    from litwatch.watchers.articles import ArticleRecord
    from litwatch.watchers.store import open_store

    monkeypatch.setattr(run_ranking, "MAX_REFERENCES", 5)
    config = load_config(scenario_config(tmp_path, ncbi))
    reader = config.recipients()[0]
    tracked = [str(43_000_000 + k) for k in range(8)]
    with open_store(path=tmp_path / "refs.db") as store:
        with store.transaction():
            store.articles.put(ArticleRecord.of(art(p, f"Tracked paper {p}")) for p in [*tracked, "44000001"])
            for p in tracked:
                store.tracked.add(p, "cli")
            store.ratings.record(reader.email, "44000001", 1)
        ranking = run_ranking.Ranking(config, store)
        reads: list[str] = []
        real_get = store.articles.get

        def counting_get(pmids):  # noqa: ANN001, ANN202
            pmids = list(pmids)
            reads.extend(pmids)
            return real_get(pmids)

        monkeypatch.setattr(store.articles, "get", counting_get)
        profile, problems = ranking.profile(reader)
        again, _ = ranking.profile(reader)
    assert not problems
    assert [r.key for r in profile.positives] == ["44000001", *tracked[-4:]], "the rating first, then the last tracked"
    assert profile.positives[0].rated and profile == again
    assert sorted(p for p in reads if p in tracked) == tracked[-4:], "the tracked papers needed, read once"


def test_similarity_is_the_cosine_of_full_tfidf_vectors() -> None:
    """Batch.similarity reads only the batch's columns; it equals the cosine of the whole TF-IDF
    vectors (every word of a reference counts in its length)."""
    import numpy as np

    from litwatch.notifications import ranking

    rng = random.Random(5)
    words = [f"term{i}" for i in range(300)]
    articles = [art(str(45_000_000 + i), " ".join(rng.choices(words, k=8)), " ".join(rng.choices(words, k=60)))
                for i in range(7)]
    refs = [" ".join(rng.choices(words, k=rng.randrange(0, 90))) for _ in range(25)] + ["", "unrelated words only"]
    batch = Batch(articles, today=TODAY)
    got = batch.similarity(ranking.RefVectors(ranking._tf(refs)))
    tf_a = ranking._tf([ranking.article_text(a) for a in articles]).toarray()
    tf_r = ranking._tf(refs).toarray()
    df = (tf_a > 0).sum(axis=0)
    idf = np.log((1 + len(articles)) / (1 + df)) + 1

    def unit(m):  # noqa: ANN001, ANN202
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms == 0, 1, norms)

    expected = unit(tf_a * idf) @ unit(tf_r * idf).T
    assert got.shape == (7, 27)
    assert np.allclose(got, expected, atol=1e-12)
    assert got[:, -2:].max() == 0 and got.max() > 0.2


def test_hash_and_stop_words_are_scikit_learns_without_importing_it() -> None:
    """The columns are scikit-learn's murmurhash3_32 (as HashingVectorizer's) and the stop words its
    list, though a digest imports neither (importing scikit-learn costs some 60 MB)."""
    import subprocess
    import sys

    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    from sklearn.utils import murmurhash3_32

    from litwatch.notifications import ranking

    ranking._stop_words.cache_clear()
    assert ranking._stop_words() == frozenset(ENGLISH_STOP_WORDS)
    for token in ["zanubrutinib", "itp", "café", "thrombocytopenia", "Ω-3", "a" * 300, "x"]:
        ranking._COLUMNS.pop(token, None)
        assert ranking._column(token) == murmurhash3_32(token, seed=0, positive=True) % ranking.N_FEATURES
    code = (
        "import sys\n"
        "from datetime import date\n"
        "from litwatch.notifications.ranking import ReaderProfile, Reference, rank_digest\n"
        "from tests.test_ranking import golden_like_digest, TRACKED_REF\n"
        "rank_digest(golden_like_digest(), ReaderProfile(positives=(TRACKED_REF,)))\n"
        "print('sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "False", "ranking a digest without ratings imports no scikit-learn"
