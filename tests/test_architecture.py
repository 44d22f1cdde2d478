"""The package's shape: a one-way import graph, and modules and functions of readable size.

The graph is read statically (ast), from imports at the top of modules and inside functions
alike. Importing `d2mlib.pkg.sub` from outside `pkg` runs `pkg/__init__.py` first, so it
counts as an import of the package too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "d2mlib"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
FUNCTION_REASON = "long because"  # a longer function says why in its docstring
SIZE_ALLOWLIST: set[str] = set()  # a module that must pass the limit is named here, with why


def module_name(path: Path) -> str:
    """d2mlib/a/b.py -> d2mlib.a.b; d2mlib/a/__init__.py -> d2mlib.a."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The d2mlib modules that importing module `name` imports (at any depth of its code)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            if target not in known:
                continue
            out.add(target)
            parts = target.split(".")
            for i in range(2, len(parts)):  # the packages on the way run their __init__ first
                parent = ".".join(parts[:i])
                if not (name == parent or name.startswith(parent + ".")):
                    out.add(parent)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the d2mlib modules it imports."""
    mods = modules()
    known = set(mods)
    return {name: imported(name, path, known) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def test_import_graph_has_no_cycle() -> None:
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_importing_a_submodule_counts_as_importing_its_package(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("from d2mlib.metrics.beats import x\n", encoding="utf-8")
    known = {"d2mlib.metrics", "d2mlib.metrics.beats"}
    assert imported("d2mlib.other", path, known) == {"d2mlib.metrics", "d2mlib.metrics.beats"}
    assert imported("d2mlib.metrics.other", path, known) == {"d2mlib.metrics.beats"}


def test_function_level_imports_are_in_the_graph(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from d2mlib import audio\n", encoding="utf-8")
    assert imported("d2mlib.x", path, {"d2mlib", "d2mlib.audio"}) == {"d2mlib", "d2mlib.audio"}


# Layers of ARCHITECTURE.md that must not reach upwards: package -> packages it never imports.
FORBIDDEN = {
    "d2mlib.models": ("data", "stages", "train", "generate", "metrics", "timing", "viz", "studies"),
    "d2mlib.data": ("models", "stages", "train", "generate", "metrics", "timing", "studies"),
    "d2mlib.stages": ("train", "generate", "metrics", "timing", "viz", "studies", "widgets"),
    "d2mlib.train": ("generate", "metrics", "timing", "viz", "studies", "widgets"),
    "d2mlib.viz": ("data", "train", "generate", "metrics", "timing", "studies", "widgets"),
    "d2mlib.synth": (
        "data",
        "models",
        "stages",
        "train",
        "generate",
        "metrics",
        "timing",
        "studies",
    ),
    "d2mlib.beats": ("data", "models", "train", "generate", "metrics", "studies", "widgets"),
    "d2mlib.metrics": ("timing", "viz", "studies", "widgets"),
    "d2mlib.studies": ("widgets",),
}


def test_lower_layers_do_not_import_upper_ones() -> None:
    graph = import_graph()
    found = []
    for layer, banned in FORBIDDEN.items():
        for module, targets in graph.items():
            if module == layer or module.startswith(layer + "."):
                found += [
                    f"{module} -> {t}"
                    for t in targets
                    if any(t == f"d2mlib.{b}" or t.startswith(f"d2mlib.{b}.") for b in banned)
                ]
    assert found == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_within_size_limit(name: str) -> None:
    path = modules()[name]
    rel = path.relative_to(PACKAGE.parent).as_posix()
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    assert rel in SIZE_ALLOWLIST or n_lines <= MAX_MODULE_LINES, f"{rel}: {n_lines} lines"


def long_functions(path: Path) -> list[str]:
    """Functions over MAX_FUNCTION_LINES lines whose docstring gives no reason."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            doc = ast.get_docstring(node) or ""
            if length > MAX_FUNCTION_LINES and FUNCTION_REASON not in doc.lower():
                out.append(f"{node.name} ({length} lines)")
    return out


@pytest.mark.parametrize("name", sorted(modules()))
def test_functions_within_size_limit(name: str) -> None:
    path = modules()[name]
    rel = path.relative_to(PACKAGE.parent).as_posix()
    assert rel in SIZE_ALLOWLIST or long_functions(path) == []
