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


def _string_constants(path: Path) -> list:
    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf8"))) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


#: Modules whose words are not yet the verdict engine's (a history step's direction, the dashboard's and the
#: report's own labels): each may still write a verdict word as a literal.
OWN_WORDS = {"tools.history", "tools.dashboard", "tools.report.__init__", "tools.report"}


def test_each_verdict_word_is_written_once():
    """One word per verdict (nptbench.analysis.verdict.WORDS): the modules that judge or print verdicts take
    them from there instead of writing "slower" again."""
    from nptbench.analysis.verdict import WORDS

    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path, PACKAGE)
        hits = [n.lineno for n in _string_constants(path) if n.value in WORDS]
        if hits and name not in OWN_WORDS | {"analysis.verdict"}:
            found[name] = hits
    assert not found, f"verdict words written outside nptbench.analysis.verdict: {found}"


def test_what_judges_runs_calls_the_one_engine_and_the_engine_never_prints():
    """compare, ab, bisect, the gate and the plugin reach the verdict engine (nptbench.analysis.comparison)
    through their imports; no command defines a judging function of its own; the analysis layer never
    prints."""
    graph = import_graph()

    def reaches(module: str, target: str) -> bool:
        seen, todo = set(), [module]
        while todo:
            m = todo.pop()
            if m == target:
                return True
            if m not in seen:
                seen.add(m)
                todo += sorted(graph.get(m, ()))
        return False

    for module in ("tools.compare", "tools.ab", "tools.bisect", "tools.session_gate", "plugin"):
        assert reaches(module, "analysis.comparison"), module
    engine = {"compare_runs", "compare_pair", "outcome", "confirm", "between_runs", "judge"}
    for path in sorted((PACKAGE / "tools").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert not defined & engine, f"{path.name} defines {defined & engine}"
    for path in sorted((PACKAGE / "analysis").rglob("*.py")):
        calls = [n for n in ast.walk(ast.parse(path.read_text(encoding="utf8"))) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Name) and n.func.id == "print"]
        assert not calls, f"{path.name} prints (line {calls[0].lineno})"


def test_every_command_exits_with_the_shared_statuses():
    """One exit-status enum (nptbench.schema.status.Status) for every command: none defines its own numbered
    constants for them (PASSED, SLOWER, BAD_INPUT, ... = 0, 1, 2, ...)."""
    names = {"PASSED", "SLOWER", "UNREADABLE", "NOTHING", "CANNOT_JUDGE", "BAD_INPUT", "FOUND", "NONE_FOUND",
             "UNDECIDED", "OK", "FAILED_CHECK", "CANNOT_RUN", "INTERRUPTED", "NEW_STEP"}
    found = []
    for path in sorted((PACKAGE / "tools").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf8")).body:
            numbers = [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, int)]
            if isinstance(node, ast.Assign) and numbers:
                targets = [t for tgt in node.targets for t in (tgt.elts if isinstance(tgt, ast.Tuple) else [tgt])]
                found += [f"{path.name}: {t.id}" for t in targets if isinstance(t, ast.Name) and t.id in names]
    assert not found, found


def test_sessions_are_run_by_the_one_runner():
    """ab, baseline, bisect and the gate's second timing start pytest through nptbench.tools.session: ab,
    baseline and the gate import no subprocess of their own, and no command imports ab to borrow its runs."""
    graph = import_graph()
    for module in ("tools.ab", "tools.baseline", "tools.bisect", "tools.session_gate"):
        assert "tools.session" in graph[module], module
    for module in ("tools.ab", "tools.baseline", "tools.session_gate"):
        tree = ast.parse((PACKAGE / (module.replace(".", "/") + ".py")).read_text(encoding="utf8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "subprocess" not in imported, module
    assert not [m for m, deps in graph.items() if "tools.ab" in deps], "a module imports the ab command"
