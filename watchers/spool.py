"""`ArticleSpool`: the records a run fetched, held until they are stored, in flat memory.

A run asks NCBI everything first and writes it all in one transaction afterwards, so the fetched
records must be kept somewhere in between.  A backfill can fetch 50,000 of them: the spool keeps
them in their stored form (`ArticleRecord`: PMID, Entrez date, JSON text), the first `in_memory`
in a dict and the rest in an anonymous temporary file (deleted when closed), remembering where
each one is.  `get` decodes one record into an Article; `batches()` streams the records back for
storing, with no decoding at all.
"""

from __future__ import annotations

import contextlib
import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from litwatch.watchers.articles import Article, ArticleRecord

IN_MEMORY = 2000  # records kept in memory before the spool goes to disk
_LENGTH = struct.Struct("<I")  # the length of each record on disk, before it


class ArticleSpool:
    """PMID -> ArticleRecord, the first `in_memory` in memory, the rest in a temporary file."""

    def __init__(self, in_memory: int = IN_MEMORY) -> None:
        self.in_memory = in_memory
        self._memory: dict[str, ArticleRecord] = {}
        self._where: dict[str, int] = {}  # pmid -> offset in the file, where a length header starts
        self._file: IO[bytes] | None = None
        self._end = 0

    # -- writing ----------------------------------------------------------------------------------

    def add(self, record: ArticleRecord) -> None:
        """Keep `record` (a PMID fetched twice: the later record wins)."""
        pmid = record.pmid
        if pmid in self._memory or (len(self._memory) < self.in_memory and pmid not in self._where):
            self._memory[pmid] = record
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="litwatch-spool-")  # noqa: SIM115 - closed by close()
        data = f"{record.entrez_date}\n{record.data}".encode()
        self._file.seek(self._end)
        self._file.write(_LENGTH.pack(len(data)))
        self._file.write(data)
        self._where[pmid] = self._end  # (an int, not a tuple: 50,000 of them cost 4 MB less)
        self._end += _LENGTH.size + len(data)

    def update(self, records: Iterable[ArticleRecord]) -> None:
        for record in records:
            self.add(record)

    # -- reading ----------------------------------------------------------------------------------

    def __contains__(self, pmid: object) -> bool:
        return pmid in self._memory or pmid in self._where

    def __len__(self) -> int:
        return len(self._memory) + len(self._where)

    def __iter__(self) -> Iterator[str]:
        yield from self._memory
        yield from self._where

    def record(self, pmid: str) -> ArticleRecord | None:
        if pmid in self._memory:
            return self._memory[pmid]
        offset = self._where.get(pmid)
        if offset is None or self._file is None:
            return None
        return self._read(pmid, offset)

    def get(self, pmid: str) -> Article | None:
        """The Article of `pmid` (decoded now), or None."""
        record = self.record(pmid)
        return record.article() if record else None

    def _read(self, pmid: str, offset: int) -> ArticleRecord:
        assert self._file is not None
        self._file.seek(offset)
        (length,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
        entrez_date, _, data = self._file.read(length).decode().partition("\n")
        return ArticleRecord(pmid, entrez_date, data)

    def batches(self, size: int = 500) -> Iterator[list[ArticleRecord]]:
        """Every record, `size` at a time."""
        batch = list(self._memory.values())
        for start in range(0, len(batch), size):
            yield batch[start : start + size]
        if self._file is None:
            return
        out: list[ArticleRecord] = []
        for pmid, offset in self._where.items():
            out.append(self._read(pmid, offset))
            if len(out) >= size:
                yield out
                out = []
        if out:
            yield out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory.clear()
        self._where.clear()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown, anything may be gone
            self.close()
