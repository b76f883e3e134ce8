"""Chat targets (`[[notify]]`): who they are in the queue, and what is queued for them.

Each target is a subscriber of the queue, `notify:<hash>` (a hash of its URL, or of `env:NAME`
when the URL comes from the environment, so rotating the secret keeps the state).  What is new is
queued for it in the run's own transaction; the run's one delivery loop (jobs/run/deliver.py)
sends it with a `ChatDeliverer` (notifications/chat.py), under the same rules as e-mail.  Targets
are named by `name` (default notify[N]); their URLs are secrets, never shown.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping

from litwatch.jobs.config import Config, NotifyConfig
from litwatch.watchers.announcements import Citation, Correction, Hit, Item
from litwatch.watchers.errors import ConfigError
from litwatch.watchers.store import Store

APPRISE_MISSING = (
    "[[notify]] is configured but Apprise is not installed: pip install 'litwatch[chat]'; "
    "chat messages wait until it is"
)


def target_key(target: NotifyConfig) -> str:
    """The queue's recipient for this target: 'notify:' and a hash of what identifies it."""
    identity = f"env:{target.url_env}" if target.url_env else target.url.get_secret_value()  # type: ignore[union-attr]
    return "notify:" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def target_name(target: NotifyConfig, index: int) -> str:
    return target.name or f"notify[{index}]"


def target_names(config: Config) -> dict[str, str]:
    """Queue recipient -> the name to show ('notify:ab12...' -> 'lab Slack')."""
    return {target_key(t): target_name(t, i) for i, t in enumerate(config.notify)}


def resolve_url(target: NotifyConfig) -> str:
    """The target's URL; `ConfigError` when its environment variable is not set."""
    if target.url is not None:
        return target.url.get_secret_value()
    value = os.environ.get(target.url_env or "", "").strip()
    if not value:
        raise ConfigError(f"environment variable {target.url_env} is not set")
    return value


def enqueue_news(
    store: Store,
    config: Config,
    announce: Mapping[str, Iterable[str]],
    citations: list[Citation],
    corrections: list[Correction],
    run_id: int,
) -> None:
    """Queue what this run announces for every target: articles (once each), citations, corrections."""
    for target in config.notify:
        key = target_key(target)
        already = store.queue.announced_to(key, {p for pmids in announce.values() for p in pmids})
        queue: list[Item] = [
            Hit(pmid, watch.name)
            for watch in config.watch
            for pmid in sorted(announce.get(watch.name, ()))
            if not already.get(pmid, False)  # new, or still waiting for its message: this watch too
        ]
        queue += citations
        queue += corrections
        store.queue.add(key, queue, run_id)
