"""Composer.digest (jobs/run/compose.py): a digest of a huge queue (a large backfill) loads in full only the records
it lists or attaches, and is otherwise the digest of the whole queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from litwatch.jobs.config import load_config
from litwatch.jobs.parts import make_clock
from litwatch.jobs.run import compose
from litwatch.jobs.run.compose import Composer
from litwatch.watchers.announcements import Citation, Correction, Hit
from litwatch.watchers.articles import Article, ArticleRecord, Author
from litwatch.watchers.store import open_store
from tests.conftest import TRACKED, scenario_config

WATCHES = ("BTK inhibitors in ITP", "Rilzabrutinib")


def article(pmid: str, day: int) -> Article:
    return Article(
        pmid=pmid,
        title_html=f"Title of <i>{pmid}</i>",
        authors=(Author(last_name="Smith", fore_name="Ann", initials="A"),),
        journal="Blood",
        entrez_date=f"2026-11-{day:02d}",
    )


def test_a_huge_digest_equals_the_whole_one_and_loads_only_its_head(
    tmp_path: Path, ncbi, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    # unranked: a ranked digest this large is listed newest first with a note (tests/test_ranking.py)
    config = load_config(scenario_config(tmp_path, ncbi, extra="[ranking]\nenabled = false"))
    store = open_store(path=tmp_path / "digest.db")
    hits = [str(41_000_000 + k) for k in range(12)]
    citing = ["41000100", "41000101"]
    with store.transaction():
        store.articles.put(ArticleRecord.of(article(p, 1 + k % 9)) for k, p in enumerate(hits + citing))
        store.articles.put([ArticleRecord.of(article(TRACKED, 3))])
    items = [Hit(p, WATCHES[k % 2]) for k, p in enumerate(hits)]
    items += [Hit(hits[0], WATCHES[1])]  # found by both watches
    items += [Citation(p, TRACKED) for p in citing]
    items += [Correction(TRACKED, "RetractionIn", "41000200", "Blood. 2026;1:1")]
    run = Composer(config, store, make_clock(config))
    recipient = config.recipients()[0]

    whole = run.digest(recipient, items)

    loaded: list[str] = []
    real = store.articles.get

    def articles(pmids):  # noqa: ANN001, ANN202
        pmids = list(pmids)
        loaded.extend(pmids)
        return real(pmids)

    monkeypatch.setattr(store.articles, "get", articles)
    monkeypatch.setattr(compose, "FULL_RECORDS", 4)
    part = run.digest(recipient, items)

    assert len(whole.entries) == 14
    assert [e.article.pmid for e in part.entries] == [e.article.pmid for e in whole.entries], "the same order"
    assert part.entries[:4] == whole.entries[:4], "the head in full, with every reason"
    assert [(e.watches, e.cites) for e in part.entries] == [(e.watches, e.cites) for e in whole.entries]
    assert part.corrections == whole.corrections and part.corrections[0].paper.title == "Title of 39973148"
    assert all(e.article.title_html == "" for e in part.entries[4:]), "stand-ins past the head"
    assert sorted(set(loaded)) == sorted({TRACKED} | {e.article.pmid for e in whole.entries[:4]})
