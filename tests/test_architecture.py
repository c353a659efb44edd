"""The import graph of the project, read from the source by ``ast``: no cycles, and data flows one way.

Rules (CONTRIBUTING.md): ``shared`` imports neither ``amt`` nor ``dnnsec``; ``dnnsec`` never imports ``amt``; the
libraries never import the tests, the benchmarks or the field examples; benchmarks never import the tests and the
tests never import the benchmarks. Imports under ``if TYPE_CHECKING:`` are not executed and are left out; imports
inside functions count (a deferred import is still a dependency).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("amt", "dnnsec", "shared", "benchmarks", "field_examples", "tests")
LIBRARIES = ("amt", "dnnsec", "shared")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _imports(path: Path, name: str) -> set[str]:
    """Every module name ``path`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for root in ROOTS for p in (REPO / root).rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        for target in _imports(path, name):
            # importing a.b.c runs a/__init__ and a/b/__init__ too
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in files and prefix != name and not name.startswith(prefix + "."):
                    graph[name].add(prefix)
        graph.setdefault(name, set())
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _units(graph: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph of the first ``depth`` name parts (``amt.io.phoenix`` -> ``amt.io`` at depth 2)."""
    unit = lambda m: ".".join(m.split(".")[:depth])  # noqa: E731
    out: dict[str, set[str]] = defaultdict(set)
    for a, targets in graph.items():
        for b in targets:
            if unit(a) != unit(b):
                out[unit(a)].add(unit(b))
        out.setdefault(unit(a), set())
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _graph()


def test_the_walker_finds_a_cycle_and_the_real_imports(tmp_path) -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x.y\n"
                   "def f():\n    from .sib import thing\n")
    assert _imports(src, "pkg.m") == {"typing", "typing.TYPE_CHECKING", "pkg.sib", "pkg.sib.thing"}


def test_no_module_imports_itself_through_others(graph) -> None:
    assert _cycles(graph) == []


@pytest.mark.parametrize("depth", [1, 2], ids=["packages", "subpackages"])
def test_no_package_cycles(graph, depth) -> None:
    assert _cycles(_units(graph, depth)) == []


def test_dependencies_flow_one_way(graph) -> None:
    forbidden = {
        "shared": ("amt", "dnnsec", "benchmarks", "tests", "field_examples"),
        "dnnsec": ("amt", "benchmarks", "tests", "field_examples"),
        "amt": ("benchmarks", "tests", "field_examples"),
        "benchmarks": ("tests",),
        "tests": ("benchmarks",),
    }
    bad = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if b.split(".")[0] in forbidden.get(a.split(".")[0], ())
    )
    assert bad == []


def test_amt_imports_dnnsec_only_to_load_protected_models(graph) -> None:
    """One edge joins the packages: amt.sferic.protected loads a protected sferic model through dnnsec."""
    top = lambda m: m.split(".")[0]  # noqa: E731
    edges = {a for a, targets in graph.items() if top(a) == "amt" for b in targets if top(b) == "dnnsec"}
    assert edges == {"amt.sferic.protected"}
