"""Options and skips of the suite: --bench-size/BENCH_SIZE, loud GPU skips and --require-gpu."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nptbench import backends

ROOT = Path(__file__).resolve().parents[1]
no_gpu = pytest.mark.skipif(backends.missing_cuda() is None, reason="a CUDA device is present")


def run_pytest(*args, env_extra=None):
    env = {**os.environ, "NPTBENCH_OFFLINE": "1", **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-rs"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@no_gpu
def test_gpu_benchmarks_skip_with_reason_and_fail_with_require_gpu():
    sel = ["bench/test_matmul.py", "-k", "abt and cuda", "--bench-size", "smoke", "--benchmark-disable"]
    rc, out = run_pytest(*sel)
    assert rc == 0 and "2 skipped" in out, out
    assert "no CUDA device" in out, out
    rc, out = run_pytest(*sel, "--require-gpu")
    assert rc == 1 and "2 error" in out and "--require-gpu: no CUDA device" in out, out


def test_bad_profile_is_a_usage_error():
    rc, out = run_pytest("bench/test_matmul.py", "--collect-only", "-q", env_extra={"BENCH_SIZE": "huge"})
    assert rc == 4 and "BENCH_SIZE='huge' is not a profile" in out, out


def test_missing_package_reason():
    assert backends.missing_package("surely_not_a_module_xyz").startswith("surely_not_a_module_xyz is not importable")
    assert backends.missing_package("numpy") is None


def test_cudasim_is_never_timed(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    backends.missing_numba_cuda.cache_clear()
    try:
        reason = backends.missing_numba_cuda()
    finally:
        backends.missing_numba_cuda.cache_clear()
    if backends.missing_package("numba"):
        assert "numba" in reason
    else:
        assert "simulator" in reason
