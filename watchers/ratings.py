"""Each reader's ratings of articles: the storage API.

A rating is (recipient, PMID, value): +1 ("up", more like this) or -1 ("down", not for me).  One
rating per reader and article: rating again replaces it, `undo_rating` removes it.  Recipients are
stored lower-cased (e-mail addresses are matched case-insensitively everywhere in litwatch), so the
web companion's one-click links and the command line meet in the same rows.

Every function takes an open `Store` (SQLite or PostgreSQL: the SQL is written once for both) and
writes inside a transaction of its own, joining the caller's when there is one.  Nothing here reads
the config: which recipients exist is the caller's business.  The ranking code reads `ratings_of`
at each digest, so a rating takes effect at the next digest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from litwatch.watchers.store import Store, now_iso

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

UP = 1
DOWN = -1
Source = Literal["cli", "web", "import"]


@dataclass(frozen=True, slots=True)
class Rating:
    recipient: str  # lower-cased e-mail address
    pmid: str
    value: int  # UP (+1) or DOWN (-1)
    rated_at: str  # ISO 8601, UTC
    source: str  # "cli", "web", ...

    @property
    def label(self) -> str:
        return "up" if self.value > 0 else "down"

    def as_dict(self) -> dict[str, str | int]:
        return {
            "recipient": self.recipient,
            "pmid": self.pmid,
            "rating": self.label,
            "value": self.value,
            "rated_at": self.rated_at,
            "source": self.source,
        }


def _who(recipient: str) -> str:
    return recipient.strip().lower()


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

    True when something changed (a new rating, or the opposite of the old one)."""
    if value not in (UP, DOWN):
        raise ValueError(f"a rating is {UP} or {DOWN}, not {value!r}")
    who = _who(recipient)
    with store.transaction():
        old = store.value("SELECT value FROM ratings WHERE recipient = ? AND pmid = ?", (who, pmid))
        if old is not None and int(old) == value:
            return False  # the same rating again: its date stays that of the first
        store.execute(
            "INSERT INTO ratings (recipient, pmid, value, rated_at, source) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (recipient, pmid) DO UPDATE SET value = excluded.value, rated_at = excluded.rated_at, "
            "source = excluded.source",
            (who, pmid, value, at or now_iso(), source),
        )
    return True


def undo_rating(store: Store, recipient: str, pmid: str) -> bool:
    """Remove the reader's rating of `pmid`; True when there was one."""
    with store.transaction():
        cur = store.execute("DELETE FROM ratings WHERE recipient = ? AND pmid = ?", (_who(recipient), pmid))
        return bool(cur.rowcount and cur.rowcount > 0)


def clear_ratings(store: Store, recipient: str) -> int:
    """Remove every rating of the reader; how many there were."""
    with store.transaction():
        cur = store.execute("DELETE FROM ratings WHERE recipient = ?", (_who(recipient),))
        return max(0, int(cur.rowcount or 0))


def _rows(rows: Iterable[tuple[object, ...]]) -> list[Rating]:
    return [Rating(str(r), str(p), int(str(v)), str(t), str(s)) for r, p, v, t, s in rows]


def ratings_of(store: Store, recipient: str) -> list[Rating]:
    """The reader's ratings, oldest first."""
    return _rows(
        store.rows(
            "SELECT recipient, pmid, value, rated_at, source FROM ratings WHERE recipient = ? ORDER BY rated_at, pmid",
            (_who(recipient),),
        )
    )


def rating_value(store: Store, recipient: str, pmid: str) -> int | None:
    """UP, DOWN, or None when the reader has not rated `pmid`."""
    v = store.value("SELECT value FROM ratings WHERE recipient = ? AND pmid = ?", (_who(recipient), pmid))
    return None if v is None else int(v)


def all_ratings(store: Store) -> list[Rating]:
    """Every reader's ratings, by reader then oldest first (for `history` and backups)."""
    return _rows(
        store.rows("SELECT recipient, pmid, value, rated_at, source FROM ratings ORDER BY recipient, rated_at, pmid")
    )


def was_sent(store: Store, recipient: str, pmid: str) -> bool:
    """True when a digest delivered to `recipient` listed `pmid` (as a search hit or a citation)."""
    row = store.value(
        "SELECT 1 FROM queue q JOIN deliveries d ON d.id = q.delivery_id "
        "WHERE LOWER(q.recipient) = ? AND q.pmid = ? AND q.kind IN ('hit', 'citation') AND d.status = 'sent'",
        (_who(recipient), pmid),
    )
    return row is not None
