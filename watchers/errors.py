"""Every litwatch error, and the exit code each one ends the command with: the one table.

The root `LitwatchError` lives here, in the lowest layer (`watchers`), because the layers import
downwards only (jobs -> notifications -> watchers): the store, Entrez and iCite errors are raised
here, delivery errors in `notifications`, configuration, usage and lock errors in `jobs`, and all
of them derive from this one root.  The exit codes are not spread over the modules that raise:
`exit_code(exc)` maps an exception class to its code from `EXIT_CODES`, and the dispatcher
(`litwatch.jobs.cli.main`) uses it for every command.

Exit codes: 0 done; 1 the run failed (NCBI, the store or a delivery; nothing is lost and the next
run catches up); 2 bad configuration or usage; 75 another run holds the lock (EX_TEMPFAIL, from
sysexits.h: cron and systemd retry later); 130 interrupted (Ctrl-C); 141 the reader of standard output
went away (`| head`; 128 + SIGPIPE).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75  # EX_TEMPFAIL
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # standard output was closed by its reader (128 + SIGPIPE)


class LitwatchError(Exception):
    """The root of every error litwatch reports as one line (never a traceback)."""


class StoreError(LitwatchError):
    """The store cannot be used: unreadable, corrupt, locked, or from a newer litwatch."""


class LockBusy(LitwatchError):
    """Another run holds the store's run lock."""


class UsageError(LitwatchError):
    """Bad usage or input on the command line."""


class ConfigError(LitwatchError):
    """The configuration file is missing or invalid (one line, naming the file and the field)."""


# Exception class -> exit code; the first class an exception is an instance of wins, so a
# subclass may be listed before its base.  Classes raised in the upper layers (DeliveryError,
# EntrezError, ...) derive from `LitwatchError` and end as EXIT_FAILED unless listed.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_USAGE),
    (UsageError, EXIT_USAGE),
    (LockBusy, EXIT_LOCKED),
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (LitwatchError, EXIT_FAILED),
)


def exit_code(exc: BaseException) -> int | None:
    """The exit code a command ends with on `exc`; None for an exception that is a bug."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return None
