"""Training loops: seed 001 (linear regression with autograd, small and "large problem") and seed 002 (the
two-layer ReLU network in Python lists, numpy, torch, autograd, nn, optim, a custom module, torch.compile).
Sizes and iteration counts: nptbench.families.training.SIZES.

Each timed call is one whole training run from the same seeded start (fixtures/training.py), fresh for
every round; it returns a trajectory that is checked against a float64 reference. Time per iteration is
the round time divided by ``iterations`` (both in the record). Every bench times and records its run with
one call of fixtures.training.record_training.

To add a variant: write one function in nptbench/families/training.py and add one row (fixtures.variants.Variant) to
its table below; a two-layer row names how its run starts (a setup of fixtures/training.py).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from fixtures import training as data
from fixtures.seeds import SEEDS
from fixtures.variants import Variant, params
from nptbench.families import training as tr
from nptbench.env.backends import to_numpy as _np
from nptbench.measure import check
from nptbench.schema.record import write

LINREG_SMALL = params("linreg-small", [
    Variant("torch", tr.linreg_small_torch, "torch"),
    Variant("numpy", tr.linreg_small_numpy, "numpy"),
])
LINREG_LARGE = params("linreg-large", [
    Variant("torch", tr.linreg_large_torch, "torch"),
    Variant("torch-cuda", tr.linreg_large_torch, "torch", "cuda"),
    Variant("numpy", tr.linreg_large_numpy, "numpy"),
])


# (variant, kind). kind: the reference and what bounds its drop (tr.MIN_DROP): "manual" = N(0, 1) weights,
# lr 1e-6; "sgd"/"adam" = nn.Linear-scale weights with biases, lr 1e-4; "python" = manual, capped
# iterations. The row's setup (fixtures/training.py) says how its run starts.
SEQUENTIAL, MODULE = data.as_model(tr.make_sequential), data.as_model(tr.make_module)
TWOLAYER = params("twolayer", [
    (Variant("python-lists", tr.twolayer_python_lists, "python", dtype="float64", setup=data.as_lists), "python"),
    (Variant("numpy", tr.twolayer_numpy, "numpy", dtype="float64", setup=data.as_arrays), "manual"),
    (Variant("numpy-f32", tr.twolayer_numpy, "numpy", setup=data.as_arrays), "manual"),
    (Variant("torch", tr.twolayer_torch, "torch", setup=data.as_tensors), "manual"),
    (Variant("torch-cuda", tr.twolayer_torch, "torch", "cuda", setup=data.as_tensors), "manual"),
    (Variant("torch-autograd", tr.twolayer_torch_autograd, "torch", setup=data.as_leaves), "manual"),
    (Variant("torch-nn", tr.twolayer_torch_nn, "torch", setup=SEQUENTIAL), "sgd"),
    (Variant("torch-optim-adam", tr.twolayer_torch_optim_adam, "torch", setup=SEQUENTIAL), "adam"),
    (Variant("torch-module", tr.twolayer_torch_module, "torch", setup=MODULE), "sgd"),
    (Variant("torch-compile", tr.twolayer_torch_compile, "torch", setup=data.compiled_step), "manual"),
])

#: Tolerances come from nptbench.measure.check.rtol, made from what each run computes:
#: - linreg-small: each step sums BATCH_SMALL terms per gradient (the condition of the first step's sums)
#:   with LINREG_OPS elementwise roundings per term (residual, products, update); the iteration contracts
#:   (each step multiplies a deviation of (w, b) by I - lr H, H = 2 [[sum x^2, sum x], [sum x, n]]), so an
#:   error made at one step has shrunk by the contraction rho after each later one, and the errors of all
#:   steps add up to those of 1 / (1 - rho) steps at most (_linreg_small_memory), not of ``steps``;
#: - linreg-large: one step checked (the first update and its loss); its residual r = dot(w, x) + b -
#:   (dot(3, x) - 2) is two sums of N terms, so its condition is the two sums' sequential spreads over |r|,
#:   doubled for the loss r^2 and scaled by how much of w's change the residual makes (see _linreg_large_rtol);
#: - twolayer: ``iterations`` steps, each with products of length D_in (the condition of x @ w1) and
#:   TWOLAYER_OPS roundings per element; point by point over the loss trajectory, where the reference loss is
#:   still above FLOOR x the initial loss (later it reaches float32's noise floor, where only the norm-wise
#:   check of ``measure`` applies).
LINREG_OPS = 5
TWOLAYER_OPS = 4
FLOOR = 1e-6
#: linreg-small: after the run, w and b within this of 3 and -2 (the seed's "w approaches 3, b -2").
LINREG_ATOL = 0.05


# --- linreg-small ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", LINREG_SMALL)
def test_linreg_small(variant, size, measure, benchmark):
    steps = tr.SIZES[size]["linreg-small"]["steps"]
    xs = data.linreg_small_batches(steps, tr.BATCH_SMALL)
    ref_path, _ = tr.linreg_small_reference(xs)

    # One step's gradients (untimed) equal the analytic ones, in float64, at w = b = 1, written out here
    # apart from the code under test: y_hat - y = (x + 1) - (3x - 2) = 3 - 2x, so
    # dL/dw = sum 2 (3 - 2x) x and dL/db = sum 2 (3 - 2x).
    x64 = xs[0].astype(np.float64).ravel()
    g64 = (np.array([np.sum(2 * (3 - 2 * x64) * x64)]), np.array([np.sum(2 * (3 - 2 * x64))]))
    got = data.linreg_small_first_grads(variant, xs[0])
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(g64), rtol=1e-5)  # fp32 sums of 20 terms

    def converged(path):
        w_end, b_end = np.asarray(_np(path), dtype=np.float64)[-1]
        assert abs(w_end - 3) <= LINREG_ATOL and abs(b_end + 2) <= LINREG_ATOL, (w_end, b_end)

    x0 = xs[0].astype(np.float64).ravel()
    condition = check.sequential_condition(np.stack([2 * (3 - 2 * x0) * x0, 2 * (3 - 2 * x0)]))
    memory = _linreg_small_memory(xs, tr.LR_SMALL, steps)
    data.record_training(
        measure, benchmark, variant.fn, iterations=steps, samples_per_iter=tr.BATCH_SMALL, lr=tr.LR_SMALL,
        losses=lambda out: tr.linreg_small_losses(_np(out), xs),
        setup=data.linreg_small_start(variant, xs), reference=ref_path, extra_check=converged,
        rtol=check.rtol(variant.dtype, length=tr.BATCH_SMALL, condition=condition, ops=LINREG_OPS, steps=memory),
        record=variant.record("linreg-small", shape=[xs.shape], flops=None, bytes=xs.nbytes, dataset="random"),
    )


def _linreg_small_memory(xs, lr: float, steps: int) -> int:
    """How many steps' rounding errors a linreg-small run holds at once: 1 / (1 - rho) for the mean
    contraction rho of its steps (the spectral radius of I - lr H per batch), at most ``steps``."""
    rhos = []
    for x in np.asarray(xs, dtype=np.float64):
        x = x.ravel()
        hessian = 2 * np.array([[np.sum(x * x), np.sum(x)], [np.sum(x), x.size]])
        rhos.append(float(np.max(np.abs(np.linalg.eigvalsh(np.eye(2) - lr * hessian)))))
    rho = float(np.mean(rhos))
    return steps if rho >= 1 else min(steps, math.ceil(1 / (1 - rho)))


# --- linreg-large ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", LINREG_LARGE)
def test_linreg_large(variant, size, measure, benchmark):
    cfg = tr.SIZES[size]["linreg-large"]
    n, epochs, seed = cfg["n"], cfg["epochs"], SEEDS["training/linreg-large/x"]
    w0 = data.linreg_large_w(n)
    x0 = tr.linreg_large_first_x(variant.backend, variant.device, n, seed)
    reference, ref_loss = tr.linreg_large_reference(w0, [1.0], x0)
    w_tol, loss_tol = _linreg_large_rtol(w0, x0, reference, variant.dtype)  # b0 = 1, as the setup starts
    last = {}  # the run's loss buffer, kept by the setup

    def losses(_out):
        losses = _np(last["losses"])
        err = abs(float(losses[0]) - ref_loss) / ref_loss
        write(benchmark.extra_info, loss_rel_err=err, loss_rtol=float(loss_tol))
        assert err <= loss_tol, (f"linreg-large/{variant.id}: first loss {float(losses[0]):.8g} against float64 "
                                 f"{ref_loss:.8g}: rel_err {err:.3g} > tolerance {loss_tol:.3g} ({loss_tol.rule})")
        return losses

    data.record_training(
        measure, benchmark, variant.fn, iterations=epochs, lr=tr.LR_LARGE, losses=losses,
        samples_per_iter=1,  # one sample (a vector of N) per epoch
        setup=data.linreg_large_start(variant, w0, epochs, seed, last), rounds=cfg["rounds"],
        reference=reference, rtol=w_tol,
        record=variant.record("linreg-large", shape=[(n,)], flops=8 * n * epochs, bytes=3 * 4 * n * epochs,
                              dataset="random", random_inside=True),  # each epoch draws its x, as the seed does
    )


def _linreg_large_rtol(w0, x0, reference, dtype):
    """check.rtol for linreg-large's first update w1 = w0 - 2 lr r x and for its loss r^2, where
    r = dot(w0, x) + b - (dot(3, x) - 2) is two sums of N float32 terms. The sums' sequential spreads over |r|
    are r's condition; the loss doubles r's relative error; w1's error is r's relative error times the share
    ||2 lr r x|| / ||w1|| of w1 that the step makes, plus three roundings per element."""
    x0 = np.asarray(x0, np.float64)
    model, target, r = tr.linreg_large_sums(w0, [1.0], x0)
    spread = sum(check.sequential_condition(t) * abs(float(np.sum(t))) for t in (model, target))
    cond_r = spread / abs(r)
    share = float(np.linalg.norm(2 * tr.LR_LARGE * r * x0) / np.linalg.norm(reference[:-1]))
    n = x0.size
    return (check.rtol(dtype, length=n, condition=cond_r * share, ops=3),
            check.rtol(dtype, length=n, condition=2 * cond_r, ops=3))


# --- twolayer --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _twolayer_reference(kind: str, iterations: int) -> np.ndarray:
    n, d_in, h, d_out = tr.TWOLAYER_DIMS
    d = data.twolayer(n, d_in, h, d_out)
    if kind in ("manual", "python"):
        return tr.twolayer_reference(d["x"], d["y"], d["w1"], d["w2"], iterations)
    return tr.twolayer_nn_reference(data.twolayer_nn(d_in, h, d_out), d["x"], d["y"], iterations, optimizer=kind)


@pytest.mark.parametrize("variant,kind", TWOLAYER)
def test_twolayer(variant, kind, size, measure, benchmark):
    cfg, dtype = tr.SIZES[size]["twolayer"], variant.dtype
    n, d_in, h, d_out = tr.TWOLAYER_DIMS
    iterations = cfg["python_iterations"] if kind == "python" else cfg["iterations"]
    rounds = cfg["python_rounds"] if kind == "python" else cfg["rounds"]
    lr = tr.LR_NN if kind in ("sgd", "adam") else tr.LR_MANUAL
    reference = _twolayer_reference(kind, iterations)
    args, setup = variant.setup(data.TwoLayerRun(variant, cfg, iterations, lr, benchmark.extra_info))

    d = data.twolayer(n, d_in, h, d_out)
    tol = check.rtol(dtype, length=d_in, condition=check.product_condition(d["x"], d["w1"]), ops=TWOLAYER_OPS,
                     steps=iterations)

    def pointwise(out):
        got = np.asarray(_np(out), dtype=np.float64)
        live = reference >= FLOOR * reference[0]
        worst = float(np.max(np.abs(got[live] - reference[live]) / reference[live]))
        write(benchmark.extra_info, max_pointwise_rel_err=worst, pointwise_rtol=float(tol))
        assert worst <= tol, (f"twolayer/{variant.id}: loss trajectory off by {worst:.3g} (> {tol:.3g}, {tol.rule}) "
                              "at some iteration")

    itemsize = np.dtype(dtype).itemsize
    shapes = [(n, d_in), (n, d_out), (d_in, h), (h, d_out)]
    if kind in ("sgd", "adam"):
        shapes = [(n, d_in), (n, d_out), (h, d_in), (h,), (d_out, h), (d_out,)]
    _, losses = data.record_training(
        measure, benchmark, variant.fn, iterations=iterations, samples_per_iter=n, lr=lr, losses=_np,
        loss_drop=True,
        args=args or (), setup=setup, rounds=rounds, warmup=0 if kind == "python" else 1,
        reference=reference, rtol=tol, extra_check=pointwise,
        record=variant.record("twolayer", shape=shapes, flops=tr.twolayer_flops(iterations, n, d_in, h, d_out),
                              bytes=tr.twolayer_bytes(iterations, n, d_in, h, d_out, itemsize), dataset="random"),
    )
    drop = tr.drop_factor(losses)  # as recorded in loss_drop
    bound = tr.MIN_DROP[size][kind]
    assert drop >= bound, \
        f"twolayer/{variant.id}: loss fell {drop:.3g}x over {iterations} iterations, expected >= {bound:g}x"
    assert math.isfinite(losses[-1])
