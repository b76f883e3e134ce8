"""Preprints (issue 16, point 3): plan (observe), record and queue.

A watch with a `preprint_query` searches Europe PMC's preprint index every run (records of type
core, which carry the "Preprint of" link to the journal version in PubMed).  Like a PubMed watch,
its first run is a baseline.  Afterwards:

* a new preprint with no journal version yet is announced as a preprint;
* a preprint (new, or announced before) that Europe PMC now links to a PubMed record is announced
  once as "now published in JOURNAL" with both links: a "published" queue item for the journal
  PMID, which the digest merges with that PMID's own hit entry if the PubMed watch finds it too;
* never when the reader was already sent that PubMed article (as a hit, a citation, or published).
"""

from __future__ import annotations

from dataclasses import replace

from litwatch.jobs.config import Config
from litwatch.jobs.run.outside import PreprintObservation, preprint_work
from litwatch.watchers.announcements import Item, PreprintHit, Published
from litwatch.watchers.store import Store


def plan_preprints(store: Store, obs: PreprintObservation, config: Config) -> set[str]:
    """Decide what each watch announces; returns the journal PMIDs whose records are needed."""
    fetch: set[str] = set()
    for watch, found in obs.results.items():
        first = not store.sources.preprint_baselined(watch)
        stored_keys = store.sources.preprint_hits(watch)
        stored = store.sources.works(stored_keys)
        pubmed_hits = store.watches.hits(watch)
        obs.baseline[watch] = first
        obs.new_keys[watch] = set()
        obs.announce[watch] = set()
        obs.published[watch] = []
        for p in found:
            w = preprint_work(p)
            # a preprint stored under its Europe PMC id keeps that key when a DOI appears
            key = next((k for k, s in stored.items() if s.epmc_id == w.epmc_id), w.key)
            w = replace(w, key=key)
            obs.works[key] = w
            was = stored.get(key)
            if key not in stored_keys:
                obs.new_keys[watch].add(key)
            if first:
                continue
            if not w.published_pmid:
                if key not in stored_keys:
                    obs.announce[watch].add(key)
                continue
            if was is not None and was.published_pmid:
                continue  # its journal version was announced (or known) before
            if was is None and w.published_pmid in pubmed_hits:
                continue  # a new preprint of a paper the watch already found in PubMed
            obs.published[watch].append((w.published_pmid, key))
            fetch.add(w.published_pmid)
    return fetch


def record_preprints(store: Store, obs: PreprintObservation, run_id: int) -> None:
    store.sources.put_works(obs.works.values())
    for watch, keys in obs.new_keys.items():
        store.sources.add_preprint_hits(watch, keys, run_id, baseline=obs.baseline.get(watch, False))
        store.sources.source_ok(f"preprints:{watch}")


def queue_preprints(store: Store, obs: PreprintObservation, recipient: str, mine: list[str]) -> list[Item]:
    """Queue items for one reader of the watches `mine`."""
    queue: list[Item] = []
    journal = {pmid for w in mine for pmid, _ in obs.published.get(w, [])}
    told = store.sources.announced_to_any(recipient, journal) if journal else set()
    for watch in mine:
        queue += [PreprintHit(key, watch) for key in sorted(obs.announce.get(watch, ()))]
        for pmid, key in obs.published.get(watch, []):
            if pmid not in told:
                queue.append(Published(pmid, key, watch))
    return queue
