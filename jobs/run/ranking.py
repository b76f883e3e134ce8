"""Ranking a recipient's digest: their reference set gathered from the store and the config, then the
pure scoring of notifications/ranking.py.

The reference set of a reader: the tracked papers, the papers they rated up (watchers/ratings.py) and
their library file (`[[recipient]] library`); their negative set: the papers they rated down.  A
rating takes effect here, at the next digest.  A library file that cannot be used is one line (logged,
and a note in the digest) and the digest goes out ranked without it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from litwatch.jobs.config import Config, RecipientConfig
from litwatch.notifications.model import Digest, WatchNote
from litwatch.notifications.ranking import ReaderProfile, Reference, Weights, article_text, rank_digest
from litwatch.watchers.articles import Article
from litwatch.watchers.library import LibraryError, LibraryPaper, load_library
from litwatch.watchers.ratings import ratings_of
from litwatch.watchers.store import Store

log = logging.getLogger("litwatch.rank")

RANKING_NOTE = "Ranking"
MAX_REFERENCES = 2000  # the newest references kept per reader (a library of 20,000 papers is sampled)


def weights_of(config: Config) -> Weights:
    r = config.ranking
    return Weights(
        title=r.title,
        abstract=r.abstract,
        mesh=r.mesh,
        design=r.design,
        similarity=r.similarity,
        dissimilarity=r.dissimilarity,
        author=r.author,
        journal=r.journal,
        recency=r.recency,
        half_life_days=r.half_life_days,
        model=r.model,
        model_min_ratings=r.model_min_ratings,
    )


def wants_ranking(config: Config, r: RecipientConfig) -> bool:
    return config.ranking.enabled and r.rank


def _text(article: Article) -> str:
    return article_text(article)


def profile_for(config: Config, store: Store, r: RecipientConfig) -> tuple[ReaderProfile, list[str]]:
    """The reader's profile, and one-line problems (a library file that cannot be used)."""
    problems: list[str] = []
    ratings = ratings_of(store, r.email)
    tracked = [t.pmid for t in store.tracked.all()]
    library: list[LibraryPaper] = []
    if r.library:
        path = config.resolve(r.library)
        try:
            library = load_library(path)
        except LibraryError as exc:
            problems.append(f"{exc}; this digest is ranked without it")
    wanted = set(tracked) | {x.pmid for x in ratings} | {p.pmid for p in library if p.pmid}
    articles = store.articles.get(wanted)
    up = {x.pmid for x in ratings if x.value > 0}
    down = {x.pmid for x in ratings if x.value < 0}
    positives: list[Reference] = []
    negatives: list[Reference] = []
    for x in ratings:
        a = articles.get(x.pmid)
        if a is None:
            continue
        if x.pmid in up:
            positives.append(Reference(x.pmid, _text(a), f"PMID {x.pmid} you rated up", rated=True))
        else:
            negatives.append(Reference(x.pmid, _text(a), f"PMID {x.pmid} you rated down", rated=True))
    for pmid in tracked:
        a = articles.get(pmid)
        if a is not None and pmid not in up and pmid not in down:
            positives.append(Reference(pmid, _text(a), f"your tracked PMID {pmid}"))
    seen = {ref.key for ref in positives} | down
    for paper in library:
        stored = articles.get(paper.pmid) if paper.pmid else None
        text = _text(stored) if stored is not None else paper.text
        key = paper.pmid or paper.title
        if not text.strip() or key in seen:
            continue
        seen.add(key)
        positives.append(Reference(key, text, f"{paper.label} in your library"))
    if library and not any(ref.label.endswith("in your library") for ref in positives):
        problems.append(
            f"{config.resolve(r.library or '')}: none of its papers has a title or abstract litwatch knows "
            "(PMIDs are looked up at the next run)"
        )
    profile = ReaderProfile(
        positives=tuple(positives[-MAX_REFERENCES:]),
        negatives=tuple(negatives[-MAX_REFERENCES:]),
        authors=tuple(r.authors),
        journals=tuple(r.journals),
    )
    return profile, problems


def reference_pmids(config: Config, store: Store) -> set[str]:
    """PMIDs of the readers' reference papers that the store lacks (named in a readable library
    file, or rated while PubMed could not be reached): the run fetches and stores them."""
    out: set[str] = set()
    for r in config.recipients():
        if not wants_ranking(config, r):
            continue
        out |= {x.pmid for x in ratings_of(store, r.email)}
        if r.library:
            try:
                out |= {p.pmid for p in load_library(config.resolve(r.library)) if p.pmid}
            except LibraryError:
                continue  # told when the digest is ranked
    return out - store.articles.known(out) if out else out


def rank_for(config: Config, store: Store, r: RecipientConfig, digest: Digest) -> Digest:
    """`digest` ranked for the reader (unchanged when ranking is off for them)."""
    if not wants_ranking(config, r):
        return digest
    profile, problems = profile_for(config, store, r)
    for problem in problems:
        log.warning("%s: %s", r.email, problem)
    ranked = rank_digest(digest, profile, weights_of(config), min_score=r.min_score)
    if problems:
        notes = tuple(WatchNote(RANKING_NOTE, p, is_problem=True) for p in problems)
        ranked = replace(ranked, notes=ranked.notes + notes)
    return ranked


def too_many_to_rank(config: Config, r: RecipientConfig, digest: Digest) -> Digest:
    """A digest too large to load in full (a large backfill) is listed newest first, and says so."""
    if not wants_ranking(config, r):
        return digest
    text = f"{len(digest.entries)} articles are too many to rank in one digest; they are listed newest first."
    return replace(digest, notes=digest.notes + (WatchNote(RANKING_NOTE, text),))
