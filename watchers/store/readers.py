"""What the web companion keeps of each reader (`store.readers`): whether they unsubscribed, which
one-time links they have used, which papers they asked to track, and their delivered digests.

* Subscription: a reader's state is their last event, "unsubscribed" or "subscribed" (none: they
  are subscribed).  Events are kept, so `history` can say when and how (a page's button, the mail
  client's one-click List-Unsubscribe).  The run asks `unsubscribed()`: an unsubscribed reader is a
  subscriber state (jobs/run/subscribers.py).
* Used links: the "relevant", "not relevant" and "track" links are one-time; `use_link` records a
  token's digest in one INSERT, so two submissions at once cannot both succeed.
* Tracked by a reader: tracked papers are shared (one `tracked` table: their citations go to every
  reader who receives citations); this records who asked for a paper from the web.

Recipients are stored lower-cased, as the ratings are.  Each method that writes does so in a
transaction of its own, joining the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

from litwatch.watchers.store.table import Table, now_iso

UNSUBSCRIBED = "unsubscribed"
SUBSCRIBED = "subscribed"


def _who(recipient: str) -> str:
    return recipient.strip().lower()


@dataclass(frozen=True, slots=True)
class SubscriptionEvent:
    recipient: str
    event: str  # "unsubscribed" or "subscribed"
    at: str  # ISO 8601, UTC
    via: str  # "web" (the page's button), "one-click" (RFC 8058), "cli"


class Readers(Table):
    def set_subscribed(self, recipient: str, subscribed: bool, *, via: str = "web") -> bool:
        """Unsubscribe or subscribe again; True when the state changed."""
        who = _who(recipient)
        event = SUBSCRIBED if subscribed else UNSUBSCRIBED
        with self.db.transaction():
            last = self.db.value(
                "SELECT event FROM subscription_events WHERE recipient = ? ORDER BY id DESC LIMIT 1", (who,)
            )
            if (last or SUBSCRIBED) == event:
                return False
            self.db.execute(
                "INSERT INTO subscription_events (recipient, event, at, via) VALUES (?, ?, ?, ?)",
                (who, event, now_iso(), via),
            )
        return True

    def unsubscribed(self) -> dict[str, str]:
        """Lower-cased address -> since when, of every reader whose last event is an unsubscribe."""
        rows = self.db.rows(
            "SELECT e.recipient, e.event, e.at FROM subscription_events e WHERE e.id = "
            "(SELECT MAX(l.id) FROM subscription_events l WHERE l.recipient = e.recipient)"
        )
        return {str(r): str(at) for r, event, at in rows if event == UNSUBSCRIBED}

    def events(self, recipient: str | None = None, since: str | None = None) -> list[SubscriptionEvent]:
        """Unsubscribes and subscriptions, oldest first (one reader's, or everyone's)."""
        sql = "SELECT recipient, event, at, via FROM subscription_events WHERE 1 = 1"
        params: list[str] = []
        if recipient is not None:
            sql += " AND recipient = ?"
            params.append(_who(recipient))
        if since:
            sql += " AND at >= ?"
            params.append(since)
        return [SubscriptionEvent(*map(str, r)) for r in self.db.rows(sql + " ORDER BY id", params)]

    def use_link(self, token_id: str, recipient: str, action: str, pmid: str) -> bool:
        """Record a one-time link as used; False when it had been used already (nothing recorded)."""
        with self.db.transaction():
            cur = self.db.execute(
                "INSERT INTO used_links (token_id, recipient, action, pmid, used_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (token_id) DO NOTHING",
                (token_id, _who(recipient), action, pmid, now_iso()),
            )
            return bool(cur.rowcount and cur.rowcount > 0)

    def link_used(self, token_id: str) -> str | None:
        """When a one-time link was used, or None."""
        value = self.db.value("SELECT used_at FROM used_links WHERE token_id = ?", (token_id,))
        return None if value is None else str(value)

    def track(self, recipient: str, pmid: str) -> bool:
        """Record that this reader asked to track `pmid` (tracked for everyone: `store.tracked.add(pmid,
        "web")` in the same transaction); True when the reader had not asked before."""
        with self.db.transaction():
            cur = self.db.execute(
                "INSERT INTO reader_tracked (recipient, pmid, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT (recipient, pmid) DO NOTHING",
                (_who(recipient), pmid, now_iso()),
            )
            return bool(cur.rowcount and cur.rowcount > 0)

    def untrack(self, recipient: str, pmid: str) -> bool:
        """The reader no longer asks for `pmid`; the paper stops being tracked when it was tracked from
        the web and no other reader asks for it (the config's and `track add`'s papers stay)."""
        who = _who(recipient)
        with self.db.transaction():
            cur = self.db.execute("DELETE FROM reader_tracked WHERE recipient = ? AND pmid = ?", (who, pmid))
            removed = bool(cur.rowcount and cur.rowcount > 0)
            others = self.db.value("SELECT COUNT(*) FROM reader_tracked WHERE pmid = ?", (pmid,))
            if removed and not int(others or 0):
                self.db.execute("DELETE FROM tracked WHERE pmid = ? AND origin = 'web'", (pmid,))
        return removed

    def tracked(self, recipient: str) -> list[tuple[str, str]]:
        """(pmid, added_at) of the papers this reader asked to track and that are still tracked."""
        return [
            (str(p), str(at))
            for p, at in self.db.rows(
                "SELECT r.pmid, r.added_at FROM reader_tracked r JOIN tracked t ON t.pmid = r.pmid "
                "WHERE r.recipient = ? ORDER BY r.added_at, r.pmid",
                (_who(recipient),),
            )
        ]

    def sent_to(self, recipient: str) -> list[tuple[int, str, str]]:
        """(delivery id, sent_at, subject) of the digests delivered to this reader, newest first."""
        return [
            (int(i), str(at), str(subject))
            for i, at, subject in self.db.rows(
                "SELECT id, sent_at, subject FROM deliveries WHERE LOWER(recipient) = ? AND status = 'sent' "
                "AND method != 'notify' ORDER BY sent_at DESC, id DESC",
                (_who(recipient),),
            )
        ]

    def delivered_message(self, recipient: str, delivery_id: int) -> tuple[str, bytes] | None:
        """(subject, message bytes as sent) of a digest delivered to this reader; None when there is no
        such digest of theirs (another reader's is none of theirs)."""
        rows = self.db.rows(
            "SELECT subject, message FROM deliveries WHERE id = ? AND LOWER(recipient) = ? AND status = 'sent' "
            "AND method != 'notify'",
            (delivery_id, _who(recipient)),
        )
        return (str(rows[0][0]), bytes(rows[0][1])) if rows else None

    def sent_articles(self, recipient: str) -> list[tuple[str, int, str]]:
        """(pmid, first delivery id, first sent_at) of every article a digest delivered to this reader listed."""
        return [
            (str(p), int(d), str(at))
            for p, d, at in self.db.rows(
                "SELECT q.pmid, MIN(d.id), MIN(d.sent_at) FROM queue q JOIN deliveries d ON d.id = q.delivery_id "
                "WHERE LOWER(q.recipient) = ? AND d.status = 'sent' AND d.method != 'notify' "
                "AND q.kind IN ('hit', 'citation') GROUP BY q.pmid",
                (_who(recipient),),
            )
        ]

    def new_hits_since(self, watch: str, since: str) -> list[str]:
        """When each hit a watch announced (not its baseline) was first seen, from `since` (ISO) on."""
        return [
            str(seen)
            for (seen,) in self.db.rows(
                "SELECT first_seen FROM watch_hits WHERE watch = ? AND baseline = 0 AND first_seen >= ?",
                (watch, since),
            )
        ]
