"""`litwatch preview`: render the next digest without sending or marking anything;
`litwatch send-test`: send a sample digest to check the mail settings.

Both use the run's digest composer (jobs/run/compose.py): no pipeline, no Entrez client.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import sys
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from litwatch.jobs import parts
from litwatch.jobs.config import Config, Email
from litwatch.jobs.output import write_output
from litwatch.jobs.run.compose import TEST_PREFIX, Composer
from litwatch.watchers import wording
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, UsageError


def preview(config: Config, *, recipient: str | None, out: Path | None) -> int:
    recipients = {r.email.lower(): r for r in config.recipients()}
    if recipient is None:
        r = config.recipients()[0]
    elif recipient.lower() in recipients:
        r = recipients[recipient.lower()]
    else:
        raise UsageError(f"--recipient: {recipient} is not a recipient in {config.source}")
    with parts.make_store(config) as store:
        composer = Composer(config, store, parts.make_clock(config))
        digest = composer.digest(r, [q.item for q in store.queue.pending(r.email)])
        composed = composer.render(digest, "<preview@litwatch.invalid>")
    message = email.message_from_bytes(composed.message, policy=email.policy.default)
    if out is not None:
        html = message.get_body(preferencelist=("html",))
        write_output(out, (html.get_content() if html else "").encode("utf-8"))
        print(f"{wording.count(len(digest.entries), 'article')}, {wording.count(len(digest.corrections), 'notice')}: written to {out}")
    else:
        text = message.get_body(preferencelist=("plain",))
        sys.stdout.write(f"Subject: {composed.subject}\nTo: {message['To']}\n\n")
        sys.stdout.write(text.get_content() if text else "")
    return EXIT_OK


def send_test(config: Config, *, to: str | None, count: int = 5) -> int:
    """Send a sample digest built from the most recently stored articles, to check the mail
    settings.  Nothing is marked: the queue and the deliveries stay as they are."""
    recipients = [to] if to else [r.email for r in config.recipients()]
    deliverer = parts.make_deliverer(config)
    failures = 0
    with parts.make_store(config) as store:
        composer = Composer(config, store, parts.make_clock(config))
        samples = {recipient: composer.sample(recipient, count) for recipient in recipients}
    for recipient, digest in samples.items():
        composed = composer.render(digest, composer.message_id("litwatch.test"), subject_prefix=TEST_PREFIX)
        try:
            deliverer.deliver(composed.message, config.digest.sender, recipient)
        except Exception as exc:  # noqa: BLE001 - reported, one line per recipient
            print(f"litwatch: test digest to {recipient} failed: {exc}", file=sys.stderr)
            failures += 1
        else:
            print(
                f"test digest sent to {recipient} ({deliverer.describe()}, {wording.count(len(digest.entries), 'sample article')}; "
                "not recorded: `litwatch history` lists real digests only)"
            )
    return EXIT_FAILED if failures else EXIT_OK


def preview_command(args: argparse.Namespace, config: Config) -> int:
    return preview(config, recipient=args.recipient, out=Path(args.out) if args.out else None)


def send_test_command(args: argparse.Namespace, config: Config) -> int:
    if args.to is not None:
        try:
            TypeAdapter(Email).validate_python(args.to)
        except ValidationError:
            raise UsageError(f"send-test --to: not an e-mail address: {args.to!r}") from None
    return send_test(config, to=args.to)
