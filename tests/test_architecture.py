"""The shape of the package: layers that import in one direction only (:data:`LAYERS`), and no module of
``nptbench/`` that imports, directly or through others, one that imports it back.

An import inside a function counts like one at the top of the module: it defers the circle to the first
call, it does not remove it. The graph is read from the source with ``ast`` (nothing is imported), so a
circle is found even in a module whose dependencies (torch, numba, matplotlib) are missing here.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nptbench"


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(node: ast.AST, here: str, modules: set[str]) -> set[str]:
    """The package's modules one import statement names (``here`` is the importing module)."""
    if isinstance(node, ast.Import):
        names = [a.name.split(".", 1)[1] for a in node.names if a.name.startswith("nptbench.")]
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: from . import x, from .x import y, from ..x import y
            base = here.split(".")[:-1] if here else []
            base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
            prefix = ".".join(base + ([node.module] if node.module else []))
        elif node.module == "nptbench" or (node.module or "").startswith("nptbench."):
            prefix = node.module.partition(".")[2]
        else:
            return set()
        # from PREFIX import name: name is a module when PREFIX.name is one, else an attribute of PREFIX
        names = [f"{prefix}.{a.name}".strip(".") for a in node.names]
        names = [n if n in modules else prefix for n in names]
    else:
        return set()
    out = set()
    for name in names:
        while name and name not in modules:  # nptbench.a.b where only a is a module
            name = name.rpartition(".")[0]
        if name:
            out.add(name)
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports, at module level or inside a function or class."""
    files = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    modules = set(files) - {""}
    graph = {}
    for name, path in files.items():
        if not name:
            continue
        tree = ast.parse(path.read_text(encoding="utf8"), filename=str(path))
        deps = set()
        for node in ast.walk(tree):
            deps |= imported_modules(node, name if path.name != "__init__.py" else name + ".__init__", modules)
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle of each strongly connected group of modules (Tarjan), as ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_circle(graph, group) for group in groups]


def _circle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, within the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return sorted(group)


#: layer -> the layers its modules may import (besides their own). From the bottom: what a record and a
#: run are, the environment, the code under benchmark (only the environment), measuring, reading results
#: (never measuring, so a report cannot start a calibration), the commands, and the pytest plugin on top.
LAYERS = {
    "schema": set(),
    "env": {"schema"},
    "families": {"env"},
    "measure": {"schema", "env"},
    "analysis": {"schema"},
    "tools": {"schema", "env", "families", "measure", "analysis"},
    "plugin": {"schema", "env", "families", "measure", "analysis", "tools"},
    "__main__": set(),  # dispatches to tools by name (importlib), importing none of them
}


def layer(module: str) -> str:
    """The layer of a module: its subpackage, or its own name at the top (``plugin``, ``__main__``)."""
    return module.split(".", 1)[0]


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import against :data:`LAYERS`, as ``importer (layer) -> imported (layer)``; a module outside
    every layer is reported too, so a new top-level module must be placed in the table."""
    out = []
    for module, deps in sorted(graph.items()):
        if module in ("__init__", ""):
            continue
        own = layer(module)
        if own not in LAYERS:
            out.append(f"{module}: in no layer of tests/test_architecture.py LAYERS")
            continue
        for dep in sorted(deps):
            theirs = layer(dep)
            if theirs != own and theirs not in LAYERS[own]:
                out.append(f"{module} ({own}) -> {dep} ({theirs})")
    return out


def test_imports_follow_the_layers():
    found = wrong_way(import_graph())
    assert not found, "imports against the layers of nptbench/: " + "; ".join(found)


def test_a_planted_wrong_way_import_fails(tmp_path):
    """The layer check is not vacuous: a copy of the package with one import planted against the
    direction (the schema importing a command) fails it, naming both modules."""
    import shutil

    pkg = tmp_path / "nptbench"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    assert wrong_way(import_graph(pkg)) == []
    target = pkg / "schema" / "record.py"
    target.write_text(target.read_text() + "\n\ndef _planted():\n    from nptbench.tools import compare\n")
    assert wrong_way(import_graph(pkg)) == ["schema.record (schema) -> tools.compare (tools)"]
    (pkg / "stray.py").write_text("")
    assert "stray: in no layer of tests/test_architecture.py LAYERS" in wrong_way(import_graph(pkg))


def test_no_import_cycle_in_the_package():
    found = cycles(import_graph())
    assert not found, "import cycles in nptbench/: " + "; ".join(" -> ".join(c) for c in found)


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """A cycle made only by a function-level import is found, as are ``from . import x``, ``from .x import
    y`` and ``import nptbench.x``; the check does not pass for want of seeing the edges."""
    pkg = tmp_path / "nptbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .c import thing\n")
    (pkg / "c.py").write_text("import nptbench.sub.d\n")
    (pkg / "sub" / "d.py").write_text("from ..a import x\nfrom nptbench import c\n")
    (pkg / "e.py").write_text("import numpy\nfrom nptbench.a import y\n")
    graph = import_graph(pkg)
    assert graph["a"] == {"b"} and graph["b"] == {"c"} and graph["c"] == {"sub.d"}
    assert graph["sub.d"] == {"a", "c"} and graph["e"] == {"a"}
    assert cycles(graph) == [["a", "b", "c", "sub.d", "a"]]
    assert cycles({"x": {"y"}, "y": set()}) == []
