"""The deployment files (Dockerfile, compose.yaml, deploy/*): no Docker engine or systemd here, so
check what can be checked: every litwatch command they run parses with the real argument parser,
the paths agree, the schedules look right, and the compose config is a valid litwatch config."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from litwatch.jobs.cli.parser import build_parser
from litwatch.jobs.config import CONFIG_ENV, parse_config
from litwatch.watchers.errors import EXIT_LOCKED as EX_TEMPFAIL
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
BIN = "/opt/litwatch/venv/bin/litwatch"  # where the cron and systemd recipes install litwatch
STATE = "/var/lib/litwatch"
HOST_CONFIG = f"{STATE}/litwatch.toml"


def parse_command(argv: list[str]):  # noqa: ANN201 - argparse.Namespace
    """`litwatch ...` parsed by the real parser (SystemExit, i.e. a failed test, if it does not parse)."""
    assert Path(argv[0]).name == "litwatch", argv
    return build_parser().parse_args(argv[1:])


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser


# -- Docker -----------------------------------------------------------------------------------------


def test_dockerfile() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    get = lambda kind: [arg for k, arg in steps if k == kind]  # noqa: E731
    runs = " ".join(get("RUN"))
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "pip install ."
    assert re.search(r"useradd .*\blitwatch\b", runs)
    assert get("USER") == ["litwatch"]
    assert json.loads(get("VOLUME")[0]) == ["/data"]
    assert get("WORKDIR")[-1] == "/data"
    env = " ".join(get("ENV"))
    assert f"{CONFIG_ENV}=/data/litwatch.toml" in env

    # what is copied exists, and is the package
    copied = [src for arg in get("COPY") for src in arg.split()[:-1]]
    for src in copied:
        assert (ROOT / src).exists(), src
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    assert {s.rstrip("/") for s in copied} >= set(setuptools["package-dir"].values()) | {"pyproject.toml"}
    # every folder of code is installed, in the litwatch namespace
    folders = {
        "litwatch." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in setuptools["package-dir"].values()
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert folders == set(setuptools["packages"])
    assert pyproject["project"]["scripts"]["litwatch"] == "litwatch.jobs:main"
    if isinstance(pyproject["project"].get("readme"), str):
        assert pyproject["project"]["readme"] in copied

    (cmd,) = get("CMD")
    args = parse_command(json.loads(cmd))
    assert args.command == "serve"
    (health,) = get("HEALTHCHECK")
    options, _, check = health.partition(" CMD ")
    assert all(o.startswith("--") for o in options.split())
    args = parse_command(json.loads(check))
    assert args.command == "status" and args.check
    assert get("STOPSIGNAL") == ["SIGTERM"]


def test_dockerignore_keeps_what_the_image_needs() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    for needed in ("pyproject.toml", "README.md", "jobs", "watchers", "notifications"):
        assert not any(needed == p.rstrip("/") for p in ignored), needed


def test_compose() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert "\t" not in text
    services = re.search(r"^services:\n((?:  .*\n|\n)+)", text, re.M)
    assert services
    names = re.findall(r"^  ([a-z][a-z0-9-]*):\s*$", services.group(1), re.M)
    assert names == ["litwatch", "mailpit"]
    assert re.search(r"^\s+image: axllent/mailpit(:\S+)?\s*$", text, re.M)
    assert re.search(rf"^\s+{CONFIG_ENV}: /data/litwatch.toml\s*$", text, re.M)
    mounts = re.findall(r"^\s+- (\S+:\S+)\s*$", text, re.M)
    targets = {m.split(":")[1]: m.split(":")[0] for m in mounts}
    assert targets["/data"] == "litwatch-data"
    assert re.search(r"^volumes:\n  litwatch-data:", text, re.M)
    config_file = targets["/data/litwatch.toml"]
    assert (ROOT / config_file).is_file()
    # a run in progress gets `serve --grace` before the container is killed
    grace = build_parser().parse_args(["serve"]).grace
    stop = re.search(r"stop_grace_period: (\d+)s", text)
    assert stop and int(stop.group(1)) > grace

    # the config it mounts is a valid litwatch config, its state in /data, its [smtp] the mail catcher
    data = tomllib.loads((ROOT / config_file).read_text())
    config = parse_config(data, Path("/data/litwatch.toml"))
    assert config.store_path == Path("/data/litwatch.db")
    assert config.outbox_path.parent == Path("/data")
    assert config.smtp is not None and config.smtp.host in names and config.smtp.host != "litwatch"
    assert config.smtp.effective_port == 1025  # Mailpit's SMTP port
    assert config.digest.admin


# -- cron -------------------------------------------------------------------------------------------


def test_crontab() -> None:
    lines = [
        line for line in (DEPLOY / "crontab").read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6, "5 time fields and a command"
    assert all(re.fullmatch(r"[0-9*/,-]+", f) for f in fields[:5]), fields
    CronTrigger.from_crontab(" ".join(fields[:5]), timezone="UTC")
    assert "flock" not in fields[5]
    argv = shlex.split(fields[5])
    assert argv[0] == BIN
    args = parse_command(argv)
    assert args.command == "run" and args.config == HOST_CONFIG
    assert not args.quiet and not args.verbose, "silent on success, errors mailed by cron"
    assert ">" not in fields[5], "stderr is left to cron, which mails it"


# -- systemd ----------------------------------------------------------------------------------------


def _environment(section: configparser.SectionProxy) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(section.get("Environment", "")))


def test_systemd_oneshot_service_and_timer() -> None:
    service = unit("litwatch.service")["Service"]
    assert service["Type"] == "oneshot"
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == BIN
    assert parse_command(argv).command == "run"
    assert _environment(service)[CONFIG_ENV] == HOST_CONFIG
    assert str(EX_TEMPFAIL) in service["SuccessExitStatus"].split()
    assert f"/var/lib/{service['StateDirectory']}" == STATE == str(Path(HOST_CONFIG).parent)
    assert service["WorkingDirectory"] == STATE
    assert service["User"] == "litwatch"

    timer = unit("litwatch.timer")
    t = timer["Timer"]
    assert re.fullmatch(r"(\*|[A-Z][a-z]{2}(,[A-Z][a-z]{2})*)?\s*\*-\*-\*\s+\d{2}:\d{2}(:\d{2})?", t["OnCalendar"]), t[
        "OnCalendar"
    ]
    hour, minute = (int(x) for x in t["OnCalendar"].split()[-1].split(":")[:2])
    assert 0 <= hour < 24 and 0 <= minute < 60
    assert t["Persistent"] == "true"
    assert t.get("Unit", "litwatch.service") == "litwatch.service"
    assert (DEPLOY / t.get("Unit", "litwatch.service")).is_file()
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert "Install" not in unit("litwatch.service"), "started by the timer, not enabled itself"


def test_systemd_serve_service() -> None:
    u = unit("litwatch-serve.service")
    service = u["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == BIN
    args = parse_command(argv)
    assert args.command == "serve"
    assert _environment(service)[CONFIG_ENV] == HOST_CONFIG
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > args.grace, "stop waits longer than the grace of a run"
    assert service["Type"] in ("exec", "simple")
    assert service["Restart"] == "on-failure"
    assert u["Install"]["WantedBy"] == "multi-user.target"


# -- the recipes ------------------------------------------------------------------------------------


def _doc_commands() -> list[list[str]]:
    text = (ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = []
    for block in blocks:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            argv = shlex.split(line, comments=True)
            for i, word in enumerate(argv[:-1]):
                nxt = argv[i + 1]
                # `litwatch COMMAND ...`; not the user, image or service named litwatch
                user = i > 0 and argv[i - 1] in ("-u", "--user")
                if Path(word).name == "litwatch" and not user and re.fullmatch(r"[a-z][a-z-]*", nxt) and nxt != "litwatch":
                    commands.append(argv[i:])
                    break
    return commands


def test_deploy_doc_commands_parse_and_files_exist() -> None:
    commands = _doc_commands()
    assert len(commands) >= 3
    assert {parse_command(c).command for c in commands} >= {"run", "status"}
    text = (ROOT / "docs" / "deploy.md").read_text()
    for heading in ("## Deploy with cron", "## Deploy with systemd", "## Deploy with Docker"):
        assert heading in text
    for link in re.findall(r"\]\((\.\./[^)]+)\)", text):
        assert (ROOT / "docs" / link).resolve().exists(), link


@pytest.mark.parametrize("name", ["crontab", "litwatch.service", "litwatch.timer", "litwatch-serve.service"])
def test_deploy_files_are_mentioned_in_the_recipes(name: str) -> None:
    assert name in (ROOT / "docs" / "deploy.md").read_text()
