"""Ranking a reader's digest: one deterministic score per (reader, article), and one line saying why.

Pure: articles, the reader's profile and the weights in; scores out.  No I/O, no clock (the day the
digest is made is passed in), no randomness: the same inputs give the same scores, bit for bit.

The score of an article for a reader is a sum of points (defaults in `Weights`, documented in the
README's "Ranking" section and overridable in `[ranking]`):

  where the watch's terms occur   title 3, else abstract 1.5, else MeSH terms / keywords only 0.5
  study design                    `design` x tier: meta-analysis, systematic review, randomised
                                  phase 3 trial 3; randomised trial, phase 3 trial, guideline 2.5;
                                  phase 2 trial 2; other trials 1.5; cohort and other observational
                                  studies 1; reviews 0.5; case reports -0.5; letters, comments,
                                  editorials -1; errata and retraction notices -2
  similarity to the reference set `similarity` x the cosine similarity (TF-IDF) to the closest of the
                                  reader's positive papers (tracked, rated up, library), minus
                                  `dissimilarity` x that to the closest paper they rated down
  favourite authors / journals    `author` when one of them wrote it, `journal` when it is one of them
  recency                         `recency` x 0.5 ** (age in days / `half_life_days`)
  the reader's own model          `model` x (2p - 1), p the probability of "up" given by a logistic
                                  regression over the text of the papers they rated, once they have
                                  `model_min_ratings` ratings with at least two up and two down

TF-IDF: words (English stop words dropped) hashed into 2**18 columns (murmurhash3, as scikit-learn's
HashingVectorizer: nothing to fit, nothing stored), term frequencies damped (1 + log tf), inverse
document frequencies taken from the articles ranked together, vectors scaled to unit length.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import mmh3
import numpy as np
import numpy.typing as npt

from litwatch.notifications.model import ArticleMemo, Digest, Entry
from litwatch.watchers.articles import Article

__all__ = [
    "Batch",
    "ReaderProfile",
    "ReaderRanker",
    "Reference",
    "Scores",
    "Weights",
    "design_of",
    "rank_digest",
    "term_placement",
]

FloatArray = npt.NDArray[np.float64]
# _sklearn_note: scikit-learn and SciPy are imported where first used, deliberately: importing them
# takes about half a second, which every `litwatch` command would otherwise pay (--help, rate, ...).
# scikit-learn itself (some 60 MB) only for a reader's model: its hash is mmh3's, its stop words are
# read from its source (`_stop_words`).
N_FEATURES = 2**18
SIMILARITY_CHUNK = 64  # articles compared with the references at a time (dense: columns x 64)
SIMILAR_ENOUGH = 0.12  # cosine at which "close to ..." is worth saying
SELF = "\x00self:"  # a closest reference that is the article itself (a paper rated before it was sent)


def _own(label: str) -> str:
    """How the why line says that the article is itself one of the reader's references."""
    if label.endswith("you rated up"):
        return "you rated it up"
    if label.startswith("your tracked"):
        return "one of your tracked papers"
    return "in your library"


@dataclass(frozen=True, slots=True)
class Weights:
    """Points of each signal.  `[ranking]` in the config overrides them."""

    title: float = 3.0
    abstract: float = 1.5
    mesh: float = 0.5
    design: float = 1.0
    similarity: float = 8.0
    dissimilarity: float = 8.0
    author: float = 2.0
    journal: float = 1.0
    recency: float = 1.0
    half_life_days: float = 14.0
    model: float = 5.0
    model_min_ratings: int = 6


@dataclass(frozen=True, slots=True)
class Reference:
    """A paper of the reader's reference set, as the ranker sees it."""

    key: str  # PMID, or a library entry's title
    text: str  # title, abstract, MeSH terms, keywords
    label: str  # how the why line names it: "your tracked PMID 39973148"
    rated: bool = False  # rated up or down (trains the reader's model)


@dataclass(frozen=True, slots=True)
class ReaderProfile:
    """What the ranker knows of one reader."""

    positives: tuple[Reference, ...] = ()  # tracked papers, papers rated up, the library
    negatives: tuple[Reference, ...] = ()  # papers rated down
    authors: tuple[str, ...] = ()  # favourite authors: "Kuter DJ" or a family name "Kuter"
    journals: tuple[str, ...] = ()  # favourite journals: full or ISO abbreviation, any case


# -- study design ---------------------------------------------------------------------------------

_COHORT_MESH = frozenset(
    m.lower()
    for m in (
        "Cohort Studies",
        "Prospective Studies",
        "Retrospective Studies",
        "Longitudinal Studies",
        "Follow-Up Studies",
        "Case-Control Studies",
        "Cross-Sectional Studies",
    )
)


def design_of(article: Article) -> tuple[str, float]:
    """(label, tier points) of the article's study design, from its publication types and MeSH
    descriptors: ('', 0.0) when nothing is known beyond "Journal Article"."""
    types = {t.strip().lower() for t in article.publication_types}
    mesh = {m.strip().lower() for m in article.mesh_headings}
    if types & {"published erratum", "retraction of publication", "expression of concern"}:
        return ("erratum or notice", -2.0)
    rct = "randomized controlled trial" in types
    phase3 = "clinical trial, phase iii" in types
    phase2 = "clinical trial, phase ii" in types
    found: list[tuple[str, float]] = []
    if "meta-analysis" in types:
        found.append(("meta-analysis", 3.0))
    if "systematic review" in types:
        found.append(("systematic review", 3.0))
    if rct and phase3:
        found.append(("randomised phase 3 trial", 3.0))
    elif rct and phase2:
        found.append(("randomised phase 2 trial", 2.5))
    elif rct:
        found.append(("randomised trial", 2.5))
    if phase3 and not rct:
        found.append(("phase 3 trial", 2.5))
    if types & {"practice guideline", "guideline", "consensus development conference"}:
        found.append(("guideline", 2.5))
    if phase2 and not rct:
        found.append(("phase 2 trial", 2.0))
    if types & {"clinical trial, phase iv", "clinical trial, phase i", "controlled clinical trial", "clinical trial",
                "pragmatic clinical trial", "equivalence trial", "adaptive clinical trial"}:
        found.append(("clinical trial", 1.5))
    if "observational study" in types or "multicenter study" in types or mesh & _COHORT_MESH:
        found.append(("cohort study" if "cohort studies" in mesh else "observational study", 1.0))
    if "review" in types:
        found.append(("review", 0.5))
    if found:
        return max(found, key=lambda f: f[1])  # the first of the best: a stable choice
    if "case reports" in types:
        return ("case report", -0.5)
    for kind in ("letter", "comment", "editorial", "news"):
        if kind in types:
            return (kind, -1.0)
    return ("", 0.0)


# -- where the watch's terms occur ----------------------------------------------------------------


@lru_cache(maxsize=256)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """The same matching as the digest's bold terms: whole words, any case, 'term*' a prefix,
    plain terms their plural too; longest first."""
    alternatives: list[tuple[str, str]] = []
    for raw in terms:
        term = re.sub(r"\[[^\]]*\]\s*$", "", raw).strip().strip('"').strip()
        wildcard = term.endswith("*")
        term = term.rstrip("*").strip()
        if not term:
            continue
        body = r"\s+".join(re.escape(word) for word in term.split())
        alternatives.append((body + (r"\w*" if wildcard else r"(?:s|es)?"), term))
    if not alternatives:
        return None
    alternatives.sort(key=lambda a: len(a[0]), reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(a for a, _ in alternatives) + r")(?!\w)", re.IGNORECASE)


def term_placement(article: Article, terms: Sequence[str]) -> tuple[str, str]:
    """('title' | 'abstract' | 'MeSH terms' | '', the term as found) for the best place one of the
    watch's terms occurs."""
    pattern = _term_pattern(tuple(terms))
    if pattern is None:
        return ("", "")
    for place, text in (
        ("title", article.title),
        ("abstract", article.abstract_text),
        ("MeSH terms", " ; ".join((*article.mesh_headings, *article.keywords))),
    ):
        if m := pattern.search(text):
            return (place, " ".join(m.group(0).split()))
    return ("", "")


# -- text vectors ---------------------------------------------------------------------------------


def article_text(article: Article) -> str:
    return " ".join((article.title, article.abstract_text, " ".join(article.mesh_headings), " ".join(article.keywords)))


_TOKEN = re.compile(r"(?u)\b\w[\w-]*\w\b")
_COLUMNS: dict[str, int] = {}  # token -> column, a cache (murmurhash3 is the same in every process)
_COLUMNS_MAX = 200_000  # about 20 MB at most in a long-running `litwatch serve`


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, read from its installed source without importing it (the
    import costs some 60 MB and a second, and a digest needs only this list); imported when the
    file cannot be read."""
    spec = importlib.util.find_spec("sklearn")  # (a top-level name: found, not imported)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        try:
            tree = ast.parse((Path(folder) / "feature_extraction" / "_stop_words.py").read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "ENGLISH_STOP_WORDS" for t in node.targets)
                and isinstance(node.value, ast.Call)
                and node.value.args
            ):
                try:
                    return frozenset(str(w) for w in ast.literal_eval(node.value.args[0]))
                except ValueError:
                    break
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # noqa: PLC0415 - see _sklearn_note

    return frozenset(ENGLISH_STOP_WORDS)


def _column(token: str) -> int:
    """The token's hashed column: MurmurHash3 (x86, 32 bits, seed 0, unsigned) of its UTF-8, as
    scikit-learn's HashingVectorizer computes it."""
    col = _COLUMNS.get(token)
    if col is None:
        col = mmh3.hash(token, 0, signed=False) % N_FEATURES
        if len(_COLUMNS) < _COLUMNS_MAX:
            _COLUMNS[token] = col
    return col


def _tf(texts: Sequence[str]) -> Any:
    """Damped term frequencies (1 + log tf) of the words of each text (lower-cased, English stop
    words dropped, hashed into N_FEATURES columns with murmurhash3 as scikit-learn's
    HashingVectorizer does), CSR, one row per text."""
    from scipy.sparse import csr_matrix  # noqa: PLC0415 - see _sklearn_note

    stop = _stop_words()
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    columns = _COLUMNS
    for text in texts:
        counts: dict[int, int] = {}
        for token, n in Counter(_TOKEN.findall(text.lower())).items():
            if token in stop:
                continue
            col = columns.get(token)
            if col is None:
                col = _column(token)
            counts[col] = counts.get(col, 0) + n
        for col in sorted(counts):
            indices.append(col)
            data.append(counts[col])
        indptr.append(len(indices))
    values = np.array(data, dtype=np.float64)
    values = 1.0 + np.log(values) if len(values) else values
    return csr_matrix(
        (values, np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int64)),
        shape=(len(texts), N_FEATURES),
    )


class RefVectors:
    """References' damped term frequencies (`_tf`), arranged for scoring any batch against them:
    by column (a batch reads only the columns its articles use) and each row's sum of squares
    (its length under any IDF is then known without reading the other columns)."""

    def __init__(self, tf: Any) -> None:
        self.by_column = tf.tocsc()
        self.squares: FloatArray = np.asarray(
            np.bincount(self.by_column.indices, weights=self.by_column.data**2, minlength=tf.shape[0]), dtype=np.float64
        )

    @property
    def tf(self) -> Any:
        """The damped term frequencies, one row per reference."""
        return self.by_column.tocsr()

    def __len__(self) -> int:
        return int(self.by_column.shape[0])


class TermRows:
    """Reference vectors, each text vectorised once and kept: a run's digests share references (a
    department's tracked papers are every reader's), which would otherwise be vectorised again
    for each reader.  `limit` texts are kept (the oldest dropped), and the last few reference
    sets (readers without ratings or a library of their own share one)."""

    SETS = 2

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._rows: dict[str, tuple[Any, Any]] = {}  # text -> (columns, values)
        self._sets: dict[tuple[str, ...], RefVectors] = {}

    def vectors(self, texts: Sequence[str]) -> RefVectors:
        """The vectors of `texts` (kept for the next reader with the same references)."""
        key = tuple(texts)
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = RefVectors(self.matrix(texts))
            while len(self._sets) > self.SETS:
                del self._sets[next(iter(self._sets))]
        return found

    def matrix(self, texts: Sequence[str]) -> Any:
        """`_tf(texts)`, from the kept rows."""
        return self._assemble(texts, str)

    def articles(self, articles: Sequence[Article]) -> Any:
        """`_tf` of the articles' texts, kept by PMID (a run's stored records do not change while
        its digests are composed; an article in many readers' digests is vectorised once)."""
        keys = [f"\x00pmid:{a.pmid}" for a in articles]
        by_key = dict(zip(keys, articles, strict=True))
        return self._assemble(keys, lambda key: article_text(by_key[key]))

    def _assemble(self, keys: Sequence[str], text_of: Callable[[str], str]) -> Any:
        from scipy.sparse import csr_matrix  # noqa: PLC0415 - see _sklearn_note

        rows = self._rows
        missing = [k for k in dict.fromkeys(keys) if k not in rows]
        if missing:
            fresh = _tf([text_of(k) for k in missing])
            for i, key in enumerate(missing):
                a, b = fresh.indptr[i], fresh.indptr[i + 1]
                rows[key] = (fresh.indices[a:b], fresh.data[a:b])
        parts = [rows[k] for k in keys]
        while len(rows) > self.limit:
            del rows[next(iter(rows))]
        indptr = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(c) for c, _ in parts], out=indptr[1:])
        indices = np.concatenate([c for c, _ in parts]) if parts else np.zeros(0, dtype=np.int32)
        data = np.concatenate([v for _, v in parts]) if parts else np.zeros(0)
        return csr_matrix((data, indices, indptr), shape=(len(parts), N_FEATURES))


def _unit_rows(matrix: Any) -> Any:
    """Each row scaled to unit length (empty rows stay empty)."""
    m = matrix.tocsr(copy=True)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    norms = np.sqrt(np.bincount(rows, weights=m.data * m.data, minlength=m.shape[0]))
    norms[norms == 0] = 1.0
    m.data = m.data / norms[rows]
    return m


def _as_float_array(values: Any) -> FloatArray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _norm_name(text: str) -> str:
    return " ".join(re.sub(r"[.,]", " ", text).lower().split())


def _article_names(article: Article) -> tuple[tuple[tuple[str, str, str], ...], frozenset[str]]:
    authors = tuple(
        (x.display, _norm_name(x.display), _norm_name(x.last_name or x.collective)) for x in article.authors if x.display
    )
    return authors, frozenset(_norm_name(j) for j in (article.journal, article.journal_iso) if j)


# what ranking reads of an article alone, worked out once for all the run's digests that list it
_designs = ArticleMemo(design_of)
_names = ArticleMemo(_article_names)


class Batch:
    """Articles ranked together (one digest, or a day's candidates shared by many readers): what
    every reader's scores need, computed once."""

    def __init__(
        self, articles: Sequence[Article], *, today: date, weights: Weights | None = None, rows: TermRows | None = None
    ) -> None:
        """`rows`: term vectors kept across batches (one run's digests)."""
        self.articles = list(articles)
        self.today = today
        w = weights or Weights()
        n = len(self.articles)
        from scipy.sparse import csr_matrix  # noqa: PLC0415 - see _sklearn_note

        tf = rows.articles(self.articles) if rows is not None else _tf([article_text(a) for a in self.articles])
        # The batch's own vocabulary: the hashed columns its articles use, renumbered 0..k-1, so
        # that no step works on arrays of N_FEATURES (a digest of 10 articles uses some 1,500).
        self.columns, compact = np.unique(tf.indices, return_inverse=True)
        k = len(self.columns)
        tf = csr_matrix((tf.data, compact.astype(np.int32), tf.indptr), shape=(n, k))
        df = np.bincount(compact, minlength=k).astype(np.float64)
        self.idf: FloatArray = np.log((1.0 + n) / (1.0 + df)) + 1.0  # of the batch's columns
        self.idf_unseen = float(np.log(1.0 + n) + 1.0)  # of a column no article uses (df = 0)
        self.tf_unit = _unit_rows(tf)  # for the reader's model
        # for similarity: unit TF-IDF rows, times the IDF again (a reference's TF is weighted here)
        self.tfidf_idf = _unit_rows(tf.multiply(self.idf).tocsr()).multiply(self.idf).tocsr()
        designs = [_designs(a) for a in self.articles]
        self.design_label = [d[0] for d in designs]
        self.design_points: FloatArray = np.array([d[1] for d in designs], dtype=np.float64)
        self.recency: FloatArray = np.array([self._fresh(a, w.half_life_days) for a in self.articles], dtype=np.float64)
        self._placements: dict[tuple[str, ...], list[tuple[str, str]]] = {}

    @functools.cached_property
    def authors(self) -> list[tuple[tuple[str, str, str], ...]]:
        """(display name, its normalised form, the family name's) of each article's authors: "Kuter
        DJ", "kuter dj", "kuter" (needed for readers with favourite authors only)."""
        return [_names(a)[0] for a in self.articles]

    @functools.cached_property
    def journals(self) -> list[frozenset[str]]:
        """Each article's journal names, normalised."""
        return [_names(a)[1] for a in self.articles]

    def __len__(self) -> int:
        return len(self.articles)

    def _fresh(self, article: Article, half_life: float) -> float:
        stamp = article.epub_date or article.entrez_date
        try:
            age = (self.today - date.fromisoformat(stamp)).days if stamp else None
        except ValueError:
            age = None
        if age is None:
            return 0.0
        return float(0.5 ** (max(0, age) / max(half_life, 0.1)))

    def placements(self, terms: tuple[str, ...]) -> list[tuple[str, str]]:
        """term_placement of every article, for these terms (kept: readers of one watch share it)."""
        if terms not in self._placements:
            self._placements[terms] = [term_placement(a, terms) for a in self.articles]
        return self._placements[terms]

    def similarity(self, refs: RefVectors) -> FloatArray:
        """Cosine similarities (articles x references) of TF-IDF vectors with this batch's IDF.
        Only the references' entries in the batch's columns are read; a reference's other words
        count in its length only (each with the IDF of a word no article uses)."""
        m, k = len(refs), len(self.columns)
        if k == 0 or m == 0:
            return np.zeros((len(self), m))
        unseen = self.idf_unseen**2
        mine = refs.by_column[:, self.columns].tocsc()  # references x the batch's columns (by column)
        # each reference's squared entries in these columns, weighted by the IDF's change from unseen
        column_of_entry = np.repeat(np.arange(k), np.diff(mine.indptr))
        weight = (self.idf * self.idf - unseen)[column_of_entry]
        extra = np.bincount(mine.indices, weights=mine.data * mine.data * weight, minlength=m)
        norms = np.sqrt(unseen * refs.squares + extra)
        norms[norms == 0] = 1.0
        # sparse x dense, the articles as dense columns a few at a time (a sparse x sparse product
        # builds its sparse result first: three times slower for a digest's few articles)
        sims = np.empty((len(self), m))
        for a in range(0, len(self), SIMILARITY_CHUNK):
            b = min(a + SIMILARITY_CHUNK, len(self))
            sims[a:b] = (mine @ self.tfidf_idf[a:b].toarray().T).T
        return sims / norms

    def on_columns(self, columns: Any, values: Any) -> FloatArray:
        """`values` given on hashed `columns` (sorted, unique), as a vector on the batch's columns."""
        out = np.zeros(len(self.columns))
        _, mine, theirs = np.intersect1d(self.columns, columns, assume_unique=True, return_indices=True)
        out[mine] = np.asarray(values)[theirs]
        return out


@dataclass(slots=True)
class Scores:
    """A reader's scores of a batch, with the parts that make them (for the why lines)."""

    total: FloatArray
    place: list[tuple[str, str]]
    place_points: FloatArray
    design_points: FloatArray
    sim: FloatArray  # cosine to the closest positive reference
    sim_ref: list[str]  # its label ('' when there is none)
    neg: FloatArray
    neg_ref: list[str]
    author: list[str]  # a favourite author who wrote it, or ''
    journal: list[str]
    model_points: FloatArray
    recency_points: FloatArray
    weights: Weights = field(default_factory=Weights)

    def why(self, i: int, design_label: str) -> str:
        """The one short line: at most four reasons, the weightiest kinds first."""
        parts: list[str] = []
        if design_label:
            parts.append(design_label)
        place, term = self.place[i]
        if place:
            parts.append(f"\u2018{term}\u2019 in the {place}")
        if self.author[i]:
            parts.append(f"by {self.author[i]}")
        if self.journal[i]:
            parts.append(f"in {self.journal[i]}")
        if self.neg_ref[i].startswith(SELF) and self.neg[i] >= self.sim[i]:
            parts.append("you rated it down")
        elif self.sim_ref[i].startswith(SELF):
            parts.append(_own(self.sim_ref[i].removeprefix(SELF)))
        else:
            if self.sim_ref[i] and self.sim[i] >= SIMILAR_ENOUGH:
                parts.append(f"close to {self.sim_ref[i]}")
            if self.neg_ref[i] and self.neg[i] >= SIMILAR_ENOUGH and self.neg[i] >= self.sim[i]:
                parts.append(f"like {self.neg_ref[i]}")
        if self.model_points[i] >= 0.5 * self.weights.model > 0:
            parts.append("like the papers you rated up")
        elif self.model_points[i] <= -0.5 * self.weights.model < 0:
            parts.append("unlike the papers you rated up")
        if not parts:
            return "no strong signal: newest first among equals"
        return " \u00b7 ".join(parts[:4])


class ReaderRanker:
    """One reader's scorer: their references vectorised and their model fitted once, then any number
    of batches scored (memory: the reader's references, never the other readers')."""

    def __init__(self, profile: ReaderProfile, weights: Weights | None = None, *, rows: TermRows | None = None) -> None:
        """`rows`: reference vectors shared with other readers' rankers (one run's digests)."""
        self.profile = profile
        self.weights = weights or Weights()
        self._fav_authors = tuple(_norm_name(a) for a in profile.authors if a.strip())
        self._fav_journals = frozenset(_norm_name(j) for j in profile.journals if j.strip())
        rows = rows or TermRows()
        self._pos = rows.vectors([r.text for r in profile.positives]) if profile.positives else None
        self._neg = rows.vectors([r.text for r in profile.negatives]) if profile.negatives else None
        self._model: tuple[Any, Any, float] | None = self._fit()

    # the reader's model ---------------------------------------------------------------------------

    def _fit(self) -> tuple[Any, Any, float] | None:
        """(columns, their weights, intercept) of a logistic regression of up (1) against down (0)
        over the unit TF vectors of the reader's positives (tracked, rated up, library) and the papers
        they rated down; None until they have enough ratings of both kinds."""
        w = self.weights
        ups = sum(1 for r in self.profile.positives if r.rated)
        downs = sum(1 for r in self.profile.negatives if r.rated)
        if w.model == 0 or ups + downs < w.model_min_ratings or ups < 2 or downs < 2:
            return None
        from scipy.sparse import vstack  # noqa: PLC0415 - see _sklearn_note
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - see _sklearn_note

        rated_down = [i for i, r in enumerate(self.profile.negatives) if r.rated]
        assert self._pos is not None and self._neg is not None
        tf = _unit_rows(vstack([self._pos.tf, self._neg.tf[rated_down]]).tocsr())
        labels = np.array([1] * len(self._pos) + [0] * len(rated_down))
        columns = np.unique(tf.indices)  # fit on the columns in use: 2**18 would cost 50 ms a reader
        model = LogisticRegression(C=4.0, class_weight="balanced", solver="liblinear", random_state=0)
        model.fit(tf[:, columns], labels)
        coef = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
        return columns, coef, float(model.intercept_[0])

    @property
    def has_model(self) -> bool:
        return self._model is not None

    # scoring ----------------------------------------------------------------------------------------

    def _closest(
        self, batch: Batch, refs: tuple[Reference, ...], vectors: RefVectors | None
    ) -> tuple[FloatArray, list[str]]:
        n = len(batch)
        if not refs or n == 0 or vectors is None:
            return np.zeros(n), [""] * n
        sims = batch.similarity(vectors)
        best = np.argmax(sims, axis=1)  # the first of equals: deterministic
        labels = [
            SELF + refs[int(j)].label if refs[int(j)].key == batch.articles[i].pmid else refs[int(j)].label
            for i, j in enumerate(best)
        ]
        return _as_float_array(sims[np.arange(n), best]), labels

    def score(self, batch: Batch, terms: Sequence[tuple[str, ...]] | tuple[str, ...] = ()) -> Scores:
        """Scores of every article of `batch`.  `terms`: the watch terms, one tuple for all articles
        or one tuple per article (the terms of the watches that found it)."""
        w = self.weights
        n = len(batch)
        per_article: list[tuple[str, ...]]
        if terms and isinstance(terms[0], tuple):
            per_article = [tuple(t) for t in terms]
        else:
            per_article = [tuple(terms)] * n  # type: ignore[arg-type]
        if len(set(per_article)) == 1:
            place = batch.placements(per_article[0]) if n else []
        else:
            place = [term_placement(a, t) for a, t in zip(batch.articles, per_article, strict=True)]
        by_place = {"title": w.title, "abstract": w.abstract, "MeSH terms": w.mesh, "": 0.0}
        place_points = np.array([by_place[p] for p, _ in place], dtype=np.float64)
        design_points = batch.design_points * w.design
        sim, sim_ref = self._closest(batch, self.profile.positives, self._pos)
        neg, neg_ref = self._closest(batch, self.profile.negatives, self._neg)
        author = [""] * n
        if self._fav_authors:
            favourites = frozenset(self._fav_authors)
            for i in range(n):
                author[i] = next((d for d, full, family in batch.authors[i] if full in favourites or family in favourites), "")
        journal = [""] * n
        if self._fav_journals:
            for i in range(n):
                hit = sorted(batch.journals[i] & self._fav_journals)
                if hit:
                    journal[i] = batch.articles[i].journal_iso or batch.articles[i].journal
        model_points = np.zeros(n)
        if self._model is not None and n:
            columns, coef, intercept = self._model
            logits = _as_float_array(batch.tf_unit @ batch.on_columns(columns, coef)) + intercept
            model_points = w.model * (2.0 / (1.0 + np.exp(-logits)) - 1.0)
        recency_points = batch.recency * w.recency
        total = (
            place_points
            + design_points
            + w.similarity * sim
            - w.dissimilarity * neg
            + np.array([w.author if a else 0.0 for a in author])
            + np.array([w.journal if j else 0.0 for j in journal])
            + model_points
            + recency_points
        )
        total = np.round(total, 6)  # the same order whatever the summation's last bits
        return Scores(
            total=_as_float_array(total),
            place=place,
            place_points=place_points,
            design_points=design_points,
            sim=sim,
            sim_ref=sim_ref,
            neg=neg,
            neg_ref=neg_ref,
            author=author,
            journal=journal,
            model_points=_as_float_array(model_points),
            recency_points=recency_points,
            weights=w,
        )


# -- the digest -----------------------------------------------------------------------------------


def rank_digest(
    digest: Digest,
    profile: ReaderProfile,
    weights: Weights | None = None,
    *,
    today: date | None = None,
    min_score: float | None = None,
    rows: TermRows | None = None,
) -> Digest:
    """The digest with every entry scored and explained, and, within each section (citations of
    tracked papers; each watch's hits), entries in score order (ties: the order they had, newest
    first).  Sections keep their order; corrections and notes are untouched."""
    entries = list(digest.entries)
    if not entries:
        return replace(digest, ranked=True, min_score=min_score)
    day = today or digest.created.date()
    batch = Batch([e.article for e in entries], today=day, weights=weights, rows=rows)
    ranker = ReaderRanker(profile, weights, rows=rows)
    terms = [tuple(t for wname in e.watches for t in digest.watch_terms.get(wname, ())) for e in entries]
    scores = ranker.score(batch, terms)
    scored = [
        replace(e, score=float(scores.total[i]), why=scores.why(i, batch.design_label[i])) for i, e in enumerate(entries)
    ]
    position = {id(e): i for i, e in enumerate(scored)}

    def section(e: Entry) -> tuple[int, str]:
        return (0, "") if e.cites else (1, e.watches[0] if e.watches else "")

    first_seen: dict[tuple[int, str], int] = {}
    for e in scored:
        first_seen.setdefault(section(e), len(first_seen))
    ordered = sorted(scored, key=lambda e: (first_seen[section(e)], -(e.score or 0.0), position[id(e)]))
    return replace(digest, entries=tuple(ordered), ranked=True, min_score=min_score)


def top_entry(entries: Iterable[Entry]) -> Entry | None:
    """The entry with the highest score (the first of equals), or None when nothing is scored."""
    best: Entry | None = None
    for e in entries:
        if e.score is not None and (best is None or e.score > (best.score or -math.inf)):
            best = e
    return best
