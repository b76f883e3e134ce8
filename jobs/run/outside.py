"""Citations and preprints from outside PubMed (issue 16, points 2 and 3): the observe and record
steps for the cited-by sources (PubMed, iCite, Europe PMC, OpenAlex) and for preprints, and the
work references a digest needs.

Citing works from every source are made one: by PMID first, then by DOI (a work OpenAlex knows with
both joins a DOI-only one), then by a key already stored for the DOI or Europe PMC id.  Each source
that answered is recorded with the pairs it knows (the digest names every source that knows a
citing work); a source that failed is left out of this run (its pairs are neither baselined nor
announced, its health records the error) and catches up at the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from litwatch.jobs.config import Config
from litwatch.notifications.model import WorkRef
from litwatch.watchers.announcements import Item, PreprintHit, Published, WorkCitation
from litwatch.watchers.citing import CitingWork
from litwatch.watchers.entrez import EntrezClient, EntrezError
from litwatch.watchers.europepmc import EuropePMCClient, Preprint
from litwatch.watchers.icite import ICiteClient, ICiteError
from litwatch.watchers.jsonapi import ServiceError
from litwatch.watchers.openalex import OpenAlexClient
from litwatch.watchers.store import Store
from litwatch.watchers.store.sources import Work

log = logging.getLogger("litwatch.run")

SOURCE_NAMES = {"pubmed": "PubMed", "icite": "iCite", "europepmc": "Europe PMC", "openalex": "OpenAlex"}
OPENALEX_RELOOK_DAYS = 7  # a paper OpenAlex did not know is asked about again after this


@dataclass
class Clients:
    """The outside services' clients (None: not configured)."""

    icite: ICiteClient | None = None
    europepmc: EuropePMCClient | None = None
    openalex: OpenAlexClient | None = None

    def requests(self) -> int:
        return sum(c.requests_made for c in (self.icite, self.europepmc, self.openalex) if c is not None)

    def close(self) -> None:
        for c in (self.icite, self.europepmc, self.openalex):
            if c is not None:
                c.close()


@dataclass
class CitationSources:
    """What the cited-by sources said this run."""

    found: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # source -> paper -> citing keys
    works: dict[str, Work] = field(default_factory=dict)  # non-PubMed citing works, by key
    ok: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    openalex_ids: dict[str, str] = field(default_factory=dict)  # newly looked up: pmid -> W ("" unknown)
    epmc_counts: dict[str, int] = field(default_factory=dict)  # Europe PMC's citedByCount of each paper


def observe_citations(
    config: Config, store: Store, papers: set[str], entrez: EntrezClient, clients: Clients
) -> CitationSources:
    """Ask every configured cited-by source; a failing source is noted, never fatal."""
    out = CitationSources()
    sources = config.tracked.sources
    raw: dict[str, dict[str, list[CitingWork]]] = {}

    def attempt(name: str, ask: Callable[[], Mapping[str, Any]]) -> None:
        try:
            result = ask()
        except (EntrezError, ICiteError, ServiceError) as exc:
            out.errors[name] = str(exc)
            log.warning("%s failed: %s; its citations wait for the next run", SOURCE_NAMES[name], exc)
            return
        out.ok.add(name)
        if name in ("pubmed", "icite"):
            out.found[name] = {p: set(c) for p, c in result.items()}
        else:
            raw[name] = {p: list(ws) for p, ws in result.items()}

    if "pubmed" in sources:
        attempt("pubmed", lambda: entrez.cited_by(papers))
    icite, epmc, oa = clients.icite, clients.europepmc, clients.openalex
    if "icite" in sources and icite is not None:
        attempt("icite", lambda: icite.cited_by(papers))
    if "europepmc" in sources and epmc is not None:
        attempt("europepmc", lambda: _europepmc_cited_by(store, papers, epmc, out))
    if "openalex" in sources and oa is not None:
        attempt("openalex", lambda: _openalex_cited_by(store, papers, oa, out))

    # one key per work: PMID, then a DOI that another source ties to a PMID, then a stored key
    every = [w for per in raw.values() for ws in per.values() for w in ws]
    doi_pmid = {w.doi: w.pmid for w in every if w.pmid and w.doi}
    loose = [w for w in every if not w.pmid and not doi_pmid.get(w.doi)]
    by_doi = store.sources.works_by_doi({w.doi for w in loose if w.doi})
    by_epmc = store.sources.works_by_epmc({w.epmc_id for w in loose if w.epmc_id})

    def key_of(w: CitingWork) -> str:
        if w.pmid:
            return w.pmid
        if w.doi and w.doi in doi_pmid:
            return doi_pmid[w.doi]
        if w.doi and w.doi in by_doi:
            return by_doi[w.doi].key
        if w.epmc_id and w.epmc_id in by_epmc:
            return by_epmc[w.epmc_id].key
        return w.key

    for name, per in raw.items():
        found = out.found.setdefault(name, {})
        for paper, ws in per.items():
            keys = found.setdefault(paper, set())
            for w in ws:
                key = key_of(w)
                keys.add(key)
                if not key.isdigit():
                    out.works[key] = _merge(out.works.get(key), w, key)
    return out


def _merge(old: Work | None, w: CitingWork, key: str) -> Work:
    new = Work(key=key, doi=w.doi, epmc_id=w.epmc_id, openalex_id=w.openalex_id, title=w.title, year=w.year,
               venue=w.venue, authors=w.authors, is_preprint=w.is_preprint)
    if old is None:
        return new
    return Work(
        key=key, doi=old.doi or new.doi, epmc_id=old.epmc_id or new.epmc_id,
        openalex_id=old.openalex_id or new.openalex_id, title=old.title or new.title, year=old.year or new.year,
        venue=old.venue or new.venue, authors=old.authors or new.authors, is_preprint=old.is_preprint or new.is_preprint,
    )


def _europepmc_cited_by(
    store: Store, papers: set[str], client: EuropePMCClient, out: CitationSources
) -> dict[str, list[CitingWork]]:
    """Europe PMC's citation counts first (one search per 60 papers); the citing works only of the
    papers whose count changed since the last run (or that were never asked)."""
    counts = {p: 0 for p in papers} | client.cited_counts(papers)  # unknown to Europe PMC: none
    before = store.sources.citation_counts("europepmc", papers)
    unchanged = {p for p, n in counts.items() if before.get(p) == n}
    found = client.cited_by(papers, unchanged=unchanged)
    out.epmc_counts = counts
    return found


def _openalex_cited_by(
    store: Store, papers: set[str], client: OpenAlexClient, out: CitationSources
) -> dict[str, list[CitingWork]]:
    """OpenAlex ids of the papers (cached; free singleton look-ups for new ones), then the works
    citing them, 50 papers per filter call."""
    known = store.sources.openalex_ids(papers)
    cutoff = (datetime.now(UTC) - timedelta(days=OPENALEX_RELOOK_DAYS)).isoformat()
    ids: dict[str, str] = {}
    for p in sorted(papers, key=int):
        wid, when = known.get(p, ("", ""))
        if p not in known or (not wid and when < cutoff):
            wid = client.work_id(p) or ""
            out.openalex_ids[p] = wid
        if wid:
            ids[p] = wid
    citing = client.citing(ids.values())
    return {p: citing.get(w, []) for p, w in ids.items()}


def record_citation_sources(store: Store, src: CitationSources, stamp: str) -> None:
    """Inside the run's transaction: the works, OpenAlex ids, each source's health."""
    store.sources.put_works(src.works.values())
    if src.openalex_ids:
        store.sources.put_openalex_ids(src.openalex_ids)
    if "europepmc" in src.ok and src.epmc_counts:
        store.sources.put_citation_counts("europepmc", src.epmc_counts)
    for name in sorted(src.ok):
        store.sources.source_ok(name, stamp=stamp)
    for name, error in sorted(src.errors.items()):
        store.sources.source_failed(name, error, stamp=stamp)


def source_note(name: str, error: str) -> str:
    return f"{SOURCE_NAMES.get(name, name)} could not be reached ({error}); its citations are looked up again next run."


# -- preprints ----------------------------------------------------------------------------------


@dataclass
class PreprintObservation:
    """What each watch's preprint search found."""

    results: dict[str, list[Preprint]] = field(default_factory=dict)  # watch -> preprints found
    errors: dict[str, str] = field(default_factory=dict)  # watch -> error
    # planned (jobs/run/preprints.py)
    works: dict[str, Work] = field(default_factory=dict)  # every preprint found, by key
    baseline: dict[str, bool] = field(default_factory=dict)  # watch -> first search (a baseline)
    new_keys: dict[str, set[str]] = field(default_factory=dict)  # watch -> preprints new to it
    announce: dict[str, set[str]] = field(default_factory=dict)  # watch -> preprints to announce
    published: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # watch -> (journal PMID, preprint key)


def observe_preprints(config: Config, clients: Clients) -> PreprintObservation:
    obs = PreprintObservation()
    if clients.europepmc is None:
        return obs
    for watch in config.watch:
        if not watch.preprint_query:
            continue
        try:
            obs.results[watch.name] = clients.europepmc.preprints(watch.preprint_query)
        except ServiceError as exc:
            obs.errors[watch.name] = str(exc)
            log.warning("preprints of %r: %s; searched again next run", watch.name, exc)
    return obs


def preprint_work(p: Preprint) -> Work:
    key = ("doi:" + p.doi) if p.doi else ("ppr:" + p.epmc_id)
    return Work(key=key, doi=p.doi, epmc_id=p.epmc_id, title=p.title, year=p.year, venue=p.server, authors=p.authors,
                is_preprint=True, published_pmid=p.published_pmid)


# -- the digest's work references ---------------------------------------------------------------


def work_ref(w: Work) -> WorkRef:
    return WorkRef(key=w.key, title=w.title, url=w.url, doi=w.doi, year=w.year, venue=w.venue, authors=w.authors)


def work_refs(store: Store, items: Iterable[Item]) -> dict[str, WorkRef]:
    """The works the items name (citing works, preprints, preprints of journal versions)."""
    keys: set[str] = set()
    for i in items:
        if isinstance(i, WorkCitation | PreprintHit | Published):
            keys.add(i.work)
    return {k: work_ref(w) for k, w in store.sources.works(keys).items()} if keys else {}
