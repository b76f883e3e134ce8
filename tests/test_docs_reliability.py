"""docs/reliability.md stays in step with the tests: every test it names exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
NAMED = re.compile(r"`tests/(test_\w+)\.py::(test_\w+)`")


def named_tests() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [m for row in rows for m in NAMED.findall(row)]


def test_every_test_named_in_the_reliability_table_exists() -> None:
    named = named_tests()
    assert len(named) >= 50
    missing = []
    for module_name, test_name in named:
        module = importlib.import_module(f"tests.{module_name}")
        if not callable(getattr(module, test_name, None)):
            missing.append(f"tests/{module_name}.py::{test_name}")
    assert missing == [], "docs/reliability.md names tests that do not exist"


def test_every_table_row_names_a_test() -> None:
    text = DOC.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith(("|---", "| Kill point", "| Fault", "| Input", "| Check", "| Property")):
            assert NAMED.search(line), f"a row without a test: {line[:80]}"


def test_every_reliability_test_file_is_in_the_table() -> None:
    modules = {m for m, _ in named_tests()}
    for name in ("test_crash", "test_ncbi_faults", "test_smtp_faults", "test_store_faults", "test_config",
                 "test_hostile", "test_secrets", "test_properties"):  # fmt: skip
        assert name in modules, name
