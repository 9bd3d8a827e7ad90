"""The GPU family: host<->device transfers, hand-written kernels against cuBLAS, precision modes.

Seeds: 000 times ``(a @ b.T).cpu()`` on the GPU (a product plus a copy back), 001 and 003 move
10000x10000 tensors to ``cuda`` and time products there (003 with ``torch.cuda.synchronize()``), and 004
ends with a naive numba CUDA kernel against torch. This module holds the family's own work (see
bench/test_gpu.py); how every GPU benchmark is timed (CUDA events, cold L2, peak device memory, the timer
floor, out of memory) is infrastructure, in nptbench.measure.devicetime:

- transfers (host<->device, pageable and pinned);
- precision modes (fp32 with TF32 off, tf32, bf16, fp16), their settings and their float64 reference;
- :func:`cublas_fractions`: the hand-written kernels' share of cuBLAS, from saved records
  (``python -m nptbench fractions RUN.json``).

torch and numba are imported lazily: importing this module needs neither, nor a GPU.
"""
from __future__ import annotations

from nptbench.families import cuda_kernels
from nptbench.env.backends import PRECISIONS, cast_operand, matmul_precision  # noqa: F401 (the family's modes)

#: Shapes per profile. ``transfer``: one float32 (rows, cols) buffer moved each call. ``square-k256``,
#: ``cube`` and ``precision``: (M, K, N) products. The kernels' ``mnist-full`` rows are nptbench.families.matmul's,
#: so its table lines up with the seed's own GPU variants.
SIZES = {
    "smoke": {
        "transfer": (256, 1024),              # 1 MiB
        "square-k256": (1024, 256, 1024),
        "cube": (512, 512, 512),
        "precision": (1024, 1024, 1024),
    },
    "default": {
        "transfer": (4096, 4096),             # 64 MiB
        "square-k256": (5120, 256, 5120),     # the GPU lecture continuing seed 004's notebook
        "cube": (4096, 4096, 4096),           # where cuBLAS fp32 runs near the FP32 peak
        "precision": (4096, 4096, 4096),
    },
    "seed": {
        "transfer": (10000, 10000),           # seed 003: torch.randn(10000, 10000).to("cuda"), 400 MB
        "square-k256": (5120, 256, 5120),
        "cube": (4096, 4096, 4096),
        "precision": (10000, 10000, 10000),   # seed 003: x.mm(w.t()) on the GPU
    },
}


# --- the family's variants: transfers ------------------------------------------------------------------

def copy_into(dst, src):
    """``dst.copy_(src)``: from or to pageable host memory the copy goes through a staging buffer."""
    return dst.copy_(src)


def copy_into_async(dst, src):
    """``dst.copy_(src, non_blocking=True)`` from or to pinned host memory: a direct DMA transfer (the
    harness waits for it inside the timed region)."""
    return dst.copy_(src, non_blocking=True)


def to_cuda(host):
    """Seed 003's ``tensor.to("cuda")``: a new device tensor each call, then the copy."""
    return host.to("cuda")


def to_cpu(dev):
    """Seed 000's ``.cpu()``: a new pageable host tensor each call, then the copy."""
    return dev.cpu()


# --- the family's variants: precision modes ----------------------------------------------------------

# The precision modes (PRECISIONS, matmul_precision, cast_operand, precision_flags) are torch settings
# the ceilings also use: they live in nptbench.env.backends.


#: Modes whose product is handed inputs already rounded to a narrower type. Their result is checked
#: against the float64 product of those rounded inputs, so the tolerance (nptbench.measure.check.RTOL) has to
#: cover only the product's own error, and a wrong kernel cannot hide inside the inputs' rounding. tf32
#: rounds inside the tensor cores, the hardware's own way: it is checked against the fp32 inputs.
ROUNDED_INPUTS = ("bf16", "fp16")


def precision_reference(x, w, mode: str, device: str = "cpu"):
    """Float64 ``x @ w.T`` of the inputs as ``mode`` hands them to the product (numpy, on the host).

    ``x``, ``w``: float32 arrays. For bf16/fp16 the inputs are first rounded exactly as the benchmark
    rounds them (:func:`cast_operand`); for fp32 and tf32 they are used as they are. ``device="cuda"``
    does the float64 product with cuBLAS (IEEE fp64; at 10000^3 a CPU would take minutes).
    """
    import numpy as np
    import torch

    if mode not in PRECISIONS:
        raise ValueError(f"unknown precision mode {mode!r}; expected one of {tuple(PRECISIONS)}")
    rounded = mode if mode in ROUNDED_INPUTS else "fp32"
    # torch.tensor copies (the fixtures' arrays are read-only); cast, then widen: exact for every mode
    xt, wt = (cast_operand(torch.tensor(np.asarray(t, dtype=np.float32), device=device), rounded)
              .to(torch.float64) for t in (x, w))
    return (xt @ wt.T).cpu().numpy()


#: The cuBLAS row of the kernel experiments, and the hand-written kernels held against it
#: (``python -m nptbench fractions``).
CEILING = "torch-cublas"
KERNELS = tuple(cuda_kernels.KERNELS)
