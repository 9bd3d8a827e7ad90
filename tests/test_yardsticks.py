"""Machine-state yardsticks (nptbench.measure.yardsticks): fields, timing, compare and explains."""
import math
import time

import pytest

from nptbench.analysis import drift as state
from nptbench.measure import yardsticks as y
from nptbench.schema.record import YARDSTICK_FIELDS, YARDSTICK_RATES

BASE = {"copy_gbps": 14.0, "python_mips": 2.5, "hash_mbps": 780.0}


@pytest.fixture(scope="module")
def measured():
    t0 = time.perf_counter()
    out = y.measure()
    return out, time.perf_counter() - t0


def test_measure_has_every_declared_field_and_nothing_else(measured):
    out, _ = measured
    assert set(out) == set(YARDSTICK_FIELDS)
    for name in YARDSTICK_RATES:
        assert isinstance(out[name], float) and out[name] > 0 and math.isfinite(out[name])
    assert out["yardstick_seconds"] > 0
    assert isinstance(out["yardstick_method"], str) and "\n" not in out["yardstick_method"]
    assert out["other_cpus_busy"] is None or out["other_cpus_busy"] >= 0


def test_measure_is_fast(measured):
    # 0.30-0.45 s on the reference 2-vCPU VM, but over 1 s while a neighbour streams memory: the
    # fastest of up to three calls must take under 1 s, so one contended spell does not fail this
    out, wall = measured
    times = [min(wall, out["yardstick_seconds"])]
    while min(times) >= 1.0 and len(times) < 3:
        times.append(y.measure()["yardstick_seconds"])
    assert min(times) < 1.0, times


def test_thresholds_cover_every_rate_yardstick():
    assert set(state.THRESHOLDS) == set(YARDSTICK_RATES) == set(state.KIND)
    assert set(YARDSTICK_RATES) <= set(YARDSTICK_FIELDS)


def _one(items, name):
    (item,) = [d for d in items if d["yardstick"] == name]
    return item


def test_compare_flags_30_percent_copy_drop_not_2_percent():
    drop30 = state.compare(BASE, {**BASE, "copy_gbps": BASE["copy_gbps"] * 0.70})
    copy = _one(drop30, "copy_gbps")
    assert copy["beyond_noise"] and copy["direction"] == "slower" and copy["ratio"] == pytest.approx(0.70)
    assert not any(d["beyond_noise"] for d in drop30 if d["yardstick"] != "copy_gbps")
    drop2 = state.compare(BASE, {k: v * 0.98 for k, v in BASE.items()})
    assert not any(d["beyond_noise"] for d in drop2)
    assert all(d["direction"] is None for d in drop2)


def test_compare_flags_faster_and_honours_custom_threshold():
    up = _one(state.compare(BASE, {**BASE, "hash_mbps": BASE["hash_mbps"] * 2.5}), "hash_mbps")
    assert up["beyond_noise"] and up["direction"] == "faster"
    tight = _one(state.compare(BASE, {**BASE, "python_mips": 2.4}, thresholds={"python_mips": 0.01}), "python_mips")
    assert tight["beyond_noise"] and tight["threshold"] == 0.01


def test_compare_skips_missing_or_null_yardsticks():
    items = state.compare(BASE, {"copy_gbps": 10.0, "python_mips": None})
    assert [d["yardstick"] for d in items] == ["copy_gbps"]


def test_compare_of_two_real_measurements_runs(measured):
    out, _ = measured
    items = state.compare(out, out)
    assert [d["yardstick"] for d in items] == list(YARDSTICK_RATES)
    assert all(d["ratio"] == 1 and not d["beyond_noise"] for d in items)


ROWS = {
    "memory": {"experiment": "add", "variant": "numpy", "backend": "numpy", "device": "cpu", "bound": "memory",
               "flops": 1e6, "bytes": 1.2e7, "stats": {"median": 2e-3}},
    "compute": {"experiment": "matmul", "variant": "numpy", "backend": "numpy", "device": "cpu", "bound": "compute",
                "flops": 2e9, "bytes": 1.2e7, "stats": {"median": 5e-2}},
    "dispatch": {"experiment": "loop", "variant": "python", "backend": "python", "device": "cpu", "bound": None,
                 "flops": None, "bytes": None, "stats": {"median": 5e-3}},
    "tiny": {"experiment": "add", "variant": "torch", "backend": "torch", "device": "cpu", "bound": "memory",
             "flops": 1e3, "bytes": 1.2e4, "median": 20e-6},
    "gpu": {"experiment": "matmul", "variant": "torch", "backend": "torch", "device": "cuda", "bound": "compute",
            "flops": 2e9, "bytes": 1.2e7, "stats": {"median": 5e-3}},
    "gpu_launch": {"experiment": "add", "variant": "torch", "backend": "torch", "device": "cuda", "bound": "memory",
                   "flops": 1e3, "bytes": 1.2e4, "stats": {"median": 8e-6}},
}


def _drift(**ratios):
    return state.compare(BASE, {k: v * ratios.get(k, 1.0) for k, v in BASE.items()})


def test_kinds():
    assert state.kinds(ROWS["memory"]) == {"memory-bound"}
    assert state.kinds(ROWS["compute"]) == {"compute-bound"}
    assert state.kinds(ROWS["dispatch"]) == {"dispatch-bound"}
    assert state.kinds(ROWS["tiny"]) == {"memory-bound", "dispatch-bound"}
    assert state.kinds(ROWS["gpu"]) == set()
    assert state.kinds(ROWS["gpu_launch"]) == {"dispatch-bound"}


def test_explains_copy_drift_for_memory_bound_rows_only():
    drift = _drift(copy_gbps=0.6)
    why = state.explains(ROWS["memory"], drift)
    assert why and "copy_gbps" in why and "slower" in why and "memory-bound" in why
    assert state.explains(ROWS["tiny"], drift)
    for row in ("compute", "dispatch", "gpu", "gpu_launch"):
        assert state.explains(ROWS[row], drift) is None, row


def test_explains_interpreter_drift_for_dispatch_bound_rows():
    drift = _drift(python_mips=0.3)
    for row in ("dispatch", "tiny", "gpu_launch"):
        assert "python_mips" in state.explains(ROWS[row], drift), row
    for row in ("memory", "compute", "gpu"):
        assert state.explains(ROWS[row], drift) is None, row


def test_explains_hash_drift_for_compute_bound_cpu_rows():
    drift = _drift(hash_mbps=0.4)
    assert "hash_mbps" in state.explains(ROWS["compute"], drift)
    for row in ("memory", "dispatch", "gpu"):
        assert state.explains(ROWS[row], drift) is None, row


def test_explains_nothing_within_noise_and_accepts_one_item():
    assert state.explains(ROWS["memory"], _drift(copy_gbps=0.98)) is None
    item = _one(_drift(copy_gbps=0.5), "copy_gbps")
    assert "copy_gbps" in state.explains(ROWS["memory"], item)
    assert state.explains(ROWS["memory"], []) is None
