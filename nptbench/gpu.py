"""The GPU family: host<->device transfers, hand-written kernels against cuBLAS, precision modes.

Seeds: 000 times ``(a @ b.T).cpu()`` on the GPU (a product plus a copy back), 001 and 003 move
10000x10000 tensors to ``cuda`` and time products there (003 with ``torch.cuda.synchronize()``), and 004
ends with a naive numba CUDA kernel against torch. This module holds the family's own work (see
bench/test_gpu.py); how every GPU benchmark is timed (CUDA events, cold L2, peak device memory, the timer
floor, out of memory) is infrastructure, in nptbench.devicetime:

- transfers (host<->device, pageable and pinned);
- precision modes (fp32 with TF32 off, tf32, bf16, fp16), their settings and their float64 reference;
- :func:`cublas_fractions`: the hand-written kernels' share of cuBLAS, from saved records
  (``python -m nptbench fractions RUN.json``).

torch and numba are imported lazily: importing this module needs neither, nor a GPU.
"""
from __future__ import annotations

import sys

from . import cuda_kernels
from .backends import PRECISIONS, cast_operand, matmul_precision  # noqa: F401 (the family's modes)

#: Shapes per profile. ``transfer``: one float32 (rows, cols) buffer moved each call. ``square-k256``,
#: ``cube`` and ``precision``: (M, K, N) products. The kernels' ``mnist-full`` rows are nptbench.matmul's,
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
# the ceilings also use: they live in nptbench.backends.


#: Modes whose product is handed inputs already rounded to a narrower type. Their result is checked
#: against the float64 product of those rounded inputs, so the tolerance (nptbench.check.RTOL) has to
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


# --- derived: the hand-written kernels' share of cuBLAS ------------------------------------------------

CEILING = "torch-cublas"
KERNELS = tuple(cuda_kernels.KERNELS)  # the hand-written kernels compared with the ceiling


def cublas_fractions(records) -> list[dict]:
    """For each experiment with a cuBLAS record: each numba kernel's device time as a fraction of it.

    ``records`` are record dicts (a saved run's ``extra_info``); a fraction of 0.5 means the kernel reaches
    half of cuBLAS's speed. Kernel time (no launch cost) is used when both records have it, else the
    event time of the timed rounds. Records without device time (CPU, or failed) are ignored.
    """
    by_exp = {}
    for r in records:
        if r.get("device") == "cuda" and r.get("device_time_s"):
            by_exp.setdefault((r["experiment"], tuple(map(tuple, r["shape"]))), {})[r["variant"]] = r
    rows = []
    for (experiment, shape), variants in sorted(by_exp.items()):
        ceiling = variants.get(CEILING)
        if ceiling is None:
            continue
        for variant, r in sorted(variants.items()):
            if variant in KERNELS:
                field = "kernel_time_s" if r.get("kernel_time_s") and ceiling.get("kernel_time_s") else "device_time_s"
                rows.append({
                    "experiment": experiment, "variant": variant, "shape": [list(s) for s in shape],
                    "time_field": field, "time_s": r[field], "cublas_time_s": ceiling[field],
                    "fraction_of_cublas": ceiling[field] / r[field],
                })
    return rows


def main(argv=None) -> int:
    """``python -m nptbench fractions RUN.json ...`` (also ``python -m nptbench.gpu``): print the kernels'
    fractions of cuBLAS in saved runs."""
    import argparse

    from .runs import RunError, load_run

    parser = argparse.ArgumentParser(prog="python -m nptbench fractions",
                                     description="The hand-written numba CUDA kernels' fractions of cuBLAS "
                                                 "(kernel time where recorded, else device time) in saved runs.")
    parser.add_argument("runs", nargs="+", help="saved runs (.json) holding kernel and torch-cublas records")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    records = []
    for path in args.runs:
        try:
            records += [b.get("extra_info", {}) for b in load_run(path)["benchmarks"]]
        except RunError as exc:
            print(f"nptbench fractions: {exc}", file=sys.stderr)
            return 2
    rows = cublas_fractions(records)
    if not rows:
        print("no experiment has both a numba-cuda kernel and a torch-cublas record with device time")
        return 1
    for r in rows:
        print(f"{r['experiment']:<12} {r['variant']:<22} {r['time_s'] * 1e3:9.3f} ms  "
              f"cuBLAS {r['cublas_time_s'] * 1e3:9.3f} ms  {100 * r['fraction_of_cublas']:6.1f} % of cuBLAS"
              f"  ({r['time_field']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
