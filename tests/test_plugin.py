"""The suite's pytest glue stays in one module: nptbench/plugin.py, registered by the root conftest.py."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _defined_hooks(path: Path) -> list[str]:
    """Functions and methods named ``pytest_*`` defined in a Python file."""
    return [node.name for node in ast.walk(ast.parse(path.read_text(encoding="utf8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("pytest_")]


def test_only_the_plugin_defines_pytest_hooks():
    found = {p.name: _defined_hooks(p) for p in sorted((ROOT / "nptbench").glob("*.py"))}
    assert {name for name, hooks in found.items() if hooks} == {"plugin.py"}, found
    assert _defined_hooks(ROOT / "conftest.py") == []


def test_pytest_benchmark_internals_are_reached_in_one_place():
    mentions = {p.name: p.read_text(encoding="utf8").count("_benchmarksession")
                for p in (ROOT / "nptbench").glob("*.py")}
    assert {name for name, n in mentions.items() if n} == {"plugin.py"}
    plugin = (ROOT / "nptbench" / "plugin.py").read_text(encoding="utf8")
    assert plugin.count('getattr(config, "_benchmarksession", None)') == 1  # plugin.benchmark_session
