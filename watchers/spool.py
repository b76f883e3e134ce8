"""`ArticleSpool`: the records a run fetched, held until they are stored, in flat memory.

A run asks NCBI everything first and writes it all in one transaction afterwards, so the fetched
records must be kept somewhere in between.  A backfill can fetch 50,000 of them (some 7 KB each
as objects): the spool keeps the first `in_memory` in a dict and pickles the rest to an anonymous
temporary file (deleted when closed), remembering where each one is.  It reads like a mapping of
PMID -> Article; `batches()` streams them back for storing.
"""

from __future__ import annotations

import contextlib
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from watchers.articles import Article

IN_MEMORY = 2000  # records kept as objects before the spool goes to disk


class ArticleSpool:
    """PMID -> Article, the first `in_memory` in memory, the rest in a temporary file."""

    def __init__(self, in_memory: int = IN_MEMORY) -> None:
        self.in_memory = in_memory
        self._memory: dict[str, Article] = {}
        self._where: dict[str, tuple[int, int]] = {}  # pmid -> (offset, length) in the file
        self._file: IO[bytes] | None = None
        self._end = 0

    # -- writing ----------------------------------------------------------------------------------

    def __setitem__(self, pmid: str, article: Article) -> None:
        if pmid in self._memory or (len(self._memory) < self.in_memory and pmid not in self._where):
            self._memory[pmid] = article
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="litwatch-spool-")  # noqa: SIM115 - closed by close()
        data = pickle.dumps(article, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.seek(self._end)
        self._file.write(data)
        self._where[pmid] = (self._end, len(data))  # a record fetched twice: the later one wins
        self._end += len(data)

    def add(self, articles: Iterable[Article]) -> None:
        for article in articles:
            self[article.pmid] = article

    # -- reading ----------------------------------------------------------------------------------

    def __contains__(self, pmid: object) -> bool:
        return pmid in self._memory or pmid in self._where

    def __len__(self) -> int:
        return len(self._memory) + len(self._where)

    def __iter__(self) -> Iterator[str]:
        yield from self._memory
        yield from self._where

    def __getitem__(self, pmid: str) -> Article:
        article = self.get(pmid)
        if article is None:
            raise KeyError(pmid)
        return article

    def get(self, pmid: str, default: Article | None = None) -> Article | None:
        if pmid in self._memory:
            return self._memory[pmid]
        where = self._where.get(pmid)
        if where is None or self._file is None:
            return default
        self._file.seek(where[0])
        return pickle.loads(self._file.read(where[1]))

    def batches(self, size: int = 500) -> Iterator[list[Article]]:
        """Every article, `size` at a time (those on disk read back in file order)."""
        batch = list(self._memory.values())
        for start in range(0, len(batch), size):
            yield batch[start : start + size]
        if self._file is None:
            return
        out: list[Article] = []
        for offset, length in sorted(self._where.values()):
            self._file.seek(offset)
            out.append(pickle.loads(self._file.read(length)))
            if len(out) >= size:
                yield out
                out = []
        if out:
            yield out

    def values(self) -> Iterator[Article]:
        for batch in self.batches():
            yield from batch

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory.clear()
        self._where.clear()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown, anything may be gone
            self.close()
