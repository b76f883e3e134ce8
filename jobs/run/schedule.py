"""The schedule of `litwatch serve` ([schedule] cron, timezone), as APScheduler 3 cron triggers."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from tzlocal import get_localzone

from litwatch.jobs.config import Config


def timezone(config: Config):  # noqa: ANN201
    return ZoneInfo(config.schedule.timezone) if config.schedule.timezone else get_localzone()


def trigger(config: Config) -> CronTrigger:
    return CronTrigger.from_crontab(config.schedule.cron, timezone=timezone(config))


def next_fire(config: Config, now: datetime) -> datetime:
    t = trigger(config)
    return t.get_next_fire_time(None, now.astimezone(timezone(config)))


def previous_fire(config: Config, now: datetime) -> datetime | None:
    """The last scheduled time at or before `now` (searching back up to 400 days)."""
    t = trigger(config)
    now = now.astimezone(timezone(config))
    for days in (1, 8, 32, 400):
        start = now - timedelta(days=days)
        last = None
        fire = t.get_next_fire_time(None, start)
        while fire is not None and fire <= now:
            last = fire
            fire = t.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if last is not None:
            return last
    return None


def schedule_period(config: Config) -> timedelta:
    """The gap between two consecutive scheduled runs (the longest of the next few)."""
    t = trigger(config)
    fire = t.get_next_fire_time(None, datetime.now(timezone(config)))
    gaps = []
    for _ in range(8):
        nxt = t.get_next_fire_time(fire, fire + timedelta(seconds=1))
        gaps.append(nxt - fire)
        fire = nxt
    return max(gaps)
