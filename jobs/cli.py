"""The `litwatch` command.

Exit codes: 0 done; 1 the run failed (NCBI, the store or a delivery; nothing is lost and the next
run catches up); 2 bad configuration or usage; 75 another run holds the lock (EX_TEMPFAIL).
Silent on success unless -v: cron mails whatever a job prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
import sys
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from jobs.config import CONFIG_ENV, DEFAULT_CONFIG, Config, ConfigError, config_path, load_config
from jobs.runlock import EX_TEMPFAIL, LockBusy, run_lock
from notifications.delivery import Deliverer, DeliveryError, OutboxDeliverer, SmtpDeliverer
from watchers.entrez import EntrezClient, EntrezError
from watchers.icite import ICiteClient
from watchers.store import Store, StoreError, open_store

log = logging.getLogger("litwatch")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or input: exit code 2."""


# -- building the parts from the config -----------------------------------------------------------


def make_client(config: Config) -> EntrezClient:
    return EntrezClient(
        email=config.ncbi.email,
        api_key=config.api_key(),
        base_url=config.ncbi.base_url,
        timeout=config.ncbi.timeout,
        retries=config.ncbi.retries,
    )


def make_icite(config: Config) -> ICiteClient | None:
    if "icite" not in config.tracked.sources:
        return None
    return ICiteClient(config.tracked.icite_url, timeout=config.ncbi.timeout)


def make_deliverer(config: Config) -> Deliverer:
    if config.smtp is None:
        return OutboxDeliverer(config.outbox_path)
    smtp = config.smtp
    return SmtpDeliverer(
        host=smtp.host,
        port=smtp.effective_port,
        security=smtp.security,
        username=smtp.username,
        password=config.smtp_password(),
        timeout=smtp.timeout,
        ca_file=str(config.resolve(smtp.ca_file)) if smtp.ca_file else None,
    )


def make_store(config: Config) -> Store:
    return open_store(path=config.store_path, url=config.store.url)


def lock_for(config: Config):  # noqa: ANN201
    return run_lock(store_path=config.store_path, url=config.store.url)


def warn_if_readable(config: Config) -> None:
    """A config file holding a secret should not be readable by others."""
    if not (config.ncbi.api_key or (config.smtp and config.smtp.password_file)):
        return
    try:
        mode = config.source.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s holds a secret and is readable by others; run: chmod 600 %s", config.source, config.source)


# -- commands -------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from jobs.pipeline import Pipeline

    deliverer = make_deliverer(config)
    with lock_for(config):
        store = make_store(config)
        client = make_client(config)
        icite = make_icite(config)
        try:
            summary = Pipeline(config, store, client, deliverer, icite=icite).run()
        finally:
            client.close()
            if icite:
                icite.close()
            store.close()
    log.info("%s", summary.line())
    for warning in summary.warnings:
        log.warning("%s", warning)
    return EXIT_OK if summary.outcome == "ok" else EXIT_FAILED


def cmd_track(args: argparse.Namespace, config: Config) -> int:
    from jobs.tracking import track_add, track_list, track_remove

    if args.track_command == "add":
        return track_add(config, args.pmids, args.note)
    if args.track_command == "remove":
        return track_remove(config, args.pmids)
    return track_list(config, as_json=args.json)


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from jobs.status import status

    return status(config, as_json=args.json, check=args.check)


def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    from jobs.preview import preview

    return preview(config, recipient=args.recipient, out=Path(args.out) if args.out else None)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from jobs.scheduler import serve

    return serve(config, args)


# -- parsing --------------------------------------------------------------------------------------


def _version() -> str:
    try:
        return version("litwatch")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help=f"config file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG})",
    )
    common.add_argument("-v", "--verbose", action="count", default=0, help="progress and a run summary (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="only errors")
    common.add_argument("--log-format", choices=("text", "json"), default="text", help="log lines on stderr")

    parser = _Parser(
        prog="litwatch",
        formatter_class=fmt,
        description="Watch PubMed: new articles for your searches, new citations and retractions of "
        "papers you track, in one digest.",
        epilog="exit codes: 0 done, 1 run failed (nothing lost; the next run catches up), "
        "2 bad configuration or usage, 75 another run holds the lock\n\n"
        "example:\n  litwatch run --config /etc/litwatch/litwatch.toml -v",
    )
    parser.add_argument("--version", action="version", version=f"litwatch {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "run",
        parents=[common],
        formatter_class=fmt,
        help="one pass: search, diff, build and deliver the digests",
        description="Run every watch once, look up citations and corrections of tracked papers, store "
        "what is new and deliver the digests that are due.",
        epilog="example:\n  litwatch run --config config/litwatch.toml -v",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "track",
        parents=[common],
        formatter_class=fmt,
        help="add, remove or list tracked papers",
        description="Tracked papers: their new citations and any retraction or correction are reported. "
        "PMIDs from the config file and from this command are merged; a PMID listed in the config "
        "is removed by editing the config, not by `track remove`.",
        epilog="examples:\n  litwatch track add 39973148 --note 'zanubrutinib case series'\n"
        "  litwatch track list\n  litwatch track remove 39973148",
    )
    tsub = p.add_subparsers(dest="track_command", metavar="ACTION", parser_class=_Parser)
    tsub.required = True
    a = tsub.add_parser("add", parents=[common], help="track papers (fetched from PubMed and stored)")
    a.add_argument("pmids", nargs="+", metavar="PMID")
    a.add_argument("--note", default="", help="a note shown in `track list`")
    r = tsub.add_parser("remove", parents=[common], help="stop tracking papers added with `track add`")
    r.add_argument("pmids", nargs="+", metavar="PMID")
    ls = tsub.add_parser("list", parents=[common], help="PMID, title, first author, year, citations known, note")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_track)

    p = sub.add_parser(
        "status",
        parents=[common],
        formatter_class=fmt,
        help="last runs, next run, pending deliveries, tracked papers",
        description="Show what litwatch has been doing.  With --check, exit 1 when the last run failed or "
        "no run succeeded within two schedule periods (for a container HEALTHCHECK or monitoring).",
        epilog="examples:\n  litwatch status\n  litwatch status --json\n  litwatch status --check",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--check", action="store_true", help="exit 1 when unhealthy, 0 when healthy")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "preview",
        parents=[common],
        formatter_class=fmt,
        help="render the next digest without sending or marking anything",
        description="Render what the next digest would contain, from what is queued now.",
        epilog="example:\n  litwatch preview --recipient lab@example.org --out next.html",
    )
    p.add_argument("--recipient", metavar="EMAIL", help="whose digest (default: the first recipient)")
    p.add_argument("--out", metavar="FILE", help="write the HTML there (default: the text part to stdout)")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser(
        "serve",
        parents=[common],
        formatter_class=fmt,
        help="keep running, and run on the [schedule]",
        description="A long-running scheduler: runs on [schedule] cron, never two at once, catches up a "
        "missed run at start.  SIGTERM/SIGINT stop it cleanly.  Schedule changes take effect on restart.",
        epilog="example:\n  litwatch serve --config /data/litwatch.toml",
    )
    p.set_defaults(func=cmd_serve)
    return parser


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds"),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


def setup_logging(verbose: int, quiet: bool, fmt: str) -> None:
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("litwatch: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "apscheduler", "filelock"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False), getattr(args, "log_format", "text"))
    try:
        config = load_config(config_path(args.config))
        warn_if_readable(config)
        return args.func(args, config)
    except (ConfigError, UsageError) as exc:
        print(f"litwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LockBusy as exc:
        print(f"litwatch: {exc}; not running", file=sys.stderr)
        return EX_TEMPFAIL
    except (StoreError, EntrezError, DeliveryError) as exc:
        print(f"litwatch: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("litwatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
