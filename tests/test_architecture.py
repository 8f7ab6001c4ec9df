"""The package's shape: the wings' contracts (import-linter, configured in pyproject.toml) and
no import cycle between any two modules anywhere in the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every group of modules that import one another, directly or through each other
    (Tarjan's strongly connected components; a module importing itself counts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        # Iterative, so a long chain of imports cannot hit the recursion limit.
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    break
                if child in on_stack:
                    low[module] = min(low[module], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1 or module in graph.find_modules_directly_imported_by(module):
                        cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def _graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports count: a cycle drawn only for the type checker is still a cycle.
    return grimp.build_graph("binance_mcp", cache_dir=None)


def test_no_module_imports_itself_back() -> None:
    assert import_cycles(_graph()) == []


def test_the_cycle_check_notices_a_cycle() -> None:
    """Reintroduce one of the old circles (the policy reading the tools' catalogue while the
    tools use the policy's risk classes): the check names it."""
    graph = _graph()
    graph.add_import(importer="binance_mcp.guard.policy", imported="binance_mcp.tools.catalogue")
    cycles = import_cycles(graph)
    assert cycles, "an added circle went unnoticed"
    assert any(
        "binance_mcp.guard.policy" in group and "binance_mcp.tools.catalogue" in group
        for group in cycles
    )


def test_the_wings_keep_their_contracts() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
