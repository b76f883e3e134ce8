"""The `litwatch` command: parse, set up logging, load the config, dispatch to the command.

Commands are named in `COMMANDS` as "module:function" strings and imported only when run
(`importlib`), so `litwatch status` never loads the pipeline, and no command module imports the
command line back.  Each command function takes `(args, config)` and returns the exit code.
The exit code of an error comes from `litwatch.watchers.errors.EXIT_CODES`, the one table.
Silent on success unless -v: cron mails whatever a job prints.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import stat
import sys
from collections.abc import Callable, Sequence

from litwatch.jobs import terminal
from litwatch.jobs.cli.parser import build_parser
from litwatch.jobs.config import Config, config_path, load_config, url_has_password
from litwatch.jobs.logs import setup_logging
from litwatch.watchers.errors import EXIT_PIPE, LockBusy, exit_code

log = logging.getLogger("litwatch")

Command = Callable[[argparse.Namespace, Config | None], int]

# `litwatch COMMAND` -> "module:function", imported when that command runs (deliberately lazy).
COMMANDS: dict[str, str] = {
    "init": "litwatch.jobs.commands.init:command",
    "check": "litwatch.jobs.commands.check:command",
    "run": "litwatch.jobs.commands.run:command",
    "track": "litwatch.jobs.commands.track:command",
    "status": "litwatch.jobs.commands.status:command",
    "preview": "litwatch.jobs.commands.preview:preview_command",
    "send-test": "litwatch.jobs.commands.preview:send_test_command",
    "serve": "litwatch.jobs.commands.serve:command",
    "migrate-store": "litwatch.jobs.commands.migrate_store:command",
    "rate": "litwatch.jobs.commands.rate:command",
    "history": "litwatch.jobs.commands.history:history_command",
    "show": "litwatch.jobs.commands.history:show_command",
    "export": "litwatch.jobs.commands.export:command",
    "completion": "litwatch.jobs.cli.parser:completion_command",
}
# Commands that run before any config exists.
WITHOUT_CONFIG = frozenset({"init", "completion"})


def load_command(name: str) -> Command:
    module, _, function = COMMANDS[name].partition(":")
    command: Command = getattr(importlib.import_module(module), function)
    return command


def warn_if_readable(config: Config) -> None:
    """A file holding a secret should not be readable by others: the config file when it holds the
    API key or a chat URL, and the SMTP password file (which holds the password, not the config)."""
    holders = []
    if config.ncbi.api_key or any(n.url for n in config.notify) or (
        config.store.url and url_has_password(config.store.url)
    ):
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
            print(f"litwatch: {terminal.printable(message)}", file=sys.stderr)
        return code

    terminal.configure(quiet=getattr(args, "quiet", False), log_format=getattr(args, "log_format", "text"))
    try:
        command = load_command(args.command)
        if args.command in WITHOUT_CONFIG:
            code = command(args, None)
        else:
            config = load_config(config_path(args.config))
            warn_if_readable(config)
            code = command(args, config)
        sys.stdout.flush()  # here, where a closed pipe is handled, not at exit
        return code
    except BrokenPipeError:
        # `litwatch check | head -1`: the reader has gone; nothing more to say to it (exit 141,
        # 128 + SIGPIPE, like other commands in a pipe).  Python's flush at exit must not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except (Exception, KeyboardInterrupt) as exc:
        failed = exit_code(exc)
        if failed is None:  # a bug: the traceback
            raise
        code = failed
        if isinstance(exc, KeyboardInterrupt):
            return fail("interrupted", code)
        if isinstance(exc, LockBusy):
            return fail(f"{exc}; not running", code)
        return fail(str(exc), code)
    finally:
        terminal.clear()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
