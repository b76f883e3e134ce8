"""`litwatch history`, `litwatch show PMID` and `litwatch export` on a store filled by real runs."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import rispy

from tests.conftest import Q_BTK, Q_RILZA, TRACKED, add_itp_article, scenario_config, seed_tracked
from tests.fakes.pubmed_xml import esc

SPECIAL = "Zanubrutinib {BGB-3111} & 50% of ITP_cases: Müller's $5 #1 ~ ^ \\ review"
BASE = [str(41000000 + i) for i in range(3)]


def two_runs(tmp_path: Path, ncbi, smtp, litwatch, store_url: str | None = None) -> Path:  # noqa: ANN001
    """A baseline run, then a run announcing three articles: two watch hits and one citing paper."""
    for i, pmid in enumerate(BASE):
        add_itp_article(ncbi, pmid, days_ago=400 + i)
    ncbi.add_search(Q_BTK, BASE)
    ncbi.add_search(Q_RILZA, BASE[:1])
    seed_tracked(ncbi, citing=[BASE[0]])
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(
        ncbi, "41100001", days_ago=1, title=esc(SPECIAL),
        authors=(("Müller", "Jörg", "J"), ("O'Brien", "Ann", "A")),
        abstract=[("Background", "BTK inhibitors in <i>ITP</i>."), ("Results", esc("Responses in 5% & more."))],
        volume="100", issue="2", pages="123-9", keywords=("ITP", "BTK"), mesh=("Thrombocytopenia",),
        publication_types=("Journal Article", "Clinical Trial, Phase II"), nct_ids=("NCT04562766",),
    )
    add_itp_article(ncbi, "41100002", days_ago=2, title="Rilzabrutinib (PRN1008) in warm autoimmune haemolytic anaemia")
    add_itp_article(ncbi, "41100003", days_ago=3, title="Orelabrutinib in relapsed ITP: a cohort citing the case series")
    ncbi.add_search(Q_BTK, BASE + ["41100001"])
    ncbi.add_search(Q_RILZA, BASE[:1] + ["41100002"])
    ncbi.citedin[TRACKED] = [BASE[0], "41100003"]
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    return cfg


# -- history and show -----------------------------------------------------------------------------


def test_history_says_what_when_to_whom_and_why(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = two_runs(tmp_path, ncbi, smtp, litwatch)
    r = litwatch("history", "--config", str(cfg))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    # every delivered digest, the first run's (notes only: the baselines) included (issue 13, F29)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d  to haematology@example.org  \(no articles: \[litwatch\] nothing new, 2 notes\)$", lines[0]), lines[0]
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d  to haematology@example.org  \(3 items\)$", lines[2]), lines[2]
    text = "\n".join(lines)
    assert "PMID  41100001  Zanubrutinib {BGB-3111}" in text
    assert "watch “BTK inhibitors in ITP”" in text and "watch “Rilzabrutinib”" in text
    assert "cites tracked PMID 39973148 (Wang L 2025)" in text
    assert text.count("to haematology@example.org") == 2

    r = litwatch("history", "--config", str(cfg), "--watch", "Rilzabrutinib")
    assert r.code == 0 and "41100002" in r.out and "41100001" not in r.out and "41100003" not in r.out

    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    r = litwatch("history", "--config", str(cfg), "--since", tomorrow)
    assert r.code == 0 and r.out.strip() == f"Nothing was announced since {tomorrow}."

    r = litwatch("history", "--config", str(cfg), "--json")
    records = json.loads(r.out)
    assert [rec["recipient"] for rec in records] == ["haematology@example.org"] * 2
    assert records[0]["items"] == [] and "2 notes" in records[0]["subject"]
    items = {i["pmid"]: i for i in records[1]["items"]}
    assert set(items) == {"41100001", "41100002", "41100003"}
    assert items["41100003"]["reasons"] == [
        {"kind": "citation", "reason": TRACKED, "why": "cites tracked PMID 39973148 (Wang L 2025)"}
    ]

    r = litwatch("history", "--config", str(cfg), "--since", "last week")
    assert r.code == 2 and "--since" in r.err


def test_show_prints_every_field(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = two_runs(tmp_path, ncbi, smtp, litwatch)
    r = litwatch("show", "41100001", "--config", str(cfg))
    assert r.code == 0, r.err
    out = r.out
    assert out.startswith("PMID 41100001  https://pubmed.ncbi.nlm.nih.gov/41100001/")
    flat = " ".join(out.split())
    for expected in (
        SPECIAL,
        "Authors: Müller J, O'Brien A",
        "Journal: American journal of hematology (Am J Hematol)",
        "Volume(issue):pages: 100(2):123-9",
        "DOI: 10.1002/ajh.41100001 https://doi.org/10.1002/ajh.41100001",
        "Publication types: Journal Article; Clinical Trial, Phase II",
        "MeSH terms: Thrombocytopenia",
        "Keywords: ITP; BTK",
        "Data banks: NCT04562766",
        "Language: eng",
        "Entrez date:",
        "Abstract: Background: BTK inhibitors in ITP. Results: Responses in 5% & more.",
        "found by the watch “BTK inhibitors in ITP”",
        "announced to haematology@example.org",
    ):
        assert expected in flat, expected

    r = litwatch("show", TRACKED, "--config", str(cfg))
    assert r.code == 0 and "tracked since" in r.out and "(config)" in r.out and "PMC11840241" in r.out
    r = litwatch("show", "41100003", "--config", str(cfg), "--json")
    data = json.loads(r.out)
    assert data["article"]["pmid"] == "41100003" and data["cites"][0]["pmid"] == TRACKED

    r = litwatch("show", "99999999", "--config", str(cfg))
    assert r.code == 1 and "PMID 99999999 is not in the store" in r.err and r.out == ""
    r = litwatch("show", "PMC123", "--config", str(cfg))
    assert r.code == 2 and "not a PMID" in r.err


# -- export ---------------------------------------------------------------------------------------


def test_export_all_formats(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    cfg = two_runs(tmp_path, ncbi, smtp, litwatch, store_url=store_url)
    stored = {TRACKED, "41100001", "41100002", "41100003"}

    r = litwatch("export", "--config", str(cfg), "--format", "ris")
    assert r.code == 0, r.err
    records = rispy.loads(r.out)
    assert {rec["accession_number"] for rec in records} == stored
    special = next(rec for rec in records if rec["accession_number"] == "41100001")
    assert special["title"] == SPECIAL and special["authors"] == ["Müller, Jörg", "O'Brien, Ann"]
    assert special["start_page"] == "123" and special["end_page"] == "129"

    r = litwatch("export", "--config", str(cfg), "--format", "csv", "--watch", "BTK inhibitors in ITP")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert [row["pmid"] for row in rows] == ["41100001"], "only what that watch found (its baseline was never fetched)"
    assert rows[0]["title"] == SPECIAL and rows[0]["watches"] == "BTK inhibitors in ITP"
    assert rows[0]["url"] == "https://pubmed.ncbi.nlm.nih.gov/41100001/"

    r = litwatch("export", "--config", str(cfg), "--format", "json")
    data = json.loads(r.out)
    assert {d["pmid"] for d in data} == stored
    assert data[0]["pmid"] == TRACKED, "oldest first: the tracked paper was seen on the first run"
    one = next(d for d in data if d["pmid"] == "41100001")
    assert one["title"] == SPECIAL and one["article"]["doi"] == "10.1002/ajh.41100001"
    assert one["watches"] == ["BTK inhibitors in ITP"] and one["first_seen"]

    r = litwatch("export", "--config", str(cfg), "--format", "bibtex")
    assert r.code == 0, r.err
    check_bibtex(r.out, stored)


def check_bibtex(text: str, stored: set[str]) -> None:
    import bibtexparser
    from bibtexparser.middlewares import LatexDecodingMiddleware

    # LaTeX's special characters are escaped, non-ASCII letters become accent macros
    raw = re.search(r"@article\{pmid41100001,.*?\n\}", text, re.DOTALL)
    assert raw, text
    entry_text = raw.group()
    for escaped in ("{\\{}BGB-3111{\\}}", "{\\&}", "50{\\%}", "ITP{\\_}cases", "M{\\\"u}ller", "{\\$}5",
                    "{\\#}1", "{\\textasciitilde}", "{\\textasciicircum}", "{\\textbackslash}"):
        assert escaped in entry_text, escaped
    assert "author = {M{\\\"u}ller, J{\\\"o}rg and O'Brien, Ann}" in entry_text
    assert "pages = {123--129}" in entry_text and "month = " in entry_text
    assert "doi = {10.1002/ajh.41100001}" in entry_text, "DOIs are verbatim"

    library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware()])
    assert not library.failed_blocks
    entries = {e.key: e for e in library.entries}
    assert set(entries) == {f"pmid{p}" for p in stored}
    entry = entries["pmid41100001"]
    assert entry.entry_type == "article"
    assert entry["title"].startswith("Zanubrutinib {BGB-3111} & 50% of ITP_cases: Müller's $5 #1 ~")
    assert entry["journal"] == "American journal of hematology" and entry["volume"] == "100"
    assert entry["pmid"] == "41100001" and entry["url"] == "https://pubmed.ncbi.nlm.nih.gov/41100001/"
    assert "Müller" in entry["author"]


def test_export_since_and_output_file(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = two_runs(tmp_path, ncbi, smtp, litwatch)
    out = tmp_path / "exports" / "all.ris"
    r = litwatch("export", "--config", str(cfg), "--format", "ris", "--since", "2000-01-01", "--output", str(out))
    assert r.code == 0 and r.out == ""
    assert len(rispy.loads(out.read_text(encoding="utf-8"))) == 4

    future = (date.today() + timedelta(days=2)).isoformat()
    r = litwatch("export", "--config", str(cfg), "--format", "json", "--since", future)
    assert r.code == 0 and json.loads(r.out) == [] and "no stored article matches" in r.err
    r = litwatch("export", "--config", str(cfg), "--format", "csv", "--since", future, "-q")
    assert r.out.startswith("pmid,title") and r.err == ""

    r = litwatch("export", "--config", str(cfg), "--format", "ris", "--watch", "No such watch")
    assert r.code == 2 and "no watch is named 'No such watch'" in r.err
    with pytest.raises(SystemExit) as exit_:
        litwatch("export", "--config", str(cfg), "--format", "endnote")
    assert exit_.value.code == 2


@pytest.mark.parametrize("fmt", ["ris", "bibtex", "csv", "json"])
def test_export_of_an_empty_store(tmp_path: Path, ncbi, litwatch, fmt: str) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi)
    r = litwatch("export", "--config", str(cfg), "--format", fmt)
    assert r.code == 0
    assert r.out in ("", "[]\n") or r.out.startswith("pmid,")
