"""Import contracts (ARCHITECTURE.md): no import cycle between modules, no upward import.

Layers, lowest first: core <- nodes, bridges, hub <- ui <- app. ``ALLOWED`` below is the whole
list of edges between layers. Every ``import`` counts, including those inside functions and under
``if TYPE_CHECKING:`` (they are still a dependency; a lazy import only hides a cycle).

The checker reads the source with ``ast`` (no import, no dependency). ``KNOWN`` holds the
violations the tree had when the layout moved in (issue 14), each with its smallest fix. The test
fails on any violation not in ``KNOWN`` and on a ``KNOWN`` entry that no longer occurs, so the
list only shrinks. ``python -m tools.restructure --report`` prints the current list.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "spark"
LAYERS = ("core", "nodes", "bridges", "hub", "ui", "app")
# layer -> the layers it may import (besides itself). nodes, bridges and hub are siblings: they
# talk over MQTT, never through each other's modules. The web layer reads the hub (through its
# view protocol); only app, the composition root, imports everything.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "nodes": frozenset({"core"}),
    "bridges": frozenset({"core"}),
    "hub": frozenset({"core"}),
    "ui": frozenset({"core", "hub"}),
    "app": frozenset({"core", "nodes", "bridges", "hub", "ui"}),
}


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    where: str  # path:line


@dataclass(frozen=True)
class Violation:
    key: str  # stable across line moves: "upward a -> b", "cycle a", "unprefixed a -> x"
    detail: str

    def __str__(self) -> str:
        return f"{self.key}\n    {self.detail}"


def find_modules(root: Path, package: str = PACKAGE,
                 layers: tuple[str, ...] = LAYERS) -> dict[str, Path]:
    """``spark.<layer>.<...>`` -> file, for every .py under each layer folder of ``root``."""
    found: dict[str, Path] = {}
    for layer in layers:
        for path in sorted((root / layer).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def import_edges(root: Path, package: str = PACKAGE,
                 layers: tuple[str, ...] = LAYERS) -> tuple[list[Edge], list[Violation]]:
    """Internal import edges, and imports that use a layer without the ``spark.`` prefix."""
    modules = find_modules(root, package, layers)
    edges: set[Edge] = set()
    bare: list[Violation] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = _imported_names(node, module, path.name == "__init__.py")
            if not names:
                continue
            where = f"{path.relative_to(root)}:{node.lineno}"
            if isinstance(node, ast.ImportFrom):
                # `from a.b import c`: c is a module or a name in a.b; the last entry is a.b.
                *members, base = names
                targets = {_resolve(m, modules) if m in modules else _resolve(base, modules)
                           for m in members}
            else:
                targets = {_resolve(n, modules) for n in names}
            for name in names:
                if name.split(".")[0] in layers and not getattr(node, "level", 0):
                    bare.append(Violation(f"unprefixed {module} -> {name}",
                                          f"{where}: import it as {package}.{name}"))
                    break
            edges.update(Edge(module, t, where) for t in targets if t and t != module)
    return sorted(edges), bare


def unprefixed_elsewhere(root: Path, dirs: tuple[str, ...], package: str = PACKAGE,
                         layers: tuple[str, ...] = LAYERS) -> list[Violation]:
    """Tests, benches and tools import the layers as ``spark.<layer>`` too: from the repository
    root ``import hub`` would also work, as a second copy of every module."""
    found = []
    for path in sorted(p for d in dirs for p in (root / d).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in layers:
                    where = f"{path.relative_to(root)}:{node.lineno}"
                    found.append(Violation(f"unprefixed {path.relative_to(root)} -> {name}",
                                           f"{where}: import it as {package}.{name}"))
    return found


def _layer(module: str) -> str:
    return module.split(".")[1]


def upward_imports(edges: list[Edge],
                   allowed: dict[str, frozenset[str]] = ALLOWED) -> list[Violation]:
    """Edges not in ``allowed``: "upward" when the target layer may import the source's,
    "sideways" between siblings (nodes, bridges, hub)."""
    found = []
    for e in edges:
        a, b = _layer(e.source), _layer(e.target)
        if a != b and b not in allowed[a]:
            kind = "upward" if a in allowed.get(b, ()) else "sideways"
            found.append(Violation(f"{kind} {e.source} -> {e.target}",
                                   f"{e.where}: {a} may import only {sorted(allowed[a])}"))
    return found


def import_cycles(edges: list[Edge]) -> list[Violation]:
    """One violation per strongly connected component (Tarjan), with one cycle through it."""
    graph: dict[str, list[Edge]] = {}
    for e in edges:
        graph.setdefault(e.source, []).append(e)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth = longest import chain, a few dozen
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for e in graph.get(v, []):
            if e.target not in index:
                visit(e.target)
                low[v] = min(low[v], low[e.target])
            elif e.target in on_stack:
                low[v] = min(low[v], index[e.target])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    # keyed by the first module, so a module joining a known cycle is not a new violation
    return [Violation(f"cycle {c[0]}", f"{len(c)} modules: {' '.join(c)}\n    "
                      + _witness(c, graph)) for c in components]


def _witness(component: list[str], graph: dict[str, list[Edge]]) -> str:
    """A shortest cycle through the component's first module, as file:line steps."""
    members, start = set(component), component[0]
    paths: dict[str, list[Edge]] = {start: []}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for e in graph.get(v, []):
            if e.target == start:
                return " -> ".join(f"{s.source} ({s.where})" for s in [*paths[v], e]) + \
                    f" -> {start}"
            if e.target in members and e.target not in paths:
                paths[e.target] = [*paths[v], e]
                queue.append(e.target)
    return start


def check(root: Path, package: str = PACKAGE, layers: tuple[str, ...] = LAYERS,
          allowed: dict[str, frozenset[str]] = ALLOWED,
          others: tuple[str, ...] = ("tests", "bench", "tools", "scripts")) -> list[Violation]:
    edges, bare = import_edges(root, package, layers)
    bare += unprefixed_elsewhere(root, others, package, layers)
    found = [*bare, *upward_imports(edges, allowed), *import_cycles(edges)]
    return list({v.key: v for v in reversed(found)}.values())[::-1]  # first line of each


# key -> the smallest change that removes it (ARCHITECTURE.md, "Known violations").
KNOWN: dict[str, str] = {}  # none left: keep it that way


@pytest.mark.skipif(not (ROOT / "core").is_dir(),
                    reason="layered layout not applied yet (python -m tools.restructure --apply)")
def test_tree_keeps_its_import_contracts() -> None:
    found = {v.key: v for v in check(ROOT)}
    new = [str(v) for k, v in sorted(found.items()) if k not in KNOWN]
    gone = sorted(set(KNOWN) - set(found))
    assert not new, "import contract broken (ARCHITECTURE.md):\n" + "\n".join(new)
    assert not gone, "fixed, now delete from KNOWN in tests/test_architecture.py:\n" + \
        "\n".join(gone)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_checker_finds_an_upward_import_a_cycle_and_an_unprefixed_import(
        tmp_path: Path) -> None:
    _write(tmp_path, {
        "core/__init__.py": "",
        "core/topics.py": "from spark.hub.registry import Registry\n",  # upward
        "hub/__init__.py": "",
        "hub/registry.py": "def f():\n    from spark.hub import state  # lazy: still an edge\n",
        "hub/state.py": "from .registry import f\n",  # relative, closes the cycle
        "hub/services.py": "import hub.state\n",  # without the spark. prefix
        "nodes/__init__.py": "",
        "nodes/agent.py": "from spark.core.topics import x\nimport os\n",  # allowed
        "tests/test_x.py": "from hub.registry import Registry\nimport helpers\n",
    })
    found = check(tmp_path, layers=("core", "nodes", "hub"),
                  allowed={"core": frozenset(), "nodes": frozenset({"core"}),
                           "hub": frozenset({"core"})})
    keys = sorted(v.key for v in found)
    assert keys == [
        "cycle spark.hub.registry",
        "unprefixed spark.hub.services -> hub.state",
        "unprefixed tests/test_x.py -> hub.registry",
        "upward spark.core.topics -> spark.hub.registry",
    ]
    found = check(tmp_path, layers=("nodes", "hub"),
                  allowed={"nodes": frozenset(), "hub": frozenset()})
    assert [v.key for v in found if v.key.startswith("sideways")] == []
    _write(tmp_path, {"nodes/vision.py": "from spark.hub.state import f\n"})
    found = check(tmp_path, layers=("nodes", "hub"),
                  allowed={"nodes": frozenset(), "hub": frozenset()})
    assert [v.key for v in found if v.key.startswith("sideways")] == [
        "sideways spark.nodes.vision -> spark.hub.state"]
    cycle = next(v for v in found if v.key.startswith("cycle"))
    assert "2 modules: spark.hub.registry spark.hub.state" in cycle.detail
    assert "hub/registry.py:2" in cycle.detail and "hub/state.py:1" in cycle.detail


def test_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    _write(tmp_path, {
        "core/__init__.py": "",
        "core/topics.py": "import json\n",
        "hub/__init__.py": "from spark.hub.registry import Registry\n",
        "hub/registry.py": "from spark.core import topics\nclass Registry: ...\n",
    })
    assert check(tmp_path, layers=("core", "hub"),
                 allowed={"core": frozenset(), "hub": frozenset({"core"})}) == []


def test_checker_fails_on_the_real_tree_with_a_planted_upward_import_or_cycle(
        tmp_path: Path) -> None:
    """The same checks on a copy of this repository's layer folders: clean as it is, then one
    upward import (core -> hub) and, separately, one cycle (hub.entity <-> hub.registry)."""
    for path in find_modules(ROOT).values():
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())
    assert check(tmp_path, others=()) == []

    def plant(name: str, line: str, detail: bool = False) -> list[str]:
        path = tmp_path / name
        before = path.read_text()
        path.write_text(before + f"\n{line}  # planted\n")
        try:
            return [f"{v.key}: {v.detail}" if detail else v.key
                    for v in check(tmp_path, others=())]
        finally:
            path.write_text(before)

    upward = plant("core/errors.py", "from spark.hub.registry import Registry")
    assert "upward spark.core.errors -> spark.hub.registry" in upward
    # one cycle through both, named by its first module (sorted)
    (cycle,) = plant("hub/entity.py", "from spark.hub import registry", detail=True)
    assert cycle.startswith("cycle spark.hub.")
    assert " spark.hub.entity " in cycle and " spark.hub.registry" in cycle
    assert plant("nodes/kinds.py", "import spark.bridges.config") == [
        "sideways spark.nodes.kinds -> spark.bridges.config"]
