"""NCBI etiquette: jobs of more than about 100 E-utilities requests belong on weekends or between
21:00 and 05:00 US Eastern time (https://www.ncbi.nlm.nih.gov/books/NBK25497/).

`estimate_requests` and `is_off_peak` are pure (unit-tested with fixed datetimes);
`advice_for_run` reads the store and the config and returns the one warning line, or None.
Only E-utilities requests are counted: iCite is another service with its own limits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litwatch.watchers.entrez import FETCH_BATCH, LINK_BATCH, MAX_SEARCH_POSITION

log = logging.getLogger("litwatch.etiquette")

EASTERN = "America/New_York"
LARGE_JOB = 100  # requests: NCBI's "more than about 100"
OFF_PEAK_FROM, OFF_PEAK_UNTIL = 21, 5  # hours, US Eastern

# A search of more than 9,999 hits is split by Entrez date into pieces about 3/4 full
# (watchers.search.FILL): one esearch per piece, plus the first one that tells the count.
_PIECE = int(0.75 * MAX_SEARCH_POSITION)
# What the first run of a watch with backfill_days adds: the backfill search and the fetch of
# what it announces.  (The size of a search never run is unknown: counted as one request.)
FIRST_RUN = 2


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """What is known of a watch before a run."""

    last_count: int | None  # hits at the last run (None: never run, or the count is unknown)
    first_run: bool = False
    backfill: bool = False


def search_requests(count: int | None) -> int:
    """esearch requests to collect every id of a search with `count` hits."""
    if count is None or count <= MAX_SEARCH_POSITION:
        return 1
    return 1 + math.ceil(count / _PIECE)


def estimate_requests(watches: Iterable[WatchPlan], tracked: int, *, fetch_new: int = 0) -> int:
    """E-utilities requests a run is expected to make.

    Per watch: its searches (more than one past 9,999 hits), plus a backfill search and a fetch on
    a first run.  Tracked papers: one elink per 300 papers and one efetch per 400 re-checked (all
    assumed due), plus one fetch of new citing papers.  `fetch_new`: records known to be fetched.
    """
    total = 0
    for w in watches:
        total += search_requests(w.last_count)
        if w.first_run and w.backfill:
            total += FIRST_RUN
    if tracked:
        total += math.ceil(tracked / LINK_BATCH) + math.ceil(tracked / FETCH_BATCH) + 1
    total += math.ceil(fetch_new / FETCH_BATCH) if fetch_new else 0
    return total


def is_off_peak(when: datetime) -> bool:
    """Weekend, or 21:00-05:00, in US Eastern time (when NCBI wants large jobs)."""
    if when.tzinfo is None:
        raise ValueError("is_off_peak needs an aware datetime")
    eastern = when.astimezone(ZoneInfo(EASTERN))
    return eastern.weekday() >= 5 or eastern.hour >= OFF_PEAK_FROM or eastern.hour < OFF_PEAK_UNTIL


def advice(requests: int, when: datetime) -> str | None:
    """The warning line for a run of `requests` starting at `when`, or None when it is fine."""
    if requests <= LARGE_JOB or is_off_peak(when):
        return None
    eastern = when.astimezone(ZoneInfo(EASTERN))
    return (
        f"this run is expected to make about {requests} NCBI requests at {eastern:%a %H:%M} US Eastern; "
        f"NCBI asks jobs of more than {LARGE_JOB} requests to run on weekends or between "
        f"{OFF_PEAK_FROM:02d}:00 and {OFF_PEAK_UNTIL:02d}:00 US Eastern (see [schedule] cron)"
    )


def plan(config, store) -> tuple[list[WatchPlan], int]:  # noqa: ANN001 - Config, Store
    """The watches and number of tracked papers of the next run, from the config and the store."""
    counts = store.watches.counts()
    plans = []
    for w in config.watch:
        first = w.name not in counts
        plans.append(WatchPlan(last_count=counts.get(w.name), first_run=first, backfill=bool(w.backfill_days)))
    tracked = {t.pmid for t in store.tracked.all()} | set(config.tracked.pmids)
    return plans, len(tracked)


def advice_for_run(config, store, when: datetime) -> str | None:  # noqa: ANN001
    """One line to warn with before a run, or None.  Never raises: etiquette must not stop a run."""
    try:
        watches, tracked = plan(config, store)
        return advice(estimate_requests(watches, tracked), when)
    except ZoneInfoNotFoundError:
        log.debug("no time zone data for %s; cannot tell NCBI's off-peak hours", EASTERN)
    except Exception as exc:  # noqa: BLE001
        log.debug("could not estimate this run's requests: %s", exc)
    return None
