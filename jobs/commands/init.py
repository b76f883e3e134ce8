"""`litwatch init [FOLDER]`: write a starter config.

The starter is the packaged copy of config/litwatch.toml (`jobs/starter.toml`, kept identical by a
test), with the user's addresses and mail server filled in from flags, or asked for when stdin is
a terminal.  The file is checked with the same validation `litwatch run` uses before it is
written, is created readable by its owner only (0600), and an existing file is never replaced.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from litwatch.jobs.config import DEFAULT_CONFIG, Config, Email, config_path, parse_config
from litwatch.notifications.delivery import is_loopback
from litwatch.watchers.errors import EXIT_OK, EXIT_USAGE

DEFAULT_PASSWORD_ENV = "LITWATCH_SMTP_PASSWORD"
SECURITIES = ("starttls", "tls", "none")
PORTS = {"none": 25, "starttls": 587, "tls": 465}


def starter_text() -> str:
    return resources.files("litwatch.jobs").joinpath("starter.toml").read_text(encoding="utf-8")


def toml_str(value: str) -> str:
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", out) + '"'


def set_key(text: str, section: str, key: str, value: str) -> str:
    """Replace the value of the first `key = ...` line of `[section]`, keeping its comment."""
    lines = text.splitlines(keepends=True)
    inside = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped in (f"[{section}]", f"[[{section}]]")
            continue
        match = re.match(rf"^({re.escape(key)}\s*=\s*)(\"[^\"]*\"|\[[^\]]*\]|[^\s#]+)(.*)$", line.rstrip("\n"))
        if inside and match:
            lines[i] = match.group(1) + value + match.group(3) + "\n"
            return "".join(lines)
    raise RuntimeError(f"the starter config has no [{section}] {key}")  # the template changed: a bug


def _commented(line: str, comment: str) -> str:
    return f"{line:<26} # {comment}"


def smtp_table(host: str, port: int | None, security: str, username: str | None, password_env: str | None) -> str:
    lines = ["[smtp]", f"host = {toml_str(host)}"]
    lines.append(f"port = {port or PORTS[security]}")
    choices = '"starttls", "tls" (implicit, port 465) or "none" (local relay only)'
    lines.append(_commented(f"security = {toml_str(security)}", choices))
    if username:
        lines.append(f"username = {toml_str(username)}")
        variable = toml_str(password_env or DEFAULT_PASSWORD_ENV)
        lines.append(_commented(f"password_env = {variable}", "export it before running"))
    return "\n".join(lines) + "\n"


def fill(
    text: str,
    *,
    email: str | None = None,
    recipients: list[str] | None = None,
    sender: str | None = None,
    smtp: str | None = None,
) -> str:
    """The starter config with these settings in place (None leaves the starter's value)."""
    if email:
        text = set_key(text, "ncbi", "email", toml_str(email))
    if recipients:
        text = set_key(text, "digest", "recipients", "[" + ", ".join(toml_str(r) for r in recipients) + "]")
    if sender:
        text = set_key(text, "digest", "sender", toml_str(sender))
    if smtp:
        block = re.compile(r"^# \[smtp\]\n(?:#.*\n)*", re.MULTILINE)
        if not block.search(text):
            raise RuntimeError("the starter config has no commented [smtp] table")  # the template changed
        text = block.sub(lambda _: smtp, text, count=1)
    return text


# -- asking ---------------------------------------------------------------------------------------

_EMAIL = TypeAdapter(Email)


def _valid_email(value: str) -> str | None:
    try:
        _EMAIL.validate_python(value)
    except ValidationError:
        return f"not an e-mail address: {value!r}"
    return None


def _ask(question: str, default: str = "", check: Callable[[str], str | None] | None = None) -> str:
    while True:
        sys.stderr.write(f"{question}" + (f" [{default}]" if default else "") + ": ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:  # end of input
            raise EOFError
        answer = line.strip() or default
        problem = check(answer) if check else None
        if problem is None:
            return answer
        sys.stderr.write(f"  {problem}\n")


def _port(value: str) -> str | None:
    return None if value.isascii() and value.isdigit() and 1 <= int(value) <= 65535 else "a port number, 1 to 65535"


def _host(value: str) -> str | None:
    if value and not re.fullmatch(r"[A-Za-z0-9._:\[\]-]+", value):
        return f"not a host name: {value!r}"
    return None


def _env_name(value: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) else f"not an environment variable name: {value!r}"


def _login(host: str, security: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value and security == "none" and not is_loopback(host):
            return f'a login to {host} without TLS would send the password in clear text; choose security "starttls" or "tls"'
        return None

    return check


def _emails(value: str) -> str | None:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        return "give at least one address"
    return next((p for p in map(_valid_email, items) if p), None)


def _interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def gather(args: argparse.Namespace) -> dict:
    """The settings: the flags given, and, on a terminal, answers for the rest."""
    email, recipients, sender = args.email, list(args.recipient or []), args.sender
    host, port, security = args.smtp_host, args.smtp_port, args.smtp_security
    username, password_env = args.smtp_username, args.smtp_password_env
    if _interactive():
        sys.stderr.write("litwatch init: a few questions (Enter takes the [default]).\n")
        if not email:
            email = _ask("Your e-mail address (NCBI asks every E-utilities user for one)", check=_valid_email)
        if not recipients:
            answer = _ask("Who receives the digests (addresses, comma-separated)", email, _emails)
            recipients = [r.strip() for r in answer.split(",") if r.strip()]
        if not sender:
            sender = _ask("From address of the digests", email, _valid_email)
        if host is None:
            host = _ask("Mail server (SMTP host; empty: write the digests to a folder instead)", check=_host) or None
        if host:
            if security is None:
                security = _ask(
                    "  security (starttls, tls, none)",
                    "starttls",
                    lambda v: None if v in SECURITIES else "one of: starttls, tls, none",
                )
            if port is None:
                port = int(_ask("  port", str(PORTS[security]), _port))
            if username is None:
                username = _ask("  user name to log in with (empty: no login)", check=_login(host, security)) or None
            if username and not password_env:
                password_env = _ask("  environment variable that will hold the password", DEFAULT_PASSWORD_ENV, _env_name)
    if not recipients and email:
        recipients = [email]
    if not sender and email:
        sender = email
    return {
        "email": email,
        "recipients": recipients,
        "sender": sender,
        "smtp": smtp_table(host, port, security or "starttls", username, password_env) if host else None,
        "password_env": (password_env or DEFAULT_PASSWORD_ENV) if host and username else None,
    }


def flag_problem(args: argparse.Namespace) -> str | None:
    """Flags that make no sense as given (checked before anything is asked)."""
    if not args.smtp_host:
        given = [
            flag
            for flag, value in (
                ("--smtp-port", args.smtp_port),
                ("--smtp-security", args.smtp_security),
                ("--smtp-username", args.smtp_username),
                ("--smtp-password-env", args.smtp_password_env),
            )
            if value is not None
        ]
        if given and not _interactive():
            return f"{', '.join(given)} without --smtp-host: give the mail server too"
    if args.smtp_host and (problem := _host(args.smtp_host)):
        return f"--smtp-host: {problem}"
    if args.smtp_port is not None and _port(str(args.smtp_port)):
        return f"--smtp-port: {args.smtp_port} is not a port number (1 to 65535)"
    if args.smtp_password_env is not None and (problem := _env_name(args.smtp_password_env)):
        return f"--smtp-password-env: {problem}"
    if args.smtp_host and args.smtp_username and (problem := _login(args.smtp_host, args.smtp_security or "starttls")(args.smtp_username)):
        return f"--smtp-username: {problem}"
    return None


def target_path(args: argparse.Namespace) -> Path:
    if args.folder and args.config:
        raise ValueError("give a FOLDER or --config FILE, not both")
    if args.folder:
        return Path(args.folder) / DEFAULT_CONFIG
    return config_path(args.config)


def init(args: argparse.Namespace) -> int:
    try:
        path = target_path(args)
    except ValueError as exc:
        print(f"litwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if path.exists() or path.is_symlink():
        print(f"litwatch: {path} exists; not overwriting it", file=sys.stderr)
        return EXIT_USAGE
    problem = flag_problem(args)
    if problem:
        print(f"litwatch: init: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = gather(args)
    except EOFError:
        print("\nlitwatch: no answer; nothing written", file=sys.stderr)
        return EXIT_USAGE
    text = fill(
        starter_text(),
        email=settings["email"],
        recipients=settings["recipients"],
        sender=settings["sender"],
        smtp=settings["smtp"],
    )
    parse_config(tomllib.loads(text), path.resolve())  # ConfigError (exit 2) before anything is written
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.parent.exists() and not path.parent.is_dir():
            print(f"litwatch: {path.parent} is a file, not a folder; nothing written", file=sys.stderr)
        else:
            print(f"litwatch: {path} exists; not overwriting it", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"litwatch: cannot write {path}: {exc.strerror or exc}; nothing written", file=sys.stderr)
        return EXIT_USAGE
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
    if not args.quiet:
        shown = str(path)
        print(f"Wrote {shown} (readable by you only).")
        if not settings["email"]:
            print("Edit it first: [ncbi] email, [digest] sender and recipients are still example addresses.")
        if settings["password_env"]:
            print(f"Put the mail password in the environment: export {settings['password_env']}=...")
        print("Next:")
        print(f"  litwatch check --config {shown}     # PubMed's reading of each query; the mail server")
        print(f"  litwatch run --config {shown} -v    # the first run stores what each watch finds now")
    return EXIT_OK


def command(args: argparse.Namespace, config: Config | None) -> int:
    return init(args)
