"""The package's shape, as README.md "Architecture" states it: layers that import only
downwards (import-linter's contracts in pyproject.toml), no import cycles anywhere, small
modules, and task names confined to their task's package."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bomerge"
MAX_LINES = 400


def test_the_layer_contracts_in_pyproject_hold():
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in run.stdout


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others_function_level_imports_included():
    graph = grimp.build_graph("bomerge", exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    # A package's __init__ importing its own modules (to register them) is how registries
    # fill; an import back from one of them into the package's __init__ would close a cycle.
    assert _strongly_connected(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert (_strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
            == [["a", "b", "c"]])


def test_no_source_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_task_names_appear_only_in_their_own_package():
    """The study, evaluator, statistics, training, report and CLI call the Task interface;
    none of them knows a particular task."""
    own = PACKAGE / "tasks" / "cs224n"
    mentions = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in PACKAGE.rglob("*.py") if own not in p.parents
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "cs224n" in line.lower() or "multitask" in line.lower()
    ]
    assert mentions == []


def test_no_test_module_imports_another_test_module():
    """Shared test code lives in tests/helpers.py and tests/conftest.py; a test module is
    the specification of its own module and is never imported by another."""
    tests = Path(__file__).resolve().parent
    offenders = [str(path.relative_to(tests)) for path in tests.rglob("test_*.py")
                 if re.search(r"^\s*(from|import) tests(\.\w+)*\.test_\w+", path.read_text(),
                              re.MULTILINE)]
    assert offenders == []
