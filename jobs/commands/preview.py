"""`litwatch preview`: render the next digest without sending or marking anything."""

from __future__ import annotations

import email
import email.policy
import sys
from pathlib import Path

from litwatch.jobs.config import Config
from litwatch.notifications.digest import Item
from litwatch.watchers import wording
from litwatch.watchers.store import open_store


def preview(config: Config, *, recipient: str | None, out: Path | None) -> int:
    from litwatch.jobs.cli.main import UsageError, make_client, make_deliverer
    from litwatch.jobs.run.pipeline import Pipeline

    recipients = {r.email.lower(): r for r in config.recipients()}
    if recipient is None:
        r = config.recipients()[0]
    elif recipient.lower() in recipients:
        r = recipients[recipient.lower()]
    else:
        raise UsageError(f"--recipient: {recipient} is not a recipient in {config.source}")
    with open_store(path=config.store_path, url=config.store.url) as store:
        client = make_client(config)
        pipeline = Pipeline(config, store, client, make_deliverer(config))
        items = [Item(q.kind, q.pmid, q.reason) for q in store.pending(r.email)]
        digest = pipeline.digest_for(r, items)
        raw = pipeline.render(digest, "<preview@litwatch.invalid>")
        client.close()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if out is not None:
        from litwatch.jobs.cli.output import write_output

        html = message.get_body(preferencelist=("html",))
        write_output(out, (html.get_content() if html else "").encode("utf-8"))
        print(f"{wording.count(len(digest.entries), 'article')}, {wording.count(len(digest.corrections), 'notice')}: written to {out}")
    else:
        text = message.get_body(preferencelist=("plain",))
        sys.stdout.write(f"Subject: {message['Subject']}\nTo: {message['To']}\n\n")
        sys.stdout.write(text.get_content() if text else "")
    return 0


def send_test(config: Config, *, to: str | None, count: int = 5) -> int:
    """Send a sample digest built from the most recently stored articles, to check the mail
    settings.  Nothing is marked: the queue and the deliveries stay as they are."""
    from datetime import datetime
    from email.utils import make_msgid

    from litwatch.jobs.cli.main import make_deliverer
    from litwatch.notifications.model import Digest, Entry, WatchNote
    from litwatch.notifications.render import render_digest

    recipients = [to] if to else [r.email for r in config.recipients()]
    with open_store(path=config.store_path, url=config.store.url) as store:
        pmids = [r[0] for r in store.rows("SELECT pmid FROM articles ORDER BY fetched_at DESC, pmid DESC LIMIT ?", (count,))]
        articles = store.articles(pmids)
    deliverer = make_deliverer(config)
    failures = 0
    for recipient in recipients:
        digest = Digest(
            recipient=recipient,
            created=datetime.now().astimezone(),
            entries=tuple(Entry(article=articles[p], watches=("Sample",)) for p in pmids if p in articles),
            notes=(WatchNote("litwatch send-test", "This is a test digest; nothing was marked as sent."),),
        )
        domain = config.digest.sender.rpartition("@")[2]
        message = render_digest(
            digest,
            sender=config.digest.sender,
            message_id=make_msgid(idstring="litwatch.test", domain=domain),
            max_items=config.digest.max_items,
            attach=tuple(config.digest.attach),
            templates_dir=config.templates_path,
        )
        message.replace_header("Subject", "[litwatch] test: " + str(message["Subject"]).removeprefix("[litwatch] "))
        try:
            deliverer.deliver(message.as_bytes(), config.digest.sender, recipient)
        except Exception as exc:  # noqa: BLE001 - reported, one line per recipient
            print(f"litwatch: test digest to {recipient} failed: {exc}", file=sys.stderr)
            failures += 1
        else:
            print(
                f"test digest sent to {recipient} ({deliverer.describe()}, {wording.count(len(digest.entries), 'sample article')}; "
                "not recorded: `litwatch history` lists real digests only)"
            )
    return 1 if failures else 0
