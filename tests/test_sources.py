"""Citations beyond PMC (issue 16, point 2) and the new services' clients and fakes (point 4):
Europe PMC and OpenAlex beside PubMed and iCite, deduplicated by PMID and DOI, each citing work
labelled with every source that knows it; a failing source never fails the run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from litwatch.watchers.europepmc import EuropePMCClient, EuropePMCError
from litwatch.watchers.openalex import OpenAlexClient, OpenAlexError
from tests.conftest import (
    OPENALEX_KEY,
    Q_BTK,
    TRACKED,
    add_itp_article,
    db_rows,
    pmids_in,
    scenario_config,
    seed_tracked,
    text_of,
)
from tests.fakes.europepmc import FakeEuropePMC, cite
from tests.fakes.openalex import FakeOpenAlex

W_TRACKED = "W4407000001"


def no_sleep(_: float) -> None:
    pass


# -- clients against the fakes (recorded answers) ------------------------------------------------


def test_europepmc_client_reads_the_recorded_citations(epmc: FakeEuropePMC) -> None:
    client = EuropePMCClient(epmc.base_url, citations_page=25)
    works = client.citations("34308300")
    assert len(works) == 25, "the recorded first page (hitCount 1741; page 2 is not recorded: empty)"
    pre = [w for w in works if w.is_preprint]
    assert pre and pre[0].epmc_id == "PPR1078485" and not pre[0].pmid
    assert any(w.pmid == "40903751" and w.venue == "BMC Infect Dis" and w.year == 2025 for w in works)
    assert epmc.requests_for("MED/34308300/citations")[0].status == 200


def test_europepmc_client_search_cursor_and_errors(epmc: FakeEuropePMC) -> None:
    client = EuropePMCClient(epmc.base_url, retries=1, sleep=no_sleep)
    recorded = list(client.search("cancer", result_type="lite", page_size=5, limit=5))
    assert len(recorded) == 5 and all("title" in r for r in recorded), "the recorded pageSize=5 answer"
    for i in range(7):
        epmc.add_preprint(f"PPR{i}", f"Preprint {i}", doi=f"10.1101/{i}")
    epmc.add_search("(covid) AND SRC:PPR", [f"PPR{i}" for i in range(7)])
    assert [p.epmc_id for p in client.preprints("covid")] == [f"PPR{i}" for i in range(7)]
    epmc.echo_last_cursor = True
    assert len(list(client.search("(covid) AND SRC:PPR", page_size=3))) == 7, "an echoed cursor ends the paging"
    with pytest.raises(EuropePMCError) as info:
        list(client.search("   "))
    assert "No search criteria provided" in str(info.value) and "\n" not in str(info.value)
    epmc.fail_next("503", count=2)
    with pytest.raises(EuropePMCError, match="HTTP 503 .gave up after 2 attempts"):
        client.count("covid")


def test_openalex_client_recorded_work_404_and_the_key_never_shown(openalex: FakeOpenAlex) -> None:
    client = OpenAlexClient(openalex.base_url, api_key=OPENALEX_KEY, retries=1, sleep=no_sleep)
    body = client.get_json("works/W2741809807")
    assert body["id"] == "https://openalex.org/W2741809807", "the recorded 2026 work"
    assert client.work_id("99999999") is None, "the recorded HTML 404 page: unknown"
    assert openalex.requests[-1].get("api_key") == OPENALEX_KEY
    bad = OpenAlexClient(openalex.base_url, api_key="wrong-" + OPENALEX_KEY, retries=0, sleep=no_sleep)
    with pytest.raises(OpenAlexError) as info:
        bad.citing(["W1"])
    assert "HTTP 401" in str(info.value) and OPENALEX_KEY not in str(info.value)
    openalex.add_work("W1", "Cited")
    for i in range(150):
        openalex.add_work(f"W9{i:03d}", f"Citing {i}", cites=("W1",), doi=f"10.1/c{i}")
    assert len(client.citing(["W1"])["W1"]) == 150, "cursor paging, 100 per page"
    keyless = OpenAlexClient(openalex.base_url, sleep=no_sleep)
    assert len(keyless.citing(["W1"])["W1"]) == 150, "page paging without a key (cursor needs one)"
    assert all(r.get("cursor") is None for r in openalex.requests if r.get("api_key") is None)


# -- the run ----------------------------------------------------------------------------------


def sources_config(tmp_path: Path, ncbi, smtp, store_url, epmc, openalex, *, sources: str) -> Path:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)])
    cfg.write_text(cfg.read_text().replace(
        "[tracked]\n",
        f'[tracked]\nsources = {sources}\neuropepmc_url = "{epmc.base_url}"\nopenalex_url = "{openalex.base_url}"\n',
    ))
    return cfg


def seed(ncbi, epmc: FakeEuropePMC, openalex: FakeOpenAlex) -> None:  # noqa: ANN001
    ids = [str(42000000 + i) for i in range(3)]
    for i, p in enumerate(ids):
        add_itp_article(ncbi, p, days_ago=300 + i)
    ncbi.add_search(Q_BTK, ids)
    seed_tracked(ncbi, citing=["42500001"])
    add_itp_article(ncbi, "42500001", days_ago=100)
    epmc.citations[TRACKED] = [cite("42500001")]
    openalex.add_work(W_TRACKED, "The tracked case series", pmid=TRACKED, doi="10.1002/cnr2.70152")
    openalex.add_work("W1", "Old citer", pmid="42500001", doi="10.1002/ajh.42500001", cites=(W_TRACKED,))


def test_citations_from_four_sources_made_one_and_labelled(
    tmp_path: Path, store_url, ncbi, icite, epmc, openalex, smtp, litwatch, monkeypatch  # noqa: ANN001
) -> None:
    monkeypatch.setenv("LITWATCH_OPENALEX_KEY", OPENALEX_KEY)
    seed(ncbi, epmc, openalex)
    icite.add_pub(TRACKED, cited_by=["42500001"])
    cfg = sources_config(tmp_path, ncbi, smtp, store_url, epmc, openalex,
                         sources='["pubmed", "icite", "europepmc", "openalex"]')
    cfg.write_text(cfg.read_text().replace("[tracked]\n", f'[tracked]\nicite_url = "{icite.base_url}"\n'))
    assert litwatch("run", "--config", str(cfg)).code == 0  # baselines of the four sources

    # new: B in PubMed (all four know it); a medRxiv preprint (Europe PMC by its PPR id, OpenAlex
    # by its DOI: one work); a journal article outside PubMed (OpenAlex only, DOI)
    add_itp_article(ncbi, "42500002", days_ago=0, title="BTK inhibitors after the case series", doi="10.1002/ajh.b")
    ncbi.citedin[TRACKED] = ["42500001", "42500002"]
    icite.cited_by[TRACKED] = ["42500001", "42500002"]
    epmc.add_preprint("PPR900", "A medRxiv preprint citing the series", doi="10.1101/2026.11.01.1")
    epmc.citations[TRACKED] = [cite("42500001"), cite("42500002"), cite("PPR900", "PPR", "A medRxiv preprint citing the series")]
    openalex.add_work("W2", "BTK inhibitors after the case series", pmid="42500002", doi="10.1002/ajh.b", cites=(W_TRACKED,))
    openalex.add_work("W3", "A medRxiv preprint citing the series", doi="10.1101/2026.11.01.1", cites=(W_TRACKED,),
                      kind="preprint", venue="medRxiv")
    openalex.add_work("W4", "A Brazilian journal article citing the series", doi="10.5935/abc.2026", cites=(W_TRACKED,),
                      venue="Revista Brasileira de Hematologia", year=2026)
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    text = msg.get_body(("plain",)).get_content()
    flat = text_of(msg)
    assert "3 new citations" in msg["Subject"]
    assert pmids_in(msg) >= {"42500002"} and text.count("pubmed.ncbi.nlm.nih.gov/42500002/") == 1
    assert "Found via PubMed, iCite, Europe PMC and OpenAlex" in flat
    assert "CITING WORKS OUTSIDE PUBMED" in text
    assert flat.count("A medRxiv preprint citing the series") == 1, "one work, deduplicated by DOI"
    assert "https://doi.org/10.1101/2026.11.01.1" in flat and "Found via Europe PMC and OpenAlex" in flat
    assert "https://doi.org/10.5935/abc.2026" in flat and "Found via OpenAlex" in flat
    assert "Revista Brasileira de Hematologia. 2026." in flat
    html = msg.get_body(("html",)).get_content()
    assert "Citing works outside PubMed" in html and 'href="https://doi.org/10.5935/abc.2026"' in html
    rows = db_rows(cfg, "SELECT citing, source FROM citations WHERE citing LIKE 'doi:%' ORDER BY citing, source")
    assert rows == [("doi:10.1101/2026.11.01.1", "europepmc"), ("doi:10.1101/2026.11.01.1", "openalex"),
                    ("doi:10.5935/abc.2026", "openalex")]
    assert OPENALEX_KEY not in r.err + r.out + msg.as_string()
    smtp.received.clear()
    epmc.clear()
    openalex.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "announced once"
    # cost: Europe PMC's citation count did not change, so its citing works are not asked again;
    # OpenAlex: the tracked paper's id is cached, one filter call
    assert epmc.count("search") == 1 and epmc.count(f"MED/{TRACKED}/citations") == 0
    assert [r.endpoint for r in openalex.requests] == ["works"]


def test_a_failing_source_never_fails_the_run_and_catches_up(
    tmp_path: Path, store_url, ncbi, epmc, openalex, smtp, litwatch, monkeypatch, caplog  # noqa: ANN001
) -> None:
    monkeypatch.setenv("LITWATCH_OPENALEX_KEY", OPENALEX_KEY)
    seed(ncbi, epmc, openalex)
    cfg = sources_config(tmp_path, ncbi, smtp, store_url, epmc, openalex, sources='["pubmed", "europepmc", "openalex"]')
    cfg.write_text(cfg.read_text().replace("retries = 2", "retries = 0"))
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42500002", days_ago=0)
    ncbi.citedin[TRACKED] = ["42500001", "42500002"]
    openalex.add_work("W4", "Only OpenAlex knows this one", doi="10.5935/abc.2026", cites=(W_TRACKED,))
    openalex.down = True
    smtp.received.clear()
    caplog.set_level(logging.DEBUG)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, "one source failing never fails the run"
    (msg,) = smtp.messages()
    assert "42500002" in pmids_in(msg), "PubMed's news went out"
    assert "OpenAlex could not be reached" in text_of(msg)
    status = json.loads(litwatch("status", "--config", str(cfg), "--json").out)
    assert status["sources"]["openalex"]["healthy"] is False and "HTTP 503" in status["sources"]["openalex"]["last_error"]
    assert status["sources"]["europepmc"]["healthy"] is True
    human = litwatch("status", "--config", str(cfg)).out
    assert "openalex" in human and "FAILING since" in human
    openalex.down = False
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    assert "Only OpenAlex knows this one" in text_of(msg), "the failed source caught up"
    assert "42500002" not in pmids_in(msg), "not repeated"
    status = json.loads(litwatch("status", "--config", str(cfg), "--json").out)
    assert status["sources"]["openalex"]["healthy"] is True
    everything = r.err + r.out + caplog.text + json.dumps(status) + str(db_rows(cfg, "SELECT * FROM source_state"))
    assert OPENALEX_KEY not in everything


def test_check_tries_each_source(tmp_path: Path, ncbi, icite, epmc, openalex, litwatch, monkeypatch) -> None:  # noqa: ANN001
    seed(ncbi, epmc, openalex)
    icite.add_pub(TRACKED, cited_by=["42500001"])
    epmc.add_preprint("PPR1", "BTK in ITP, a preprint")
    epmc.add_search("(zanubrutinib AND thrombocytopenia) AND SRC:PPR", ["PPR1"])
    cfg = sources_config(tmp_path, ncbi, None, None, epmc, openalex, sources='["pubmed", "icite", "europepmc", "openalex"]')
    text = cfg.read_text().replace("[tracked]\n", f'[tracked]\nicite_url = "{icite.base_url}"\n')
    text = text.replace('query = "(zanu', 'preprint_query = "zanubrutinib AND thrombocytopenia"\nquery = "(zanu')
    cfg.write_text(text)
    monkeypatch.setenv("LITWATCH_OPENALEX_KEY", OPENALEX_KEY)
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 0, r.out + r.err
    assert "iCite: answers" in r.out and "Europe PMC: answers" in r.out
    assert "1 preprint in Europe PMC" in r.out
    assert f"OpenAlex (key from LITWATCH_OPENALEX_KEY): answers (PMID {TRACKED}: {W_TRACKED})" in r.out
    assert OPENALEX_KEY not in r.out + r.err
    monkeypatch.setenv("LITWATCH_OPENALEX_KEY", "not-the-" + OPENALEX_KEY)
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1 and "OpenAlex" in r.out and "HTTP 401" in r.out and OPENALEX_KEY not in r.out + r.err
    epmc.down = True
    monkeypatch.setenv("LITWATCH_OPENALEX_KEY", OPENALEX_KEY)
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1 and "Europe PMC: Europe PMC MED/" in r.out and "preprint_query" in r.out


def test_openalex_key_from_a_file_never_the_config(tmp_path: Path, ncbi, epmc, openalex) -> None:  # noqa: ANN001
    from litwatch.jobs.config import ConfigError, load_config

    seed(ncbi, epmc, openalex)
    cfg = sources_config(tmp_path, ncbi, None, None, epmc, openalex, sources='["openalex"]')
    assert load_config(cfg).openalex_key() is None
    (tmp_path / "openalex.key").write_text(OPENALEX_KEY + "\n")
    cfg.write_text(cfg.read_text().replace("[tracked]\n", '[tracked]\nopenalex_key_file = "openalex.key"\n'))
    assert load_config(cfg).openalex_key() == OPENALEX_KEY
    cfg.write_text(cfg.read_text().replace("[tracked]\n", '[tracked]\nopenalex_key = "x"\n'))
    with pytest.raises(ConfigError, match="tracked.openalex_key: unknown key"):
        load_config(cfg)


def test_pubmed_cited_by_failing_is_a_note_not_a_failed_run(tmp_path: Path, ncbi, epmc, openalex, smtp, litwatch) -> None:  # noqa: ANN001
    seed(ncbi, epmc, openalex)
    cfg = sources_config(tmp_path, ncbi, smtp, None, epmc, openalex, sources='["pubmed", "europepmc"]')
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42500002", days_ago=0)
    epmc.citations[TRACKED] = [cite("42500001"), cite("42500002")]
    ncbi.fail_next("500", count=3, endpoint="elink")
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    assert "42500002" in pmids_in(msg), "Europe PMC's news went out"
    assert "PubMed could not be reached (elink: HTTP 500" in text_of(msg)
    ncbi.citedin[TRACKED] = ["42500001", "42500002"]
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "PubMed caught up: the citing paper Europe PMC announced is not repeated"
    assert sorted(db_rows(cfg, "SELECT source FROM citations WHERE citing = '42500002'")) == [("europepmc",), ("pubmed",)]
