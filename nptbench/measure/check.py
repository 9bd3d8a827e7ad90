"""Correctness against a float64 reference, with tolerances that fit each dtype."""
from __future__ import annotations

import numpy as np

from nptbench.env.backends import to_numpy

#: Norm-wise relative error ||out - ref|| / ||ref|| allowed per dtype. Unit roundoff of fp32 is 6e-8 and
#: blocked sums on random data stay near sqrt(K)*u (about 6e-6 at K = 10^4), so 1e-4 leaves a wide margin,
#: while a wrong kernel (a dropped term of 784, a transposed operand, a wrong index) lands at 1e-3 or far above.
RTOL = {
    "float64": 1e-10,
    "float32": 1e-4,
    # Reduced precision (nptbench.families.gpu's precision variants). tf32 is checked against the product of the
    # fp32 inputs: tensor cores round those to 10 mantissa bits themselves (2.9e-4 rounding to nearest,
    # 7.7e-4 truncating, emulated at K = 10^4). fp16 and bf16 are handed inputs already rounded, and are
    # checked against the float64 product of those rounded inputs, so only the product's own error
    # counts: rounding the output (fp16 2.1e-4, bf16 1.7e-3) and any reduction in the narrow type, which
    # torch allows cuBLAS by default (emulated at K = 10^4 with every partial sum of a split-K rounded:
    # fp16 3.9e-4 / 6.5e-4 / 1.2e-3 at 4 / 16 / 64 parts, bf16 3.2e-3 / 5.3e-3 / 9.6e-3). The tolerances
    # admit 64 parts for fp16 and 16 for bf16; one dropped term of K = 10^4 gives 1e-2 and fails all three.
    "tf32": 2.5e-3,
    "float16": 1.5e-3,
    "bfloat16": 8e-3,
}


def tolerance(dtype: str) -> float:
    try:
        return RTOL[str(dtype).replace("torch.", "")]
    except KeyError:
        raise KeyError(f"no tolerance defined for dtype {dtype!r}; add it to nptbench.measure.check.RTOL") from None


def errors(out, ref) -> dict:
    """``max_abs_err`` and ``rel_err`` of ``out`` against ``ref``, both taken as float64, or as complex128
    where either is complex (a complex result is never cut to its real part)."""
    got, want = np.asarray(to_numpy(out)), np.asarray(to_numpy(ref))
    wide = np.complex128 if np.iscomplexobj(got) or np.iscomplexobj(want) else np.float64
    got, want = got.astype(wide, copy=False), want.astype(wide, copy=False)
    if got.shape != want.shape:
        raise AssertionError(f"result has shape {got.shape}, reference has {want.shape}")
    if not np.all(np.isfinite(got)):
        return {"max_abs_err": float("inf"), "rel_err": float("inf")}
    diff = got - want
    max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
    norm_ref = float(np.linalg.norm(want.ravel()))
    norm_diff = float(np.linalg.norm(diff.ravel()))
    rel = norm_diff / norm_ref if norm_ref > 0 else norm_diff
    return {"max_abs_err": max_abs, "rel_err": rel}


def assert_close(err: dict, rtol: float, what: str = "result") -> None:
    """Fail with a readable message when the relative error is over ``rtol``."""
    if not err["rel_err"] <= rtol:  # also catches NaN
        raise AssertionError(
            f"{what} is wrong: rel_err {err['rel_err']:.3g} > tolerance {rtol:.3g} "
            f"(max_abs_err {err['max_abs_err']:.3g}) against the float64 reference"
        )
