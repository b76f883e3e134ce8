"""The `litwatch` command line: every command, its options and help."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

from litwatch.jobs.config import CONFIG_ENV, DEFAULT_CONFIG, Config
from litwatch.jobs.terminal import SHELLS, completion_script
from litwatch.notifications.exports import FORMATS
from litwatch.watchers.errors import EXIT_OK, EXIT_USAGE

# -- the parser --------------------------------------------------------------------------------------


def _version() -> str:
    try:
        return version("litwatch")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _seconds(value: str) -> float:
    """A duration in seconds, 0 or more (argparse: a bad one is a one-line usage error)."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {value!r}")
    return seconds


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    def add_common(p: argparse.ArgumentParser, *, top: bool) -> None:
        # Accepted before the command and after it: the command's own copy has no default, so
        # that it never overwrites what was given before the command.
        def default(value: object) -> object:
            return value if top else argparse.SUPPRESS

        p.add_argument(
            "-c",
            "--config",
            metavar="FILE",
            default=default(None),
            help=f"config file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG})",
        )
        p.add_argument(
            "-v", "--verbose", action="count", default=default(0), help="progress and a run summary (-vv: debug)"
        )
        p.add_argument("-q", "--quiet", action="store_true", default=default(False), help="only errors")
        p.add_argument("--log-format", choices=("text", "json"), default=default("text"), help="log lines on stderr")

    common = _Parser(add_help=False)
    add_common(common, top=False)

    parser = _Parser(
        prog="litwatch",
        formatter_class=fmt,
        description="Watch PubMed: new articles for your searches, new citations and retractions of "
        "papers you track, in one digest.",
        epilog="exit codes: 0 done, 1 run failed (nothing lost; the next run catches up), "
        "2 bad configuration or usage, 75 another run holds the lock, 141 the output's reader went away\n\n"
        "example:\n  litwatch run --config /etc/litwatch/litwatch.toml -v",
    )
    parser.add_argument("--version", action="version", version=f"litwatch {_version()}")
    add_common(parser, top=True)
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
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, let a run in progress finish for this long, else abandon it and exit 1 "
        "(nothing is lost: the next run catches up; default: 60)",
    )

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
    p.add_argument(
        "--to",
        required=True,
        metavar="URL_OR_PATH",
        help="the new store: postgresql://... (no password in it: set PGPASSWORD or use ~/.pgpass, or type it "
        "when asked on a terminal) or a SQLite file",
    )
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


def _add_rate_command(sub, common: argparse.ArgumentParser, fmt: type) -> None:  # noqa: ANN001
    """rate up|down|undo|clear|list (jobs/commands/rate.py)."""
    p = sub.add_parser(
        "rate",
        parents=[common],
        formatter_class=fmt,
        help="rate articles up or down for a reader: their next digests are ranked by it",
        description="Ratings teach litwatch what a reader wants first.  A paper rated up joins the reader's "
        "reference set (new articles close to it rank higher), a paper rated down their negative set; with "
        "enough ratings a model of the reader's own refines the order.  A rating takes effect at the next "
        "digest.  The recipient defaults to the only one in the config.",
        epilog="examples:\n  litwatch rate up 39973148 41000012\n  litwatch rate down 41000007 --recipient lab@example.org\n"
        "  litwatch rate undo 41000007\n  litwatch rate list --json",
    )
    rsub = p.add_subparsers(dest="rate_command", metavar="ACTION", parser_class=_Parser)
    rsub.required = True
    who = _Parser(add_help=False)
    who.add_argument("--recipient", metavar="EMAIL", help="whose rating (default: the only recipient)")
    for action, text in (
        ("up", "more like these: they join the reader's reference set"),
        ("down", "not for me: articles like these rank lower"),
        ("undo", "remove the reader's ratings of these papers"),
    ):
        a = rsub.add_parser(
            action, parents=[common, who], formatter_class=fmt, help=text, epilog=f"example:\n  litwatch rate {action} 39973148"
        )
        a.add_argument("pmids", nargs="+", metavar="PMID")
    rsub.add_parser(
        "clear",
        parents=[common, who],
        formatter_class=fmt,
        help="remove every rating of the reader",
        epilog="example:\n  litwatch rate clear --recipient lab@example.org",
    )
    ls = rsub.add_parser(
        "list",
        parents=[common, who],
        formatter_class=fmt,
        help="the reader's ratings (everyone's when there are several recipients and none is named)",
        epilog="examples:\n  litwatch rate list\n  litwatch rate list --json",
    )
    ls.add_argument("--json", action="store_true", help="machine-readable output (an export of the ratings)")


def _add_everyday_commands(sub, common: argparse.ArgumentParser, fmt: type) -> None:  # noqa: ANN001
    """rate, history, show, export, completion."""
    _add_rate_command(sub, common, fmt)
    p = sub.add_parser(
        "history",
        parents=[common],
        formatter_class=fmt,
        help="what was announced, when, to whom and why",
        description="Every delivered digest and chat message, oldest first: when, to whom, and each article "
        "with why it was there (the watch that found it, the tracked paper it cites, a retraction); a digest "
        "without articles (a first run's notes) by its subject.  `send-test` mails are not digests and are "
        "not listed.",
        epilog="examples:\n  litwatch history --since 2026-11-01\n  litwatch history --watch 'BTK inhibitors in ITP'",
    )
    p.add_argument("--since", metavar="DATE", help="only deliveries on or after DATE (YYYY-MM-DD, UTC)")
    p.add_argument("--watch", metavar="NAME", help="only articles this watch found")
    p.add_argument("--json", action="store_true", help="machine-readable output")

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


def completion_command(args: argparse.Namespace, config: Config | None) -> int:
    """`litwatch completion SHELL`: the parser itself, as a completion script."""
    sys.stdout.write(completion_script(build_parser(), args.shell))
    return EXIT_OK
