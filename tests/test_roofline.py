"""Roofline columns: which ceiling bounds a record, the percentage, and a calibration that stays cheap."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from nptbench import plugin
from nptbench.analysis import roofline
from nptbench.measure import ceilings as measured
from nptbench.schema.record import lead_time

CEILINGS = {
    "cpu": {"matmul_gflops": {"float32": 100.0, "float64": 50.0}, "copy_gbps": 10.0},
    "cuda": {"matmul_gflops": {"float32": 50_000.0, "float64": 40_000.0}, "copy_gbps": 4000.0,
             "h2d_gbps": 50.0, "d2h_gbps": 40.0},
}


def rec(**kw):
    base = dict(experiment="e", variant="v", device="cpu", dtype="float32", flops=None, bytes=None)
    return {**base, **kw}


def test_compute_bound_product():
    # 2e9 flops at 100 GFLOP/s take 20 ms at best; 1e7 bytes at 10 GB/s 1 ms: compute bounds it.
    out = roofline.annotate(rec(flops=2e9, bytes=1e7), 0.04, CEILINGS)
    assert out["bound"] == "compute"
    assert out["pct_of_ceiling"] == pytest.approx(50.0)
    assert out["achieved_gflops"] == pytest.approx(50.0)
    assert out["achieved_gbps"] == pytest.approx(0.25)
    assert "float32 matmul" in out["ceiling"]


def test_memory_bound_add():
    # An addition: 1e8 flops (1 ms at peak) but 1.2e9 bytes (120 ms at 10 GB/s): memory bounds it.
    out = roofline.annotate(rec(flops=1e8, bytes=1.2e9), 0.24, CEILINGS)
    assert out["bound"] == "memory"
    assert out["pct_of_ceiling"] == pytest.approx(50.0)


def test_float64_is_held_against_the_fp64_rate():
    out = roofline.annotate(rec(dtype="float64", flops=1e9, bytes=1), 0.04, CEILINGS)
    assert out["pct_of_ceiling"] == pytest.approx(50.0)  # 1e9 / 50 GFLOP/s = 20 ms of 40 ms


def test_bytes_only_record_is_memory_bound():
    out = roofline.annotate(rec(bytes=1e9), 0.2, CEILINGS)
    assert out["achieved_gflops"] is None
    assert (out["bound"], out["pct_of_ceiling"]) == ("memory", pytest.approx(50.0))


def test_transfer_is_held_against_the_link_not_device_memory():
    """Transfer-bound is decided from the declared fields ``source`` and ``destination``, never a name."""
    out = roofline.annotate(rec(experiment="h2d", variant="pinned", device="cuda", bytes=1e9, source="pinned",
                                destination="device"), 0.04, CEILINGS)
    assert out["bound"] == "transfer"
    assert out["pct_of_ceiling"] == pytest.approx(50.0)  # 1e9 B at 50 GB/s = 20 ms
    out = roofline.annotate(rec(experiment="interop", variant="d2h", device="cuda", bytes=4e8, source="device",
                                destination="new"), 0.02, CEILINGS)
    assert out["ceiling"].startswith("d2h")
    named_otherwise = rec(experiment="upload", variant="staged", device="cuda", bytes=1e9, source="pageable",
                          destination="new")
    assert roofline.annotate(named_otherwise, 0.04, CEILINGS)["ceiling"].startswith("h2d")
    # a name alone makes no transfer: held against device memory
    assert roofline.annotate(rec(experiment="h2d", variant="pinned", device="cuda", bytes=1e9), 0.04,
                             CEILINGS)["bound"] == "memory"


def test_no_honest_percentage_without_a_ceiling():
    assert roofline.annotate(rec(), 0.1, CEILINGS) == dict.fromkeys(roofline.FIELDS)  # neither flops nor bytes
    reduced = roofline.annotate(rec(dtype="bfloat16", device="cuda", flops=1e12, bytes=1e6), 0.1, CEILINGS)
    assert reduced["achieved_gflops"] == pytest.approx(1e4) and reduced["pct_of_ceiling"] is None
    nogpu = roofline.annotate(rec(device="cuda", flops=1e9, bytes=1e6), 0.1, {"cpu": CEILINGS["cpu"]})
    assert nogpu["achieved_gflops"] == pytest.approx(10) and nogpu["pct_of_ceiling"] is None


def test_device_time_is_used_on_the_gpu():
    assert lead_time(rec(device="cuda", device_time_s=0.5), 0.7) == (0.5, "device median (CUDA events)")
    assert lead_time(rec(device="cpu", device_time_s=0.5), 0.7) == (0.7, "median")


def test_quick_calibration_measures_positive_ceilings():
    c = measured.cpu_ceilings(quick=True)
    assert c["matmul_gflops"]["float32"] > 0 and c["matmul_gflops"]["float64"] > 0
    assert c["copy_gbps"] > 0
    assert "bytes read + written" in c["method"]


def test_ceilings_can_be_read_from_a_saved_run(tmp_path, monkeypatch):
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"machine_info": {"nptbench": {"ceilings": CEILINGS}}, "benchmarks": []}))
    monkeypatch.setenv(measured.ENV_FILE, str(run))
    monkeypatch.setattr(measured, "_SESSION", {})
    got = measured.session_ceilings()
    assert got["cpu"] == CEILINGS["cpu"] and got["source"] == "file" and got["path"] == str(run)
    assert roofline.source_line(got) == f"ceilings: read from {run}"


def test_nothing_is_calibrated_when_benchmarks_are_disabled(monkeypatch):
    def boom():
        raise AssertionError("calibration ran under --benchmark-disable")

    monkeypatch.setattr(measured, "session_ceilings", boom)
    config = SimpleNamespace(_benchmarksession=SimpleNamespace(disabled=True, skip=False, benchmarks=[]))
    info = {}
    plugin.add_ceilings(config, info)
    plugin.add_roofline(config, {"benchmarks": [{"extra_info": rec(flops=1), "stats": {"median": 1}}]})
    plugin.roofline_summary(None, config)
    assert "ceilings" not in info.get("nptbench", {})


def test_terminal_table_has_the_roofline_columns():
    stats = SimpleNamespace(median=0.04, rounds=5)
    benches = [SimpleNamespace(group="g", stats=stats, extra_info=rec(variant="fast", flops=2e9, bytes=1e7)),
               SimpleNamespace(group="g", stats=SimpleNamespace(median=0.4, rounds=5),
                               extra_info=rec(variant="slow", flops=2e9, bytes=1e7))]
    rows = roofline.table_rows(benches, CEILINGS)["g"]
    assert [r[0] for r in rows] == ["fast", "slow"]
    assert rows[0][8:] == ["compute", "50"] and rows[0][4:6] == ["host", "-"]
    lines = roofline.format_table(rows)
    assert "% ceiling" in lines[0] and "GFLOP/s" in lines[0]


def test_gpu_rows_lead_with_device_time_and_show_the_host_median():
    # host medians say "slow" is faster; its device time (what the GPU spent) says otherwise
    gpu_rec = lambda variant, device_s: rec(variant=variant, device="cuda", flops=2e9, device_time_s=device_s)  # noqa: E731
    benches = [SimpleNamespace(group="g", stats=SimpleNamespace(median=0.050, rounds=5),
                               extra_info=gpu_rec("fast", 0.010)),
               SimpleNamespace(group="g", stats=SimpleNamespace(median=0.045, rounds=5),
                               extra_info=gpu_rec("slow", 0.040))]
    rows = roofline.table_rows(benches, {})["g"]
    assert [r[0] for r in rows] == ["fast", "slow"]
    assert rows[0][3:7] == ["10 ms", "device", "50 ms", "200"]  # GFLOP/s from the device time
    assert roofline.format_table(rows)[0].split()[3:6] == ["median", "timed", "by"]


def test_ceilings_file_without_ceilings_is_an_error(tmp_path, monkeypatch):
    run = tmp_path / "run.json"
    run.write_text('{"machine_info": {"nptbench": {}}, "benchmarks": []}')
    monkeypatch.setenv(measured.ENV_FILE, str(run))
    monkeypatch.setattr(measured, "_SESSION", {})
    with pytest.raises(RuntimeError, match="run.json: holds no ceilings"):
        measured.session_ceilings()


def test_ceilings_off_measures_nothing(monkeypatch):
    """NPTBENCH_CEILINGS=off: the session neither calibrates nor adds roofline fields (proof runs use it)."""
    class Session:
        disabled = skip = False
        benchmarks = []

    class Config:
        _benchmarksession = Session()

    def calibrate(*args, **kwargs):
        raise AssertionError("calibration ran with NPTBENCH_CEILINGS=off")

    monkeypatch.setattr(measured, "calibrate", calibrate)
    monkeypatch.setattr(measured, "_SESSION", {})
    monkeypatch.setenv(measured.ENV_FILE, "off")
    info, run = {}, {"benchmarks": [{"extra_info": {"flops": 10, "device": "cpu"}, "stats": {"median": 1.0}}]}
    plugin.add_ceilings(Config(), info)
    plugin.add_roofline(Config(), run)
    assert info == {} and "pct_of_ceiling" not in run["benchmarks"][0]["extra_info"]
    monkeypatch.setenv(measured.ENV_FILE, "")
    assert not plugin.roofline_off(Config())  # the same session without the variable would calibrate


def test_terminal_summary_prints_the_timer_floor_and_flags_kernel_time_above_device_time(monkeypatch):
    from nptbench.measure import devicetime

    floor = {"host_s": 21e-6, "device_s": 3e-6, "calls": 200, "timer": "fake"}
    monkeypatch.setattr(measured, "session_ceilings", lambda results=None: {})
    monkeypatch.setattr(devicetime, "session_timer_floor", lambda: floor)
    stats = SimpleNamespace(median=0.040, rounds=5, data=[0.039, 0.040, 0.040, 0.041, 0.046])
    broken = rec(variant="long", device="cuda", flops=2e9, device_time_s=0.038, kernel_time_s=0.039)
    fine = rec(variant="short", device="cuda", flops=2e9, device_time_s=60e-6, kernel_time_s=48e-6)
    benches = [SimpleNamespace(name="t[long]", group="g", stats=stats, extra_info=broken),
               SimpleNamespace(name="t[short]", group="g", stats=stats, extra_info=fine)]
    config = SimpleNamespace(_benchmarksession=SimpleNamespace(disabled=False, skip=False, benchmarks=benches),
                             option=SimpleNamespace(benchmark_storage=""), rootpath=".")
    lines = []
    tr = SimpleNamespace(write_sep=lambda *a, **k: None, write_line=lambda line, **k: lines.append(line))
    plugin.roofline_summary(tr, config)
    assert "timer floor: 21.0 µs host, 3.0 µs device per empty synchronized call" in "\n".join(lines)
    flags = [line for line in lines if "kernel time above device time" in line]
    assert len(flags) == 1 and "t[long]: kernel_time_s 39 ms > device_time_s 38 ms" in flags[0]


def test_reduced_precision_ceilings_are_measured_as_the_precision_benchmarks_run():
    import torch

    seen = []

    def timed(fn, reps):  # stands in for CUDA-event timing: one call, a fixed time
        out = fn()
        seen.append((out.dtype, torch.get_float32_matmul_precision(), reps))
        return 1e-3

    before = torch.get_float32_matmul_precision()
    rates = measured.reduced_precision_rates(torch, 64, timed, 3, device="cpu")
    assert rates == pytest.approx({"tf32": 2 * 64**3 / 1e-3 / 1e9, "bfloat16": 2 * 64**3 / 1e-3 / 1e9,
                                   "float16": 2 * 64**3 / 1e-3 / 1e9})
    assert seen == [(torch.float32, "high", 3), (torch.bfloat16, "highest", 3), (torch.float16, "highest", 3)]
    assert torch.get_float32_matmul_precision() == before  # TF32 switched back off
    # with those ceilings a bf16 product gets a % of ceiling; on a CPU (none measured) it gets none
    ceilings = {"cuda": {"matmul_gflops": {"float32": 50_000.0, "bfloat16": 650_000.0}, "copy_gbps": 4000.0}}
    gpu_rec = rec(device="cuda", dtype="bfloat16", flops=2e12, bytes=6e8)
    out = roofline.annotate(gpu_rec, 4e-3, ceilings)
    assert out["bound"] == "compute" and out["pct_of_ceiling"] == pytest.approx(100 * (2e12 / 650e12) / 4e-3)
    assert roofline.annotate(rec(dtype="bfloat16", flops=2e12, bytes=6e8), 4e-3, CEILINGS)["pct_of_ceiling"] is None
