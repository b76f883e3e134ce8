"""Failure alerts: tell `[digest] admin` when litwatch keeps failing.

A failing job sends no digest, and no digest looks like "nothing new".  So, after every run
(`litwatch.jobs.run.once.run_once`, whatever its outcome), two problems are looked for:

* "runs": the last `[digest] admin_after_failures` runs (default 3) all failed (or were abandoned);
* "delivery": digests to a recipient have been failing for more than a day (each recipient on
  their own, chat messages apart: `Store.failing_deliveries`).

When one holds, a plain-text e-mail goes to the admin through the configured deliverer (SMTP, or
the outbox folder): subject "[litwatch] FAILING: ...", the errors of the failed runs, what is
pending per recipient, where the store is.  It is sent when the problem is first seen, then at
most about once a day (23 hours apart at least, so that a daily schedule reminds daily) while it
persists; a problem that went away and came back is alerted again at once.  Each alert sent is
recorded in the store's `alerts` table.  Alerting never makes a run fail: its errors are logged.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from litwatch.jobs.config import Config
from litwatch.notifications.chat import METHOD as NOTIFY_METHOD
from litwatch.notifications.delivery import Deliverer, DeliveryError
from litwatch.notifications.render import _set_header
from litwatch.watchers.store import Run, Store

log = logging.getLogger("litwatch.alerts")

FAILED = ("failed", "abandoned")
DELIVERY_GRACE = timedelta(days=1)  # digests failing longer than this are alerted
REPEAT_AFTER = timedelta(hours=23)  # "at most once a day", with room for a daily run's jitter
STREAK_LOOKBACK = 200  # runs read to list a failing streak


@dataclass(frozen=True)
class Problem:
    kind: str  # "runs" or "delivery"
    headline: str  # for the subject
    since: datetime | None  # when this episode started: an alert sent before it is about another one


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    value = datetime.fromisoformat(stamp)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def failing_streak(runs: list[Run]) -> list[Run]:
    """The failed runs since the last successful one, newest first (runs newest first)."""
    streak = []
    for r in runs:
        if r.outcome == "ok":
            break
        if r.outcome in FAILED:
            streak.append(r)
    return streak


def find_problems(store: Store, threshold: int, now: datetime) -> tuple[list[Problem], list[Run]]:
    problems: list[Problem] = []
    streak = failing_streak(store.runs.recent(limit=STREAK_LOOKBACK))
    if len(streak) >= threshold:
        problems.append(
            Problem(
                "runs",
                "the last run failed" if len(streak) == 1 else f"the last {len(streak)} runs failed",
                _parse(store.runs.last_success()),
            )
        )
    late = {r: since for r, since in _failing_digests(store).items() if now - since > DELIVERY_GRACE}
    if late:
        failing_since = min(late.values())
        days = (now - failing_since).days
        who = sorted(late)
        names = who[0] + (f" and {len(who) - 1} more" if len(who) > 1 else "")
        problems.append(
            Problem(
                "delivery",
                f"digests to {names} not delivered for {days} day{'s' if days != 1 else ''}",
                failing_since,
            )
        )
    return problems, streak


def _failing_digests(store: Store) -> dict[str, datetime]:
    """Recipient -> since when their digests fail (e-mail only: chat messages are not digests)."""
    failing = store.deliveries.failing(method_not=NOTIFY_METHOD)
    return {r: when for r, stamp in failing.items() if (when := _parse(stamp)) is not None}


def is_due(problem: Problem, last_sent: datetime | None, now: datetime) -> bool:
    """Alert now?  The first time, when a new episode began since the last alert, or a day later."""
    if last_sent is None:
        return True
    if problem.since is not None and last_sent < problem.since:
        return True
    return now - last_sent >= REPEAT_AFTER


def compose(config: Config, store: Store, problems: list[Problem], streak: list[Run], now: datetime) -> tuple[str, str]:
    """Subject and plain text of the alert."""
    subject = "[litwatch] FAILING: " + "; ".join(p.headline for p in problems)
    lines = [f"litwatch is failing: {'; '.join(p.headline for p in problems)}.", ""]
    lines += [
        "Nothing found is lost: it is kept in the store and goes out with the next digest that can be",
        "delivered.  Until then the recipients receive nothing, which looks like \"nothing new\".",
        "",
    ]
    if streak:
        lines.append(f"Failed runs since the last successful one ({store.runs.last_success() or 'never'}), newest first:")
        for r in streak[:10]:
            why = r.error or ("the process stopped before the run finished" if r.outcome == "abandoned" else "see the log")
            lines.append(f"  run {r.id}  {r.started_at}  {r.outcome}: {why}")
        if len(streak) > 10:
            lines.append(f"  ... and {len(streak) - 10} earlier failed runs")
        lines.append("")
    failing = _failing_digests(store)
    if failing:
        failed = [d for d in store.deliveries.find(status="failed", limit=50) if d.method != NOTIFY_METHOD]
        in_doubt = [d for d in store.deliveries.find(status="sending") if d.method != NOTIFY_METHOD]
        for recipient, since in sorted(failing.items(), key=lambda item: item[1]):
            lines.append(f"Digests to {recipient} failing since {since.isoformat(timespec='minutes')}:")
            for d in [d for d in failed if d.recipient == recipient][:5]:
                lines.append(f"  {d.created_at}  {d.error or 'refused'}")
            for d in [d for d in in_doubt if d.recipient == recipient]:
                lines.append(f"  {d.created_at}  acceptance unknown, will be resent ({d.error or 'no answer'})")
        lines.append("")
    lines.append("Pending per recipient (not yet delivered):")
    pending: dict[str, Counter[str]] = {}
    for q in store.queue.pending():
        pending.setdefault(q.recipient, Counter())[q.kind] += 1
    recipients = [r.email for r in config.recipients()]
    recipients += [who for who in pending if who not in recipients]
    for who in recipients:
        kinds = pending.get(who, Counter())
        what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(kinds.items())) or "nothing"
        lines.append(f"  {who}: {what}; last digest delivered: {store.deliveries.last_sent(who) or 'never'}")
    lines += [
        "",
        f"Store:  {store.location if not config.store.url else 'PostgreSQL ([store] url in the config)'}",
        f"Config: {config.source}",
        f"Check:  litwatch status --config {config.source}",
        "",
        "This alert is repeated at most once a day while the problem lasts.",
        f"Sent {now.isoformat(timespec='seconds')} by litwatch.",
    ]
    return subject, "\n".join(lines) + "\n"


def build_message(config: Config, admin: str, subject: str, text: str, now: datetime) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = config.digest.sender
    msg["To"] = admin
    _set_header(msg, "Subject", subject)  # folded so that parsers get no leading space back
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(idstring="litwatch.alert", domain=config.digest.sender.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, subtype="plain", charset="utf-8")
    return msg.as_bytes()


def check_and_alert(config: Config, store: Store, deliverer: Deliverer, *, now: datetime | None = None) -> list[str]:
    """Look for problems and send the alert that is due; the kinds alerted.  Never raises."""
    try:
        return _check_and_alert(config, store, deliverer, now or datetime.now(UTC))
    except Exception as exc:  # noqa: BLE001 - alerting must never crash a run
        log.error("could not check for or send a failure alert: %s", exc)
        return []


def _check_and_alert(config: Config, store: Store, deliverer: Deliverer, now: datetime) -> list[str]:
    problems, streak = find_problems(store, config.digest.admin_after_failures, now)
    if not problems:
        return []
    due = []
    for p in problems:
        last = store.alerts.last(p.kind)
        if is_due(p, _parse(last.sent_at) if last else None, now):
            due.append(p)
    if not due:
        return []
    admin = config.digest.admin
    headline = "; ".join(p.headline for p in problems)
    if admin is None:
        log.error("litwatch is failing (%s) and no [digest] admin is configured to be told", headline)
        return []
    subject, text = compose(config, store, problems, streak, now)
    try:
        deliverer.deliver(build_message(config, admin, subject, text, now), config.digest.sender, admin)
    except DeliveryError as exc:
        log.error("could not send the failure alert (%s) to %s: %s", headline, admin, exc)
        return []
    stamp = now.astimezone(UTC).isoformat(timespec="seconds")
    for p in due:
        store.alerts.record(p.kind, text, sent_at=stamp)
    log.warning("failure alert sent to %s: %s", admin, headline)
    return [p.kind for p in due]


def alert_set_aside(config: Config, store: Store, deliverer: Deliverer, why: str, *, now: datetime | None = None) -> bool:
    """Tell `[digest] admin` that an item was set aside (the mail server refuses it for good).
    Sent each time (a set-aside item is never tried again, so this happens once per item);
    recorded in `alerts` as kind "set_aside".  Never raises; whether it was sent."""
    now = now or datetime.now(UTC)
    admin = config.digest.admin
    if admin is None:
        log.error("%s; no [digest] admin is configured to be told", why)
        return False
    text = "\n".join(
        [
            f"litwatch set an item aside: {why}.",
            "",
            "The mail server refuses every message holding it, so it is not queued again; the other",
            "items were delivered without it.  Read it with: litwatch show PMID, or in PubMed.",
            "",
            f"Config: {config.source}",
            f"Sent {now.isoformat(timespec='seconds')} by litwatch.",
        ]
    ) + "\n"
    try:
        deliverer.deliver(
            build_message(config, admin, "[litwatch] an item was set aside (refused by the mail server)", text, now),
            config.digest.sender,
            admin,
        )
        store.alerts.record("set_aside", text, sent_at=now.astimezone(UTC).isoformat(timespec="seconds"))
    except Exception as exc:  # noqa: BLE001 - alerting never fails a run
        log.error("could not tell the admin (%s) that an item was set aside: %s", admin, exc)
        return False
    return True
