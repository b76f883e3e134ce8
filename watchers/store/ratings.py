"""Each reader's ratings of articles (`store.ratings`): up (+1) or down (-1), one per reader and article.

Recipients are stored lower-cased (e-mail addresses are matched case-insensitively everywhere in
litwatch), so the web companion's one-click links and the command line meet in the same rows.
`litwatch.watchers.ratings` is the API over this for callers that hold a `Store`.
"""

from __future__ import annotations

from dataclasses import dataclass

from litwatch.watchers.store.table import Table, now_iso

UP = 1
DOWN = -1


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


def who(recipient: str) -> str:
    return recipient.strip().lower()


_COLUMNS = "recipient, pmid, value, rated_at, source"


def _rows(rows: list[tuple[object, ...]]) -> list[Rating]:
    return [Rating(str(r), str(p), int(str(v)), str(t), str(s)) for r, p, v, t, s in rows]


class Ratings(Table):
    def record(self, recipient: str, pmid: str, value: int, *, source: str = "cli", at: str | None = None) -> bool:
        """Rate `pmid` for `recipient` (UP or DOWN), replacing an opposite rating; True when something
        changed (the same rating again keeps the date of the first)."""
        if value not in (UP, DOWN):
            raise ValueError(f"a rating is {UP} or {DOWN}, not {value!r}")
        r = who(recipient)
        with self.db.transaction():
            old = self.db.value("SELECT value FROM ratings WHERE recipient = ? AND pmid = ?", (r, pmid))
            if old is not None and int(old) == value:
                return False
            self.db.execute(
                f"INSERT INTO ratings ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (recipient, pmid) DO UPDATE SET value = excluded.value, rated_at = excluded.rated_at, "
                "source = excluded.source",
                (r, pmid, value, at or now_iso(), source),
            )
        return True

    def undo(self, recipient: str, pmid: str) -> bool:
        with self.db.transaction():
            cur = self.db.execute("DELETE FROM ratings WHERE recipient = ? AND pmid = ?", (who(recipient), pmid))
            return bool(cur.rowcount and cur.rowcount > 0)

    def clear(self, recipient: str) -> int:
        with self.db.transaction():
            cur = self.db.execute("DELETE FROM ratings WHERE recipient = ?", (who(recipient),))
            return max(0, int(cur.rowcount or 0))

    def of(self, recipient: str) -> list[Rating]:
        """The reader's ratings, oldest first."""
        return _rows(
            self.db.rows(
                f"SELECT {_COLUMNS} FROM ratings WHERE recipient = ? ORDER BY rated_at, pmid", (who(recipient),)
            )
        )

    def value(self, recipient: str, pmid: str) -> int | None:
        v = self.db.value("SELECT value FROM ratings WHERE recipient = ? AND pmid = ?", (who(recipient), pmid))
        return None if v is None else int(v)

    def all(self) -> list[Rating]:
        """Every reader's ratings, by reader then oldest first."""
        return _rows(self.db.rows(f"SELECT {_COLUMNS} FROM ratings ORDER BY recipient, rated_at, pmid"))

    def was_sent(self, recipient: str, pmid: str) -> bool:
        """True when a digest delivered to `recipient` listed `pmid` (as a search hit or a citation)."""
        row = self.db.value(
            "SELECT 1 FROM queue q JOIN deliveries d ON d.id = q.delivery_id "
            "WHERE LOWER(q.recipient) = ? AND q.pmid = ? AND q.kind IN ('hit', 'citation') AND d.status = 'sent'",
            (who(recipient), pmid),
        )
        return row is not None
