"""The gate of a pytest session as a plain object (nptbench.tools.session_gate), without pytest: finding the
set, judging, the second timing and growing the set. The gate inside a real pytest session is tested in
tests/test_workflows.py; the statistics in tests/test_gate.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nptbench.analysis.verdict import SLOWER, UNCERTAIN
from nptbench.schema.runs import Run, RunError, make_fingerprint
from nptbench.schema.status import Status
from nptbench.tools.session_gate import SessionGate, stamp
from tests.test_compare import write
from tests.test_gate_compare import run

FP = make_fingerprint("Test CPU @ 1.00GHz", 2, [])


def results_with_set(tmp_path, k: int = 5, env: dict | None = None):
    results = tmp_path / "results"
    for i in range(k):
        write(results / FP / f"smoke-{i:04d}_base.json", run(1.0 + 0.03 * np.sin(i), i, env=env))
    return results


def never(names):
    raise AssertionError(f"no second timing was asked for, but it was for {names}")


def test_no_set_says_so_and_a_failing_gate_refuses_a_set_of_other_conditions(tmp_path):
    gate = SessionGate.find(tmp_path / "results", FP, "smoke")
    assert gate.paths == [] and "no smoke baseline for this machine" in gate.header
    results = results_with_set(tmp_path, 1, env={"OMP_NUM_THREADS": "3"})
    gate = SessionGate.find(results, FP, "smoke")
    assert gate.paths == [] and "measured under this session's conditions (no thread variables set)" in gate.header
    with pytest.raises(RunError, match="--benchmark-compare-fail: no smoke baseline"):
        SessionGate.find(results, FP, "smoke", fail=True)
    gate = SessionGate.find(results, FP, "smoke", conditions=(("OMP_NUM_THREADS", "3"),))
    assert len(gate.paths) == 1 and "(1 run; newest smoke-0000_base.json)" in gate.header


def test_a_session_like_the_set_passes_and_grows_it(tmp_path):
    results = results_with_set(tmp_path)
    gate = SessionGate.find(results, FP, "smoke", fail=True, grow=True)
    assert len(gate.paths) == 5 and gate.newest().path == gate.paths[-1]
    now = run(1.01, 30)
    gate.judge(now, now, never)
    assert gate.status == Status.PASSED and not gate.failed
    assert "| baseline median (us) | now median (us) |" in gate.table
    [line] = gate.lines
    assert line.startswith("--baseline-grow: this run passed and joined the baseline set (6 runs now): ")
    joined = results / FP / "smoke-gate-20260101_003000.json"
    assert line.endswith(str(joined)) and json.loads(joined.read_text())["benchmarks"] == now["benchmarks"]


def test_a_slower_session_is_timed_again_and_fails_only_where_that_agrees(tmp_path):
    results = results_with_set(tmp_path)
    asked = []

    def again(level):
        def retime(names):
            asked.append(names)
            return Run(tmp_path / "second", run(level, 40))
        return retime

    gate = SessionGate.find(results, FP, "smoke", fail=True, grow=True)
    gate.judge(run(1.6, 31), run(1.6, 31), again(1.6))
    assert asked == [{"test_x[cpu]", "test_x[mem]"}]
    assert gate.status == Status.FAILED and gate.failed
    assert gate.lines[0] == "2 benchmark(s) slower: test_x[cpu], test_x[mem]"
    assert [x.split(":")[0] for x in gate.lines[1:]] == ["test_x[cpu]", "test_x[mem]"]  # no grow: it failed
    assert all(f": {SLOWER}, ratio" in x for x in gate.lines[1:])

    gate = SessionGate.find(results, FP, "smoke", fail=True)
    gate.judge(run(1.6, 31), None, again(1.0))
    assert gate.status == Status.PASSED and not gate.failed and gate.lines == []
    assert gate.table.count(f"| {UNCERTAIN} (slower at 1.59x, not confirmed") == 2


def test_a_second_timing_that_fails_leaves_the_rows_slower_and_says_why_first(tmp_path):
    gate = SessionGate.find(results_with_set(tmp_path), FP, "smoke", fail=True)
    gate.judge(run(1.6, 31), None, lambda names: "the second timing failed (exit 2: boom); they stay slower")
    assert gate.failed and gate.lines[0].startswith("the second timing failed")
    assert gate.lines[1].startswith("2 benchmark(s) slower")


def test_without_confirm_or_without_fail_nothing_is_timed_again(tmp_path):
    results = results_with_set(tmp_path)
    for settings in ({"fail": True, "confirm": False}, {"fail": False}):
        gate = SessionGate.find(results, FP, "smoke", **settings)
        gate.judge(run(1.6, 31), None, never)
        assert gate.status == Status.FAILED and gate.failed == settings["fail"]


def test_a_thin_set_cannot_judge_and_every_whole_session_joins_it(tmp_path):
    results = results_with_set(tmp_path, 2)
    gate = SessionGate.find(results, FP, "smoke", fail=True, grow=True)
    gate.judge(run(1.6, 31), run(1.6, 31), never)
    assert gate.status == Status.CANNOT_JUDGE and not gate.failed
    assert gate.lines[-1].startswith("--baseline-grow: this run joined the thin baseline set (3 runs now)")
    gate = SessionGate.find(tmp_path / "empty", FP, "smoke", grow=True)
    gate.judge(run(1.0, 32), None, never)
    assert gate.lines == ["--baseline-grow: this session saved no run (--benchmark-autosave off?): nothing joined"]


def test_a_run_is_named_by_the_time_it_was_saved():
    assert stamp("2026-01-01T00:31:00") == "20260101_003100"
    assert stamp("2026-12-07T12:00:05.123456+00:00") == "20261207_120005"
    assert stamp("") == stamp("yesterday") == "run"
