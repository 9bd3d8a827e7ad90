"""GPU depth: transfers, hand-written CUDA kernels against cuBLAS, and precision modes.

Seeds: 003 moves 10000x10000 tensors with ``.to("cuda")`` and 000 copies its GPU result back with
``.cpu()`` (here: transfers on their own, pageable and pinned, with GB/s); 004 ends with a naive numba
CUDA kernel against torch (here: kernel time alone, against shared-memory tiled and register-blocked
kernels and cuBLAS, on ``mnist-full``, the 5120x256 @ 256x5120 product of the lecture that continues it,
and ``cube``, M = K = N = 4096 at the default and seed sizes, where cuBLAS fp32 runs near the card's FP32
peak); 003's ``x.mm(w.t())`` on the GPU (here: in fp32 with TF32 off -- the reference mode --, tf32, bf16 and fp16).
Shapes: nptbench.families.gpu.SIZES (``mnist-full``: nptbench.families.matmul.SIZES, so it shares the seed's table).

Every benchmark here needs a GPU: mark ``gpu`` (numba kernels also ``numba_cuda``), so without one each
skips with the reason. Device time (CUDA events), peak device memory and the cold-L2 mode come from the
harness (nptbench.measure.devicetime) for every ``device == "cuda"`` record. To add a variant: one function in
nptbench/families/gpu.py or nptbench/families/cuda_kernels.py, one row in its table below (a numba kernel: one line in
nptbench.families.cuda_kernels.KERNELS, which KERNEL_VARIANTS turns into rows).
"""
from __future__ import annotations

import numpy as np
import pytest

from fixtures import operands, tensors
from fixtures.seeds import SEEDS, pair
from fixtures.variants import Variant, param, params
from nptbench.families import cuda_kernels as ck
from nptbench.families import gpu
from nptbench.families import matmul as mm
from nptbench.measure import check

pytestmark = pytest.mark.gpu

#: experiment -> (variant, source buffer, destination buffer). ``pageable``/``pinned`` copy between
#: buffers allocated beforehand; ``to-cuda`` and ``cpu`` are the seeds' own calls, which also allocate
#: their destination each time (the id says so).
TRANSFERS = {
    "h2d": [
        (Variant("pageable", gpu.copy_into, "torch", "cuda"), "pageable", "device"),
        (Variant("pinned", gpu.copy_into_async, "torch", "cuda"), "pinned", "device"),
        (Variant("to-cuda", gpu.to_cuda, "torch", "cuda"), "pageable", None),
    ],
    "d2h": [
        (Variant("pageable", gpu.copy_into, "torch", "cuda"), "device", "pageable"),
        (Variant("pinned", gpu.copy_into_async, "torch", "cuda"), "device", "pinned"),
        (Variant("cpu", gpu.to_cpu, "torch", "cuda"), "device", None),
    ],
}

#: Kernel variants: the numba launchers of nptbench.families.cuda_kernels, and torch's ``a @ b`` (cuBLAS), the
#: ceiling. All are timed without a copy back; their fraction of cuBLAS:
#: ``python -m nptbench fractions RUN.json``.
KERNEL_EXPERIMENTS = ("mnist-full", "square-k256", "cube")
KERNEL_VARIANTS = [
    *(Variant(name, fn, "numba", "cuda", out_dtype=out) for name, (fn, out) in ck.KERNELS.items()),
    Variant(gpu.CEILING, mm.matmul_operator, "torch", "cuda"),
]
#: The precision modes: seed 003's ``x.mm(w.t())`` with torch's precision flags set for each.
PRECISIONS = [Variant(mode, mm.matmul_abt, "torch", "cuda", dtype=dtype, slow=True)
              for mode, dtype in gpu.PRECISIONS.items()]


def _buffer(kind, host):
    """A copy of ``host`` (float32 numpy) as a pageable or pinned host tensor, or on the device."""
    import torch

    t = torch.from_numpy(host.copy())
    if kind == "pinned":
        return t.pin_memory()
    if kind == "device":
        return t.to("cuda")
    return t


def _empty_like(kind, shape):
    import torch

    if kind == "device":
        return torch.empty(shape, dtype=torch.float32, device="cuda")
    return torch.empty(shape, dtype=torch.float32, pin_memory=(kind == "pinned"))


@pytest.mark.parametrize("variant,src_kind,dst_kind,experiment",
                         [param(exp, *row, exp) for exp, rows in TRANSFERS.items() for row in rows])
def test_transfer(variant, src_kind, dst_kind, experiment, size, measure):
    host = tensors.array(gpu.SIZES[size]["transfer"], "float32", seed=SEEDS["gpu/transfer"])
    src = _buffer(src_kind, host)
    args = (src,) if dst_kind is None else (_empty_like(dst_kind, host.shape), src)
    measure(
        variant.fn, args,
        record=variant.record(experiment, shape=[host.shape], flops=None, bytes=host.nbytes, dataset="random",
                              source=src_kind, destination=dst_kind or "new"),
        reference=host,
        rtol=0.0,  # a copy is exact
    )


@pytest.fixture(scope="session")
def kernel_operands(size, request):
    """(a, b, float64 reference, dataset, the product's condition: nptbench.measure.check.product_condition) on
    the host, per kernel experiment (cached for the session)."""
    cache = {}

    def get(experiment):
        if experiment not in cache:
            if experiment == "mnist-full":
                m, k, n = mm.SIZES[size]["mnist-full"]
                a, b, dataset = operands.mnist_product(request.getfixturevalue("mnist"), experiment, m, k, n)
                a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
            else:
                m, k, n = gpu.SIZES[size][experiment]
                seed_a, seed_b = pair(f"gpu/{experiment}")
                a = tensors.array((m, k), "float32", seed=seed_a, dist="normal")
                b = tensors.array((k, n), "float32", seed=seed_b, dist="normal")
                dataset = "random"
            cache[experiment] = (a, b, a.astype(np.float64) @ b.astype(np.float64), dataset,
                                 check.product_condition(a, b))
        return cache[experiment]

    return get


@pytest.mark.parametrize("variant,experiment",
                         [param(e, v, e) for e in KERNEL_EXPERIMENTS for v in KERNEL_VARIANTS])
def test_kernel(variant, experiment, kernel_operands, measure):
    a, b, reference, dataset, condition = kernel_operands(experiment)
    (m, k), n = a.shape, b.shape[1]
    # Device operands live in this call only: after an out-of-memory skip nothing of them stays behind.
    if variant.backend == "numba":
        from numba import cuda

        args = (cuda.to_device(a), cuda.to_device(b), cuda.device_array((m, n), dtype=variant.out))
    else:
        import torch

        args = (torch.tensor(a, device="cuda"), torch.tensor(b, device="cuda"))
    measure(
        variant.fn, args,
        record=variant.record(experiment, shape=[a.shape, b.shape], flops=mm.flops(m, k, n),
                              bytes=mm.min_bytes(m, k, n, 4, variant.out_itemsize), dataset=dataset,
                              out_dtype=variant.out),
        reference=reference,
        # K products summed per element (a naive kernel sums them in sequential order: the rule's own case)
        rtol=check.rtol("float32", length=k, condition=condition, ops=1),
        kernel_time=True,  # one launch: its device time without the host's launch cost, for the fractions
    )


@pytest.fixture(scope="session")
def precision_operands(size):
    """Seed 003's x and w (N(0, 1), w used transposed) on the host, their float64 products by mode, and the
    condition of their product (nptbench.measure.check.product_condition)."""
    m, k, n = gpu.SIZES[size]["precision"]
    seed_x, seed_w = pair("gpu/precision", "x", "w")
    x = tensors.array((m, k), "float32", seed=seed_x, dist="normal")
    w = tensors.array((n, k), "float32", seed=seed_w, dist="normal")
    cache = {}

    def reference(mode):
        """The float64 product of the inputs as ``mode`` takes them (fp32 and tf32 share one), made by
        cuBLAS DGEMM on first use, outside any timed region, and freed from the device at once."""
        key = mode if mode in gpu.ROUNDED_INPUTS else "fp32"
        if key not in cache:
            import torch

            cache[key] = gpu.precision_reference(x, w, key, device="cuda")
            torch.cuda.empty_cache()
        return cache[key]

    return x, w, reference, check.product_condition(x, w, transposed=True)


@pytest.mark.parametrize("variant", params("precision", PRECISIONS))
def test_precision(variant, precision_operands, measure):
    import torch

    mode, (x, w, reference, condition) = variant.id, precision_operands
    (m, k), n = x.shape, w.shape[0]
    rounded = mode in gpu.ROUNDED_INPUTS
    args = tuple(gpu.cast_operand(torch.tensor(t, device="cuda"), mode) for t in (x, w))
    itemsize = args[0].element_size()
    with gpu.matmul_precision(mode) as flags:
        measure(
            variant.fn, args,
            record=variant.record("precision", shape=[x.shape, w.shape], flops=mm.flops(m, k, n),
                                  bytes=mm.min_bytes(m, k, n, itemsize), dataset="random",
                                  **{f"matmul_{k}": v for k, v in flags.items()},
                                  checked_against=f"float64 product of the {mode}-rounded inputs" if rounded
                                  else "float64 product of the fp32 inputs"),
            reference=reference(mode),
            # fp32 (TF32 off): the rule of check.rtol; the reduced precisions: check.RTOL's emulated tolerances
            rtol=(check.rtol("float32", length=k, condition=condition, ops=1)
                  if variant.dtype == "float32" else None),
            kernel_time=True,
            # what the mode costs in accuracy against the fp32 inputs (input rounding included)
            also_against={"fp32_inputs": reference("fp32")},
        )
