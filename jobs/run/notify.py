"""Chat notifications (`[[notify]]`): after the e-mail digests, one short message per target
(the counts and the first few titles, linked) through Apprise: Slack, Teams, Matrix, Mattermost,
Discord, generic JSON webhooks (json:// jsons://) and the rest of Apprise's list.

Each target is a pseudo-recipient of the queue, `notify:<hash>` (a hash of its URL, or of
`env:NAME` when the URL comes from the environment, so rotating the secret keeps the state), and
follows the e-mail rules: what is new is queued in the run's own transaction; a message is
recorded as a delivery (method "notify") that claims its queue items, and is marked sent once
Apprise reports success.  A failure puts the items back in the queue: the next run sends them,
with whatever is new by then, in one message.  Nothing is repeated, nothing is lost.  A message
left "sending" by a run that died is put back the same way (the chat may then see it twice; an
e-mail can be deduplicated by its Message-ID, a chat message cannot).

Apprise is optional (`pip install 'litwatch[chat]'`).  Without it a run with `[[notify]]` says so
in one line and goes on; the items wait in the queue.  The URL holds secrets: it is never logged
or shown, targets are named by `name` (default notify[N]).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import make_msgid
from typing import TYPE_CHECKING

from litwatch.jobs.config import Config, NotifyConfig
from litwatch.notifications.digest import Item, build_digest
from litwatch.notifications.exports import pubmed_url
from litwatch.notifications.model import Digest
from litwatch.watchers.store import QueueItem, Store

if TYPE_CHECKING:  # pragma: no cover
    from litwatch.jobs.run.pipeline import Observation, RunSummary

log = logging.getLogger("litwatch.notify")

METHOD = "notify"  # = litwatch.jobs.run.pipeline.NOTIFY_METHOD
TOP = 5
NOTICE_NAMES = {
    "RetractionIn": "Retraction",
    "Retracted Publication": "Retraction",
    "RetractedandRepublishedIn": "Retraction and republication",
    "ExpressionOfConcernIn": "Expression of concern",
    "Expression of Concern": "Expression of concern",
    "ErratumIn": "Correction",
    "UpdateIn": "Update",
}
APPRISE_MISSING = (
    "[[notify]] is configured but Apprise is not installed: pip install 'litwatch[chat]'; "
    "chat messages wait until it is"
)


class NotifyError(Exception):
    """A chat message could not be sent (the text never holds the URL)."""


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
    if target.url is not None:
        return target.url.get_secret_value()
    value = os.environ.get(target.url_env or "", "").strip()
    if not value:
        raise NotifyError(f"environment variable {target.url_env} is not set")
    return value


# -- queueing (inside the run's record transaction) ----------------------------------------------


def enqueue_news(store: Store, config: Config, obs: Observation, run_id: int) -> None:
    """Queue what this run announces for every target: articles (once each), citations, corrections."""
    for target in config.notify:
        key = target_key(target)
        announce = {p for pmids in obs.announce.values() for p in pmids}
        already = store.announced_to(key, announce)
        queue = [
            ("hit", pmid, watch.name)
            for watch in config.watch
            for pmid in sorted(obs.announce.get(watch.name, ()))
            if not already.get(pmid, False)  # new, or still waiting for its message: this watch too
        ]
        queue += [("citation", citing, cited) for cited, citing in sorted(obs.announce_citations)]
        queue += [("correction", p, f"{k}|{n}|{s}") for p, k, n, s in obs.announce_corrections]
        store.enqueue(key, queue, run_id)


# -- the message ----------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Plain text for a Markdown link label: brackets and emphasis characters escaped."""
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", " ".join(text.split()))


def build_digest_for(config: Config, store: Store, items: list[QueueItem], now: datetime) -> Digest:
    queue = [Item(q.kind, q.pmid, q.reason) for q in items]
    pmids = {i.pmid for i in queue} | {i.reason for i in queue if i.kind == "citation"}
    return build_digest(
        "chat", queue, store.articles(pmids), created=now, watch_order=[w.name for w in config.watch]
    )


def message(digest: Digest, top: int = TOP) -> tuple[str, str]:
    """(title, Markdown body): the counts, the corrections, the first `top` articles, linked."""
    from litwatch.notifications.render import subject_line

    counts = subject_line(digest).removeprefix("[litwatch]").strip()
    title = f"litwatch: {counts}"
    lines: list[str] = []
    for c in digest.corrections:
        what = NOTICE_NAMES.get(c.kind, c.kind)
        lines.append(f"- **{_md(what)}** of a tracked paper: [{_md(c.paper.label())}]({pubmed_url(c.paper.pmid)})")
    for entry in digest.entries[:top]:
        why = (
            "cites " + ", ".join(f"PMID {p.pmid}" for p in entry.cites)
            if entry.cites
            else ", ".join(entry.watches)
        )
        lines.append(f"- [{_md(entry.article.title or 'PMID ' + entry.article.pmid)}]({pubmed_url(entry.article.pmid)})"
                     + (f" ({_md(why)})" if why else ""))
    more = len(digest.entries) - top
    if more > 0:
        lines.append(f"- and {more} more in the e-mail digest")
    body = f"**{_md(counts[0].upper() + counts[1:])}**\n\n" + "\n".join(lines)
    return title, body.strip()


# -- sending --------------------------------------------------------------------------------------


def apprise_available() -> bool:
    try:
        import apprise  # noqa: F401
    except ImportError:
        return False
    return True


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _redact(text: str, url: str) -> str:
    """Remove the URL and each part of it that could be a secret (tokens, passwords, paths)."""
    from urllib.parse import urlsplit

    parts = {url}
    try:
        split = urlsplit(url)
        parts |= {split.username or "", split.password or "", split.query, split.fragment}
        parts |= set(split.path.split("/")) | set(re.split(r"[&=]", split.query))
    except ValueError:
        pass
    for part in sorted((p for p in parts if len(p) >= 4), key=len, reverse=True):
        text = text.replace(part, "***")
    return text


@contextmanager
def apprise_muted() -> Iterator[_Collect]:
    """Apprise's own log lines (its DEBUG line "Loaded JSON URL: ..." holds the whole URL, token
    and all) kept out of litwatch's log, whatever -vv asks: collected (WARNING and up) instead."""
    logger = logging.getLogger("apprise")
    collect = _Collect()
    saved = logger.propagate, logger.level
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    logger.addHandler(collect)
    try:
        yield collect
    finally:
        logger.removeHandler(collect)
        logger.propagate = saved[0]
        logger.setLevel(saved[1])


def send(url: str, title: str, body: str) -> None:
    """Send one message through Apprise; raises NotifyError (never naming the URL)."""
    import apprise

    with apprise_muted() as collect:
        sender = apprise.Apprise()
        if not sender.add(url):
            raise NotifyError("not a URL Apprise understands (see https://github.com/caronc/apprise/wiki)")
        try:
            ok = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
        except Exception as exc:  # noqa: BLE001 - a plugin's own failure is a failed message
            raise NotifyError(_redact(f"{type(exc).__name__}: {exc}", url)) from None
    if not ok:
        reason = "; ".join(_redact(line, url) for line in collect.lines[-2:])
        raise NotifyError("not delivered" + (f" ({reason})" if reason else ""))


def send_notifications(config: Config, store: Store, run_id: int, summary: RunSummary, *, now: datetime) -> None:
    """Send each target what its queue holds; failures go to `summary.errors` (the run exits 1)."""
    for d in store.deliveries(status="sending"):
        if d.method == METHOD:  # a run died while sending: queue the items again
            with store.transaction():
                store.mark_failed(d.id, "interrupted while sending; queued again")
    if not apprise_available():
        if any(store.pending(target_key(t)) for t in config.notify):
            summary.warnings.append(APPRISE_MISSING)
        return
    for index, target in enumerate(config.notify):
        key, name = target_key(target), target_name(target, index)
        pending = [q for q in store.pending(key) if q.kind in ("hit", "citation", "correction")]
        if not pending:
            continue
        try:
            url = resolve_url(target)
        except NotifyError as exc:
            summary.errors.append(f"chat message {name}: {exc}")
            log.error("chat message %s not sent: %s", name, exc)
            continue
        title, body = message(build_digest_for(config, store, pending, now))
        payload = json.dumps({"title": title, "body": body}, ensure_ascii=False).encode()
        message_id = make_msgid(idstring=f"litwatch.{run_id}.{key[7:]}", domain="litwatch.invalid")
        with store.transaction():
            ids = [q.id for q in pending]
            delivery_id = store.create_delivery(key, message_id, title, METHOD, payload, run_id, ids)
            store.delivery_attempted(delivery_id)
        try:
            send(url, title, body)
        except NotifyError as exc:
            with store.transaction():
                store.mark_failed(delivery_id, str(exc))
            summary.errors.append(f"chat message {name}: {exc}")
            log.error("chat message %s not sent: %s; the next run tries again", name, exc)
            continue
        with store.transaction():
            store.mark_sent(delivery_id)
        log.info("chat message %s sent (%s)", name, title)
