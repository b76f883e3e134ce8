"""`run_once`: one run as `litwatch run` does it, and each scheduled run of `litwatch serve`."""

from __future__ import annotations

import logging

from litwatch.jobs import parts
from litwatch.jobs.config import Config, warn_if_placeholder
from litwatch.jobs.run.alerts import check_and_alert
from litwatch.jobs.run.etiquette import advice_for_run
from litwatch.jobs.run.pipeline import Pipeline
from litwatch.jobs.run.summary import RunSummary

log = logging.getLogger("litwatch")


def run_once(config: Config) -> RunSummary:
    """One run, under the run lock: a one-line warning when NCBI would rather see a run this large
    off-peak (jobs/run/etiquette.py), the pipeline, then the failure alerts (jobs/run/alerts.py),
    whatever the run's outcome.  Ends with the run's summary line: INFO when it succeeded, ERROR
    when it failed (so cron mails it without -v).  Raises `LockBusy` when another run holds the
    lock, and StoreError / EntrezError / DeliveryError when the run could not be carried through.
    """
    deliverer = parts.make_deliverer(config)
    clock = parts.make_clock(config)
    warn_if_placeholder(config)  # once the config is known to be usable: a warning, never a refusal
    with parts.make_lock(config):
        store = parts.make_store(config)
        client = parts.make_client(config)
        sources = parts.make_sources(config)
        finished = False  # the run ended, well or not (not interrupted by Ctrl-C)
        try:
            if store.runs.abandon_stale():
                # A run died (a signal, a power cut) before its own alert check: count it now,
                # before this run can die the same way, so that the admin hears of it.
                check_and_alert(config, store, deliverer)
            advice = advice_for_run(config, store, clock())
            if advice:
                log.warning("%s", advice)
            try:
                summary = Pipeline(config, store, client, deliverer, sources=sources).run()
            except Exception:
                finished = True
                raise
            finished = True
        finally:
            client.close()
            sources.close()
            try:
                if finished:
                    check_and_alert(config, store, deliverer)
            finally:
                store.close()
    log.log(logging.INFO if summary.outcome == "ok" else logging.ERROR, "%s", summary.line())
    for warning in summary.warnings:
        log.warning("%s", warning)
    return summary
