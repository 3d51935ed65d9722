"""The package's import rules hold: no import cycle between sweeplab's modules, and no import
of another sweeplab module hidden in a function body (where a cycle would hide) outside the
commands, which import lazily so that `sweeplab --help` stays fast.

The rules between packages (analysis pure, models below training and tracking, config below
everything, nothing imports cli, the layers) are import-linter's contracts in pyproject.toml,
run by `.ci/run`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "sweeplab"

#: Function-local imports outside cli/ that are there on purpose: (file, module) and why.
ALLOWED = {
    # each backend is imported when it runs: Ray's import alone takes seconds
    ("tuning/__init__.py", "sweeplab.tuning._ray"),
    ("tuning/__init__.py", "sweeplab.tuning._optuna"),
}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("sweeplab")  # function-level imports count too
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def _local_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sweeplab"):
                found.append((node.lineno, node.module))
            elif isinstance(node, ast.Import):
                found += [
                    (node.lineno, a.name) for a in node.names if a.name.startswith("sweeplab")
                ]
    return found


def test_no_sweeplab_import_hidden_in_a_function_outside_the_commands() -> None:
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("cli/"):
            continue
        for line, module in _local_imports(path):
            if (rel, module) not in ALLOWED:
                hidden.append(f"{rel}:{line}: {module}")
    assert hidden == [], (
        "move these to the top of their module (or remove the cycle):\n" + "\n".join(hidden)
    )
