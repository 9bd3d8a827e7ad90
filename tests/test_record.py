"""The shared record schema (nptbench/schema/record.py) and the correctness check (nptbench/measure/check.py)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nptbench.measure import check
from nptbench.schema import record

GOOD = dict(experiment="abt", variant="numpy", backend="numpy", device="cpu", dtype="float32",
            shape=[(4, 3), (2, 3)], flops=48, bytes=104, dataset="random", max_abs_err=0.0, rel_err=0.0)


def test_good_record_is_json_ready():
    rec = record.make_record(**GOOD, peak_bytes=10)
    assert rec["shape"] == [[4, 3], [2, 3]] and rec["peak_bytes"] == 10
    assert set(record.FIELDS) <= set(rec) and record.validate(rec) == []


@pytest.mark.parametrize("field", list(record.FIELDS))
def test_every_field_is_required(field):
    bad = {k: v for k, v in GOOD.items() if k != field}
    with pytest.raises(record.RecordError, match=field):
        record.make_record(**bad)


@pytest.mark.parametrize("field,value", [("backend", "jax"), ("device", "tpu"), ("dataset", "imagenet"),
                                         ("flops", -1), ("shape", [(2.5, 3)]), ("variant", "")])
def test_bad_values_are_refused(field, value):
    with pytest.raises(record.RecordError, match=field):
        record.make_record(**{**GOOD, field: value})


def test_errors_and_tolerance():
    ref = np.arange(1.0, 7.0).reshape(2, 3)
    err = check.errors(ref.astype(np.float32), ref)
    assert err == {"max_abs_err": 0.0, "rel_err": 0.0}
    off = ref.copy()
    off[0, 0] += 0.5
    err = check.errors(off, ref)
    assert err["max_abs_err"] == pytest.approx(0.5)
    assert err["rel_err"] == pytest.approx(0.5 / np.linalg.norm(ref))
    with pytest.raises(AssertionError, match="rel_err"):
        check.assert_close(err, check.tolerance("float32"))


def test_nan_and_shape_mismatch_fail():
    ref = np.ones((2, 2))
    err = check.errors(np.full((2, 2), np.nan), ref)
    assert math.isinf(err["rel_err"])
    with pytest.raises(AssertionError):
        check.assert_close(err, 1.0)
    with pytest.raises(AssertionError, match="shape"):
        check.errors(np.ones((2, 3)), ref)


def test_unknown_dtype_has_no_silent_tolerance():
    with pytest.raises(KeyError, match="int8"):
        check.tolerance("int8")


# --- every field a saved run holds is declared -----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
#: One cheap benchmark of each kind of record: a product (copy_back), memory (peak_bytes_*), a seed's
#: random draws (random_inside), an interop copy, and two training runs (iterations, losses, lr ...).
SELECTION = ("(numpy and abt) or numpy-new or from-numpy or numpy-as-seed or (numpy and linreg-small) "
             "or (numpy-f32 and twolayer)")


def _undeclared_in(run: dict) -> dict:
    return {f"{b['extra_info'].get('experiment')}/{b['extra_info'].get('variant')}": bad
            for b in run["benchmarks"] if (bad := [k for k in b["extra_info"] if not record.declared(k)])}


@pytest.mark.parametrize("path", sorted(ROOT.glob("results/*/*.json")), ids=lambda p: p.parent.name + "/" + p.name)
def test_committed_runs_hold_only_declared_fields(path):
    run = json.loads(path.read_text())
    if "benchmarks" in run:  # ceilings.json holds none
        assert _undeclared_in(run) == {}


def test_a_timed_run_holds_only_declared_fields(tmp_path):
    out = tmp_path / "run.json"
    env = {**os.environ, "NPTBENCH_OFFLINE": "1", "NPTBENCH_CALIBRATION": "quick"}
    env.pop("NPTBENCH_CEILINGS", None)  # with the roofline fields
    cmd = [sys.executable, "-m", "pytest", "bench", "--bench-size", "smoke", "-k", SELECTION, "-q",
           "-p", "no:cacheprovider", f"--benchmark-json={out}", f"--benchmark-storage=file://{tmp_path}/runs",
           "--benchmark-max-time=0.005",
           "--benchmark-min-rounds=1", "--benchmark-warmup=off"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the timed run failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    run = json.loads(out.read_text())
    assert len(run["benchmarks"]) >= 6 and all("pct_of_ceiling" in b["extra_info"] for b in run["benchmarks"])
    assert _undeclared_in(run) == {}
    # the machine's state at the start and the end, and how the session ended: declared, as saved
    taken = run["machine_info"]["nptbench"]["yardsticks"]
    assert set(taken) == {"start", "end"}
    assert all(set(taken[k]) == set(record.YARDSTICK_FIELDS) for k in taken)
    assert all(taken[k][name] > 0 for k in taken for name in record.YARDSTICK_RATES)
    assert set(run["nptbench_session"]) == set(record.SESSION_FIELDS) and run["nptbench_session"]["complete"]


def test_an_undeclared_field_is_refused():
    with pytest.raises(record.RecordError, match="undeclared record field speed"):
        record.make_record(**GOOD, speed=1)
    info = {}
    with pytest.raises(record.RecordError, match="undeclared record field speed"):
        record.write(info, iterations=3, speed=1)
    assert info == {}
    record.write(info, iterations=3, rel_err_vs_other=0.5)
    assert info == {"iterations": 3, "rel_err_vs_other": 0.5}


def test_the_roofline_fields_are_declared_as_roofline_writes_them():
    from nptbench.analysis import roofline

    assert roofline.FIELDS == record.ROOFLINE_FIELDS


def test_a_complex_result_is_checked_as_complex():
    """Both parts count: a result right in its real part and wrong in its imaginary one fails."""
    from nptbench.measure import check as chk

    ref = np.array([1 + 2j, 3 - 4j])
    assert chk.errors(ref.astype(np.complex64), ref)["rel_err"] < 1e-6
    wrong = chk.errors(np.array([1 - 2j, 3 + 4j]), ref)  # conjugated: the same real parts
    assert wrong["rel_err"] > 1 and wrong["max_abs_err"] == 8  # |(3+4j) - (3-4j)|
    assert chk.errors(np.array([1.0, 3.0]), ref)["rel_err"] > 0.5  # a real result against a complex reference
