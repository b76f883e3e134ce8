"""Atom feeds ([feed]): one per watch and one of citing papers, valid Atom, stable ids, rewritten
every run, and a feed that cannot be written never stops the digests."""

from __future__ import annotations

import stat
from pathlib import Path

import feedparser

from litwatch.jobs.config import load_config
from litwatch.jobs.run.feeds import feed_files, slug
from tests.conftest import Q_BTK, Q_RILZA, TRACKED, add_itp_article, scenario_config, seed_tracked
from tests.fakes.pubmed_xml import esc

FEED = '[feed]\nfolder = "feeds"\nbase_url = "https://lab.example.org/litwatch"\n'
BASE = [str(41000000 + i) for i in range(3)]


def setup(tmp_path: Path, ncbi, smtp, extra: str = FEED, store_url: str | None = None) -> Path:  # noqa: ANN001
    for i, pmid in enumerate(BASE):
        add_itp_article(ncbi, pmid, days_ago=400 + i)
    ncbi.add_search(Q_BTK, BASE)
    ncbi.add_search(Q_RILZA, BASE[:1])
    seed_tracked(ncbi, citing=[BASE[0]])
    return scenario_config(tmp_path, ncbi, smtp=smtp, extra=extra, store_url=store_url)


def parse(path: Path):  # noqa: ANN201
    feed = feedparser.parse(path.read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_feeds_follow_the_runs(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    cfg = setup(tmp_path, ncbi, smtp, store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    folder = tmp_path / "feeds"
    assert sorted(p.name for p in folder.iterdir()) == ["btk-inhibitors-in-itp.xml", "citations.xml", "rilzabrutinib.xml"]
    first = parse(folder / "btk-inhibitors-in-itp.xml")
    assert first.entries == [], "the baseline is not announced, so not in the feed"
    assert first.feed.title == "litwatch: BTK inhibitors in ITP"
    assert stat.S_IMODE((folder / "citations.xml").stat().st_mode) == 0o644

    add_itp_article(ncbi, "41100001", days_ago=1, title=esc("Zanubrutinib & <ITP>: ") + "<i>in vivo</i>",
                    abstract="Bruton tyrosine kinase inhibitors " * 40)
    add_itp_article(ncbi, "41100002", days_ago=2, authors=())
    add_itp_article(ncbi, "41100003", days_ago=3, title="Rilzabrutinib cites the zanubrutinib case series")
    ncbi.add_search(Q_BTK, BASE + ["41100001", "41100002"])
    ncbi.add_search(Q_RILZA, BASE[:1] + ["41100001"])
    ncbi.citedin[TRACKED] = [BASE[0], "41100003"]
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err

    btk = parse(folder / "btk-inhibitors-in-itp.xml")
    assert btk.feed.id == "tag:litwatch,2026:watch:btk-inhibitors-in-itp"
    assert {link.rel: link.href for link in btk.feed.links}["self"] == (
        "https://lab.example.org/litwatch/btk-inhibitors-in-itp.xml"
    )
    assert [e.id for e in btk.entries] == ["tag:litwatch,2026:pmid:41100001", "tag:litwatch,2026:pmid:41100002"]
    entry = btk.entries[0]
    assert entry.title == "Zanubrutinib & <ITP>: in vivo"
    assert entry.link == "https://pubmed.ncbi.nlm.nih.gov/41100001/"
    assert [a.name for a in entry.authors] == ["Zhang W", "Li N", "Chen H"]
    assert "Am J Hematol" in entry.summary and "Found by the watch “BTK inhibitors in ITP”" in entry.summary
    assert entry.summary.endswith("…"), "long abstracts are cut"
    assert entry.updated_parsed and entry.published_parsed
    assert btk.entries[1].get("authors") is None and btk.feed.author == "litwatch", "no authors: the feed's"
    assert all(len(e.links) == 1 for e in btk.entries), "one alternate link per entry, as Atom requires"

    rilza = parse(folder / "rilzabrutinib.xml")
    assert [e.id for e in rilza.entries] == ["tag:litwatch,2026:pmid:41100001"], "the same id in every feed"

    citations = parse(folder / "citations.xml")
    assert [e.id for e in citations.entries] == ["tag:litwatch,2026:pmid:41100003"]
    assert "Cites Wang L 2025, “A Case Series" in citations.entries[0].summary

    # a run with nothing new rewrites the same entries
    before = (folder / "btk-inhibitors-in-itp.xml").read_bytes()
    assert litwatch("run", "--config", str(cfg)).code == 0
    again = parse(folder / "btk-inhibitors-in-itp.xml")
    assert [e.id for e in again.entries] == [e.id for e in btk.entries]
    assert again.entries[0].updated == entry.updated
    assert (folder / "btk-inhibitors-in-itp.xml").read_bytes() == before


def test_backfilled_hits_are_in_the_feed_and_entries_are_capped(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    recent = [str(41200000 + i) for i in range(4)]
    for i, pmid in enumerate(recent):
        add_itp_article(ncbi, pmid, days_ago=1 + i)
    ncbi.add_search(Q_BTK, recent)
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK)],
                          extra='[feed]\nfolder = "out/feeds"\nentries = 3\n')
    cfg.write_text(cfg.read_text().replace('name = "BTK inhibitors in ITP"', 'name = "BTK inhibitors in ITP"\nbackfill_days = 30'))
    assert litwatch("run", "--config", str(cfg)).code == 0
    feed = parse(tmp_path / "out" / "feeds" / "btk-inhibitors-in-itp.xml")
    assert len(feed.entries) == 3
    assert all(link.rel != "self" for link in feed.feed.links), "no base_url: no self link"


def test_a_feed_failure_is_reported_and_the_digest_still_goes_out(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = setup(tmp_path, ncbi, smtp)
    (tmp_path / "feeds").write_text("a file where the folder should be")
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "feeds not updated" in r.err
    assert len(smtp.received) == 1, "the digest was delivered all the same"
    (tmp_path / "feeds").unlink()
    assert litwatch("run", "--config", str(cfg)).code == 0
    parse(tmp_path / "feeds" / "citations.xml")


def test_feed_file_names(tmp_path: Path, ncbi) -> None:  # noqa: ANN001
    assert slug("BTK inhibitors in ITP") == "btk-inhibitors-in-itp"
    assert slug("Rilzabrutinib (PRN1008), any indication!") == "rilzabrutinib-prn1008-any-indication"
    assert slug("日本語") == "watch"
    cfg = scenario_config(
        tmp_path, ncbi,
        watches=[("BTK inhibitors", "a"), ("BTK-inhibitors", "b"), ("Citations", "c"), ("日本語", "d")],
        extra='[feed]\nfolder = "feeds"\n',
    )
    names = feed_files(load_config(cfg))
    assert names["BTK inhibitors"] == "btk-inhibitors"
    assert names["BTK-inhibitors"].startswith("btk-inhibitors-") and len(set(names.values())) == 4
    assert names["Citations"] != "citations" and names["日本語"] == "watch"


def test_feed_table_is_strict(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, extra='[feed]\nfolder = "feeds"\nformat = "rss"\n')
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 2 and "feed.format: unknown key" in r.err
    cfg = scenario_config(tmp_path, ncbi, extra="[feed]\n")
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 2 and "feed.folder: required key is missing" in r.err
