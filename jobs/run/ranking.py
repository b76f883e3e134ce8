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
from litwatch.notifications.ranking import (
    ReaderProfile,
    Reference,
    TermRows,
    Weights,
    article_text,
    rank_digest,
)
from litwatch.watchers.articles import Article
from litwatch.watchers.library import LibraryError, LibraryPaper, load_library
from litwatch.watchers.ratings import ratings_of
from litwatch.watchers.store import Store

log = logging.getLogger("litwatch.rank")

RANKING_NOTE = "Ranking"
MAX_REFERENCES = 2000  # references of each kind kept per reader (a library of 20,000 papers is sampled)


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


class Ranking:
    """A run's ranking of its digests.  What the readers share is loaded and vectorised once per
    run: the tracked papers (every reader's references: a department's 5,000 would otherwise be
    read from the store and vectorised again for each of its 500 readers) and each reference's
    term vector (`TermRows`)."""

    TRACKED_CHUNK = 500  # tracked records decoded at a time (only their texts are kept)

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.weights = weights_of(config)
        self.rows = TermRows()
        self._tracked: list[str] | None = None
        self._references: dict[str, Reference] = {}
        self._tails: dict[int, list[Reference]] = {}  # readers without ratings share their tail

    def tracked(self) -> list[str]:
        """The tracked papers the store holds a record of, in the store's order (read once)."""
        if self._tracked is None:
            pmids = [t.pmid for t in self.store.tracked.all()]
            known = self.store.articles.known(pmids)
            self._tracked = [p for p in pmids if p in known]
        return self._tracked

    def _tracked_tail(self, count: int, rated: set[str]) -> list[Reference]:
        """The last `count` tracked papers not in `rated`, as references in the store's order.  Only
        these records are read (a reader's references are capped at MAX_REFERENCES: most of a
        department's 5,000 tracked papers are never needed), each once a run."""
        if count <= 0:
            return []
        if not rated and count in self._tails:
            return self._tails[count]
        tail = [p for p in self.tracked() if p not in rated][-count:] if rated else self.tracked()[-count:]
        missing = [p for p in tail if p not in self._references]
        for k in range(0, len(missing), self.TRACKED_CHUNK):
            articles = self.store.articles.get(missing[k : k + self.TRACKED_CHUNK])
            for p, a in articles.items():
                self._references[p] = Reference(p, _text(a), f"your tracked PMID {p}")
        refs = [self._references[p] for p in tail if p in self._references]
        if not rated:
            self._tails[count] = refs
        return refs

    def profile(self, r: RecipientConfig) -> tuple[ReaderProfile, list[str]]:
        """The reader's profile, and one-line problems (a library file that cannot be used)."""
        config, store = self.config, self.store
        problems: list[str] = []
        ratings = ratings_of(store, r.email)
        library: list[LibraryPaper] = []
        if r.library:
            path = config.resolve(r.library)
            try:
                library = load_library(path)
            except LibraryError as exc:
                problems.append(f"{exc}; this digest is ranked without it")
        articles = store.articles.get({x.pmid for x in ratings} | {p.pmid for p in library if p.pmid})
        up = {x.pmid for x in ratings if x.value > 0}
        down = {x.pmid for x in ratings if x.value < 0}
        rated_up: list[Reference] = []
        negatives: list[Reference] = []
        for x in ratings:
            a = articles.get(x.pmid)
            if a is None:
                continue
            if x.pmid in up:
                rated_up.append(Reference(x.pmid, _text(a), f"PMID {x.pmid} you rated up", rated=True))
            else:
                negatives.append(Reference(x.pmid, _text(a), f"PMID {x.pmid} you rated down", rated=True))
        rated = up | down
        in_library: list[Reference] = []
        if library:
            seen = {ref.key for ref in rated_up} | {p for p in self.tracked() if p not in rated} | down
            for paper in library:
                stored = articles.get(paper.pmid) if paper.pmid else None
                text = _text(stored) if stored is not None else paper.text
                key = paper.pmid or paper.title
                if not text.strip() or key in seen:
                    continue
                seen.add(key)
                in_library.append(Reference(key, text, f"{paper.label} in your library"))
            if not in_library:
                problems.append(
                    f"{config.resolve(r.library or '')}: none of its papers has a title or abstract litwatch knows "
                    "(PMIDs are looked up at the next run)"
                )
        # At most MAX_REFERENCES of each kind: the reader's own ratings first (the newest), then the
        # last tracked and library papers (the library's after the tracked ones).
        rated_up = rated_up[-MAX_REFERENCES:]
        room = MAX_REFERENCES - len(rated_up)
        others = self._tracked_tail(room - len(in_library), rated) + in_library
        profile = ReaderProfile(
            positives=tuple(rated_up) + (tuple(others[-room:]) if room > 0 else ()),
            negatives=tuple(negatives[-MAX_REFERENCES:]),
            authors=tuple(r.authors),
            journals=tuple(r.journals),
        )
        return profile, problems

    def rank(self, r: RecipientConfig, digest: Digest) -> Digest:
        """`digest` ranked for the reader (unchanged when ranking is off for them)."""
        if not wants_ranking(self.config, r):
            return digest
        profile, problems = self.profile(r)
        for problem in problems:
            log.warning("%s: %s", r.email, problem)
        ranked = rank_digest(digest, profile, self.weights, min_score=r.min_score, rows=self.rows)
        if problems:
            notes = tuple(WatchNote(RANKING_NOTE, p, is_problem=True) for p in problems)
            ranked = replace(ranked, notes=ranked.notes + notes)
        return ranked


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


def too_many_to_rank(config: Config, r: RecipientConfig, digest: Digest) -> Digest:
    """A digest too large to load in full (a large backfill) is listed newest first, and says so."""
    if not wants_ranking(config, r):
        return digest
    text = f"{len(digest.entries)} articles are too many to rank in one digest; they are listed newest first."
    return replace(digest, notes=digest.notes + (WatchNote(RANKING_NOTE, text),))
