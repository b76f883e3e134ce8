"""`litwatch preview`: render the next digest without sending or marking anything."""

from __future__ import annotations

import email
import email.policy
import sys
from pathlib import Path

from jobs.config import Config
from notifications.digest import Item
from watchers.store import open_store


def preview(config: Config, *, recipient: str | None, out: Path | None) -> int:
    from jobs.cli import UsageError, make_client, make_deliverer
    from jobs.pipeline import Pipeline

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
        html = message.get_body(preferencelist=("html",))
        out.write_text(html.get_content() if html else "", encoding="utf-8")
        print(f"{len(digest.entries)} articles, {len(digest.corrections)} notices: written to {out}")
    else:
        text = message.get_body(preferencelist=("plain",))
        sys.stdout.write(f"Subject: {message['Subject']}\nTo: {message['To']}\n\n")
        sys.stdout.write(text.get_content() if text else "")
    return 0
