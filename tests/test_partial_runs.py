"""A session that stops early (Ctrl-C) and has a failed benchmark still saves the rounds it has, and the
saved run says so (nptbench.schema.record.SESSION_FIELDS); promote refuses it as a baseline unless told."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nptbench.schema.runs import RunError, load
from nptbench.tools import promote

ROOT = Path(__file__).resolve().parent.parent

BENCHES = textwrap.dedent("""
    import os
    import pytest

    def work():
        return sum(range(100))

    def test_first(benchmark):
        benchmark.extra_info.update(experiment="e", variant="first")
        assert benchmark(work) == 4950

    def test_wrong(benchmark):
        benchmark.extra_info.update(experiment="e", variant="wrong")
        assert benchmark(work) == 0, "a fast wrong answer"

    def test_stop(benchmark):
        if os.environ.get("STOP_HERE"):
            raise KeyboardInterrupt  # as Ctrl-C in the middle of the session
        benchmark(work)

    def test_never(benchmark):
        benchmark(work)
""")


def session(tmp_path: Path, stop: bool) -> tuple[int, dict, Path]:
    (tmp_path / "test_b.py").write_text(BENCHES)
    storage = tmp_path / "runs"
    env = {**os.environ, "NPTBENCH_CEILINGS": "off", "PYTHONPATH": str(ROOT)}
    if stop:
        env["STOP_HERE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "pytest", "test_b.py", "-p", "nptbench.plugin", "-q",
                           "-p", "no:cacheprovider", "--benchmark-autosave", "--benchmark-save-data",
                           f"--benchmark-storage=file://{storage}", "--benchmark-max-time=0.01",
                           "--benchmark-min-rounds=3", "--rootdir", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    [saved] = list(storage.rglob("*.json"))
    return proc.returncode, json.loads(saved.read_text()), saved


def test_an_interrupted_session_saves_what_ran_and_says_what_did_not(tmp_path):
    rc, run, path = session(tmp_path, stop=True)
    assert rc == 2  # pytest's "interrupted"
    marks = run["nptbench_session"]
    assert marks["exitstatus"] == 2 and not marks["complete"] and marks["collected"] == 4
    assert [n.split("::")[1] for n in marks["not_run"]] == ["test_stop", "test_never"]
    assert [n.split("::")[1] for n in marks["failed"]] == ["test_wrong"]  # a fast wrong answer: failed
    assert {b["name"] for b in run["benchmarks"]} >= {"test_first"}  # the rounds it has are kept
    assert "1 failed (test_b.py::test_wrong)" in load(path).partial
    assert "interrupted" in load(path).partial and "2 of 4 benchmarks did not run" in load(path).partial
    with pytest.raises(RunError, match="a partial run .* --allow-partial"):
        promote.promote(path, tmp_path / "results")
    assert promote.promote(path, tmp_path / "results", allow_partial=True).exists()
