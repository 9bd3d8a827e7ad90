"""Baselines in results/<fingerprint>/: the hardware fingerprint, promote, and ``pytest --benchmark-compare``
against this machine's baseline (with the seed-004 mnist5 product as the benchmark under test)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nptbench.env import machine
from nptbench.schema import layout, runs, store
from nptbench.schema.runs import RunError
from nptbench.tools import promote
from nptbench.schema.record import THREAD_VARIABLES

ROOT = Path(__file__).resolve().parents[1]


# --- fingerprint ---------------------------------------------------------------------------------------

def test_fingerprint_names_hardware_only_and_is_a_safe_folder_name():
    fp = runs.make_fingerprint("Intel(R) Xeon(R) Processor @ 2.50GHz", 2, [])
    assert fp == "intel-xeon-processor-2.50ghz_2cores_nogpu"
    gpus = runs.make_fingerprint("AMD EPYC 7742 64-Core Processor", 16, ["NVIDIA H100 80GB HBM3"] * 2)
    assert gpus == "amd-epyc-7742-64-core-processor_16cores_2x-nvidia-h100-80gb-hbm3"
    assert re.fullmatch(r"[a-z0-9._-]+", runs.make_fingerprint("Weird/CPU: \\ * ?", 1, ["a/b"]))


def test_this_machine_fingerprint_matches_what_runs_record():
    fp = machine.fingerprint()
    assert f"_{machine.usable_cores()}cores_" in fp
    assert fp.endswith("_nogpu") == (machine.gpu_info() == [])
    run = {"machine_info": {"nptbench": {**machine.describe(), "profile": "smoke"}}}
    assert runs.Run(Path('x'), run).fingerprint == fp
    import numpy
    import torch

    assert torch.__version__.split("+")[0] not in fp and numpy.__version__ not in fp  # software never counts


# --- promote ----------------------------------------------------------------------------------------------

def saved_run(path: Path, cpu="Test CPU", profile="smoke", data=True, when="2026-01-01T00:00:00") -> Path:
    stats = {"median": 1e-3, "min": 1e-3, "mean": 1e-3, "max": 1e-3, "stddev": 0.0}
    if data:
        stats["data"] = [1e-3] * 5
    run = {"machine_info": {"nptbench": {"cpu_model": cpu, "cpu_cores": 2, "gpus": [], "profile": profile}},
           "datetime": when, "benchmarks": [{"name": "t", "fullname": "b.py::t", "stats": stats}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))
    return path


def test_promote_copies_into_the_measuring_machines_folder_and_never_overwrites(tmp_path):
    run = saved_run(tmp_path / "runs" / "m" / "0001_x.json")
    dest = promote.promote(run, tmp_path)
    assert dest == tmp_path / "test-cpu_2cores_nogpu" / "smoke-0001_x.json"
    assert json.loads(dest.read_text()) == json.loads(run.read_text())  # same content (few rounds: none thinned)
    dest.write_text("{}")  # whatever is there now stays there
    with pytest.raises(RunError, match="already exists"):
        promote.promote(run, tmp_path)
    assert dest.read_text() == "{}"


def test_promote_refuses_runs_without_raw_rounds_or_machine(tmp_path):
    with pytest.raises(RunError, match="--benchmark-save-data"):
        promote.promote(saved_run(tmp_path / "a.json", data=False), tmp_path)
    run = json.loads(saved_run(tmp_path / "b.json").read_text())
    del run["machine_info"]
    (tmp_path / "b.json").write_text(json.dumps(run))
    with pytest.raises(RunError, match="machine_info"):
        promote.promote(tmp_path / "b.json", tmp_path)


def test_corrupt_files_are_named(tmp_path):
    bad = tmp_path / "fp" / "smoke-0001_bad.json"
    bad.parent.mkdir()
    bad.write_text('{"benchmarks": [')
    with pytest.raises(RunError, match=re.escape(str(bad)) + ".*not valid JSON"):
        runs.load(bad)
    with pytest.raises(RunError, match=re.escape(str(bad))):
        runs.baseline_set("fp", "smoke", tmp_path)
    bad.write_text('{"benchmarks": [{"fullname": "x", "stats": {"median": 1, "data": ["a"]}}]}')
    with pytest.raises(RunError, match="raw round times of x are not positive finite numbers"):
        runs.load(bad)
    bad.write_text('{"benchmarks": [{"fullname": "x", "stats": {"median": 1}, '
                   '"extra_info": {"device_times_s": [0.0, 1e-3, -1]}}]}')
    with pytest.raises(RunError, match="device_times_s of x are not non-negative finite numbers"):
        runs.load(bad)


def test_the_baseline_set_is_every_run_of_the_profile_oldest_first(tmp_path):
    folder = tmp_path / "test-cpu_2cores_nogpu"
    old = saved_run(folder / "smoke-old.json", when="2026-01-01T00:00:00")
    new = saved_run(folder / "smoke-new.json", when="2026-02-01T00:00:00")
    default = saved_run(folder / "default-x.json", profile="default", when="2026-03-01T00:00:00")
    fp = "test-cpu_2cores_nogpu"
    assert runs.baseline_set(fp, "smoke", tmp_path) == [old, new]
    assert runs.baseline_set(fp, "default", tmp_path) == [default]
    assert runs.baseline_set(fp, "smoke", tmp_path, select="old") == [folder / "smoke-old.json"]
    assert runs.baseline_set(fp, "seed", tmp_path) == []
    assert runs.baseline_set("other", "smoke", tmp_path) == []


def test_promote_command_line(tmp_path, capsys):
    run = saved_run(tmp_path / "0001_x.json")
    assert promote.main([str(run), "--results", str(tmp_path / "res")]) == 0
    assert "promoted" in capsys.readouterr().out
    assert promote.main([str(run), "--results", str(tmp_path / "res")]) == 1
    assert "already exists" in capsys.readouterr().err


# --- pytest --benchmark-compare ----------------------------------------------------------------------------

def pytest_run(results: Path, *args, env_extra: dict | None = None) -> tuple[int, str]:
    """The mnist5 numpy product, timed briefly, saving into ``results/runs`` (baselines: ``results/<fp>``)."""
    env = {**os.environ, "NPTBENCH_OFFLINE": "1", "NPTBENCH_CEILINGS": "off",  # compare needs no ceilings
           "NPTBENCH_YARDSTICKS": "off"}  # nor the machine's state
    env.pop("BENCH_SIZE", None)
    for var in THREAD_VARIABLES:
        env.pop(var, None)
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "pytest", "bench/test_matmul.py", "--bench-size", "smoke", "-k", "numpy-mnist5",
           "-q", "-p", "no:cacheprovider", f"--benchmark-storage=file://{results / 'runs'}",
           "--benchmark-max-time=0.05", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def faster_copy(promoted: Path, factor: float, when: str) -> Path:
    """A copy of a promoted baseline run with every time scaled by ``factor``, made at ``when``."""
    run = json.loads(promoted.read_text())
    for bench in run["benchmarks"]:
        stats = bench["stats"]
        for key in ("min", "max", "mean", "median", "q1", "q3"):
            stats[key] *= factor
        stats["data"] = [t * factor for t in stats["data"]]
    run["datetime"] = when
    fake = promoted.with_name(f"smoke-{when[:4]}_x{factor}.json")
    fake.write_text(json.dumps(run))
    return fake


@pytest.mark.sessions
def test_benchmark_compare_judges_against_the_baseline_set_as_compare_does(tmp_path):
    fp = machine.fingerprint()
    rc, out = pytest_run(tmp_path, "--benchmark-compare", "--benchmark-compare-fail=median:5%")
    assert rc == 0, out
    assert f"nptbench: no smoke baseline for this machine in {tmp_path / fp}/: running without comparison" in out
    [saved] = list((tmp_path / "runs").rglob("*.json"))
    assert runs.load(saved).has_raw_data  # --benchmark-save-data is on by default

    # a set of baselines all about twice as fast as anything this machine does: slower, readably
    # (a set of fewer than 3 runs cannot judge: tests/test_gate_compare.py)
    promoted = promote.promote(saved, tmp_path)
    halved = faster_copy(promoted, 0.5, "9000-01-01T00:00:00")
    promoted.unlink()
    for factor, year in ((0.52, "9001"), (0.48, "9002")):
        faster_copy(halved, factor / 0.5, f"{year}-01-01T00:00:00")
    rc, out = pytest_run(tmp_path, "--benchmark-compare-fail=median:5%")
    assert rc == 1, out
    assert "(3 runs; newest smoke-9002" in out and "performance regressed (--benchmark-compare-fail)" in out
    line = re.search(r"nptbench: test_matmul\[numpy-mnist5-float32\]: slower, ratio ([\d.]+) \[[\d.]+, [\d.]+\], "
                     r"detects >= [\d.]+x", out)
    assert line, out
    assert "Traceback" not in out and "PerformanceRegression" not in out
    # the row was timed a second time, in a separate session, and called slower again before it failed
    assert "confirmed: a second timing read" in out and "A second timing of the 1 row(s) called slower" in out, out

    # compare on the same runs says the same: the gate is compare
    [now] = sorted((tmp_path / "runs").rglob("*.json"))[-1:]
    proc = subprocess.run([sys.executable, "-m", "nptbench", "compare", str(tmp_path / fp), str(now), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    [row] = json.loads(proc.stdout)["pairings"][0]["verdicts"]
    assert row["verdict"] == "slower" and f"{row['ratio']:.3f}" == line.group(1)
    assert row["basis"] == "between runs: 3 BASE runs, 1 NEW" and row["min_detectable"] > 1

    halved.write_text('{"benchmarks": ')
    rc, out = pytest_run(tmp_path, "--benchmark-compare")
    assert rc == 4 and f"{halved}: corrupt, not valid JSON" in out, out


def test_promote_thins_raw_rounds_evenly():
    run = {"benchmarks": [{"stats": {"data": list(range(10001))}, "extra_info": {}},
                          {"stats": {"data": [1.0, 2.0]}, "extra_info": {}}]}
    store.thin_rounds(run, keep=101)
    big, small = run["benchmarks"]
    assert big["stats"]["data"] == list(range(0, 10001, 100))  # first, last and every 100th in between
    assert big["extra_info"]["raw_rounds_kept"] == "101 of 10001"
    assert small["stats"]["data"] == [1.0, 2.0] and "raw_rounds_kept" not in small["extra_info"]


def test_promote_can_name_the_commit_that_measured_and_keeps_the_saved_one(tmp_path, capsys):
    run = saved_run(tmp_path / "0001_x.json")
    saved = json.loads(run.read_text())
    saved["commit_info"] = {"id": "1431b1e" + "0" * 33, "dirty": True, "project": "outer"}
    run.write_text(json.dumps(saved))
    project = "2b03bfb9509a0644372016a7cfd5368af34327e1"
    assert promote.main([str(run), "--results", str(tmp_path / "res"), "--commit", project[:7], "--note", "x"]) == 1
    assert "full 40-character" in capsys.readouterr().err
    assert promote.main([str(run), "--results", str(tmp_path / "res"), "--commit", project]) == 1
    assert "needs --note" in capsys.readouterr().err
    assert not (tmp_path / "res").exists() or not list((tmp_path / "res").rglob("*.json"))  # nothing half-written
    assert promote.main([str(run), "--results", str(tmp_path / "res"), "--commit", project,
                          "--note", "checkout inside another repository"]) == 0
    dest = layout.baseline_files("test-cpu_2cores_nogpu", tmp_path / "res")[0]
    promoted = json.loads(dest.read_text())
    assert promoted["commit_info"]["id"] == project
    assert promoted["commit_info"]["note"] == "checkout inside another repository"
    assert promoted["commit_info"]["as_saved"] == saved["commit_info"]
    assert promoted["benchmarks"] == saved["benchmarks"]  # numbers untouched
    assert runs.Run(Path('x'), promoted).commit == "2b03bfb950 (set at promote; saved: 1431b1e000)"
    assert runs.Run(Path('x'), saved).commit == "1431b1e000 (dirty)"


def test_report_only_runs_go_where_no_comparison_looks(tmp_path):
    run = saved_run(tmp_path / "0001_x.json", data=False)
    with pytest.raises(RunError, match="without raw round times"):
        promote.promote(run, tmp_path / "res")
    dest = promote.promote(run, tmp_path / "res", report_only=True)
    fp = "test-cpu_2cores_nogpu"
    assert dest == tmp_path / "res" / fp / layout.REPORT_ONLY / "smoke-0001_x.json"
    assert layout.baseline_files(fp, tmp_path / "res") == []
    assert runs.baseline_set(fp, "smoke", tmp_path / "res") == []


def test_the_baseline_lookup_keeps_to_the_same_conditions(tmp_path):
    """A result's conditions are part of its identity: a baseline measured with pinned threads or a cold L2
    is not the baseline of a session without them, whichever is newer."""
    fp = runs.make_fingerprint("Test CPU", 2, [])  # the machine saved_run says it measured on
    folder = tmp_path / fp
    usual = saved_run(folder / "smoke-0001_usual.json")
    pinned = json.loads(usual.read_text())
    pinned["datetime"] = "2099-01-01T00:00:00"
    pinned["machine_info"]["nptbench"]["threads"] = {"env": {"OMP_NUM_THREADS": "1"}}
    (folder / "smoke-0002_pinned.json").write_text(json.dumps(pinned))
    cold = json.loads(usual.read_text())
    cold["datetime"] = "2099-02-01T00:00:00"
    cold["benchmarks"][0]["extra_info"] = {"device": "cuda", "gpu_cold_l2": True}
    (folder / "smoke-0003_cold.json").write_text(json.dumps(cold))
    find = lambda **kw: [p.name for p in runs.baseline_set(fp, "smoke", tmp_path, **kw)]  # noqa: E731
    assert len(find()) == 3  # no conditions asked: all of them
    assert find(conditions=(), cold_l2=False) == [usual.name]
    assert find(conditions=(("OMP_NUM_THREADS", "1"),), cold_l2=False) == ["smoke-0002_pinned.json"]
    assert find(conditions=(), cold_l2=True) == ["smoke-0003_cold.json"]
    assert find(conditions=(("OMP_NUM_THREADS", "2"),)) == []


@pytest.mark.sessions
def test_a_gate_without_a_baseline_of_these_conditions_fails_loudly(tmp_path):
    """--benchmark-compare-fail under other thread settings than the only baseline's: a usage error naming
    both, not a session that passes without comparing; plain --benchmark-compare says so and runs."""
    rc, out = pytest_run(tmp_path)  # a run under the usual conditions, promoted
    assert rc == 0, out
    [made] = list((tmp_path / "runs").rglob("*.json"))
    promote.promote(made, tmp_path)
    pinned = {"OMP_NUM_THREADS": "1"}
    rc, out = pytest_run(tmp_path, "--benchmark-compare-fail=median:50%", env_extra=pinned)
    assert rc == 4 and "--benchmark-compare-fail: no smoke baseline" in out, out
    assert "(OMP_NUM_THREADS=1)" in out and "was measured under others" in out
    rc, out = pytest_run(tmp_path, "--benchmark-compare", env_extra=pinned)
    assert rc == 0 and "measured under this session's conditions (OMP_NUM_THREADS=1)" in out, out


@pytest.mark.sessions
def test_baseline_grow_adds_sessions_that_pass_and_never_one_called_slower(tmp_path):
    """--baseline-grow: the whole sessions of a thin set join it (that is how a CI runner starts one), a
    session that passes joins, a session called slower does not."""
    fp = machine.fingerprint()
    grown = lambda: sorted(p.name for p in layout.baseline_files(fp, tmp_path))  # noqa: E731
    rc, out = pytest_run(tmp_path, "--baseline-grow")  # no set yet: implies the comparison
    assert rc == 0, out
    assert "--baseline-grow: this run joined the thin baseline set (1 run now)" in out, out
    [first] = grown()
    assert first.startswith("smoke-gate-") and runs.load(tmp_path / fp / first).has_raw_data
    rc, out = pytest_run(tmp_path, "--baseline-grow", "--benchmark-compare-fail=median:5%")  # thin: cannot judge
    assert rc == 0 and "joined the thin baseline set (2 runs now)" in out, out
    for path in layout.baseline_files(fp, tmp_path):  # a set three times as fast as this machine
        path.unlink()
    promoted = promote.promote(sorted((tmp_path / "runs").rglob("*.json"))[-1], tmp_path)
    own = promoted.read_bytes()
    fast = [faster_copy(promoted, factor, f"{year}-01-01T00:00:00")
            for factor, year in ((0.33, "9001"), (0.34, "9002"), (0.32, "9003"))]
    promoted.unlink()
    before = grown()
    rc, out = pytest_run(tmp_path, "--baseline-grow", "--benchmark-compare-fail=median:5%")
    assert rc == 1 and "slower" in out and "joined" not in out, out
    assert grown() == before
    for path in fast:  # now a set at this machine's own speed, give or take a quarter
        path.unlink()
    promoted.write_bytes(own)
    faster_copy(promoted, 0.8, "8001-01-01T00:00:00")
    faster_copy(promoted, 1.25, "8002-01-01T00:00:00")
    rc, out = pytest_run(tmp_path, "--baseline-grow", "--benchmark-compare-fail=median:50%")
    assert rc == 0 and "this run passed and joined the baseline set (4 runs now)" in out, out
    assert len(grown()) == 4
