"""One run of `litwatch serve` in a child process.

A run can die by a signal: a C library crashing on hostile input (SIGSEGV), the OOM killer
(SIGKILL).  Run in `serve`'s own process, that kills the scheduler too, and under a supervisor
that restarts it, every restart dies the same way.  So each scheduled run is a fresh child
(multiprocessing "spawn": a new interpreter, never a fork of the threaded scheduler), and `serve`
looks at how it ended:

* an exit code: the run ended on its own (0 ok, 1 failed, 2 bad config, 75 the lock was taken);
  the child logged everything itself, through the same stderr;
* a signal: `serve` logs one line, records the run as failed ("killed by SIGSEGV") under the run
  lock, and makes the admin-alert check the run could not make; then it goes on scheduling.

The child ignores SIGINT and SIGTERM: `serve` decides, with its `--grace`, when a run in progress
is abandoned, and then kills the child.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import threading
from multiprocessing.process import BaseProcess
from pathlib import Path

from litwatch.jobs import parts
from litwatch.jobs.config import Config, load_config
from litwatch.jobs.logs import setup_logging
from litwatch.jobs.run.alerts import check_and_alert
from litwatch.jobs.run.once import run_once
from litwatch.watchers.errors import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    LitwatchError,
    LockBusy,
)

log = logging.getLogger("litwatch.serve")

EXIT_BUSY = EXIT_LOCKED


class ChildRun:
    """The child process of the run in progress (at most one); `kill()` abandons it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._abandoning = False  # serve killed it on purpose: the next run marks it abandoned

    def run(self, config: Config, *, level: int, log_format: str) -> int | None:
        """Run once in a child; its exit code, or None when it was killed by a signal (recorded)."""
        context = multiprocessing.get_context("spawn")
        proc = context.Process(
            target=_child, args=(str(config.source), level, log_format), name="litwatch-run", daemon=False
        )
        with self._lock:
            self._proc = proc
        try:
            proc.start()
            proc.join()
        finally:
            with self._lock:
                self._proc = None
        code = proc.exitcode
        with self._lock:
            abandoned = self._abandoning
        if abandoned:  # serve is exiting: recording now would race its exit; the next run marks it
            return None
        if code is not None and code < 0:
            record_killed(config, -code)
            return None
        return code

    def kill(self) -> None:
        """Abandon the run in progress (serve is exiting): it is left "running" for the next run to
        mark abandoned, as after a power cut; it is not recorded as a crash."""
        with self._lock:
            self._abandoning = True
            proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def record_killed(config: Config, signum: int) -> None:
    """A run died by `signum`: record it as failed and check for the admin alert.  Never raises."""
    why = f"the run was killed by {signal_name(signum)}"
    log.error("%s; recorded as a failed run; litwatch serve goes on", why)
    try:
        with parts.make_lock(config):
            store = parts.make_store(config)
            try:
                store.runs.abandon_stale(error=f"{why} (a crash: nothing it had not committed was kept)")
                check_and_alert(config, store, parts.make_deliverer(config))
            finally:
                store.close()
    except LockBusy:  # another run started meanwhile: it marks the dead run abandoned itself
        pass
    except Exception as exc:  # noqa: BLE001 - serve must go on
        log.error("could not record the killed run: %s", exc)


def _child(source: str, level: int, log_format: str) -> None:
    """The child's side: `litwatch run` with serve's logging; exits with the run's exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setup_logging(0, False, log_format)
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        handler.setLevel(level)
    try:
        config = load_config(Path(source))
    except ConfigError as exc:
        log.error("%s; this run is skipped", exc)
        sys.exit(EXIT_USAGE)
    try:
        summary = run_once(config)
    except LockBusy as exc:
        log.warning("scheduled run skipped: %s", exc)
        sys.exit(EXIT_BUSY)
    except LitwatchError as exc:
        log.error("run failed: %s", exc)
        sys.exit(EXIT_FAILED)
    except Exception:  # a bug: logged, and serve goes on
        log.exception("run failed unexpectedly")
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_OK if summary.outcome == "ok" else EXIT_FAILED)
