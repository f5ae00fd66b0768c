"""The house rules of STYLE.md, checked on the source alone (pure AST, no package module imported): no import
cycle between modules or between subpackages, no module over 400 lines, no function over 60 lines.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "omnisage"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
PACKAGES = {name for name, p in SOURCES.items() if p.name == "__init__.py"}
TREES = {name: ast.parse(p.read_text(encoding="utf-8"), str(p)) for name, p in SOURCES.items()}


def _known(name: str) -> str | None:
    """The longest prefix of a dotted name that is an omnisage module (`import a.b.c` imports a.b.c)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in SOURCES:
            return ".".join(parts[:i])
    return None


def _imports(module: str, tree: ast.Module) -> set[str]:
    """Every omnisage module `module` imports, at any depth (function-level and TYPE_CHECKING ones too)."""
    package = module if module in PACKAGES else module.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {_known(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb level - 1 packages above this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
                full = f"{base}.{alias.name}"
                found.add(full if full in SOURCES else _known(base))
    return {m for m in found if m is not None and m != module}


GRAPH = {module: _imports(module, tree) for module, tree in TREES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path of names) per strongly connected component with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan; the graphs here are a few hundred nodes, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_closed_path(graph, set(c), c[0]) for c in components]


def _closed_path(graph: dict[str, set[str]], component: set[str], start: str) -> list[str]:
    """The shortest path start -> ... -> start inside one component (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")


def _subpackage(module: str) -> str:
    """omnisage.X for a module anywhere under omnisage.X (top-level modules are their own node)."""
    return ".".join(module.split(".")[:2])


def test_the_import_graph_sees_function_level_and_from_imports():
    """A hand-made case for the parser: function-level, relative and `from pkg import module` imports count."""
    tree = ast.parse(
        "def f():\n    from . import io\n    import omnisage.text.vocab\nfrom omnisage.data.io import x\n"
    )
    assert _imports("omnisage.data.esci", tree) == {"omnisage.data.io", "omnisage.text.vocab"}
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle_between_modules():
    cycles = [" -> ".join(c) for c in _cycles(GRAPH)]
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_no_import_cycle_between_subpackages():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported in GRAPH.items():
        graph[_subpackage(module)] |= {_subpackage(m) for m in imported} - {_subpackage(module)}
    cycles = [" -> ".join(c) for c in _cycles(dict(graph))]
    assert not cycles, "subpackage cycles: " + "; ".join(cycles)


def test_no_module_over_400_lines():
    lines = {name: len(p.read_text(encoding="utf-8").splitlines()) for name, p in SOURCES.items()}
    long = [f"{SOURCES[n].relative_to(ROOT.parent)} ({k})" for n, k in lines.items() if k > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: " + ", ".join(long)


def test_no_function_over_60_lines():
    """From `def` to the function's last line; nested functions count toward the one that encloses them."""
    long = []
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{SOURCES[name].relative_to(ROOT.parent)}:{node.lineno} {node.name} ({n})")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)
