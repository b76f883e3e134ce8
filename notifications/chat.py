"""Chat messages: a short text of a digest, and the deliverer that posts it through Apprise
(Slack, Teams, Matrix, Mattermost, Discord, generic JSON webhooks and the rest of Apprise's list).

`ChatDeliverer` is a `Deliverer` like `SmtpDeliverer`: the run's one delivery loop
(jobs/run/deliver.py) queues, records and sends chat messages exactly as it does e-mail.  The
message it delivers is the stored payload, JSON `{"title": ..., "body": ...}`; a message left
"sending" by a run that died is resent unchanged, like an e-mail.  Unlike an e-mail, whose
Message-ID lets a mail system drop a duplicate, a chat has no such key: a message whose acceptance
was unknown may then be seen twice.

Apprise is an optional extra (`pip install 'litwatch[chat]'`), imported only when a message is
sent (the deliberate function-level imports below).  The URL holds secrets: it is never logged or
shown (`litwatch.watchers.redact`); targets are named by their `name`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from litwatch.notifications.delivery import DeliveryError
from litwatch.notifications.exports import pubmed_url
from litwatch.notifications.model import Digest
from litwatch.notifications.render import subject_line
from litwatch.watchers.redact import redact, url_parts
from litwatch.watchers.tracked import correction_kind

METHOD = "notify"  # the deliveries' method of chat messages
TOP = 5  # articles named in a message


def apprise_available() -> bool:
    try:
        import apprise  # noqa: F401, PLC0415 - the optional extra
    except ImportError:
        return False
    return True


def _md(text: str) -> str:
    """Plain text for a Markdown link label: brackets and emphasis characters escaped."""
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", " ".join(text.split()))


def chat_text(digest: Digest, top: int = TOP) -> tuple[str, str]:
    """(title, Markdown body): the counts, the corrections, the first `top` articles, linked."""
    counts = subject_line(digest).removeprefix("[litwatch]").strip()
    title = f"litwatch: {counts}"
    lines: list[str] = []
    for c in digest.corrections:
        what = correction_kind(c.kind).label
        lines.append(f"- **{_md(what)}** of a tracked paper: [{_md(c.paper.label())}]({pubmed_url(c.paper.pmid)})")
    for entry in digest.entries[:top]:
        why = "cites " + ", ".join(f"PMID {p.pmid}" for p in entry.cites) if entry.cites else ", ".join(entry.watches)
        label = _md(entry.article.title or "PMID " + entry.article.pmid)
        lines.append(f"- [{label}]({pubmed_url(entry.article.pmid)})" + (f" ({_md(why)})" if why else ""))
    more = len(digest.entries) - top
    if more > 0:
        lines.append(f"- and {more} more in the e-mail digest")
    body = f"**{_md(counts[0].upper() + counts[1:])}**\n\n" + "\n".join(lines)
    return title, body.strip()


def payload(title: str, body: str) -> bytes:
    """What a chat delivery stores and sends."""
    return json.dumps({"title": title, "body": body}, ensure_ascii=False).encode()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


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


@dataclass
class ChatDeliverer:
    """Posts a stored payload to one Apprise URL; raises `DeliveryError` (never naming the URL)."""

    url: str = field(repr=False)
    name: str
    method: str = METHOD

    def describe(self) -> str:
        return f"chat {self.name}"

    def check(self) -> None:
        """Is the URL one Apprise understands?  Nothing is sent."""
        import apprise  # noqa: PLC0415 - the optional extra

        with apprise_muted():
            understood = apprise.Apprise().add(self.url)
        if not understood:
            raise DeliveryError("not a URL Apprise understands", temporary=False)

    def deliver(self, message: bytes, sender: str, recipient: str) -> None:
        data = json.loads(message)
        self.send(str(data["title"]), str(data["body"]))

    def send(self, title: str, body: str) -> None:
        import apprise  # noqa: PLC0415 - the optional extra

        with apprise_muted() as collect:
            sender = apprise.Apprise()
            if not sender.add(self.url):
                raise DeliveryError(
                    "not a URL Apprise understands (see https://github.com/caronc/apprise/wiki)", temporary=False
                )
            try:
                ok = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
            except Exception as exc:  # noqa: BLE001 - a plugin's own failure is a failed message
                raise DeliveryError(self._redact(f"{type(exc).__name__}: {exc}")) from None
        if not ok:
            reason = "; ".join(self._redact(line) for line in collect.lines[-2:])
            raise DeliveryError("not delivered" + (f" ({reason})" if reason else ""))

    def _redact(self, text: str) -> str:
        return redact(text, url_parts(self.url))
