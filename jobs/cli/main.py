"""The `litwatch` command.

Exit codes: 0 done; 1 the run failed (NCBI, the store or a delivery; nothing is lost and the next
run catches up); 2 bad configuration or usage; 75 another run holds the lock (EX_TEMPFAIL).
Silent on success unless -v: cron mails whatever a job prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import stat
import sys
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from litwatch.jobs.cli import terminal
from litwatch.jobs.config import CONFIG_ENV, DEFAULT_CONFIG, Config, ConfigError, config_path, load_config
from litwatch.jobs.run.lock import EX_TEMPFAIL, LockBusy, run_lock
from litwatch.notifications.delivery import Deliverer, DeliveryError, OutboxDeliverer, SmtpDeliverer
from litwatch.watchers.entrez import EntrezClient, EntrezError
from litwatch.watchers.icite import ICiteClient
from litwatch.watchers.store import Store, StoreError, open_store

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
    return open_store(path=config.store_path, url=config.store.url, timeout=config.store.busy_timeout)


def lock_for(config: Config):  # noqa: ANN201
    return run_lock(store_path=config.store_path, url=config.store.url)


def warn_if_readable(config: Config) -> None:
    """A file holding a secret should not be readable by others: the config file when it holds the
    API key or a chat URL, and the SMTP password file (which holds the password, not the config)."""
    holders = []
    if config.ncbi.api_key or any(n.url for n in config.notify):
        holders.append(config.source)
    if config.smtp and config.smtp.password_file:
        holders.append(config.resolve(config.smtp.password_file))
    if config.tracked.openalex_key_file:
        holders.append(config.resolve(config.tracked.openalex_key_file))
    for path in holders:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning("%s holds a secret and is readable by others; run: chmod 600 %s", path, path)


# -- commands -------------------------------------------------------------------------------------


def run_once(config: Config):  # -> RunSummary
    """One run: what `litwatch run` does, and each scheduled run of `litwatch serve`.

    Under the run lock: a one-line warning when NCBI would rather see a run this large off-peak
    (jobs/etiquette.py), the pipeline, then the failure alerts (jobs/alerts.py), whatever the
    run's outcome.  Ends with the run's summary line: INFO when it succeeded, ERROR when it failed
    (so cron mails it without -v).  Raises `LockBusy` when another run holds the lock, and
    StoreError / EntrezError / DeliveryError when the run could not be carried through.
    """
    from litwatch.jobs.run.alerts import check_and_alert
    from litwatch.jobs.run.etiquette import advice_for_run
    from litwatch.jobs.run.outside import make_clients
    from litwatch.jobs.run.pipeline import Pipeline

    deliverer = make_deliverer(config)
    with lock_for(config):
        store = make_store(config)
        client = make_client(config)
        sources = make_clients(config)
        finished = False  # the run ended, well or not (not interrupted by Ctrl-C)
        try:
            advice = advice_for_run(config, store, datetime.now().astimezone())
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


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    return EXIT_OK if run_once(config).outcome == "ok" else EXIT_FAILED


def cmd_track(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.track import track_add, track_list, track_remove

    if args.track_command == "add":
        return track_add(config, args.pmids, args.note)
    if args.track_command == "remove":
        return track_remove(config, args.pmids)
    return track_list(config, as_json=args.json)


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.status import status

    return status(config, as_json=args.json, check=args.check)


def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.preview import preview

    return preview(config, recipient=args.recipient, out=Path(args.out) if args.out else None)


def cmd_send_test(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.preview import send_test

    return send_test(config, to=args.to)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.serve import serve

    return serve(config, args)


def cmd_init(args: argparse.Namespace, config: Config | None) -> int:
    from litwatch.jobs.commands.init import init

    return init(args)


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.check import check

    return check(config, quiet=args.quiet)


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.export import ExportUsageError
    from litwatch.jobs.commands.history import history

    try:
        return history(config, since=args.since, watch=args.watch, as_json=args.json)
    except ExportUsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.history import show

    if not args.pmid.isdigit():
        raise UsageError(f"not a PMID: {args.pmid!r}")
    return show(config, args.pmid, as_json=args.json)


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.export import ExportUsageError, export

    try:
        return export(
            config, args.format, watch=args.watch, since=args.since, output=Path(args.output) if args.output else None
        )
    except ExportUsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_completion(args: argparse.Namespace, config: Config | None) -> int:
    from litwatch.jobs.cli.terminal import completion_script

    sys.stdout.write(completion_script(build_parser(), args.shell))
    return EXIT_OK


def cmd_migrate_store(args: argparse.Namespace, config: Config) -> int:
    from litwatch.jobs.commands.migrate_store import migrate_store

    return migrate_store(config, args.to)


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
    _add_setup_commands(sub, common, fmt)

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
    a = tsub.add_parser(
        "add",
        parents=[common],
        formatter_class=fmt,
        help="track papers (fetched from PubMed and stored)",
        epilog="example:\n  litwatch track add 39973148 --note 'zanubrutinib case series'",
    )
    a.add_argument("pmids", nargs="+", metavar="PMID")
    a.add_argument("--note", default="", help="a note shown in `track list`")
    r = tsub.add_parser(
        "remove",
        parents=[common],
        formatter_class=fmt,
        help="stop tracking papers added with `track add`",
        epilog="example:\n  litwatch track remove 39973148",
    )
    r.add_argument("pmids", nargs="+", metavar="PMID")
    ls = tsub.add_parser(
        "list",
        parents=[common],
        formatter_class=fmt,
        help="PMID, title, first author, year, citations known, note",
        epilog="examples:\n  litwatch track list\n  litwatch track list --json",
    )
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
        "send-test",
        parents=[common],
        formatter_class=fmt,
        help="send a sample digest to check the mail settings",
        description="Send a sample digest built from stored articles through the configured delivery "
        "([smtp], else the outbox folder).  Nothing is marked as sent.",
        epilog="example:\n  litwatch send-test --to me@example.org",
    )
    p.add_argument("--to", metavar="EMAIL", help="send only to this address (default: every recipient)")
    p.set_defaults(func=cmd_send_test)

    p = sub.add_parser(
        "serve",
        parents=[common],
        formatter_class=fmt,
        help="keep running, and run on the [schedule]",
        description="A long-running scheduler: runs on [schedule] cron, never two at once, catches up a "
        "missed run at start.  SIGTERM/SIGINT stop it cleanly.  Schedule changes take effect on restart; "
        "other config changes at the next run.  Logs one summary line per run (INFO is the default "
        "level here; -q: errors only).",
        epilog="example:\n  litwatch serve --config /data/litwatch.toml",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, let a run in progress finish for this long, else abandon it and exit 1 "
        "(nothing is lost: the next run catches up; default: 60)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "migrate-store",
        parents=[common],
        formatter_class=fmt,
        help="copy the store into a new, empty PostgreSQL or SQLite store",
        description="Copy every table of the configured store, ids included, into a new empty store: a "
        "postgresql:// URL or a SQLite file path (so it works both ways).  Runs under the run lock, "
        "in one transaction on the target, then compares and prints the row counts of each table.  "
        "The config is not changed: point [store] at the new store afterwards.",
        epilog="examples:\n  litwatch migrate-store --to postgresql://litwatch@db.example.org/litwatch\n"
        "  litwatch migrate-store --to /var/lib/litwatch/litwatch.db",
    )
    p.add_argument("--to", required=True, metavar="URL_OR_PATH", help="the new store: postgresql://... or a SQLite file")
    p.set_defaults(func=cmd_migrate_store)
    _add_everyday_commands(sub, common, fmt)
    return parser


def _add_setup_commands(sub, common: argparse.ArgumentParser, fmt: type) -> None:  # noqa: ANN001
    """init and check: listed first, as they come first."""
    p = sub.add_parser(
        "init",
        parents=[common],
        formatter_class=fmt,
        help="write a starter config (asks on a terminal; flags for scripts)",
        description="Write a starter config, FOLDER/litwatch.toml (default: --config, else ./litwatch.toml), "
        "following BTK inhibitors in immune thrombocytopenia: edit the watches afterwards.  Your addresses "
        "and mail server come from the flags, or are asked for when standard input is a terminal.  "
        "The file is made readable by you only; an existing file is never replaced (exit 2).",
        epilog="examples:\n  litwatch init ~/litwatch\n"
        "  litwatch init /etc/litwatch --email me@example.org --recipient lab@example.org "
        "--smtp-host smtp.example.org --smtp-username me@example.org",
    )
    p.add_argument("folder", nargs="?", metavar="FOLDER", help="where to write litwatch.toml (created if missing)")
    p.add_argument("--email", metavar="EMAIL", help="your address: NCBI's contact, and the default for the others")
    p.add_argument("--recipient", action="append", metavar="EMAIL", help="who receives the digests (repeatable)")
    p.add_argument("--sender", metavar="EMAIL", help="From address of the digests (default: --email)")
    p.add_argument("--smtp-host", metavar="HOST", help="mail server (default: none, digests go to a folder)")
    p.add_argument("--smtp-port", type=int, metavar="PORT", help="default: 587 (starttls), 465 (tls), 25 (none)")
    p.add_argument("--smtp-security", choices=("starttls", "tls", "none"), help="default: starttls")
    p.add_argument("--smtp-username", metavar="USER", help="log in as USER")
    p.add_argument(
        "--smtp-password-env", metavar="NAME", help="environment variable holding the password "
        "(default: LITWATCH_SMTP_PASSWORD)"
    )
    p.set_defaults(func=cmd_init, needs_config=False)

    p = sub.add_parser(
        "check",
        parents=[common],
        formatter_class=fmt,
        help="check the config: queries in PubMed, the mail server, chat targets",
        description="Validate the config; ask PubMed for each watch's hit count and show how PubMed reads "
        "the query (its translation) and any complaint (a phrase not found, ...); connect to the mail "
        "server, start TLS and log in without sending.  Nothing is stored.  Exit 1 on any problem.",
        epilog="example:\n  litwatch check --config ~/litwatch/litwatch.toml",
    )
    p.set_defaults(func=cmd_check)


def _add_everyday_commands(sub, common: argparse.ArgumentParser, fmt: type) -> None:  # noqa: ANN001
    """history, show, export, completion."""
    from litwatch.jobs.commands.export import FORMATS
    from litwatch.jobs.cli.terminal import SHELLS

    p = sub.add_parser(
        "history",
        parents=[common],
        formatter_class=fmt,
        help="what was announced, when, to whom and why",
        description="Every delivered digest and chat message, oldest first: when, to whom, and each article "
        "with why it was there (the watch that found it, the tracked paper it cites, a retraction).",
        epilog="examples:\n  litwatch history --since 2026-11-01\n  litwatch history --watch 'BTK inhibitors in ITP'",
    )
    p.add_argument("--since", metavar="DATE", help="only deliveries on or after DATE (YYYY-MM-DD, UTC)")
    p.add_argument("--watch", metavar="NAME", help="only articles this watch found")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "show",
        parents=[common],
        formatter_class=fmt,
        help="a stored article in full",
        description="Every stored field of an article (title, authors, journal, dates, DOI, PMC, MeSH terms, "
        "abstract, ...) and why litwatch has it.  Exit 1 when the store does not hold it.",
        epilog="example:\n  litwatch show 39973148",
    )
    p.add_argument("pmid", metavar="PMID")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "export",
        parents=[common],
        formatter_class=fmt,
        help="stored articles as RIS, BibTeX, CSV or JSON",
        description="Export the stored articles (all, those a watch found, or those first seen since a date), "
        "oldest first, to standard output or a file: RIS for reference managers (Zotero, EndNote), BibTeX "
        "for LaTeX, CSV for spreadsheets, JSON for scripts.",
        epilog="examples:\n  litwatch export --format ris --watch 'BTK inhibitors in ITP' --output btk-itp.ris\n"
        "  litwatch export --format bibtex --since 2026-01-01 > new.bib",
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="output format")
    p.add_argument("--watch", metavar="NAME", help="only the articles this watch found")
    p.add_argument("--since", metavar="DATE", help="only articles first seen on or after DATE (YYYY-MM-DD, UTC)")
    p.add_argument("--output", metavar="FILE", help="write to FILE (default: standard output)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "completion",
        parents=[common],
        formatter_class=fmt,
        help="print the shell completion script",
        description="Print a tab-completion script for bash, zsh or tcsh (commands, options, file names).",
        epilog="examples:\n  litwatch completion bash > ~/.local/share/bash-completion/completions/litwatch\n"
        "  litwatch completion zsh > ~/.zfunc/_litwatch   # with fpath+=~/.zfunc before compinit",
    )
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=cmd_completion, needs_config=False)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds"),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                **({"exception": self.formatException(record.exc_info)} if record.exc_info else {}),
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
    handler.setLevel(level)  # also for libraries whose loggers set a lower level of their own
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "apscheduler", "filelock"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False), getattr(args, "log_format", "text"))
    json_logs = getattr(args, "log_format", "text") == "json"

    def fail(message: str, code: int) -> int:
        """The one line of a failed command; with --log-format json, a JSON line too."""
        terminal.clear()
        if json_logs:
            log.error("%s", message)
        else:
            print(f"litwatch: {message}", file=sys.stderr)
        return code

    terminal.configure(quiet=getattr(args, "quiet", False), log_format=getattr(args, "log_format", "text"))
    try:
        if not getattr(args, "needs_config", True):  # init, completion: no config file yet
            return args.func(args, None)
        config = load_config(config_path(args.config))
        warn_if_readable(config)
        return args.func(args, config)
    except (ConfigError, UsageError) as exc:
        return fail(str(exc), EXIT_USAGE)
    except LockBusy as exc:
        return fail(f"{exc}; not running", EX_TEMPFAIL)
    except (StoreError, EntrezError, DeliveryError) as exc:
        return fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    finally:
        terminal.clear()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
