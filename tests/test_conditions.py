"""A result's conditions are part of its identity (nptbench.schema.record.conditions): a cold-L2 result and a
warm one of the same GPU benchmark, or runs started with different thread variables, are never pooled,
never judged against each other by compare unless asked to, and never share a report context."""
from __future__ import annotations

import json

import numpy as np

from nptbench.schema import runs as runs_model
from nptbench.analysis import across
from nptbench.analysis import comparison
from nptbench.analysis.verdict import NOT_COMPARED
from nptbench.tools import compare, report
from nptbench.schema import record
from nptbench.tools.report import data as report_data
from tests.test_compare import fake_run, rounds, write


def gpu_run(median: float, cold: bool, seed: int, when="2026-01-01T00:00:00", env=None) -> dict:
    run = fake_run({"k": ("kernel", rounds(median, seed=seed))}, when=when)
    run["benchmarks"][0]["extra_info"].update(device="cuda", gpu_cold_l2=cold)
    run["machine_info"]["nptbench"]["threads"] = {"env": env or {}}
    return run


def test_conditions_come_from_the_record_and_the_run():
    assert record.conditions({"device": "cuda", "gpu_cold_l2": False}) == ()
    assert record.conditions({"device": "cpu", "gpu_cold_l2": True}) == ()  # no L2 flush on a CPU
    cold = record.conditions({"device": "cuda", "gpu_cold_l2": True}, {"threads": {"env": {"OMP_NUM_THREADS": "1"}}})
    assert cold == (("gpu_cold_l2", True), ("OMP_NUM_THREADS", "1"))
    assert record.conditions_label(cold) == "cold-L2,OMP_NUM_THREADS=1"


def test_compare_refuses_cold_against_warm_unless_asked(tmp_path, capsys):
    warm = write(tmp_path / "warm.json", gpu_run(1e-3, cold=False, seed=1))
    cold = write(tmp_path / "cold.json", gpu_run(1.5e-3, cold=True, seed=2))
    assert compare.main([str(warm), str(cold), "--same-session"]) == 3  # nothing was judged: not a pass
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| test_x[k] [cold-L2]"))
    assert "| - |" in row and "not compared (measured under different conditions: BASE usual conditions, " \
                               "NEW cold-L2 (--across-conditions judges them anyway))" in row
    assert compare.main([str(warm), str(cold), "--across-conditions", "--same-session"]) == 1  # judged, and marked
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| test_x[k] [cold-L2]"))
    assert "**slower**" in row and "**measured under different conditions" in row


def test_thread_variables_are_a_condition_too(tmp_path, capsys):
    one = write(tmp_path / "one.json", gpu_run(1e-3, cold=False, seed=1, env={"OMP_NUM_THREADS": "1"}))
    two = write(tmp_path / "two.json", gpu_run(1e-3, cold=False, seed=2))
    assert compare.main([str(two), str(one), "--same-session"]) == 3
    assert "NEW OMP_NUM_THREADS=1" in capsys.readouterr().out


def test_a_folder_pools_only_runs_under_the_same_conditions(tmp_path):
    for i, (cold, median) in enumerate([(False, 1e-3), (True, 3e-3), (False, 1e-3)]):
        write(tmp_path / "base" / f"{i}.json", gpu_run(median, cold, seed=i, when=f"2026-01-0{i + 1}T00:00:00"))
    write(tmp_path / "new" / "0.json", gpu_run(1e-3, cold=False, seed=9, when="2026-02-01T00:00:00"))
    base, new = runs_model.load_runs([tmp_path / "base"]), runs_model.load_runs([tmp_path / "new"])
    warm = across.benches(base)
    assert sorted(b.runs for b in warm.values()) == [1, 2]  # two warm runs pooled, the cold one apart
    [pairing] = comparison.compare_runs(base, new, mode="session")
    [row] = pairing.rows
    assert row.verdict == "same" and row.result.ratio == np.float64(row.result.ratio)  # the warm pair only
    assert pairing.only_base == ["test_x[k] [cold-L2]"]



def test_report_keeps_cold_and_warm_apart_and_pools_repeats(tmp_path):
    paths = []
    for i, (cold, median) in enumerate([(False, 1e-3), (True, 3e-3), (False, 2e-3)]):
        run = gpu_run(median, cold, seed=i, when=f"2026-01-0{i + 1}T00:00:00")
        gpu = run["benchmarks"][0]
        gpu["extra_info"]["device_times_s"] = [0.9 * t for t in gpu["stats"]["data"]]
        gpu["extra_info"]["device_time_s"] = float(np.median(gpu["extra_info"]["device_times_s"]))
        run["benchmarks"].append(fake_run({"cpu": ("kernel", rounds(4e-3, seed=10 + i))})["benchmarks"][0])
        paths.append(write(tmp_path / f"{i}.json", run))
    runs = report.gather(paths)
    assert sorted({k[0] for k in runs.results}) == ["M1/smoke", "M1/smoke/cold-L2"]
    warm, cold = runs.results[("M1/smoke", "kernel", "k")], runs.results[("M1/smoke/cold-L2", "kernel", "k")]
    assert (warm.runs, warm.rounds, cold.runs, cold.rounds) == (2, 400, 1, 200)
    joined = json.loads(paths[0].read_text())["benchmarks"][0]["stats"]["data"] + \
        json.loads(paths[2].read_text())["benchmarks"][0]["stats"]["data"]
    assert warm.median == float(np.median(joined))  # the two warm runs pooled, neither dropped
    assert warm.record["device_time_s"] == float(np.median([0.9 * t for t in joined]))  # device times alike
    assert warm.lead == warm.record["device_time_s"]
    md = report.build(runs, tmp_path / "out", plots=False)["markdown"].read_text()
    assert "| M1/smoke/cold-L2 | `k` |" in md and "| 2 | 400 |" in md
    # the CPU result is in the warm context only: no ratio crosses into the cold-L2 context
    assert ("M1/smoke/cold-L2", "kernel", "cpu") not in runs.results


def test_a_refused_row_says_why_instead_of_a_ratio(tmp_path):
    warm = gpu_run(1e-3, cold=False, seed=1)
    cold = gpu_run(1e-3, cold=True, seed=2)
    [pairing] = comparison.compare_runs([runs_model.Run(tmp_path / "w", warm)], [runs_model.Run(tmp_path / "c", cold)], mode="session")
    [row] = pairing.rows
    assert row.verdict == NOT_COMPARED and row.ratio_text().startswith("measured under different conditions")
