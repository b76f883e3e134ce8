"""A run in parts: groups of readers, each recorded and delivered while the next is still searched.

A department's run spends minutes asking NCBI, paced, and composing hundreds of digests takes
seconds more.  Instead of composing them all after the last answer, the run takes its readers in
groups (in config order) and searches the groups' watches in that order: as soon as the searches of
a group's watches are answered, its news is fetched, recorded in one transaction and its readers'
digests are sent, while the searches of the next groups go on in the background.

The groups shrink by half (`reader_groups`): the first holds half the readers, the next a quarter,
and so on down to at most `SMALLEST_GROUP` readers, so that little is left to compose after the
last answer, at the cost of about one more efetch per group (a group's new records are fetched
before its digests go).  A run of at most `SMALLEST_GROUP` readers (a lab) is one group: the run
observes everything, records it in one transaction and delivers, as it always did.

A watch belongs to the first group with a reader who follows it, or who follows a watch asking the
same search (one search, one result: its watches are recorded together).  Watches no subscribed
reader follows go with the last group.  What the run learns besides the watches (the tracked papers'
citations and corrections, the notices on sent articles, the preprints) goes with the first group,
queued for every reader: a later group's readers take it with their digest.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from litwatch.watchers.search import SearchResult

SMALLEST_GROUP = 25  # readers: a run of at most this many (a lab) is one group


@dataclass(frozen=True, slots=True)
class ReaderGroup:
    """Readers whose digests go once `watches` (with the earlier groups' watches) are recorded."""

    readers: tuple[str, ...]  # their queue keys (e-mail addresses)
    watches: tuple[str, ...]  # the watches recorded with this group, in config order


def group_sizes(readers: int, smallest: int | None = None) -> list[int]:
    """Half the readers, then half of the rest, ... while more than `smallest` are left."""
    smallest = SMALLEST_GROUP if smallest is None else smallest
    sizes: list[int] = []
    left = readers
    while left > smallest:
        sizes.append((left + 1) // 2)
        left -= sizes[-1]
    return [*sizes, left] if left or not sizes else sizes


def reader_groups(
    readers: Sequence[tuple[str, Sequence[str]]],
    watches: Sequence[str],
    search_of: Mapping[str, Hashable],
    smallest: int | None = None,
) -> list[ReaderGroup]:
    """`readers`: (key, the watches they follow) in config order; `watches`: every watch, in config
    order; `search_of`: watch -> what its search is (watches with the same one are answered
    together).  Every watch lands in exactly one group."""
    with_search: dict[Hashable, list[str]] = {}
    for w in watches:
        with_search.setdefault(search_of[w], []).append(w)
    order = {w: i for i, w in enumerate(watches)}
    placed: set[str] = set()
    groups: list[ReaderGroup] = []
    start = 0
    for size in group_sizes(len(readers), smallest):
        chunk = readers[start : start + size]
        start += size
        mine: set[str] = set()
        for _, followed in chunk:
            for w in followed:
                if w not in placed:
                    mine.update(with_search[search_of[w]])
        placed |= mine
        groups.append(ReaderGroup(tuple(k for k, _ in chunk), tuple(sorted(mine, key=order.__getitem__))))
    rest = tuple(w for w in watches if w not in placed)
    if rest or not groups:
        last = groups.pop() if groups else ReaderGroup((), ())
        groups.append(ReaderGroup(last.readers, tuple(sorted((*last.watches, *rest), key=order.__getitem__))))
    return groups


class Arrivals:
    """The searches' results as they are answered (`found`, from the searching thread), waited for
    by the run (`wait`), which learns of the searches' failure as soon as it happens."""

    def __init__(self) -> None:
        self._results: dict[str, SearchResult] = {}
        self._changed = threading.Condition()

    def found(self, names: Iterable[str], result: SearchResult) -> None:
        with self._changed:
            self._results.update((n, result) for n in names)
            self._changed.notify_all()

    def wait(self, names: Iterable[str], searching: Future[Any]) -> dict[str, SearchResult]:
        """The results of `names`, once all are answered; the searches' error if they fail first."""
        wanted = list(names)
        with self._changed:
            while any(n not in self._results for n in wanted):
                if searching.done():
                    searching.result()  # (their error)
                    missing = [n for n in wanted if n not in self._results]
                    raise RuntimeError(f"the searches ended without a result for {missing[:3]}")
                self._changed.wait(0.5)
            return {n: self._results[n] for n in wanted}

    def ended(self, _: Future[Any]) -> None:
        """(`searching.add_done_callback`): wake `wait` when the searches end, well or not."""
        with self._changed:
            self._changed.notify_all()



HANDOFF = 0.0005  # seconds: the GIL switch interval while a group's digests are composed during the searches


@contextmanager
def prompt_handoffs() -> Iterator[None]:
    """While the searches run and this thread records and composes: a paced request's thread,
    woken at its start time, gets the GIL within half a millisecond, not Python's usual 5 ms (a
    request that leaves late lets the next one, leaving on time, follow it closer than NCBI's
    spacing).  Restored afterwards."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, HANDOFF))
    try:
        yield
    finally:
        sys.setswitchinterval(before)
