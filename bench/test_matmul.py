"""Matrix multiplication: seeds 004 (MNIST, loops to numba to broadcasting to the GPU), 000 (a @ b.T on
numpy, torch and the GPU) and 003 (a 10000x10000 product). Shapes: nptbench.families.matmul.SIZES.

To add a variant: write one function in nptbench/families/matmul.py and add one row (fixtures.variants.Variant) to
VARIANTS below.
"""
from __future__ import annotations

import numpy as np
import pytest

from fixtures import operands, tensors
from fixtures.seeds import pair
from fixtures.variants import Variant, param
from nptbench.families import matmul as mm
from nptbench.measure import check

# experiment -> its variants. Operands are made ready for the backend and device outside the timed region;
# copy_back says when a copy back to the host is inside it.
VARIANTS = {
    "mnist5": [
        Variant("torch-loop", mm.matmul_torch_loop, "torch"),
        Variant("python-lists", mm.matmul_python_lists, "python", dtype="float64"),
        Variant("numba-dot", mm.matmul_numba_dot, "numba"),
        Variant("elementwise", mm.matmul_elementwise, "torch"),
        Variant("torch-dot", mm.matmul_torch_dot, "torch"),
        Variant("broadcast", mm.matmul_broadcast, "torch"),
        Variant("einsum", mm.matmul_einsum, "torch"),
        Variant("torch", mm.matmul_operator, "torch"),
        Variant("numpy", mm.matmul_operator, "numpy"),
    ],
    "mnist-full": [
        Variant("broadcast", mm.matmul_broadcast, "torch"),
        Variant("einsum", mm.matmul_einsum, "torch"),
        Variant("torch", mm.matmul_operator, "torch"),
        Variant("numpy", mm.matmul_operator, "numpy"),
        Variant("numba-parallel", mm.matmul_numba_parallel, "numba"),
        # launch + copy back, as the seed times it; the seed's kernel writes a float64 buffer
        Variant("numba-cuda", mm.matmul_numba_cuda, "numba", "cuda", out_dtype="float64", copy_back=True),
        Variant("torch-cuda", mm.matmul_operator_copyback, "torch", "cuda", copy_back=True),  # (a @ b).cpu()
    ],
    "abt": [
        Variant("numpy", mm.matmul_abt, "numpy"),
        Variant("torch", mm.matmul_abt, "torch"),
        Variant("torch-cuda", mm.matmul_abt, "torch", "cuda"),
        Variant("torch-cuda-copyback", mm.matmul_abt_copyback, "torch", "cuda", copy_back=True),
    ],
    "square": [
        Variant("numpy", mm.matmul_abt, "numpy"),
        Variant("torch", mm.matmul_abt, "torch"),
        Variant("torch-cuda", mm.matmul_abt, "torch", "cuda"),
    ],
}
SLOW = {"square"}

#: Distribution of the random operands (seeds: fixtures/seeds.py). abt draws uniform [0, 1) like seed
#: 000's rand; square draws N(0, 1) like seed 003's randn.
DIST = {"abt": "uniform", "square": "normal"}
#: fastcore test_close eps that seed 004 checks its MNIST products with.
SEED_EPS = {"mnist5": 1e-5, "mnist-full": 1e-3}

CASES = [param(exp, v, exp, slow=exp in SLOW) for exp, rows in VARIANTS.items() for v in rows]


class Operands:
    """One experiment's float32 operands, their float64 reference product and their dataset."""

    def __init__(self, a: np.ndarray, b: np.ndarray, transposed: bool, dataset: str):
        self.a, self.b, self.transposed, self.dataset = a, b, transposed, dataset
        b64 = b.astype(np.float64)
        self.reference = a.astype(np.float64) @ (b64.T if transposed else b64)
        #: each element is a sum of K products: its condition in sequential order (nptbench.measure.check)
        self.condition = check.product_condition(a, b, transposed)
        self._forms = {}

    def mkn(self):
        m, k = self.a.shape
        return m, k, self.b.shape[0] if self.transposed else self.b.shape[1]

    def args(self, v: Variant) -> tuple:
        """The operands as the variant takes them (cached: conversions stay out of every timed region)."""
        key = (v.backend, v.device, v.out)
        if key not in self._forms:
            self._forms[key] = self._convert(*key)
        return self._forms[key]

    def _convert(self, backend, device, out):
        if backend == "python":
            return self.a.tolist(), self.b.tolist()
        if backend in ("numpy", "numba") and device == "cpu":
            return self.a, self.b
        if backend == "numba":  # numba CUDA: device inputs and an output buffer, as the seed
            from numba import cuda

            c = cuda.device_array(self.reference.shape, dtype=out)
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


def _seed_check(experiment, reference):
    """fastcore's test_close at the eps seed 004 checks its MNIST products with (None elsewhere)."""
    if experiment not in SEED_EPS:
        return None
    from fastcore.test import test_close

    from nptbench.env.backends import to_numpy

    def check(out, eps=SEED_EPS[experiment]):
        test_close(np.asarray(to_numpy(out), dtype=np.float64), reference, eps=eps)

    return check


@pytest.mark.parametrize("variant,experiment", CASES)
def test_matmul(variant, experiment, matmul_data, measure):
    ops = matmul_data(experiment)
    m, k, n = ops.mkn()
    measure(
        variant.fn, ops.args(variant),
        record=variant.record(
            experiment, shape=[ops.a.shape, ops.b.shape], flops=mm.flops(m, k, n),
            bytes=mm.min_bytes(m, k, n, np.dtype(variant.dtype).itemsize, variant.out_itemsize),
            dataset=ops.dataset, copy_back=variant.copy_back),
        reference=ops.reference,
        # K products summed per element, each product rounded once (check.rtol's rule)
        rtol=check.rtol(variant.dtype, length=k, condition=ops.condition, ops=1),
        extra_check=_seed_check(experiment, ops.reference),
    )
