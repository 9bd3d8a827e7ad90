"""One model of a benchmark across runs (nptbench.analysis.across), used by compare, the gate and the
report: runs that differ in raw rounds and in pooling get the same pooled times and the same ratio from
compare and from the report."""
from __future__ import annotations

from pathlib import Path

import pytest

from nptbench.analysis import across
from nptbench.analysis import comparison
from nptbench.schema.runs import Run, load_runs
from nptbench.tools.report import data as report_data
from tests.test_compare import fake_run, rounds, write


def gpu(run: dict, device_time_s: float, kernel_time_s: float, times=None) -> dict:
    rec = run["benchmarks"][0]["extra_info"]
    rec.update(device="cuda", device_time_s=device_time_s, kernel_time_s=kernel_time_s)
    if times is not None:
        rec["device_times_s"] = list(times)
    return run


def stats_only(run: dict) -> dict:
    """As ``--benchmark-save-data`` off saves it: statistics, no raw round times."""
    for b in run["benchmarks"]:
        b["stats"].pop("data")
        b["stats"]["rounds"] = 5
    return run


def test_runs_without_all_their_rounds_pool_by_weighted_medians():
    one = gpu(fake_run({"k": ("e", [2.0] * 5)}, when="2026-01-01T00:00:01"), 1.0, 0.5)
    two = gpu(fake_run({"k": ("e", [2.0] * 5)}, when="2026-01-01T00:00:02"), 1.0, 0.5)
    three = stats_only(gpu(fake_run({"k": ("e", [5.0] * 5)}, when="2026-01-01T00:00:03"), 4.0, 2.0))
    [b] = across.benches([Run(Path(f"{i}.json"), r) for i, r in enumerate((three, one, two))]).values()
    assert b.runs == 3 and b.host.rounds is None and b.host.count == 15
    assert b.host.run_medians == [2.0, 2.0, 5.0]  # in the order the runs were made
    assert (b.host.median, b.device.median, b.kernel_time) == (3.0, 2.0, 1.0)  # host and device alike
    rec = b.pooled_record()
    assert rec["device_time_s"] == 2.0 and rec["kernel_time_s"] == 1.0 and "device_times_s" not in rec


def test_raw_rounds_are_joined_and_each_run_keeps_its_median():
    a = gpu(fake_run({"k": ("e", [1.0, 2.0, 3.0])}, when="2026-01-01T00:00:01"), 1.0, 0.9, [1.0, 1.0, 1.0])
    b = gpu(fake_run({"k": ("e", [4.0, 5.0, 6.0])}, when="2026-01-01T00:00:02"), 2.0, 1.9, [2.0, 2.0, 2.0])
    [bench] = across.benches([Run(Path("b"), b), Run(Path("a"), a)]).values()
    assert list(bench.host.rounds) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and bench.host.median == 3.5
    assert bench.host.run_medians == [2.0, 5.0] and len(bench.host.run_times) == 2
    assert bench.device.median == 1.5 and bench.pooled_record()["device_times_s"] == [1.0] * 3 + [2.0] * 3


@pytest.mark.parametrize("base_raw", [True, False], ids=["base-raw", "base-stats-only"])
def test_compare_and_the_report_pool_alike(tmp_path, base_raw):
    """BASE: two runs, the second saved with or without raw rounds; NEW: one run. compare's medians are
    the report's, and where BASE has no raw rounds to judge by, both give the same ratio (compare says it
    cannot judge noise instead of refusing the runs)."""
    first = fake_run({"k": ("e", rounds(1e-3, seed=1))}, when="2026-01-01T00:00:01")
    second = fake_run({"k": ("e", rounds(1.2e-3, seed=2))}, when="2026-01-01T00:00:02")
    new = fake_run({"k": ("e", rounds(2e-3, seed=3))}, when="2026-01-01T00:00:03", profile="default")
    write(tmp_path / "base" / "1.json", first)
    write(tmp_path / "base" / "2.json", second if base_raw else stats_only(second))
    write(tmp_path / "new" / "1.json", new)
    [pairing] = comparison.compare_runs(load_runs([tmp_path / "base"]), load_runs([tmp_path / "new"]), mode="session")
    [row] = pairing.rows
    report = report_data.gather([tmp_path / "base", tmp_path / "new"])
    base_result = report.results[("M1/smoke", "e", "k")]
    new_result = report.results[("M1/default", "e", "k")]
    assert (row.base_median, row.new_median) == (base_result.median, new_result.median)
    assert base_result.runs == 2
    if base_raw:
        assert row.verdict == "slower" and base_result.host_rounds is not None
    else:
        assert base_result.host_rounds is None
        assert row.result.ratio == pytest.approx(new_result.median / base_result.median)
        assert row.verdict == "uncertain" and "saved without raw round times" in row.result.note
