"""What each subscriber is still to be told (`store.queue`), and the deliveries that told them
(`store.deliveries`).

A subscriber is a queue recipient: an e-mail address, or a chat target's `notify:<hash>`.  Items
are typed announcements (watchers/announcements.py), written and read through its codec.  A
delivery is recorded "sending" with its message before the first byte goes out and claims its
items; it ends "sent", or "failed" (its items go back to the queue), or stays "sending" when
acceptance is unknown (it is then resent unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from litwatch.watchers.announcements import Item, decode, encode
from litwatch.watchers.store.table import Table, now_iso


@dataclass(frozen=True, slots=True)
class Queued:
    """A queue row: an `Item` for a recipient, and its bookkeeping."""

    id: int
    recipient: str
    item: Item
    run_id: int
    delivery_id: int | None

    @property
    def kind(self) -> str:
        return self.item.TYPE


def _queued(rows: Iterable[Sequence[Any]]) -> list[Queued]:
    """Queue rows as `Queued`, one string object for each recipient and reason however often it
    repeats (a backfill's queue holds 50,000 rows naming a handful of each)."""
    shared: dict[str, str] = {}
    return [
        Queued(i, shared.setdefault(who, who), decode(kind, pmid, shared.setdefault(why, why)), run, d)
        for i, who, kind, pmid, why, run, d in rows
    ]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    recipient: str
    message_id: str
    subject: str
    method: str
    status: str  # "sending" (accepted unknown), "sent", "failed"
    run_id: int
    created_at: str
    sent_at: str | None
    attempts: int
    error: str
    message: bytes


class Queue(Table):
    def announced_to(self, recipient: str, pmids: Iterable[str]) -> dict[str, bool]:
        """Of these PMIDs, those already queued for this recipient as an article: PMID -> True when
        a delivery has taken it, False while it still waits for one."""
        sql = (
            "SELECT pmid, MAX(CASE WHEN delivery_id IS NULL THEN 0 ELSE 1 END) FROM queue "
            "WHERE recipient = ? AND kind IN ('hit', 'citation', 'published') AND pmid IN ({ids}) GROUP BY pmid"
        )
        return {pmid: bool(taken) for pmid, taken in self.db.rows_in(sql, pmids, [recipient])}

    def add(self, recipient: str, items: Iterable[Item], run_id: int) -> None:
        """Queue items for `recipient`, in this order (one already queued is kept)."""
        self.db.executemany(
            "INSERT INTO queue (recipient, kind, pmid, reason, run_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (recipient, kind, pmid, reason) DO NOTHING",
            [(recipient, *encode(item), run_id) for item in items],
        )

    def pending(self, recipient: str | None = None) -> list[Queued]:
        """Queued items not (yet) in a delivery, oldest first."""
        sql = "SELECT id, recipient, kind, pmid, reason, run_id, delivery_id FROM queue WHERE delivery_id IS NULL"
        params: list[Any] = []
        if recipient is not None:
            sql += " AND recipient = ?"
            params.append(recipient)
        return _queued(self.db.rows(sql + " ORDER BY id", params))

    def of_delivery(self, delivery_id: int) -> list[Queued]:
        return _queued(
            self.db.rows(
                "SELECT id, recipient, kind, pmid, reason, run_id, delivery_id FROM queue WHERE delivery_id = ? ORDER BY id",
                (delivery_id,),
            )
        )

    def history(self, since: str | None = None, watch: str | None = None) -> list[tuple[str, str, Item, str]]:
        """(sent_at, recipient, item, message_id) of what was delivered."""
        sql = (
            "SELECT d.sent_at, q.recipient, q.kind, q.pmid, q.reason, d.message_id FROM queue q "
            "JOIN deliveries d ON d.id = q.delivery_id WHERE d.status = 'sent'"
        )
        params: list[Any] = []
        if since:
            sql += " AND d.sent_at >= ?"
            params.append(since)
        if watch:
            sql += " AND q.kind = 'hit' AND q.reason = ?"
            params.append(watch)
        return [
            (sent, who, decode(kind, pmid, reason), mid)
            for sent, who, kind, pmid, reason, mid in self.db.rows(sql + " ORDER BY d.sent_at, q.id", params)
        ]


class Deliveries(Table):
    _COLS = "id, recipient, message_id, subject, method, status, run_id, created_at, sent_at, attempts, error, message"

    def create(
        self,
        recipient: str,
        message_id: str,
        subject: str,
        method: str,
        message: bytes,
        run_id: int,
        item_ids: Sequence[int],
    ) -> int:
        """Record a message as "sending" (before the first byte goes out) and claim its queue items."""
        delivery_id = int(
            self.db.value(
                "INSERT INTO deliveries (recipient, message_id, subject, method, status, run_id, created_at, message) "
                "VALUES (?, ?, ?, ?, 'sending', ?, ?, ?) RETURNING id",
                (recipient, message_id, subject, method, run_id, now_iso(), message),
            )
        )
        self.db.executemany("UPDATE queue SET delivery_id = ? WHERE id = ?", [(delivery_id, i) for i in item_ids])
        return delivery_id

    def attempted(self, delivery_id: int) -> None:
        self.db.execute("UPDATE deliveries SET attempts = attempts + 1 WHERE id = ?", (delivery_id,))

    def mark_sent(self, delivery_id: int) -> None:
        self.db.execute(
            "UPDATE deliveries SET status = 'sent', sent_at = ?, error = '' WHERE id = ?", (now_iso(), delivery_id)
        )

    def mark_failed(self, delivery_id: int, error: str) -> None:
        """Not accepted: the delivery is closed and its items go back to the queue.  Its message
        is dropped (the items go out in a new one): the store does not grow with each attempt."""
        self.db.execute(
            "UPDATE deliveries SET status = 'failed', error = ?, message = ? WHERE id = ?", (error, b"", delivery_id)
        )
        self.db.execute("UPDATE queue SET delivery_id = NULL WHERE delivery_id = ?", (delivery_id,))

    def set_aside(self, delivery_id: int, error: str) -> None:
        """Refused for good, with its items alone in it (a mail server that will never take them):
        the items stay with this delivery, so they are never queued again and hold back nothing;
        the message is dropped."""
        self.db.execute(
            "UPDATE deliveries SET status = 'set_aside', error = ?, message = ? WHERE id = ?", (error, b"", delivery_id)
        )

    def sent_messages(self, since: str | None = None) -> list[tuple[Any, ...]]:
        """(sent_at, recipient, message_id, subject) of every message delivered, items or not."""
        sql = "SELECT sent_at, recipient, message_id, subject FROM deliveries WHERE status = 'sent'"
        params: list[Any] = []
        if since:
            sql += " AND sent_at >= ?"
            params.append(since)
        return list(self.db.rows(sql + " ORDER BY sent_at, id", params))

    def note_error(self, delivery_id: int, error: str) -> None:
        """Acceptance unknown: the delivery stays "sending" and is resent as it is next time."""
        self.db.execute("UPDATE deliveries SET error = ? WHERE id = ?", (error, delivery_id))

    def find(self, status: str | None = None, limit: int | None = None) -> list[Delivery]:
        """Deliveries, newest first; only those in `status` when given."""
        sql = f"SELECT {self._COLS} FROM deliveries"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [
            Delivery(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], bytes(r[11]))
            for r in self.db.rows(sql, params)
        ]

    def last_sent(self, recipient: str) -> str | None:
        value = self.db.value("SELECT MAX(sent_at) FROM deliveries WHERE recipient = ? AND status = 'sent'", (recipient,))
        return None if value is None else str(value)

    def failing(self, *, method_not: str = "") -> dict[str, str]:
        """Recipient -> when their deliveries started failing: their oldest failed (or in doubt)
        delivery since their last one that was sent.  Each recipient is judged on their own, so
        one mailbox that keeps refusing is seen while the others receive theirs.  `method_not`:
        a delivery method left out (chat messages, judged apart from e-mail)."""
        return {
            who: since
            for who, since in self.db.rows(
                "SELECT d.recipient, MIN(d.created_at) FROM deliveries d "
                "WHERE d.status IN ('failed', 'sending') AND d.method != ? AND d.created_at > COALESCE("
                "(SELECT MAX(s.sent_at) FROM deliveries s WHERE s.recipient = d.recipient "
                "AND s.status = 'sent' AND s.method != ?), '') "
                "GROUP BY d.recipient",
                (method_not, method_not),
            )
        }
