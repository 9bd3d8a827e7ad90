"""The numba CUDA kernels (seed 004's naive kernel, the shared-memory tiled and register-blocked kernels)
checked on a machine without a GPU, in numba's CUDA simulator, against float64 numpy products.

The simulator must be switched on before numba is first imported, and this test process has usually
imported numba already, so one subprocess (NUMBA_ENABLE_CUDASIM=1) runs every kernel check and reports
the errors as JSON; the tests below read that report. The simulator runs each CUDA thread as a Python
thread, so the shapes are small -- and chosen so that no dimension is a multiple of the tile: partial
tiles on every edge, several blocks along each axis, K shorter and longer than a tile.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nptbench.measure.check import RTOL

ROOT = Path(__file__).resolve().parents[1]
#: One subprocess simulating every kernel (~15-20 s): left to .ci/run's second step.
pytestmark = pytest.mark.sessions

#: launcher name -> (M, K, N) shapes it is checked at.
CASES = {
    "matmul_numba_cuda": [(17, 33, 19)],                               # the seed's launch + copy back
    "numba-cuda-naive": [(17, 33, 19), (33, 20, 40)],
    "numba-cuda-tiled16": [(17, 33, 19), (33, 20, 40), (1, 1, 1)],    # 2x2 and 3x2 blocks, 3 K-tiles
    # One block of 1024 threads with partial tiles on every edge and 2 K-tiles. (Several blocks are the
    # same code path, checked at tile 16: a 1024-thread block costs seconds in the simulator.)
    "numba-cuda-tiled32": [(17, 33, 19)],
    # 64x64 block tiles of 256 threads, k staged 16 at a time: one block with 3 k-slabs (the last of one
    # element), then 2x2 blocks whose bottom ones hold 1 row of 64 and right ones 2 columns of 64.
    "numba-cuda-regtiled64": [(17, 33, 19), (65, 17, 66)],
    # 128x128 block tiles of 256 threads, k staged 8 at a time in two buffers: one block whose only slab
    # holds 3 of 8 k, then 2x2 blocks (bottom ones 2 rows of 128, right ones 5 columns: a full quad of
    # columns and a quad with one) over 3 slabs, the last of one element, buffer 0 used twice.
    "numba-cuda-regtiled128": [(5, 3, 7), (130, 17, 133)],
}

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from numba import cuda
    from nptbench.families import cuda_kernels as ck, matmul as mm

    def launch_seed(a, b, c):
        return mm.matmul_numba_cuda(a, b, c)

    launchers = {"matmul_numba_cuda": (launch_seed, "float64"), **ck.KERNELS}
    rng = np.random.default_rng(20240507)
    report = []
    for name, shapes in json.loads(sys.argv[1]).items():
        fn, out_dtype = launchers[name]
        for m, k, n in shapes:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            # NaN in every output element first: one the kernel forgets to write cannot pass
            c = cuda.to_device(np.full((m, n), np.nan, dtype=out_dtype))
            out = fn(cuda.to_device(a), cuda.to_device(b), c)
            got = out if isinstance(out, np.ndarray) else out.copy_to_host()
            ref = a.astype(np.float64) @ b.astype(np.float64)
            diff = got.astype(np.float64) - ref
            report.append({
                "launcher": name, "shape": [m, k, n], "out_shape": list(got.shape), "out_dtype": str(got.dtype),
                "finite": bool(np.isfinite(got).all()),
                "rel_err": float(np.linalg.norm(diff) / np.linalg.norm(ref)),
                "max_abs_err": float(np.abs(diff).max()),
            })
    print(json.dumps(report))
""")


@pytest.fixture(scope="module")
def sim_report():
    """Run every kernel in the simulator once (one subprocess) and return its report, by (launcher, shape)."""
    pytest.importorskip("numba", reason="numba is not importable")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(CASES)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"simulator run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {(r["launcher"], tuple(r["shape"])): r for r in report}


@pytest.mark.parametrize("launcher,shape", [
    pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")
    for name, shapes in CASES.items() for shape in shapes
])
def test_kernel_matches_float64_reference(sim_report, launcher, shape):
    r = sim_report[(launcher, shape)]
    m, _, n = shape
    assert r["out_shape"] == [m, n]
    assert r["finite"], "the kernel left output elements unwritten (NaN) or produced inf"
    # fp32 products of K <= 33 terms: the error is a few units of fp32 roundoff, far below the tolerance
    assert r["rel_err"] <= RTOL["float32"], r


def test_output_dtypes_are_as_declared(sim_report):
    """The seed's kernel writes float64 (its output buffer is np.zeros, as in the notebook); the others float32."""
    dtypes = {name: r["out_dtype"] for (name, _), r in sim_report.items()}
    assert dtypes == {"matmul_numba_cuda": "float64", "numba-cuda-naive": "float64",
                      "numba-cuda-tiled16": "float32", "numba-cuda-tiled32": "float32",
                      "numba-cuda-regtiled64": "float32", "numba-cuda-regtiled128": "float32"}
