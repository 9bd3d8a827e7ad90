"""Options and skips of the suite: --bench-size/BENCH_SIZE, loud GPU skips and --require-gpu."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nptbench.env import backends

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
    # numba reads NUMBA_ENABLE_CUDASIM when first imported: import it before setting the variable, or every
    # later numba.cuda of this process would be the simulator
    backends.missing_package("numba")
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


# --- numba CUDA: a device the driver sees is not yet a target that compiles ---------------------------------

#: A numba-cuda as it was found on a GPU machine with numpy 2.5: the driver sees the device, but compiling
#: any kernel raises inside numba-cuda's typing registry.
BROKEN_NUMBA_CUDA = '''
from numba import cuda

def _compile(*args, **kwargs):
    raise AttributeError("module 'numpy' has no attribute 'row_stack'")

cuda.is_available = lambda: True
cuda.jit = _compile
cuda.compile_ptx = _compile
'''
ROW_STACK = "AttributeError: module 'numpy' has no attribute 'row_stack'"


@pytest.fixture
def broken_numba_cuda(tmp_path):
    """Environment that loads the broken numba-cuda above into a pytest subprocess (``-p broken_numba_cuda``)."""
    pytest.importorskip("numba")
    (tmp_path / "broken_numba_cuda.py").write_text(BROKEN_NUMBA_CUDA)
    return {"PYTHONPATH": os.pathsep.join(filter(None, (str(tmp_path), os.environ.get("PYTHONPATH"))))}


def test_numba_cuda_that_cannot_compile_skips_with_the_reason_and_fails_with_require_gpu(broken_numba_cuda):
    sel = ["-p", "broken_numba_cuda", "bench/test_matmul.py", "-k", "numba-cuda", "--bench-size", "smoke",
           "--benchmark-disable"]
    rc, out = run_pytest(*sel, env_extra=broken_numba_cuda)
    assert rc == 0 and "1 skipped" in out, out
    assert f"numba's CUDA target cannot compile and launch a kernel here ({ROW_STACK})" in out, out
    rc, out = run_pytest(*sel, "--require-gpu", env_extra=broken_numba_cuda)
    assert rc == 1 and "1 error" in out, out
    assert f"--require-gpu: numba's CUDA target cannot compile and launch a kernel here ({ROW_STACK})" in out, out
    assert "Traceback" not in out and "raise AttributeError" not in out, out  # one line, no traceback


@pytest.fixture
def numba_cuda_that_cannot_compile(monkeypatch):
    """In this process: numba's driver sees a device, and every compile raises as numba-cuda 0.30 did with
    numpy 2.5 (the probe's cache is cleared before and after)."""
    pytest.importorskip("numba")
    from numba import cuda

    def compile_(*args, **kwargs):
        raise AttributeError("module 'numpy' has no attribute 'row_stack'\nmore lines the reason leaves out")

    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(cuda, "jit", compile_)
    monkeypatch.setattr(cuda, "compile_ptx", compile_)
    backends.missing_numba_cuda.cache_clear()
    yield
    backends.missing_numba_cuda.cache_clear()


def test_numba_cuda_probe_reports_what_the_compile_raised(numba_cuda_that_cannot_compile):
    reason = backends.missing_numba_cuda()
    assert reason == f"numba's CUDA target cannot compile and launch a kernel here ({ROW_STACK})"


@pytest.mark.parametrize("error,kind", [
    (AttributeError("module 'numpy' has no attribute 'row_stack'"), "numba-cuda"),
    (RuntimeError("Missing libdevice file. Please ensure you have a CUDA Toolkit 11.2 or higher."), "compiler"),
    (ValueError("NVVM_ERROR_INVALID_OPTION: -arch=compute_90 is not supported by this NVVM"), "compiler"),
    (type("NvvmSupportError", (ImportError,), {})("libNVVM cannot be found. Do `conda install cudatoolkit`"),
     "compiler"),
    # numba's own Python layer naming its nvvm module is not a missing compiler
    (ImportError("cannot import name 'NVVM' from 'numba.cuda.cudadrv.nvvm'"), "numba-cuda"),
])
def test_compile_probe_tells_a_missing_compiler_from_a_broken_numba_cuda(monkeypatch, error, kind):
    pytest.importorskip("numba")
    from numba import cuda

    def compile_(*args, **kwargs):
        raise error

    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setattr(cuda, "compile_ptx", compile_)
    found, reason = backends.numba_cuda_compile_problem((9, 0))
    assert found == kind and str(error).splitlines()[0][:60] in reason
    assert reason.startswith("no CUDA compiler for sm_90" if kind == "compiler" else "numba-cuda cannot compile")
