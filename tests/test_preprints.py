"""Preprints (issue 16, point 3): a watch's preprint_query searches Europe PMC's preprint index; a
preprint later published in PubMed is announced as "now published in JOURNAL" with both links, and
a preprint and its journal version make one item, never two."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Q_BTK, add_itp_article, pmids_in, scenario_config, text_of
from tests.fakes.europepmc import FakeEuropePMC

PQ = "zanubrutinib AND thrombocytopenia"
EPMC_Q = f"({PQ}) AND SRC:PPR"


def preprint_config(tmp_path: Path, ncbi, smtp, store_url, epmc: FakeEuropePMC) -> Path:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, watches=[("BTK", Q_BTK)], tracked=[])
    text = cfg.read_text().replace('name = "BTK"\n', f'name = "BTK"\npreprint_query = "{PQ}"\n')
    text = text.replace("[tracked]\n", f'[tracked]\neuropepmc_url = "{epmc.base_url}"\n')
    cfg.write_text(text)
    return cfg


def test_a_preprint_and_its_journal_version_make_one_item(tmp_path: Path, store_url, ncbi, epmc, smtp, litwatch) -> None:  # noqa: ANN001
    old = [str(42000000 + i) for i in range(3)]
    for i, p in enumerate(old):
        add_itp_article(ncbi, p, days_ago=300 + i)
    ncbi.add_search(Q_BTK, old)
    epmc.add_preprint("PPR100", "An old preprint", doi="10.1101/old")
    epmc.add_search(EPMC_Q, ["PPR100"])
    cfg = preprint_config(tmp_path, ncbi, smtp, store_url, epmc)
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert all("An old preprint" not in text_of(m) for m in smtp.messages()), "the first search is a baseline"

    # a new preprint: announced as a preprint
    epmc.add_preprint("PPR200", "Zanubrutinib in refractory ITP: a multicentre cohort", doi="10.1101/2026.11.20.1",
                      server="medRxiv")
    epmc.add_search(EPMC_Q, ["PPR100", "PPR200"])
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    text = text_of(msg)
    assert "1 new preprint" in msg["Subject"]
    assert "NEW PREPRINTS" in text and "Zanubrutinib in refractory ITP: a multicentre cohort" in text
    assert "https://doi.org/10.1101/2026.11.20.1" in text and "medRxiv" in text

    # the journal version enters PubMed (a new hit of the watch) and Europe PMC links the two
    add_itp_article(ncbi, "42900001", days_ago=0, title="Zanubrutinib in refractory ITP: a multicentre cohort study",
                    journal="Blood advances", iso="Blood Adv")
    ncbi.add_search(Q_BTK, old + ["42900001"])
    epmc.publish("PPR200", "42900001")
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (msg,) = smtp.messages()
    text = msg.get_body(("plain",)).get_content()
    flat = text_of(msg)
    assert "1 new article" in msg["Subject"] and "preprint" not in msg["Subject"]
    assert text.count("pubmed.ncbi.nlm.nih.gov/42900001/") == 1, "listed once"
    assert "Now published in Blood advances; the preprint: Zanubrutinib in refractory ITP: a multicentre cohort" in flat
    assert "https://doi.org/10.1101/2026.11.20.1" in flat, "both links"
    assert "NEW PREPRINTS" not in flat
    html = msg.get_body(("html",)).get_content()
    assert "Now published in Blood advances" in html and 'href="https://doi.org/10.1101/2026.11.20.1"' in html

    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "told once"


def test_published_later_than_its_paper_was_sent_is_not_repeated(tmp_path: Path, store_url, ncbi, epmc, smtp, litwatch) -> None:  # noqa: ANN001
    """A preprint announced, then its journal version found by the PubMed watch (not yet linked):
    when Europe PMC links them later, the reader is not told of the paper a second time."""
    old = [str(42000000 + i) for i in range(2)]
    for i, p in enumerate(old):
        add_itp_article(ncbi, p, days_ago=300 + i)
    ncbi.add_search(Q_BTK, old)
    epmc.add_search(EPMC_Q, [])
    cfg = preprint_config(tmp_path, ncbi, smtp, store_url, epmc)
    assert litwatch("run", "--config", str(cfg)).code == 0
    epmc.add_preprint("PPR300", "BTK preprint")
    epmc.add_search(EPMC_Q, ["PPR300"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42900002", days_ago=0, title="BTK paper")
    ncbi.add_search(Q_BTK, old + ["42900002"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    assert "42900002" in pmids_in(msg)
    epmc.publish("PPR300", "42900002")
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "the paper was already sent: not listed again"


def test_a_new_preprint_already_published_is_announced_as_its_journal_version(tmp_path: Path, ncbi, epmc, smtp, litwatch) -> None:  # noqa: ANN001
    old = ["42000000"]
    add_itp_article(ncbi, old[0], days_ago=300)
    ncbi.add_search(Q_BTK, old)
    epmc.add_search(EPMC_Q, [])
    cfg = preprint_config(tmp_path, ncbi, smtp, None, epmc)
    assert litwatch("run", "--config", str(cfg)).code == 0
    # Europe PMC indexes a preprint already linked to a paper the PubMed query does not find
    add_itp_article(ncbi, "42900003", days_ago=5, title="Published elsewhere", journal="Haematologica", iso="Haematologica")
    epmc.add_preprint("PPR400", "Published elsewhere (preprint)", doi="10.1101/p400", published_pmid="42900003")
    epmc.add_search(EPMC_Q, ["PPR400"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    (msg,) = smtp.messages()
    flat = text_of(msg)
    assert "42900003" in pmids_in(msg) and "Now published in Haematologica" in flat
    assert "NEW PREPRINTS" not in flat
