"""Tracked papers: new-citation alerts, retraction notices, cited-by beyond PMC (iCite)."""

from __future__ import annotations

import json
from pathlib import Path

from litwatch.watchers.entrez import EntrezClient
from tests.conftest import (
    API_KEY,
    Q_BTK,
    TRACKED,
    TRACKED_TITLE,
    add_itp_article,
    pmids_in,
    scenario_config,
    seed_tracked,
)
from tests.fakes.pubmed_xml import esc


def text_of(message) -> str:  # noqa: ANN001
    return " ".join(message.get_body(("plain",)).get_content().split())


def setup_watch(ncbi, n: int = 3) -> list[str]:  # noqa: ANN001
    ids = [str(42000000 + i) for i in range(n)]
    for i, p in enumerate(ids):
        add_itp_article(ncbi, p, days_ago=300 + i)
    ncbi.add_search(Q_BTK, ids)
    return ids


def test_elink_gives_one_linkset_per_paper(ncbi) -> None:  # noqa: ANN001
    ncbi.citedin.update({"100": ["201", "202"], "101": ["202"], "102": []})
    client = EntrezClient(email="lab@example.org", api_key=API_KEY, base_url=ncbi.base_url)
    links = client.cited_by(["100", "101", "102"])
    assert links == {"100": {"201", "202"}, "101": {"202"}, "102": set()}
    (req,) = ncbi.requests_for("elink")
    assert req.params["id"] == ["100", "101", "102"], "one id= parameter per paper"
    assert req.params["linkname"] == ["pubmed_pubmed_citedin"]


def test_new_citation_on_a_later_run(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    setup_watch(ncbi)
    add_itp_article(ncbi, "40222822", days_ago=200, title="Rilzabrutinib for the Treatment of Immune Thrombocytopenia.")
    seed_tracked(ncbi, citing=["40222822"])
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)])
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert all(pmids_in(m) == set() for m in smtp.messages()), "the first lookup is the baseline"

    add_itp_article(ncbi, "42100001", days_ago=0, title="BTK inhibition in refractory ITP: a cohort")
    ncbi.citedin[TRACKED] = ["40222822", "42100001"]
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    assert pmids_in(msg) >= {"42100001"}
    assert "40222822" not in pmids_in(msg) or TRACKED in pmids_in(msg)
    text = text_of(msg)
    assert "1 new citation" in msg["Subject"]
    assert "BTK inhibition in refractory ITP" in text
    assert "Zanubrutinib Therapy" in text, "names the tracked paper it cites"

    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "announced once"


def test_paper_both_hit_and_citation_appears_once(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ids = setup_watch(ncbi)
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)])
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42200001", days_ago=0, title="Zanubrutinib for ITP after the case series")
    ncbi.add_search(Q_BTK, ids + ["42200001"])
    ncbi.citedin[TRACKED] = ["42200001"]
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    text = msg.get_body(("plain",)).get_content()
    assert text.count("pubmed.ncbi.nlm.nih.gov/42200001/") == 1
    flat = " ".join(text.split())
    assert "BTK inhibitors in ITP" in flat and "Zanubrutinib Therapy" in flat, "both reasons shown"


def test_retraction_announced_once_at_the_top(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    setup_watch(ncbi)
    seed_tracked(ncbi)
    cfg = scenario_config(
        tmp_path, ncbi, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)], extra=""
    )
    cfg.write_text(cfg.read_text().replace("[tracked]\n", "[tracked]\nrecheck_days = 0\n"))
    assert litwatch("run", "--config", str(cfg)).code == 0
    # PubMed records a retraction notice on the tracked paper
    ncbi.add_article(
        TRACKED,
        esc(TRACKED_TITLE),
        authors=(("Wang", "Lu", "L"),),
        year=2025,
        entrez_date="2025/02/20",
        doi="10.1002/cnr2.70152",
        pmcid="PMC11840241",
        publication_types=("Journal Article", "Retracted Publication"),
        comments_corrections=[("RetractionIn", "Cancer Rep (Hoboken). 2026 Nov;9(11):e70999", "42300009")],
    )
    add_itp_article(ncbi, "42300009", days_ago=0, title="Retraction: A Case Series ...",
                    publication_types=("Retraction of Publication",))
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    assert "retraction" in msg["Subject"].lower()
    text = text_of(msg)
    assert "pubmed.ncbi.nlm.nih.gov/42300009" in text, "links to the notice"
    first_section = text.split("NEW CITATIONS")[0] if "NEW CITATIONS" in text else text
    assert "Zanubrutinib Therapy" in first_section
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "not announced again"


def test_unknown_tracked_pmid_warns_and_the_run_goes_on(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    setup_watch(ncbi)
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, tracked=[TRACKED, "99999999"])
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert "99999999" in r.err and "not in PubMed" in r.err
    r = litwatch("track", "list", "--config", str(cfg), "--json")
    rows = {row["pmid"]: row for row in json.loads(r.out)}
    assert rows[TRACKED]["title"].startswith("A Case Series")
    assert rows["99999999"]["title"] == ""


def test_track_add_list_remove(tmp_path: Path, store_url, ncbi, litwatch) -> None:  # noqa: ANN001
    seed_tracked(ncbi)
    add_itp_article(ncbi, "40222822", days_ago=200, title="Rilzabrutinib for the Treatment of Immune Thrombocytopenia.")
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, tracked=[TRACKED])
    r = litwatch("track", "add", "40222822", "--note", "rilzabrutinib review", "--config", str(cfg))
    assert r.code == 0, r.err
    assert "tracking: 40222822" in r.out
    r = litwatch("track", "add", "12345678", "--config", str(cfg))
    assert r.code == 1 and "12345678 is not in PubMed" in r.err
    r = litwatch("track", "add", "12ab", "--config", str(cfg))
    assert r.code == 2 and "not a PMID" in r.err
    r = litwatch("track", "list", "--config", str(cfg))
    assert "40222822" in r.out and "rilzabrutinib review" in r.out and TRACKED in r.out
    assert "12345678" not in r.out
    r = litwatch("track", "remove", TRACKED, "--config", str(cfg))
    assert r.code == 2 and "remove it there" in r.err, "config entries are removed in the config"
    r = litwatch("track", "remove", "40222822", "--config", str(cfg))
    assert r.code == 0
    assert "40222822" not in litwatch("track", "list", "--config", str(cfg)).out


def test_300_tracked_papers_keep_the_request_count_flat(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    setup_watch(ncbi)
    papers = [str(43000000 + i) for i in range(300)]
    for p in papers:
        add_itp_article(ncbi, p, days_ago=500)
        ncbi.citedin[p] = [str(int(p) + 500000)]
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, tracked=papers, watches=[("BTK inhibitors in ITP", Q_BTK)])
    assert litwatch("run", "--config", str(cfg)).code == 0
    # one esearch, one elink for 300 papers, one efetch (batched, POST) for the 300 records
    assert ncbi.count("esearch") == 1
    assert ncbi.count("elink") == 1
    assert ncbi.count("efetch") == 1
    assert ncbi.requests_for("efetch")[0].method == "POST"
    assert ncbi.requests_for("elink")[0].method == "POST"
    # a later run with 2 new citations: esearch, elink, one efetch for the two citing papers
    for p in ("43500000", "43500001"):
        add_itp_article(ncbi, p + "9", days_ago=0)
    ncbi.citedin[papers[0]].append("435000009")
    ncbi.citedin[papers[1]].append("435000019")
    ncbi.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    # (+ the daily search for notices on articles already sent: one esearch, none found)
    notice_searches = [r for r in ncbi.requests_for("esearch") if "Retraction of Publication" in (r.get("term") or "")]
    assert len(notice_searches) == 1
    assert (ncbi.count("esearch") - 1, ncbi.count("elink"), ncbi.count("efetch")) == (1, 1, 1)


def test_follow_announced_tracks_what_was_announced(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ids = setup_watch(ncbi)
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)])
    cfg.write_text(cfg.read_text().replace("[tracked]\n", '[tracked]\nfollow = "announced"\n'))
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42400001", days_ago=0)
    ncbi.add_search(Q_BTK, ids + ["42400001"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    rows = json.loads(litwatch("track", "list", "--config", str(cfg), "--json").out)
    assert {r["pmid"] for r in rows} == {TRACKED, "42400001"}
    # its citations are reported from now on
    ncbi.citedin["42400001"] = []
    assert litwatch("run", "--config", str(cfg)).code == 0  # baseline of the new tracked paper
    add_itp_article(ncbi, "42400002", days_ago=0)
    ncbi.citedin["42400001"] = ["42400002"]
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    assert "42400002" in pmids_in(msg)


def test_icite_and_pubmed_merged_without_duplicates(tmp_path: Path, store_url, ncbi, icite, smtp, litwatch) -> None:  # noqa: ANN001
    setup_watch(ncbi)
    seed_tracked(ncbi, citing=["42500001"])
    add_itp_article(ncbi, "42500001", days_ago=100)
    add_itp_article(ncbi, "42500002", days_ago=100)
    icite.add_pub(TRACKED, cited_by=["42500001", "42500002"])
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)])
    cfg.write_text(
        cfg.read_text().replace(
            "[tracked]\n", f'[tracked]\nsources = ["pubmed", "icite"]\nicite_url = "{icite.base_url}"\n'
        )
    )
    assert litwatch("run", "--config", str(cfg)).code == 0
    rows = json.loads(litwatch("track", "list", "--config", str(cfg), "--json").out)
    assert rows[0]["citations"] == 2, "42500001 counted once although both sources know it"
    # new citing papers: one known to both sources, one to iCite only (not in PMC)
    for p in ("42500003", "42500004"):
        add_itp_article(ncbi, p, days_ago=0)
    ncbi.citedin[TRACKED] = ["42500001", "42500003"]
    icite.cited_by[TRACKED] = ["42500001", "42500002", "42500003", "42500004"]
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    text = msg.get_body(("plain",)).get_content()
    assert pmids_in(msg) >= {"42500003", "42500004"}
    assert text.count("pubmed.ncbi.nlm.nih.gov/42500003/") == 1
    assert "icite" in text.lower(), "shows which source found a citation"


def test_icite_down_still_delivers_pubmed_citations(tmp_path: Path, store_url, ncbi, icite, smtp, litwatch) -> None:  # noqa: ANN001
    setup_watch(ncbi)
    seed_tracked(ncbi)
    icite.add_pub(TRACKED, cited_by=[])
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)])
    cfg.write_text(
        cfg.read_text().replace(
            "[tracked]\n", f'[tracked]\nsources = ["pubmed", "icite"]\nicite_url = "{icite.base_url}"\n'
        )
    )
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42600001", days_ago=0)
    ncbi.citedin[TRACKED] = ["42600001"]
    icite.down = True
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert "iCite" in r.err
    (msg,) = smtp.messages()
    assert "42600001" in pmids_in(msg)
    assert "iCite could not be reached" in text_of(msg)
    # back up: iCite's own new citing papers are announced, PubMed's known one is not repeated
    icite.down = False
    add_itp_article(ncbi, "42600002", days_ago=0)
    icite.cited_by[TRACKED] = ["42600001", "42600002"]
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    assert pmids_in(msg) == {"42600002"} | ({TRACKED} & pmids_in(msg))
