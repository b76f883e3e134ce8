"""`litwatch status`: last runs, next scheduled run, pending deliveries, tracked papers, the store.

`--check` exits 1 when the last run failed or no run succeeded within two schedule periods
(usable as a container HEALTHCHECK and by monitoring), 0 otherwise.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime, timedelta

from litwatch.jobs import parts
from litwatch.jobs.config import Config
from litwatch.jobs.run.schedule import next_fire, schedule_period
from litwatch.jobs.terminal import printable, printable_json
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, LockBusy
from litwatch.watchers.wording import count


def _a_run_holds_the_lock(config: Config) -> bool:
    """Whether a run is in progress now.  The lock is taken and released at once when free (a run
    starting in that instant exits 75 and runs next time)."""
    try:
        with parts.make_lock(config):
            return False
    except LockBusy:
        return True


def gather(config: Config) -> dict:
    now = datetime.now().astimezone()
    with parts.make_store(config) as store:
        runs = store.runs.recent(limit=10)
        pending: dict[str, int] = {}
        for q in store.queue.pending():
            pending[q.recipient] = pending.get(q.recipient, 0) + 1
        unsent = store.deliveries.find(status="sending")
        failed = [d for d in store.deliveries.find(status="failed", limit=20)]
        tracked = store.tracked.all()
        alerts = store.alerts.recent(limit=5)
        location = store.location
        articles = store.articles.count()
        states = store.sources.source_states()
    last_ok = next((r for r in runs if r.outcome == "ok"), None)
    if any(r.outcome == "running" for r in runs) and not _a_run_holds_the_lock(config):
        # Its process is gone (killed, a crash, a power cut) and no run has marked it yet.
        runs = [replace(r, outcome="abandoned") if r.outcome == "running" else r for r in runs]
    return {
        "store": location if not config.store.url else "postgresql (url in config)",
        "articles": articles,
        "next_run": next_fire(config, now).isoformat(timespec="minutes"),
        "runs": [
            {
                "id": r.id,
                "started": r.started_at,
                "finished": r.finished_at,
                "duration_s": _duration(r.started_at, r.finished_at),
                "outcome": r.outcome,
                "new_articles": r.new_articles,
                "new_citations": r.new_citations,
                "corrections": r.corrections,
                "digests_sent": r.deliveries,
                "requests": r.requests,
                "error": r.error,
            }
            for r in runs
        ],
        "last_success": last_ok.finished_at if last_ok else None,
        "pending_items": pending,
        "deliveries_in_doubt": [{"recipient": d.recipient, "message_id": d.message_id} for d in unsent],
        "recent_failed_deliveries": [
            {"recipient": d.recipient, "created": d.created_at, "error": d.error} for d in failed[:5]
        ],
        "tracked_papers": len(tracked),
        "sources": {
            name: {
                "healthy": st.healthy,
                "last_success": st.last_success,
                "last_error": st.last_error or None,
                "last_error_at": st.last_error_at,
            }
            for name, st in states.items()
            if not name.startswith("preprints:")
        },
        "recent_alerts": [{"kind": a.kind, "sent": a.sent_at} for a in alerts],
    }


def _duration(start: str, end: str | None) -> float | None:
    if not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


def health(config: Config, info: dict) -> tuple[bool, str]:
    runs = [r for r in info["runs"] if r["outcome"] != "running"]
    if not runs:
        return False, "no run has finished yet"
    if runs[0]["outcome"] != "ok":
        return False, f"the last run {runs[0]['outcome']}: {runs[0]['error'] or 'see the log'}"
    last = datetime.fromisoformat(info["last_success"])
    now = datetime.now(last.tzinfo)
    limit = 2 * schedule_period(config) + timedelta(seconds=config.schedule.misfire_grace)
    if now - last > limit:
        return False, f"no successful run since {info['last_success']}"
    return True, f"last successful run {info['last_success']}"


def _say(text: str) -> None:
    """Print a line that carries the store's words (NCBI's errors, titles): made `printable`."""
    print(printable(text))


def status(config: Config, *, as_json: bool, check: bool) -> int:
    info = gather(config)
    ok, reason = health(config, info)
    info["healthy"] = ok
    info["health"] = reason
    if as_json:
        _say(printable_json(info, indent=2))
    elif check:
        _say(("healthy: " if ok else "unhealthy: ") + reason)
    else:
        _say(f"store:          {info['store']} ({count(info['articles'], 'article')})")
        _say(f"health:         {'ok' if ok else 'FAILING'} ({reason})")
        _say(f"next run:       {info['next_run']} (litwatch serve; [schedule] cron = {config.schedule.cron!r})")
        _say(f"tracked papers: {info['tracked_papers']}")
        if info["sources"]:
            _say("sources:")
            for name, st in info["sources"].items():
                if st["healthy"]:
                    line = f"ok (last success {st['last_success']})"
                else:
                    line = f"FAILING since {st['last_error_at']}: {st['last_error'][:100]}"
                    line += f" (last success {st['last_success'] or 'never'})"
                _say(f"  {name:<15} {line}")
        pend = ", ".join(f"{k}: {v}" for k, v in info["pending_items"].items()) or "none"
        _say(f"pending items:  {pend}")
        if info["deliveries_in_doubt"]:
            _say(f"in doubt:       {count(len(info['deliveries_in_doubt']), 'digest')} will be resent")
        if info["recent_alerts"]:
            last = info["recent_alerts"][0]
            _say(f"last alert:     {last['sent']} ({last['kind']}; sent to [digest] admin)")
        _say("last runs:")
        for r in info["runs"]:
            _say(
                f"  #{r['id']:<4} {r['started'][:19]}  {r['outcome']:<9} {r['duration_s'] or 0:>6.1f}s  "
                f"new={r['new_articles']} citations={r['new_citations']} corrections={r['corrections']} "
                f"sent={r['digests_sent']} requests={r['requests']}"
                + (f"  error: {r['error'][:80]}" if r["error"] else "")
            )
    if check:
        return EXIT_OK if ok else EXIT_FAILED
    return EXIT_OK


def command(args: argparse.Namespace, config: Config) -> int:
    return status(config, as_json=args.json, check=args.check)
