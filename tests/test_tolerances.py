"""Tolerances derived from the computation (nptbench.measure.check.rtol): the rule's arithmetic, the
conditions it is fed, and the mutations a tolerance must keep failing: a result off by 0.1 %, a skipped
row (of a product, of a training batch) and a learning rate off by 1 %, each run through the real benches."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nptbench.measure import check

ROOT = Path(__file__).resolve().parents[1]


def test_the_rule_is_its_formula_and_says_how_it_was_made():
    u = 2.0 ** -24 + 2.0 ** -53
    tol = check.rtol("float32", length=784, condition=0.75, ops=1)
    assert tol == pytest.approx(u * (1 + check.LAMBDA * math.sqrt(784) * 0.75))
    assert "float32" in tol.rule and "sqrt(784)" in tol.rule and "condition 0.75" in tol.rule
    assert check.rtol("float32", ops=1) == pytest.approx(u)  # no reduction: one rounding
    assert check.rtol("float64", ops=1) == pytest.approx(2 * 2.0 ** -53)  # the reference's rounding counts too
    assert check.rtol("float32", length=100, steps=10) == pytest.approx(10 * check.rtol("float32", length=100))
    assert check.rtol("torch.float32", ops=2) == check.rtol("float32", ops=2)


def test_the_rule_refuses_what_it_cannot_derive():
    with pytest.raises(KeyError, match="no unit roundoff known for dtype 'int8'"):
        check.rtol("int8")
    with pytest.raises(ValueError):
        check.rtol("float32", length=0)


def test_the_sequential_condition_of_sums():
    rng = np.random.default_rng(0)
    assert check.sequential_condition(rng.random(100_000)) == pytest.approx(1 / math.sqrt(3), rel=0.01)
    # random signs: about sqrt(K/2) rms(term) / |sum|, growing as the sum cancels
    x = rng.standard_normal(100_000)
    assert check.sequential_condition(x) == pytest.approx(math.sqrt(x.size / 2) / abs(x.sum()), rel=0.8)
    cancelling = np.concatenate([x, -x[::-1]]) + 1e-9
    assert check.sequential_condition(cancelling) > 1e4 * check.sequential_condition(x)
    # chunked partial sums are the same sums
    assert check.sequential_condition(x, chunk=7) == pytest.approx(check.sequential_condition(x), rel=1e-9)
    assert check.sequential_condition(np.zeros(4)) == 0.0


def test_the_product_condition_is_that_of_its_elements_sums():
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 64)), rng.standard_normal((64, 3))
    every = check.sequential_condition(np.stack([a[i] * b[:, j] for i in range(5) for j in range(3)]))
    assert check.product_condition(a, b) == pytest.approx(every)
    assert check.product_condition(a, b.T.copy(), transposed=True) == pytest.approx(every)
    big_a, big_b = rng.random((300, 32)), rng.random((32, 300))  # sampled: 256 of 90000 elements
    assert check.product_condition(big_a, big_b) == pytest.approx(1 / math.sqrt(3), rel=0.1)


def test_an_honest_float32_sum_stays_inside_and_a_dropped_term_does_not():
    """Sequential float32 summation, the longest order there is, against the rule at K = 10^5."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(100_000).astype(np.float32)
    total = np.float32(0)
    for v in x[:20_000]:  # pure sequential float32 (a slice: the loop is slow in Python)
        total = np.float32(total + v)
    exact = float(np.sum(x[:20_000], dtype=np.float64))
    tol = check.rtol("float32", length=20_000, condition=check.sequential_condition(x[:20_000]))
    assert abs(float(total) - exact) / abs(exact) <= tol
    dropped = float(np.sum(x[:20_000], dtype=np.float64) - x[123])
    assert abs(dropped - exact) / abs(exact) > tol




#: mutation -> the benchmarks it must fail (smoke profile, CPU rows)
EXPECTED = {
    "off-0.1%": {"test_matmul[torch-mnist5-float32]", "test_matmul[numpy-mnist5-float32]",
                 "test_matmul[torch-mnist-full-float32]", "test_matmul[numpy-mnist-full-float32]",
                 "test_reduce[numpy-reduce-float32]"},
    "skipped-row": {"test_matmul[torch-mnist5-float32]", "test_matmul[numpy-mnist5-float32]",
                    "test_matmul[torch-mnist-full-float32]", "test_matmul[numpy-mnist-full-float32]",
                    "test_twolayer[numpy-twolayer-float64]", "test_twolayer[numpy-f32-twolayer-float32]"},
    "lr+1%": {"test_linreg_small[numpy-linreg-small-float32]", "test_linreg_large[numpy-linreg-large-float32]",
              "test_twolayer[numpy-twolayer-float64]", "test_twolayer[numpy-f32-twolayer-float32]"},
}


@pytest.mark.parametrize("mutation", sorted(EXPECTED))
def test_a_wrong_result_still_fails_its_benchmark(tmp_path, mutation):
    """The mutations of tests/mutations_plugin.py, loaded before collection as a regression would be: each
    mutated benchmark fails with its numbers, and every other one passes."""
    log = tmp_path / "checks.jsonl"
    env = {**os.environ, "MUTATION": mutation, "NPTBENCH_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-p", "mutations_plugin", "-m", "not gpu and not numba_cuda",
         "-k", "matmul or reduce or linreg or twolayer", "--bench-size", "smoke", "--benchmark-disable", "-q",
         "-p", "no:cacheprovider", f"--check-log={log}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    lines = [json.loads(ln) for ln in log.read_text().splitlines()]
    failed = {ln["nodeid"].split("::")[1]: ln["reason"] for ln in lines if ln["outcome"] == "failed"}
    assert set(failed) == EXPECTED[mutation], proc.stdout[-3000:]
    assert all("is wrong: rel_err" in why and "> tolerance" in why for why in failed.values()), failed
    for ln in lines:  # the session's own summary names each failed benchmark with its whole reason
        if ln["outcome"] == "failed":
            assert f"nptbench: FAILED {ln['nodeid']}: {ln['reason']}" in proc.stdout
    assert proc.returncode == 1
