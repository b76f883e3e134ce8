"""Each reader's ratings of articles: the storage API (over `store.ratings`, watchers/store/ratings.py).

A rating is (recipient, PMID, value): +1 ("up", more like this) or -1 ("down", not for me).  One
rating per reader and article: rating again replaces it, `undo_rating` removes it.  Recipients are
stored lower-cased, so the web companion's one-click links and the command line meet in the same
rows.

Every function takes an open `Store` (SQLite or PostgreSQL) and writes inside a transaction of its
own, joining the caller's when there is one.  Nothing here reads the config: which recipients exist
is the caller's business.  The ranking reads `ratings_of` at each digest, so a rating takes effect
at the next digest.
"""

from __future__ import annotations

from litwatch.watchers.store import Store
from litwatch.watchers.store.ratings import DOWN, UP, Rating

__all__ = [
    "DOWN",
    "UP",
    "Rating",
    "all_ratings",
    "clear_ratings",
    "parse_value",
    "rating_value",
    "ratings_of",
    "record_rating",
    "undo_rating",
    "was_sent",
]


def parse_value(word: str) -> int:
    """'up' / '+1' / 'down' / '-1' -> UP / DOWN; ValueError otherwise."""
    w = word.strip().lower()
    if w in ("up", "+1", "1", "+"):
        return UP
    if w in ("down", "-1", "-"):
        return DOWN
    raise ValueError(f"not a rating: {word!r} (up or down)")


def record_rating(
    store: Store, recipient: str, pmid: str, value: int, *, source: str = "cli", at: str | None = None
) -> bool:
    """Rate `pmid` for `recipient` (UP or DOWN); replaces an earlier, opposite rating of the article.

    True when something changed (a new rating, or the opposite of the old one); the same rating
    again changes nothing, not even its date."""
    return store.ratings.record(recipient, pmid, value, source=source, at=at)


def undo_rating(store: Store, recipient: str, pmid: str) -> bool:
    """Remove the reader's rating of `pmid`; True when there was one."""
    return store.ratings.undo(recipient, pmid)


def clear_ratings(store: Store, recipient: str) -> int:
    """Remove every rating of the reader; how many there were."""
    return store.ratings.clear(recipient)


def ratings_of(store: Store, recipient: str) -> list[Rating]:
    """The reader's ratings, oldest first."""
    return store.ratings.of(recipient)


def rating_value(store: Store, recipient: str, pmid: str) -> int | None:
    """UP, DOWN, or None when the reader has not rated `pmid`."""
    return store.ratings.value(recipient, pmid)


def all_ratings(store: Store) -> list[Rating]:
    """Every reader's ratings, by reader then oldest first (for `history` and backups)."""
    return store.ratings.all()


def was_sent(store: Store, recipient: str, pmid: str) -> bool:
    """True when a digest delivered to `recipient` listed `pmid` (as a search hit or a citation)."""
    return store.ratings.was_sent(recipient, pmid)
