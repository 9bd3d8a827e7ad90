"""Correctness against a float64 reference, with tolerances derived from what each benchmark computes.

The rule (:func:`rtol`), used by every CPU benchmark where it makes its check:

    rtol = steps * (u + u_ref) * (ops + LAMBDA * sqrt(length) * condition)

- ``u`` is the unit roundoff of the dtype computed in (:data:`UNIT_ROUNDOFF`: 2^-24 for float32, 2^-53 for
  float64) and ``u_ref`` that of the float64 reference, which has rounding errors of its own (it matters
  only for float64 results).
- ``ops`` counts the elementwise roundings between the inputs and one element of the result, each at most
  ``u`` relative (a transcendental function counts as the few ulps it is allowed), times the condition of
  a cancellation among them where there is one.
- ``length`` is the longest reduction (the K of a product, the n of a sum) and ``condition`` its condition
  *in sequential order*: the root mean square of the partial sums over the magnitude of the result
  (:func:`sequential_condition`, :func:`product_condition`), measured on the float64 data. The error of a
  sum of K terms is ``sum_k d_k s_k`` with ``|d_k| <= u`` and ``s_k`` the partial sums; with roundings that
  do not conspire (Higham and Mary's probabilistic analysis, by Hoeffding's inequality) it stays below
  ``LAMBDA * u * sqrt(sum_k s_k^2)`` = ``LAMBDA * u * sqrt(K) * rms(s_k)`` except with probability
  ``2 exp(-LAMBDA^2 / 2)`` (7.5e-6 at LAMBDA = 5). Sequential order has the largest partial sums of the
  orders libraries use: blocked, pairwise, vectorized and threaded sums (which move with the thread count,
  the BLAS kernels and torch's CPU capability) land below it, so one tolerance holds for all of them.
- ``steps`` multiplies it by the number of steps whose errors a result still carries (a training run):
  a first-order model in which each step's errors add up and are not amplified. A run's iterations, or
  fewer where the iteration contracts and damps old errors (linreg-small: 1 / (1 - rho) steps); the
  training benches say which, and results/configurations.md what was measured against it.

A wrong result is still far outside: a term dropped from a product of K terms is off by about 1/K (1.3e-3
at K = 784 against a float32 tolerance near 6e-6), a result off by 0.1 % by 1e-3.

:data:`RTOL` keeps fixed tolerances per dtype for the GPU's reduced precisions (emulated, below), which no
machine without a GPU can try, and for float32/float64 callers that pass no tolerance of their own.
"""
from __future__ import annotations

import math

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


#: Unit roundoff (half the gap from 1 to the next number) of each dtype the rule of :func:`rtol` knows.
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24, "float16": 2.0 ** -11, "bfloat16": 2.0 ** -8,
                 "tf32": 2.0 ** -11}
#: The rule's confidence factor: a sum of independent roundings exceeds LAMBDA standard bounds with
#: probability at most 2 exp(-LAMBDA^2 / 2) = 7.5e-6 (Hoeffding).
LAMBDA = 5.0


class Tolerance(float):
    """A tolerance (a float) that says how it was derived: ``rule``, recorded as ``rtol_rule``."""

    rule: str = ""

    def __new__(cls, value: float, rule: str):
        tol = super().__new__(cls, value)
        tol.rule = rule
        return tol


def rtol(dtype: str, *, length: int = 1, condition: float = 1.0, ops: float = 1.0, steps: int = 1,
         reference_dtype: str = "float64") -> Tolerance:
    """The relative tolerance of a result computed in ``dtype`` (the module's docstring gives the rule):
    ``steps * (u + u_ref) * (ops + LAMBDA * sqrt(length) * condition)``; the reduction term only where
    ``length > 1``. Its ``rule`` names the inputs."""
    name = str(dtype).replace("torch.", "")
    if name not in UNIT_ROUNDOFF:
        raise KeyError(f"no unit roundoff known for dtype {dtype!r}; add it to nptbench.measure.check.UNIT_ROUNDOFF")
    if length < 1 or steps < 1 or ops < 0 or not condition >= 0:
        raise ValueError(f"rtol: length {length}, steps {steps}, ops {ops}, condition {condition} out of range")
    u = UNIT_ROUNDOFF[name] + UNIT_ROUNDOFF[reference_dtype]
    reduction = LAMBDA * math.sqrt(length) * condition if length > 1 else 0.0
    rule = (f"{name}: {steps} step{'s' if steps != 1 else ''} x u {u:.3g} x (ops {ops:g}"
            + (f" + {LAMBDA:g} sqrt({length}) x condition {condition:.3g})" if length > 1 else ")"))
    return Tolerance(steps * u * (ops + reduction), rule)


def sequential_condition(terms, axis: int = -1, chunk: int = 1 << 22) -> float:
    """The condition of the sum(s) of ``terms`` along ``axis`` in sequential order, norm-wise over the
    other axes: ``sqrt(sum of the mean squared partial sums) / ||sums||``, in float64 (chunked, so a sum of
    10^8 terms needs no second copy of them). 1/sqrt(3) for terms of one sign and equal size; about
    sqrt(K/2)/|sum| * rms(term) for terms of random sign, which grows as the sum cancels."""
    t = np.moveaxis(np.asarray(terms, dtype=np.float64), axis, -1)
    k = t.shape[-1]
    t = t.reshape(-1, k)
    carry = np.zeros(t.shape[0])
    squares = np.zeros(t.shape[0])
    for start in range(0, k, chunk):
        partial = np.cumsum(t[:, start:start + chunk], axis=1) + carry[:, None]
        squares += np.sum(partial * partial, axis=1)
        carry = partial[:, -1]
    result = float(np.linalg.norm(carry))
    spread = math.sqrt(float(np.sum(squares)) / k)
    if result == 0:
        return math.inf if spread > 0 else 0.0
    return spread / result


def product_condition(a, b, transposed: bool = False, samples: int = 256, seed: int = 0) -> float:
    """:func:`sequential_condition` of the product ``a @ b`` (``a @ b.T`` when ``transposed``), estimated on
    ``samples`` of its elements drawn with a fixed seed (all of them when there are fewer): each element is
    a sum of K products. Norm-wise, as :func:`errors` measures."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    b = b if transposed else b.T  # rows of b are the K terms' second factors now
    m, n = a.shape[0], b.shape[0]
    if m * n <= samples:
        i, j = np.divmod(np.arange(m * n), n)
    else:
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, m, samples), rng.integers(0, n, samples)
    return sequential_condition(a[i] * b[j])


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
