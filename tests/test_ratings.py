"""Ratings: the storage API (SQLite and PostgreSQL) and `litwatch rate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from litwatch.jobs.config import load_config
from litwatch.watchers.ratings import (
    DOWN,
    UP,
    all_ratings,
    clear_ratings,
    parse_value,
    rating_value,
    ratings_of,
    record_rating,
    undo_rating,
)
from litwatch.watchers.store import open_store
from tests.conftest import Q_BTK, TRACKED, add_itp_article, baseline, pmids_in, scenario_config

A, B = "ann@example.org", "bob@example.org"


def _store(cfg: Path):  # noqa: ANN202
    config = load_config(cfg)
    return open_store(path=config.store_path, url=config.store.url)


def test_storage_api_per_reader(tmp_path: Path, store_url, ncbi) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, recipients=[A, B])
    with _store(cfg) as store:
        assert record_rating(store, A, "41000001", UP, at="2026-11-01T00:00:00+00:00")
        assert not record_rating(store, "Ann@Example.org", "41000001", UP), "same rating again: no change"
        assert record_rating(store, A, "41000002", DOWN, at="2026-11-02T00:00:00+00:00")
        assert record_rating(store, B, "41000002", UP, source="web")
        assert [(r.pmid, r.value) for r in ratings_of(store, A)] == [("41000001", UP), ("41000002", DOWN)]
        assert [(r.pmid, r.value, r.source) for r in ratings_of(store, B)] == [("41000002", UP, "web")]
        assert rating_value(store, A, "41000002") == DOWN and rating_value(store, B, "41000001") is None
        # rating again replaces the old rating
        assert record_rating(store, A, "41000002", UP)
        assert rating_value(store, A, "41000002") == UP and len(ratings_of(store, A)) == 2
        assert undo_rating(store, A, "41000002") and not undo_rating(store, A, "41000002")
        assert [r.pmid for r in ratings_of(store, A)] == ["41000001"]
        assert rating_value(store, B, "41000002") == UP, "the other reader's rating stays"
        assert {(r.recipient, r.pmid) for r in all_ratings(store)} == {(A, "41000001"), (B, "41000002")}
        assert clear_ratings(store, A) == 1 and ratings_of(store, A) == []
        assert len(ratings_of(store, B)) == 1
        with pytest.raises(ValueError):
            record_rating(store, A, "1", 2)
    assert parse_value("up") == UP and parse_value("-1") == DOWN
    with pytest.raises(ValueError):
        parse_value("sideways")


def test_rate_command(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ids = baseline(ncbi, n=5)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42000001", days_ago=0)
    ncbi.add_search(Q_BTK, [*ids, "42000001"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert "42000001" in pmids_in(smtp.messages()[-1])

    r = litwatch("rate", "up", "42000001", "--config", str(cfg))
    assert r.code == 0, r.err
    assert "rated up: 42000001" in r.out and "never sent" not in r.out
    # a PMID never sent: allowed, with a note
    r = litwatch("rate", "down", ids[1], "--config", str(cfg))
    assert r.code == 0 and "rated down" in r.out and "never sent to haematology@example.org" in r.out
    # a PMID the store lacks is fetched from PubMed and rated
    add_itp_article(ncbi, "42000999", days_ago=900)
    r = litwatch("rate", "up", "42000999", "--config", str(cfg))
    assert r.code == 0 and "rated up: 42000999 Zanubrutinib" in r.out
    # not in PubMed: not rated, exit 1
    r = litwatch("rate", "up", "49999999", "--config", str(cfg))
    assert r.code == 1 and "not in PubMed" in r.err

    r = litwatch("rate", "list", "--json", "--config", str(cfg))
    rows = json.loads(r.out)
    assert sorted((x["pmid"], x["rating"]) for x in rows) == [(ids[1], "down"), ("42000001", "up"), ("42000999", "up")]
    assert all(x["recipient"] == "haematology@example.org" and x["title"].startswith("Zanubrutinib") for x in rows)
    r = litwatch("rate", "list", "--config", str(cfg))
    assert "up    42000001" in r.out

    assert litwatch("rate", "undo", ids[1], "--config", str(cfg)).code == 0
    r = litwatch("rate", "undo", ids[1], "--config", str(cfg))
    assert r.code == 1 and "was not rated" in r.err
    r = litwatch("rate", "clear", "--config", str(cfg))
    assert r.code == 0 and "2 ratings of haematology@example.org removed" in r.out
    assert litwatch("rate", "list", "--config", str(cfg)).out.strip() == "no ratings"


def test_rate_command_errors(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, recipients=[A, B])
    r = litwatch("rate", "up", TRACKED, "--config", str(cfg))
    assert r.code == 2 and r.err.count("\n") == 1 and "2 recipients" in r.err, "no default among two"
    r = litwatch("rate", "up", TRACKED, "--recipient", "nobody@example.org", "--config", str(cfg))
    assert r.code == 2 and r.err == f"litwatch: --recipient: nobody@example.org is not a recipient in {cfg.resolve()}\n"
    r = litwatch("rate", "up", "12ab", "--recipient", A, "--config", str(cfg))
    assert r.code == 2 and "not a PMID: '12ab'" in r.err
    with pytest.raises(SystemExit) as exc:
        litwatch("rate", "sideways", TRACKED, "--config", str(cfg))
    assert exc.value.code == 2
    r = litwatch("rate", "list", "--config", str(cfg))
    assert r.code == 0 and r.out.strip() == "no ratings", "list without --recipient: everyone's"


def test_history_shows_the_readers_rating(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ids = baseline(ncbi, n=3)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, store_url=store_url)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "42000001", days_ago=0)
    add_itp_article(ncbi, "42000002", days_ago=0)
    ncbi.add_search(Q_BTK, [*ids, "42000001", "42000002"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert litwatch("rate", "down", "42000002", "--config", str(cfg)).code == 0
    first, record = json.loads(litwatch("history", "--json", "--config", str(cfg)).out)
    assert first["items"] == [], "the first run's digest held the baseline note only"
    rating = {i["pmid"]: i.get("rating") for i in record["items"]}
    assert rating == {"42000001": None, "42000002": "down"}
    assert "rated down" in litwatch("history", "--config", str(cfg)).out


def test_rating_while_pubmed_is_unreachable_then_the_next_run_fetches_it(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    from tests.conftest import db_rows, free_port

    baseline(ncbi, n=3)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, retries=0)
    good = cfg.read_text(encoding="utf-8")
    cfg.write_text(good.replace(ncbi.base_url, f"http://127.0.0.1:{free_port()}/"), encoding="utf-8")
    r = litwatch("rate", "up", "42000777", "--config", str(cfg))
    assert r.code == 0, r.err
    assert "rated up: 42000777" in r.out and "the record of PMID 42000777 could not be fetched" in r.out
    assert db_rows(cfg, "SELECT pmid FROM articles WHERE pmid = ?", ("42000777",)) == []
    cfg.write_text(good, encoding="utf-8")
    add_itp_article(ncbi, "42000777", days_ago=800)
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert db_rows(cfg, "SELECT pmid FROM articles WHERE pmid = ?", ("42000777",)) == [("42000777",)], "fetched by the run"
