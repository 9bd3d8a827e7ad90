"""The measuring harness: warm-up, timing call, record and the correctness gate that cannot be bypassed."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nptbench.measure import harness

ROOT = Path(__file__).resolve().parents[1]
RECORD = dict(experiment="toy", variant="v", backend="numpy", device="cpu", dtype="float32",
              shape=[(3,)], flops=3, bytes=24, dataset="random")


class FakeBenchmark:
    """Stands in for pytest-benchmark's fixture: calls the function, counts calls."""

    def __init__(self):
        self.extra_info, self.group, self.calls, self.setups = {}, None, 0, 0

    def __call__(self, fn, *args):
        self.calls += 1
        return fn(*args)

    def pedantic(self, fn, args=(), setup=None, rounds=1, iterations=1):
        out = None
        for _ in range(rounds):
            if setup is not None:
                args, _kw = setup()
                self.setups += 1
            self.calls += 1
            out = fn(*args)
        return out


def test_right_answer_passes_and_is_recorded():
    calls = []
    bench = FakeBenchmark()
    x = np.arange(3.0, dtype=np.float32)
    out = harness.measure(bench, lambda v: calls.append(1) or v * 2, (x,), record=RECORD, reference=x * 2.0)
    assert np.array_equal(out, x * 2)
    assert len(calls) == 2 and bench.calls == 1  # one warm-up outside the timing, one timed call
    assert bench.group == "toy" and bench.extra_info["rel_err"] == 0.0 and bench.extra_info["rtol"] == 1e-4


def test_wrong_answer_fails_but_is_recorded_first():
    bench = FakeBenchmark()
    x = np.arange(1.0, 4.0)
    with pytest.raises(AssertionError, match="toy/v is wrong"):
        harness.measure(bench, lambda v: v * 2.001, (x,), record=RECORD, reference=x * 2)
    assert bench.extra_info["rel_err"] == pytest.approx(5e-4, rel=1e-6)


def test_setup_gives_fresh_inputs_each_round():
    bench = FakeBenchmark()

    def add_inplace(y):
        y += 1
        return y

    harness.measure(bench, add_inplace, record=RECORD, reference=np.ones(3), rounds=4,
                    setup=lambda: (np.zeros(3),))
    assert bench.setups == 4  # without fresh inputs the 4th round would return 4s and fail


def test_extra_check_runs():
    bench = FakeBenchmark()
    with pytest.raises(AssertionError, match="extra"):
        harness.measure(bench, lambda: np.ones(2), record=RECORD, reference=np.ones(2),
                        extra_check=lambda out: (_ for _ in ()).throw(AssertionError("extra")))


# A plugin loaded before collection swaps one variant's code for a wrong one, as a regression would.
WRONG_KERNELS = textwrap.dedent('''
    import os
    import nptbench.families.matmul as mm

    honest = mm.matmul_operator

    def fp16_product(a, b):          # fast and almost right: half precision inputs
        if hasattr(a, "half"):
            return (a.half().float() @ b.half().float())
        return (a.astype("float16").astype("float32") @ b.astype("float16").astype("float32"))

    def drops_a_term(a, b):          # one of the K terms is missing
        out = honest(a, b)
        return out - a[:, 100:101] @ b[100:101, :]

    mm.matmul_operator = {"fp16": fp16_product, "drop": drops_a_term, "honest": honest}[os.environ["WRONG"]]
''')


@pytest.mark.parametrize("kind,expect_rc", [("honest", 0), ("fp16", 1), ("drop", 1)])
def test_wrong_kernel_fails_its_benchmark(tmp_path, kind, expect_rc):
    (tmp_path / "wrong_kernels.py").write_text(WRONG_KERNELS)
    env = {**os.environ, "WRONG": kind, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "NPTBENCH_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_matmul.py", "-k", "numpy-mnist or torch-mnist",
         "-p", "wrong_kernels", "--bench-size", "smoke", "--benchmark-disable", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == expect_rc, out
    if expect_rc:
        assert "is wrong: rel_err" in out and "4 failed" in out, out
    else:
        assert "4 passed" in out, out
