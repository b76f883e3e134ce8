"""At a terminal: progress for long work (only when stderr is a terminal), --quiet everywhere,
shell completion."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from litwatch.jobs import terminal
from litwatch.jobs.cli.parser import build_parser
from tests.conftest import Q_BTK, scenario_config, seed_tracked


@pytest.fixture(autouse=True)
def _no_terminal_afterwards() -> Iterator[None]:
    yield
    terminal.configure(quiet=True)


def leaf_parsers(parser, path=()):  # noqa: ANN001, ANN201
    subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]  # noqa: SLF001
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaf_parsers(sub, (*path, name))


def test_every_command_takes_quiet_and_has_an_example() -> None:
    leaves = dict(leaf_parsers(build_parser()))
    assert {("init",), ("check",), ("history",), ("show",), ("export",), ("completion",)} <= set(leaves)
    for path, parser in leaves.items():
        options = {s for a in parser._actions for s in a.option_strings}  # noqa: SLF001
        assert {"-q", "--quiet", "-v", "--config"} <= options, path
        assert "example" in parser.format_help().lower(), path


def big_search(ncbi, n: int = 12_000) -> None:  # noqa: ANN001
    """A search with more hits than esearch serves at once (split by Entrez date)."""
    start = date(2000, 1, 1)
    ids = [str(30_000_000 + i) for i in range(n)]
    with ncbi.lock:
        for i, pmid in enumerate(ids):
            ncbi.edat[pmid] = start + timedelta(days=i * 9_000 // n)
    ncbi.add_search(Q_BTK, ids)
    seed_tracked(ncbi)


def test_progress_on_a_terminal(tmp_path: Path, ncbi, litwatch, monkeypatch) -> None:  # noqa: ANN001
    big_search(ncbi)
    cfg = scenario_config(tmp_path, ncbi, watches=[("BTK inhibitors in ITP", Q_BTK)])
    monkeypatch.setattr(terminal, "_isatty", lambda stream: True)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert "\r\x1b[Ksearching 'BTK inhibitors in ITP'" in r.err
    assert "of 12,000 (" in r.err and "12,000 of 12,000 (100%)" in r.err
    assert r.err.endswith("\r\x1b[K"), "the status line is cleared at the end"
    assert r.out == ""


def test_no_progress_under_cron_or_quiet(tmp_path: Path, ncbi, litwatch, monkeypatch) -> None:  # noqa: ANN001
    big_search(ncbi)
    cfg = scenario_config(tmp_path, ncbi, watches=[("BTK inhibitors in ITP", Q_BTK)])
    r = litwatch("run", "--config", str(cfg))  # stderr is not a terminal here, as under cron
    assert (r.code, r.out, r.err) == (0, "", "")
    monkeypatch.setattr(terminal, "_isatty", lambda stream: True)
    r = litwatch("run", "--config", str(cfg), "--quiet")
    assert (r.code, r.out, r.err) == (0, "", "")
    r = litwatch("run", "--config", str(cfg), "--log-format", "json")
    assert "\x1b[K" not in r.err


def test_a_log_line_clears_the_status_line_first() -> None:
    stream = io.StringIO()
    stream.isatty = lambda: True  # type: ignore[method-assign]
    import logging

    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [handler]
    try:
        assert terminal.configure(stream=stream)
        report = terminal.progress("fetching")
        assert report is not None
        report(5, 10)
        logging.getLogger("litwatch").error("boom")
        assert stream.getvalue() == "\r\x1b[Kfetching: 5 of 10 (50%)\r\x1b[Kboom\n"
    finally:
        root.handlers[:] = saved


def test_status_line_is_throttled() -> None:
    now = [0.0]
    stream = io.StringIO()
    line = terminal.StatusLine(stream, interval=0.1, clock=lambda: now[0])
    line.show("a")
    line.show("b")  # too soon: skipped
    now[0] = 0.2
    line.show("c")
    line.show("d", force=True)
    line.clear()
    assert stream.getvalue().split("\r\x1b[K") == ["", "a", "c", "d", ""]


def test_quiet_commands(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    r = litwatch("init", str(tmp_path / "new"), "-q", "--email", "me@example.org")
    assert (r.code, r.out, r.err) == (0, "", "")
    cfg = scenario_config(tmp_path, ncbi)
    r = litwatch("export", "--config", str(cfg), "--format", "ris", "--quiet")
    assert (r.code, r.out, r.err) == (0, "", "")
    r = litwatch("history", "--config", str(cfg), "-q")
    assert r.code == 0 and r.err == ""


def test_bash_completion(litwatch) -> None:  # noqa: ANN001
    r = litwatch("completion", "bash")
    assert r.code == 0
    script = r.out
    for word in ("litwatch", "init", "check", "history", "export", "completion", "--format", "bibtex", "--since"):
        assert word in script, word
    if not shutil.which("bash"):
        return
    # what bash offers after TAB, as the shell would ask
    complete = (
        'c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; '
        'COMPREPLY=(); _shtab_litwatch litwatch "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; echo "${COMPREPLY[*]}"; }\n'
        'c litwatch ex\nc litwatch export --format ""\nc litwatch init --smtp-security ""\n'
    )
    done = subprocess.run(["bash", "-c", script + "\n" + complete], text=True, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["export", "ris bibtex csv json", "starttls tls none"]


def test_zsh_completion(litwatch) -> None:  # noqa: ANN001
    r = litwatch("completion", "zsh")
    assert r.code == 0 and r.out.startswith("#compdef litwatch")
    assert "export" in r.out and "--smtp-host" in r.out
    if shutil.which("zsh"):
        done = subprocess.run(["zsh", "-n"], input=r.out, text=True, capture_output=True)
        assert done.returncode == 0, done.stderr


def test_completion_needs_no_config(tmp_path: Path, monkeypatch, litwatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    assert litwatch("completion", "bash").code == 0
    assert not (tmp_path / "litwatch.toml").exists()
