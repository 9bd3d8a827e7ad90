"""``python -m nptbench calibrate``: the stopping rule, the stored file (nptbench.schema.ceilings), sessions and reports."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nptbench.schema import runs as runs_model
from nptbench.analysis import fmt, roofline
from nptbench.env import machine
from nptbench.measure import ceilings as measured
from nptbench.schema import ceilings, layout, runs
from nptbench.tools import calibrate, promote


class Clock:
    """A fake clock: each call of the timed function takes the next of ``durations``."""

    def __init__(self, durations):
        self.now, self.durations = 0.0, list(durations)

    def __call__(self):
        return self.now

    def work(self):
        self.now += self.durations.pop(0)


def test_stops_once_the_best_time_stops_improving():
    # warm-up, then: improving for 6 calls, then 3 calls within 1 % of the best: stop after 9
    clock = Clock([9.0, 5.0, 4.0, 3.0, 2.5, 2.2, 2.0, 2.01, 1.995, 2.3] + [1.0] * 30)
    best, reps = calibrate.until_stable(clock.work, clock=clock)
    assert best == pytest.approx(1.995) and reps == 9


def test_at_least_min_and_at_most_max_calls():
    clock = Clock([1.0] * 40)
    assert calibrate.until_stable(clock.work, clock=clock) == (1.0, calibrate.MIN_REPS)
    steadily_better = Clock([1.0] + [1.0 - 0.02 * i for i in range(40)])
    _, reps = calibrate.until_stable(steadily_better.work, clock=steadily_better)
    assert reps == calibrate.MAX_REPS


def test_a_time_budget_ends_a_slow_figure():
    slow = Clock([1.0] + [30.0 - i for i in range(40)])  # 30 s a call and still improving
    _, reps = calibrate.until_stable(slow.work, clock=slow)
    assert reps == calibrate.MIN_REPS  # the 60 s budget is spent, but never fewer than MIN_REPS


CEILINGS = {"cpu": {"matmul_gflops": {"float32": 300.0, "float64": 150.0}, "copy_gbps": 25.0,
                    "cache_bytes": 32 * 2**20, "method": "test"}}


def test_stored_ceilings_hold_only_for_the_same_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "thread_settings", lambda: {"env": {}, "torch": 2})
    path = calibrate.write(CEILINGS, "fp-x", tmp_path)
    assert path == tmp_path / "fp-x" / "ceilings.json"
    doc = json.loads(path.read_text())
    assert doc["stopping_rule"] == calibrate.STOPPING_RULE and doc["threads"] == {"env": {}, "torch": 2}
    got, why = measured.load_stored("fp-x", tmp_path)
    assert got["source"] == "stored" and got["cpu"] == CEILINGS["cpu"] and got["date"] in why
    monkeypatch.setattr(machine, "thread_settings", lambda: {"env": {"OMP_NUM_THREADS": "1"}, "torch": 1})
    got, why = measured.load_stored("fp-x", tmp_path)
    assert got is None and "measured with threads" in why
    assert measured.load_stored("fp-y", tmp_path) == (None, f"no stored ceilings for fp-y ({tmp_path / 'fp-y' / 'ceilings.json'})")
    (tmp_path / "fp-x" / "ceilings.json").write_text("{broken")
    with pytest.raises(RuntimeError, match="cannot read stored ceilings"):
        measured.load_stored("fp-x", tmp_path)


def test_a_session_uses_stored_ceilings_else_quick_ones_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.delenv(measured.ENV_FILE, raising=False)
    monkeypatch.setattr(machine, "thread_settings", lambda: {"env": {}, "torch": 2})
    monkeypatch.setattr(measured, "calibrate", lambda quick: {"cpu": {"copy_gbps": 1.0, "matmul_gflops": {}}})
    monkeypatch.setattr(measured, "_SESSION", {})
    got = measured.session_ceilings(tmp_path)
    assert got["source"] == "quick" and "python -m nptbench calibrate" in got["note"]
    assert roofline.source_line(got).startswith("ceilings: quick, measured in this session (no stored ceilings")
    fp = machine.fingerprint()
    calibrate.write(CEILINGS, fp, tmp_path)
    monkeypatch.setattr(measured, "_SESSION", {})
    monkeypatch.setattr(measured, "cuda_ceilings", lambda quick: {"copy_gbps": 2.0})  # a GPU here, not stored
    got = measured.session_ceilings(tmp_path)
    assert got["source"] == "stored" and got["cpu"]["copy_gbps"] == 25.0
    assert roofline.source_line(got).startswith(f"ceilings: stored, calibrated {got['date']}")


def test_above_the_memory_ceiling_is_explained_by_the_cache_or_a_low_ceiling():
    record = {"device": "cpu", "bytes": 3 * 2**20, "dtype": "float32"}  # 3 MiB moved
    roof = roofline.annotate(record, 3 * 2**20 / 50e9, CEILINGS)  # at 50 GB/s: twice the 25 GB/s ceiling
    assert roof["pct_of_ceiling"] == pytest.approx(200) and "fit in the 32 MiB last-level cache" in roof["ceiling_note"]
    near = {**record, "bytes": 64 * 2**20}
    roof = roofline.annotate(near, 64 * 2**20 / 50e9, CEILINGS)
    assert "are 2x the 32 MiB last-level cache: part of them can stay in cache" in roof["ceiling_note"]
    big = {**record, "bytes": 1024 * 2**20}
    roof = roofline.annotate(big, 1024 * 2**20 / 50e9, CEILINGS)
    assert "are 32x the 32 MiB last-level cache: the copy ceiling is too low" in roof["ceiling_note"]
    assert roofline.annotate(big, 1024 * 2**20 / 20e9, CEILINGS).get("ceiling_note") is None  # 80 %: no note
    assert fmt.fmt_pct(99.6) == "100" and fmt.fmt_pct(3.14) == "3.1"  # never 1e+02


def test_calibrate_command_measures_and_stores(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(calibrate, "BUDGET_S", 0.5)
    assert calibrate.main(["--size", "256", "--gib", "0.01", "--no-gpu", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    [stored] = list(tmp_path.glob("*/ceilings.json"))
    doc = json.loads(stored.read_text())
    assert doc["cpu"]["matmul_gflops"]["float32"] > 0 and doc["cpu"]["copy_gbps"] > 0
    assert "numpy 256x256" in doc["cpu"]["method"] or "torch 256x256" in doc["cpu"]["method"]
    assert f"stored {stored}" in out and "cpu fp32 product" in out


def test_stored_ceilings_are_not_mistaken_for_a_run(tmp_path, monkeypatch):
    """ceilings.json sits among the baselines: the baseline lookup, compare and report pass it by."""
    from nptbench.tools import compare
    from nptbench.tools.report import data as report_data

    from tests.test_compare import fake_run, rounds, write

    monkeypatch.setattr(machine, "thread_settings", lambda: {"env": {}, "torch": 2})
    made = fake_run({"a": ("exp", rounds(1e-3))})
    fp = runs_model.Run(Path("x"), made).fingerprint  # the machine the fake run says it measured on
    folder = tmp_path / fp
    run = write(folder / "smoke-0001_x.json", made)
    calibrate.write(CEILINGS, fp, tmp_path)
    assert layout.baseline_files(fp, tmp_path) == [run]
    assert runs.baseline_set(fp, "smoke", tmp_path) == [run]
    assert [r.path for r in runs_model.load_runs([folder])] == [run]
    assert report_data.expand([folder]) == [run]


def test_the_report_takes_stored_ceilings_per_device(tmp_path, monkeypatch):
    """Stored CPU ceilings replace the run's CPU ones; the run's GPU ceilings stay where none were stored."""
    from nptbench.tools.report import data as report_data

    from tests.test_compare import fake_run, rounds, write

    monkeypatch.setattr(machine, "thread_settings", lambda: {"env": {}, "torch": 2})
    run = fake_run({"a": ("exp", rounds(1e-3))})
    run["machine_info"]["nptbench"].update(
        threads={"env": {}, "torch": 2},
        ceilings={"cpu": {"matmul_gflops": {"float32": 1.0}, "copy_gbps": 1.0}, "source": "quick",
                  "cuda": {"matmul_gflops": {"float32": 5e4}, "copy_gbps": 4e3}})
    path = write(tmp_path / "run.json", run)
    fp = runs.Run(Path('x'), run).fingerprint
    calibrate.write(CEILINGS, fp, tmp_path / "results")
    loaded = report_data.gather([path], tmp_path / "results")
    [m] = loaded.machines.values()
    assert m.ceilings["cpu"]["copy_gbps"] == 25.0 and m.ceilings["cpu"]["source"].startswith("stored ")
    assert m.ceilings["cuda"]["copy_gbps"] == 4e3 and m.ceilings["cuda"]["source"] == "quick"
    record = {"device": "cpu", "bytes": 1024 * 2**20, "dtype": "float32"}
    note = roofline.annotate(record, 1024 * 2**20 / 50e9, m.ceilings)["ceiling_note"]
    assert "too low" in note and "run python -m nptbench calibrate" not in note  # stored: no quick-hint
