"""watchers.spool: the records a run fetched, kept in memory and then in a temporary file."""

from __future__ import annotations

from litwatch.watchers.articles import Article, ArticleRecord
from litwatch.watchers.spool import ArticleSpool


def record(pmid: str, title: str = "") -> ArticleRecord:
    return ArticleRecord.of(Article(pmid=pmid, title_html=title or f"Über <i>{pmid}</i>", entrez_date="2026-11-20"))


def test_records_past_the_memory_limit_go_to_a_file_and_come_back_whole() -> None:
    spool = ArticleSpool(in_memory=3)
    records = [record(str(100 + k)) for k in range(10)]
    spool.update(records)
    assert len(spool) == 10 and list(spool) == [r.pmid for r in records]
    assert len(spool._memory) == 3 and spool._file is not None, "seven on disk"
    assert [r for batch in spool.batches(size=4) for r in batch] == records
    assert [len(b) for b in spool.batches(size=4)] == [3, 4, 3]
    assert spool.record("108") == records[8]
    assert spool.get("108") == records[8].article()
    assert spool.get("999") is None and "999" not in spool and "105" in spool
    spool.close()
    assert len(spool) == 0 and spool._file is None


def test_a_record_fetched_twice_the_later_one_wins() -> None:
    spool = ArticleSpool(in_memory=1)
    spool.update([record("1", "old one"), record("2", "old two")])
    spool.update([record("1", "new one"), record("2", "new two")])
    assert len(spool) == 2
    assert [spool.get(p).title for p in ("1", "2")] == ["new one", "new two"]  # type: ignore[union-attr]
    assert [r.pmid for batch in spool.batches() for r in batch] == ["1", "2"]
