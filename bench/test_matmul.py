"""Matrix multiplication: seeds 004 (MNIST, loops to numba to broadcasting to the GPU), 000 (a @ b.T on
numpy, torch and the GPU) and 003 (a 10000x10000 product). Shapes: nptbench.matmul.SIZES.

To add a variant: write one function in nptbench/matmul.py and add one line to VARIANTS below.
"""
from __future__ import annotations

import numpy as np
import pytest

from fixtures import operands, tensors
from fixtures.seeds import pair
from nptbench import matmul as mm

# experiment -> (variant id, function, backend, device). Operands are made ready for the backend and
# device outside the timed region; the id says when a copy back to the host is inside it.
VARIANTS = {
    "mnist5": [
        ("torch-loop", mm.matmul_torch_loop, "torch", "cpu"),
        ("python-lists", mm.matmul_python_lists, "python", "cpu"),
        ("numba-dot", mm.matmul_numba_dot, "numba", "cpu"),
        ("elementwise", mm.matmul_elementwise, "torch", "cpu"),
        ("torch-dot", mm.matmul_torch_dot, "torch", "cpu"),
        ("broadcast", mm.matmul_broadcast, "torch", "cpu"),
        ("einsum", mm.matmul_einsum, "torch", "cpu"),
        ("torch", mm.matmul_operator, "torch", "cpu"),
        ("numpy", mm.matmul_operator, "numpy", "cpu"),
    ],
    "mnist-full": [
        ("broadcast", mm.matmul_broadcast, "torch", "cpu"),
        ("einsum", mm.matmul_einsum, "torch", "cpu"),
        ("torch", mm.matmul_operator, "torch", "cpu"),
        ("numpy", mm.matmul_operator, "numpy", "cpu"),
        ("numba-parallel", mm.matmul_numba_parallel, "numba", "cpu"),
        ("numba-cuda", mm.matmul_numba_cuda, "numba", "cuda"),  # launch + copy back, as the seed times it
        ("torch-cuda", mm.matmul_operator_copyback, "torch", "cuda"),  # (a @ b).cpu(), as the seed times it
    ],
    "abt": [
        ("numpy", mm.matmul_abt, "numpy", "cpu"),
        ("torch", mm.matmul_abt, "torch", "cpu"),
        ("torch-cuda", mm.matmul_abt, "torch", "cuda"),
        ("torch-cuda-copyback", mm.matmul_abt_copyback, "torch", "cuda"),
    ],
    "square": [
        ("numpy", mm.matmul_abt, "numpy", "cpu"),
        ("torch", mm.matmul_abt, "torch", "cpu"),
        ("torch-cuda", mm.matmul_abt, "torch", "cuda"),
    ],
}

#: Variants whose timed call includes copying the result back to the host (as the seeds time them).
COPY_BACK = (mm.matmul_numba_cuda, mm.matmul_operator_copyback, mm.matmul_abt_copyback)
#: Distribution of the random operands (seeds: fixtures/seeds.py). abt draws uniform [0, 1) like seed
#: 000's rand; square draws N(0, 1) like seed 003's randn.
DIST = {"abt": "uniform", "square": "normal"}
#: fastcore test_close eps that seed 004 checks its MNIST products with.
SEED_EPS = {"mnist5": 1e-5, "mnist-full": 1e-3}


def _param(experiment, variant, fn, backend, device):
    marks = []
    if backend == "numba":
        marks.append(pytest.mark.needs("numba"))
    if device == "cuda":
        marks.append(pytest.mark.numba_cuda if backend == "numba" else pytest.mark.gpu)
    if experiment == "square":
        marks.append(pytest.mark.slow)
    dtype = "float64" if backend == "python" else "float32"
    return pytest.param(experiment, variant, fn, backend, device, dtype, marks=marks,
                        id=f"{variant}-{experiment}-{dtype}")


CASES = [_param(exp, *v) for exp, vs in VARIANTS.items() for v in vs]


class Operands:
    """One experiment's float32 operands, their float64 reference product and their dataset."""

    def __init__(self, a: np.ndarray, b: np.ndarray, transposed: bool, dataset: str):
        self.a, self.b, self.transposed, self.dataset = a, b, transposed, dataset
        b64 = b.astype(np.float64)
        self.reference = a.astype(np.float64) @ (b64.T if transposed else b64)
        self._forms = {}

    def mkn(self):
        m, k = self.a.shape
        return m, k, self.b.shape[0] if self.transposed else self.b.shape[1]

    def args(self, backend: str, device: str) -> tuple:
        """The operands as the backend takes them (cached: conversions stay out of every timed region)."""
        key = (backend, device)
        if key not in self._forms:
            self._forms[key] = self._convert(backend, device)
        return self._forms[key]

    def _convert(self, backend, device):
        if backend == "python":
            return self.a.tolist(), self.b.tolist()
        if backend in ("numpy", "numba") and device == "cpu":
            return self.a, self.b
        if backend == "numba":  # numba CUDA: device inputs and a float64 output buffer, as the seed
            from numba import cuda

            c = cuda.device_array(self.reference.shape, dtype=np.float64)
            return cuda.to_device(self.a), cuda.to_device(self.b), c
        import torch

        return tuple(torch.from_numpy(x.copy()).to(device) for x in (self.a, self.b))


@pytest.fixture(scope="session")
def matmul_data(size, request):
    cache = {}

    def get(experiment: str) -> Operands:
        if experiment not in cache:
            m, k, n = mm.SIZES[size][experiment]
            if experiment.startswith("mnist"):
                a, b, dataset = operands.mnist_product(request.getfixturevalue("mnist"), experiment, m, k, n)
                cache[experiment] = Operands(a, b, False, dataset)
            else:
                (seed_a, seed_b), dist = pair(f"matmul/{experiment}"), DIST[experiment]
                a = tensors.array((m, k), "float32", seed=seed_a, dist=dist)
                b = tensors.array((n, k), "float32", seed=seed_b, dist=dist)
                cache[experiment] = Operands(a, b, True, "random")
        return cache[experiment]

    return get


@pytest.mark.parametrize("experiment,variant,fn,backend,device,dtype", CASES)
def test_matmul(experiment, variant, fn, backend, device, dtype, matmul_data, measure):
    ops = matmul_data(experiment)
    m, k, n = ops.mkn()
    out_itemsize = 8 if variant == "numba-cuda" or dtype == "float64" else 4
    itemsize = 8 if dtype == "float64" else 4

    extra_check = None
    if experiment in SEED_EPS:
        from fastcore.test import test_close

        def extra_check(out, eps=SEED_EPS[experiment]):
            from nptbench.backends import to_numpy

            test_close(np.asarray(to_numpy(out), dtype=np.float64), ops.reference, eps=eps)

    measure(
        fn, ops.args(backend, device),
        record=dict(
            experiment=experiment, variant=variant, backend=backend, device=device, dtype=dtype,
            shape=[ops.a.shape, ops.b.shape], flops=mm.flops(m, k, n),
            bytes=mm.min_bytes(m, k, n, itemsize, out_itemsize), dataset=ops.dataset,
            copy_back=fn in COPY_BACK,  # the timed call ends with the result copied to the host
        ),
        reference=ops.reference,
        extra_check=extra_check,
    )
