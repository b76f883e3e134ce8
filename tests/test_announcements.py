"""Typed announcements: one encode/decode, names that round-trip, and the conversion of queue rows
written before schema version 3."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import litwatch.watchers.store.schema as store_module
from litwatch.notifications.digest import build_digest
from litwatch.watchers.announcements import Citation, Correction, Hit, Note, decode, encode
from litwatch.watchers.store import SCHEMA_VERSION, open_store

ODD = "ITP | BTK"  # a watch name with the old separator in it

ITEMS = [
    Hit("41000001", ODD),
    Citation("41000002", "39973148"),
    Correction("39973148", "RetractionIn", "41999999", "Blood. 2026|1:1"),
    Note(ODD, "The query changed | 3 hits it adds are stored as the new baseline.", False, 7),
    Note(None, "PMID 1 is not in PubMed; it is not tracked.", True, 7),
]


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: type(i).__name__)
def test_every_item_round_trips_through_its_columns(item) -> None:  # noqa: ANN001
    assert decode(*encode(item)) == item


def test_a_watch_named_with_a_bar_keeps_its_notes_through_the_store(tmp_path: Path, store_url: str | None) -> None:
    with open_store(path=tmp_path / "litwatch.db", url=store_url) as store:
        run_id = store.runs.start()
        with store.transaction():
            store.queue.add("a@example.org", ITEMS, run_id)
        assert [q.item for q in store.queue.pending("a@example.org")] == ITEMS
    digest = build_digest("a@example.org", ITEMS, {}, created=datetime.now(UTC))
    assert [(n.watch, n.text, n.is_problem) for n in digest.notes] == [
        (ODD, "The query changed | 3 hits it adds are stored as the new baseline.", False),
        ("Tracked papers", "PMID 1 is not in PubMed; it is not tracked.", True),
    ]
    assert digest.corrections[0].notice_source == "Blood. 2026|1:1"


def test_migration_3_converts_old_queue_rows(tmp_path: Path, store_url: str | None, monkeypatch) -> None:  # noqa: ANN001
    with monkeypatch.context() as m:  # a store at schema version 2, with rows in the old encoding
        m.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
        m.setattr(store_module, "SCHEMA_VERSION", 2)
        with open_store(path=tmp_path / "litwatch.db", url=store_url) as store:
            run_id = store.runs.start()
            with store.transaction():
                store.executemany(
                    "INSERT INTO queue (recipient, kind, pmid, reason, run_id) VALUES (?, ?, ?, ?, ?)",
                    [
                        ("a@example.org", "hit", "41000001", "BTK", run_id),
                        ("a@example.org", "citation", "41000002", "39973148", run_id),
                        ("a@example.org", "correction", "39973148", "RetractionIn|41999999|Blood. 2026;1:1", run_id),
                        ("a@example.org", "note", str(run_id), "BTK|First run: 2 current hits.|", run_id),
                        ("a@example.org", "note", str(run_id), "Tracked papers|PMID 1 is not in PubMed.|problem", run_id),
                    ],
                )
    with open_store(path=tmp_path / "litwatch.db", url=store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION >= 3
        assert [q.item for q in store.queue.pending("a@example.org")] == [
            Hit("41000001", "BTK"),
            Citation("41000002", "39973148"),
            Correction("39973148", "RetractionIn", "41999999", "Blood. 2026;1:1"),
            Note("BTK", "First run: 2 current hits.", False, run_id),
            Note(None, "PMID 1 is not in PubMed.", True, run_id),
        ]
        assert store.rows("SELECT pmid FROM queue WHERE kind = 'note'") == [("",), ("",)]
