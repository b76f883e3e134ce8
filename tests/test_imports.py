"""The module graph: no two modules import each other, directly or around a circle.

The layers (jobs -> notifications -> watchers) and "commands never import the command line" are
import-linter contracts in pyproject.toml, run by .ci/run; this test checks for cycles anywhere.
"""

from __future__ import annotations

import grimp

PACKAGES = ("litwatch.jobs", "litwatch.notifications", "litwatch.watchers")


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph.find_modules_directly_imported_by(module)):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_around_a_circle() -> None:
    graph = grimp.build_graph(*PACKAGES)
    assert len(graph.modules) > 50
    assert cycles(graph) == []


def test_commands_never_import_the_command_line() -> None:
    graph = grimp.build_graph(*PACKAGES)
    assert graph.find_modules_that_directly_import("litwatch.jobs.cli.main") <= {"litwatch.jobs"}
    for module in graph.find_children("litwatch.jobs.commands"):
        assert not graph.chain_exists(importer=module, imported="litwatch.jobs.cli", as_packages=True), module
