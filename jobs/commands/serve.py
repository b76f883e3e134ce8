"""`litwatch serve`: a long-running scheduler (APScheduler 3, BackgroundScheduler).

* Runs on `[schedule] cron` in `[schedule] timezone` (default: the machine's).  Each run is
  exactly `litwatch run` (`litwatch.jobs.run.once.run_once`), with the config re-read first: changes to
  watches, recipients, ... apply at the next run; a changed `[schedule]` applies on restart.
* Each run in a child process (jobs/run/isolated.py): a run killed by a signal (a crash, the OOM
  killer) is recorded as failed, counted for the admin alert, and serve goes on.
* Never two runs at once (one worker thread, max_instances=1; across processes the run lock):
  a run that finds the lock taken (cron, or someone by hand) logs one line and is skipped.
  Runs missed while down are coalesced into one, started late up to `[schedule] misfire_grace`.
* Catch-up at start: when the last successful run is older than the last scheduled time, a run
  starts at once.
* SIGTERM / SIGINT: stop scheduling; a run in progress may finish within `--grace` seconds, else
  it is abandoned: the process exits at once (exit 1).  That is safe: a run's changes commit
  atomically, the OS releases the lock, and the next run marks the run "abandoned" and resends
  any digest left "sending".  A second signal abandons at once.  Exit 0 after a clean stop.
* Logs at INFO by default (a service's log, unlike cron mail): one summary line per run.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from litwatch.jobs import parts
from litwatch.jobs.config import Config, load_config
from litwatch.jobs.run import schedule
from litwatch.jobs.run.isolated import ChildRun
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, ConfigError
from litwatch.watchers.store import Run

log = logging.getLogger("litwatch.serve")

JOB_ID = "litwatch-run"
EXIT_ABANDONED = EXIT_FAILED  # the run was abandoned: nothing is lost, the next run catches up

#: TEST ONLY: seconds between runs, replacing [schedule] cron by an IntervalTrigger so tests need
#: not wait for a cron minute.  Not a feature: never set it in a deployment.
TEST_INTERVAL_ENV = "LITWATCH_TEST_INTERVAL"


def needs_catch_up(runs: list[Run], previous: datetime | None) -> bool:
    """Run at once at start?  When no successful run finished since the last scheduled time."""
    if previous is None:
        return False
    last_ok = next((r for r in runs if r.outcome == "ok"), None)
    if last_ok is None:
        return True
    done = datetime.fromisoformat(last_ok.finished_at or last_ok.started_at)
    return done < previous


def _trigger(config: Config):  # noqa: ANN202
    test_interval = os.environ.get(TEST_INTERVAL_ENV)
    if test_interval:
        try:
            seconds = float(test_interval)
        except ValueError:
            seconds = 0
        if seconds <= 0:
            raise ConfigError(f"{TEST_INTERVAL_ENV}: must be a positive number of seconds")
        log.warning("%s=%s: running every %g s instead of [schedule] cron (for tests only)",
                    TEST_INTERVAL_ENV, test_interval, seconds)
        return IntervalTrigger(seconds=seconds, timezone=schedule.timezone(config))
    return schedule.trigger(config)


class Server:
    def __init__(self, config: Config, grace: float, log_format: str = "text") -> None:
        self.config = config
        self.log_format = log_format
        self._child = ChildRun()
        self.grace = max(0.0, grace)
        self._cv = threading.Condition()
        self._active = False
        self._stopping = False
        self._stop = threading.Event()
        self._signals = 0
        self.scheduler: BackgroundScheduler | None = None

    # -- one scheduled run ------------------------------------------------------------------------

    def job(self) -> None:
        with self._cv:
            if self._stopping:
                return
            self._active = True
        try:
            self._run()
        finally:
            with self._cv:
                self._active = False
                self._cv.notify_all()
                stopping = self._stopping
        if stopping or self.scheduler is None:
            return
        try:
            job = self.scheduler.get_job(JOB_ID)
        except Exception:  # noqa: BLE001 - shutting down meanwhile
            return
        if job is not None and job.next_run_time is not None:
            log.info("next run at %s", job.next_run_time.isoformat(timespec="seconds"))

    def _reload(self) -> Config:
        try:
            fresh = load_config(self.config.source)
        except ConfigError as exc:
            log.error("%s; this run uses the config read before", exc)
            return self.config
        if fresh.schedule != self.config.schedule:
            log.warning("[schedule] changed in %s: it takes effect when litwatch serve restarts", fresh.source)
        self.config = fresh
        return fresh

    def _run(self) -> None:
        config = self._reload()
        try:
            # In a child process: a run that crashes (a signal) cannot take serve down with it,
            # and is recorded as failed (jobs/run/isolated.py).
            self._child.run(config, level=logging.getLogger().level, log_format=self.log_format)
        except Exception:  # a bug must not stop the scheduler
            log.exception("run failed unexpectedly")

    # -- signals ----------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        self._signals += 1
        if self._signals > 1:
            with self._cv:
                active = self._active
            if active:
                self._abandon(f"second {name}")
            return
        log.info("%s: stopping", name)
        self._stop.set()

    def _abandon(self, why: str) -> None:
        log.error(
            "%s: abandoning the run in progress and exiting; nothing is lost: the next run marks it "
            "abandoned, resends any digest left unconfirmed and catches up",
            why,
        )
        self._child.kill()
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(EXIT_ABANDONED)

    # -- the loop ---------------------------------------------------------------------------------

    def serve(self) -> int:
        config = self.config
        tz = schedule.timezone(config)
        trigger = _trigger(config)
        now = datetime.now(tz)
        with parts.make_store(config) as store:
            runs = store.runs.recent(limit=50)
        catch_up = needs_catch_up(runs, schedule.previous_fire(config, now))

        self.scheduler = BackgroundScheduler(
            timezone=tz,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": config.schedule.misfire_grace,
            },
        )
        extra = {"next_run_time": now} if catch_up else {}
        self.scheduler.add_job(self.job, trigger, id=JOB_ID, name="litwatch run", **extra)

        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.scheduler.start()
            job = self.scheduler.get_job(JOB_ID)
            log.info(
                "serving %s: [schedule] cron = %r (%s); %s",
                config.source,
                config.schedule.cron,
                tz,
                "no successful run since the last scheduled time: running now"
                if catch_up
                else f"next run at {job.next_run_time.isoformat(timespec='seconds')}",
            )
            while not self._stop.wait(0.5):
                pass
            with self._cv:
                self._stopping = True
                active = self._active
            self.scheduler.shutdown(wait=False)
            if active:
                log.info("waiting up to %g s for the run in progress to finish", self.grace)
                with self._cv:
                    finished = self._cv.wait_for(lambda: not self._active, timeout=self.grace)
                if not finished:
                    self._abandon(f"the run did not finish within --grace {self.grace:g} s")
            log.info("stopped")
            return EXIT_OK
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def command(args: argparse.Namespace, config: Config) -> int:
    if not getattr(args, "quiet", False) and not getattr(args, "verbose", 0):
        root = logging.getLogger()  # a service's log: one summary line per run
        root.setLevel(logging.INFO)
        for handler in root.handlers:
            handler.setLevel(logging.INFO)
    return Server(config, getattr(args, "grace", 60.0), getattr(args, "log_format", "text")).serve()
