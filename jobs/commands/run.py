"""`litwatch run`: one pass (jobs/run/once.py); exit 1 when the run failed."""

from __future__ import annotations

import argparse

from litwatch.jobs.config import Config
from litwatch.jobs.run.once import run_once
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK


def command(args: argparse.Namespace, config: Config) -> int:
    return EXIT_OK if run_once(config).outcome == "ok" else EXIT_FAILED
