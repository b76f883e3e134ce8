"""Logging of the `litwatch` command: one line per message on stderr, as text or JSON."""

from __future__ import annotations

import logging
import sys
from datetime import datetime

from litwatch.jobs.terminal import PrintableFormatter, printable_json


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable_json(
            {
                "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds"),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                **({"exception": self.formatException(record.exc_info)} if record.exc_info else {}),
            },
        )


def setup_logging(verbose: int, quiet: bool, fmt: str) -> None:
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(PrintableFormatter("litwatch: %(levelname)s: %(message)s"))
    handler.setLevel(level)  # also for libraries whose loggers set a lower level of their own
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "apscheduler", "filelock", "apprise"):  # apprise's DEBUG lines name chat URLs
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
