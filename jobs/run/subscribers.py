"""Who a run tells, as `Subscriber`s of the one delivery loop (jobs/run/deliver.py): each
`[digest] recipients` reader (an e-mail digest when due), then each `[[notify]]` chat target
(a short message of the articles, citations and corrections; notes stay in the e-mail).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import make_msgid

from litwatch.jobs.config import Config, RecipientConfig
from litwatch.jobs.run.compose import Composer
from litwatch.jobs.run.deliver import Outgoing, Subscriber
from litwatch.jobs.run.notify import APPRISE_MISSING, resolve_url, target_key, target_name
from litwatch.notifications.chat import ChatDeliverer, apprise_available, chat_text, payload
from litwatch.notifications.delivery import Deliverer
from litwatch.notifications.digest import build_digest
from litwatch.watchers.announcements import ARTICLE_KINDS, Citation
from litwatch.watchers.errors import ConfigError
from litwatch.watchers.store import Queued, Store

log = logging.getLogger("litwatch.run")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CHAT_KINDS = (*ARTICLE_KINDS, "correction")


def digest_due(store: Store, r: RecipientConfig, now: datetime) -> bool:
    """Daily: always.  Weekly: on the weekday, once, or when the last digest is a week old."""
    if r.frequency == "daily":
        return True
    last = store.deliveries.last_sent(r.email)
    last_dt = datetime.fromisoformat(last).astimezone(now.tzinfo) if last else None
    if last_dt and now - last_dt >= timedelta(days=7):
        return True
    return WEEKDAYS[now.weekday()] == r.weekday and (last_dt is None or last_dt.date() < now.date())


def email_subscribers(
    config: Config, store: Store, deliverer: Deliverer, clock: Callable[[], datetime]
) -> list[Subscriber]:
    composer = Composer(config, store, clock)
    out: list[Subscriber] = []
    for r in config.recipients():

        def due(r: RecipientConfig = r) -> bool:
            if digest_due(store, r, clock()):
                return True
            log.info("%s: digest not due today (%s)", r.email, r.frequency)
            return False

        def compose(queued: list[Queued], run_id: int, r: RecipientConfig = r) -> Outgoing:
            digest = composer.digest(r, [q.item for q in queued])
            done = composer.render(digest, composer.message_id(f"litwatch.{run_id}"))
            return Outgoing(done.subject, done.message, done.message_id)

        out.append(
            Subscriber(
                key=r.email,
                label=f"digest to {r.email}",
                deliverer=deliverer,
                sender=config.digest.sender,
                compose=compose,
                due=due,
                send_empty=config.digest.send_empty,
                follows=config.tracked.follow == "announced",
            )
        )
    return out


def chat_subscribers(config: Config, store: Store, clock: Callable[[], datetime]) -> list[Subscriber]:
    """The `[[notify]]` targets.  Without Apprise (an optional extra) their items wait in the
    queue, with one warning per run, until it is installed."""
    out: list[Subscriber] = []
    waiting = None if not config.notify or apprise_available() else APPRISE_MISSING
    for index, target in enumerate(config.notify):
        key, name = target_key(target), target_name(target, index)
        problem: str | None = None
        deliverer: ChatDeliverer | None = None
        try:
            deliverer = ChatDeliverer(resolve_url(target), name)
        except ConfigError as exc:
            problem = str(exc)
        if waiting:
            deliverer = None

        def compose(queued: list[Queued], run_id: int, key: str = key) -> Outgoing:
            items = [q.item for q in queued]
            pmids = {i.pmid for i in items} | {i.cited for i in items if isinstance(i, Citation)}
            digest = build_digest(
                "chat", items, store.articles.get(pmids), created=clock(), watch_order=[w.name for w in config.watch]
            )
            title, body = chat_text(digest)
            message_id = make_msgid(idstring=f"litwatch.{run_id}.{key[7:]}", domain="litwatch.invalid")
            return Outgoing(title, payload(title, body), message_id)

        out.append(
            Subscriber(
                key=key,
                label=f"chat message {name}",
                deliverer=deliverer,
                sender=config.digest.sender,
                compose=compose,
                takes=lambda q: q.kind in CHAT_KINDS,
                digest=False,
                problem=problem,
                waiting=waiting,
                sent_verb="sent",
            )
        )
    return out
