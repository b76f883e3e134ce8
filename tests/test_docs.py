"""The README, config examples and --help texts stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from litwatch.jobs.cli.parser import build_parser
from litwatch.jobs.config import load_config
from litwatch.jobs.configdoc import BEGIN, END, render_reference

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_config_reference_is_generated_from_the_schema() -> None:
    section = README[README.index(BEGIN) : README.index(END) + len(END)]
    assert section == render_reference(), "run: python -m litwatch.jobs.configdoc, and paste it into README.md"


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    setup = README[README.index("## Set up") : README.index("## Using it")]
    commands = re.findall(r"```sh\n(.+?)\n```", setup)
    assert len(commands) == 2
    install_run, install_test = commands
    assert "litwatch run" in install_run and "pip install ." in install_run
    assert "pytest" in install_test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install_test in ci.splitlines()


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.toml")), ids=lambda p: p.name)
def test_config_examples_load(path: Path) -> None:
    config = load_config(path)
    assert config.watch or config.tracked.pmids


def test_default_config_follows_btk_inhibitors_in_itp() -> None:
    config = load_config(ROOT / "config" / "litwatch.toml")
    queries = " ".join(w.query for w in config.watch)
    for drug in ("ibrutinib", "acalabrutinib", "zanubrutinib", "orelabrutinib", "pirtobrutinib",
                 "rilzabrutinib", "remibrutinib", "Bruton tyrosine kinase inhibitor"):
        assert drug in queries
    assert '"Purpura, Thrombocytopenic, Idiopathic"[MeSH Terms]' in queries
    assert '"immune thrombocytopenia"' in queries and "ITP" in queries
    assert config.tracked.pmids == ["39973148"]
    assert config.smtp is None and config.store.url is None


def _subparsers(parser):  # noqa: ANN001, ANN202
    for action in parser._actions:  # noqa: SLF001
        if action.__class__.__name__ == "_SubParsersAction":
            yield from action.choices.items()


def test_every_command_has_help_with_an_example() -> None:
    parser = build_parser()
    for name, sub in _subparsers(parser):
        text = sub.format_help()
        assert sub.description or sub.epilog, name
        if not list(_subparsers(sub)):
            assert "example" in text.lower(), f"litwatch {name} --help has no example"
