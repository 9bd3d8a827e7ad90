"""Tensor operations, interop and autodiff: seed 001 (small products in a loop, a big random sum timed
with and without GPU synchronization, numpy <-> torch conversion, autodiff) and seed 003 ("Saving Memory",
broadcasting, sum and mean). Shapes: nptbench.families.ops.SIZES.

To add a variant: write one function in nptbench/families/ops.py and add one row (fixtures.variants.Variant, with the
experiment's own columns where it has them) to its experiment's table below. The row places its operands on
its backend and device (Variant.operand, .place, .seeded_args, .replay_randn): a body never branches on them.
The inplace, broadcast and interop experiments also record ``peak_bytes`` (nptbench.measure.memory), measured in
one untimed call before timing, and assert the allocation that is each experiment's point.
"""
from __future__ import annotations

import numpy as np
import pytest

from fixtures import tensors
from fixtures.seeds import SEEDS, pair
from fixtures.variants import Variant, param, params
from nptbench.measure import check, memory
from nptbench.families import ops
from nptbench import plugin
from nptbench.env.backends import to_numpy

#: Bytes a call may allocate besides its buffers: Python objects and the buffers numpy's ufunc
#: iterator takes for a broadcast operand (8192 elements each, 66 kB measured for a float32 outer sum
#: and product), so "allocates nothing" means under this; smoke sizes keep every buffer well above it.
SLACK = 128 * 1024
#: Rounds of the in-place experiment: each needs fresh inputs (pedantic setup), so it is not calibrated.
INPLACE_ROUNDS = 20


def _record(experiment, variant, shape, flops, nbytes, **extra):
    return variant.record(experiment, shape=shape, flops=flops, bytes=nbytes, dataset="random", **extra)


def _stats_check(mean, var):
    """An extra_check that the output's values are distributed as N(mean, var)."""
    def check(out):
        problem = ops.normal_stats_problem(to_numpy(out), mean, var)
        assert problem is None, f"values are not N({mean}, {var}): {problem}"
    return check


# --- small-matmul-loop (seed 001) ----------------------------------------------------------------------

SMALL_MATMUL = params("small-matmul-loop", [
    Variant("numpy", ops.small_matmul_loop_numpy_as_seed, "numpy", dtype="float64"),
    Variant("torch", ops.small_matmul_loop_torch_as_seed, "torch"),
    Variant("torch-cuda", ops.small_matmul_loop_torch_as_seed, "torch", "cuda"),
])


def _last_pair(variant, reps, n, seed):
    """The last two matrices the loop draws, regenerated from the same seed (the reference's operands)."""
    draw = variant.replay_randn(seed)
    for _ in range(reps):
        a, b = draw((n, n)), draw((n, n))
    return a, b


@pytest.mark.parametrize("variant", SMALL_MATMUL)
def test_small_matmul_loop(variant, size, measure):
    """The seed's whole loop (random draws included) is the timed call; the last product is checked."""
    reps, n = ops.SIZES[size]["small-matmul-loop"]["reps"], ops.SIZES[size]["small-matmul-loop"]["n"]
    seed = SEEDS["ops/small-matmul-loop"]
    args = (reps, n, *variant.seeded_args(seed))
    a, b = _last_pair(variant, reps, n, seed)
    itemsize = np.dtype(variant.dtype).itemsize
    measure(
        variant.fn, args,
        record=_record("small-matmul-loop", variant, [[n, n], [n, n]],
                       reps * 2 * n ** 3, reps * 3 * n * n * itemsize, repetitions=reps,
                       random_inside=True),  # the seed's loop draws its matrices: part of the experiment
        reference=a.astype(np.float64) @ b.astype(np.float64),
        rtol=check.rtol(variant.dtype, length=n, condition=check.product_condition(a, b), ops=1),
        # Entries of a product of two N(0, 1) n x n matrices have mean 0 and variance n.
        extra_check=_stats_check(0.0, float(n)),
    )


# --- big-add (seed 001) ----------------------------------------------------------------------------------

# (variant, whether the timed call waits for the device)
BIG_ADD_AS_SEED = params("big-add", [
    (Variant("numpy-as-seed", ops.big_add_numpy_as_seed, "numpy", dtype="float64", slow=True), True),
    (Variant("torch-as-seed", ops.big_add_torch_as_seed, "torch", slow=True), True),
    (Variant("torch-cuda-as-seed", ops.big_add_torch_as_seed, "torch", "cuda"), True),
    # The seed's own GPU figure: queued work is not waited for, so this times kernel launches only.
    # Kept on purpose, recorded with synchronized: false, so the report can show what that number is.
    (Variant("torch-cuda-nosync", ops.big_add_torch_as_seed, "torch", "cuda"), False),
])

BIG_ADD = params("big-add", [
    Variant("numpy-add-f32", ops.add, "numpy"),
    Variant("torch-add-f32", ops.add, "torch"),
    Variant("torch-cuda-add-f32", ops.add, "torch", "cuda"),
    Variant("numpy-add-f64", ops.add, "numpy", dtype="float64"),
    Variant("torch-add-f64", ops.add, "torch", dtype="float64"),
])


@pytest.mark.parametrize("variant,sync", BIG_ADD_AS_SEED)
def test_big_add_as_seed(variant, sync, size, measure):
    """Two n x n randn matrices and their sum, generation inside the timed call as the seed wrote it."""
    n = ops.SIZES[size]["big-add"]["n"]
    seed = SEEDS["ops/big-add-as-seed"]
    args = (n, *variant.seeded_args(seed))
    # The reference regenerates both operands from the same seed outside the timed call and adds them
    # in float64; since that shares the generator with the variant, the values are also checked to be
    # N(0, 2) (a sum of two independent N(0, 1)), which a wrong distribution or operand would fail.
    draw = variant.replay_randn(seed)
    reference = draw((n, n))
    reference += draw((n, n))
    itemsize = np.dtype(variant.dtype).itemsize
    measure(
        variant.fn, args,
        record=_record("big-add", variant, [[n, n], [n, n]], n * n, 3 * n * n * itemsize, random_inside=True),
        reference=reference,
        rtol=check.rtol(variant.dtype, ops=1),  # one correctly rounded addition per element
        extra_check=_stats_check(0.0, 2.0),
        sync=sync,
    )


@pytest.mark.parametrize("variant", BIG_ADD)
def test_big_add(variant, size, measure):
    """The fair comparison: operands ready on the device beforehand, the addition alone is timed."""
    n, dtype = ops.SIZES[size]["big-add"]["n"], variant.dtype
    seed_a, seed_b = pair("ops/big-add")
    a = tensors.array((n, n), dtype, seed=seed_a, dist="normal")
    b = tensors.array((n, n), dtype, seed=seed_b, dist="normal")
    args = tuple(variant.operand((n, n), seed=s, dist="normal") for s in (seed_a, seed_b))
    measure(
        variant.fn, args,
        record=_record("big-add", variant, [[n, n], [n, n]], n * n, 3 * n * n * a.itemsize, random_inside=False),
        reference=a.astype(np.float64) + b.astype(np.float64),
        rtol=check.rtol(dtype, ops=1),  # one correctly rounded addition per element
    )


# --- inplace (seed 003 "Saving Memory") ------------------------------------------------------------------

# (variant, which argument the result must be: None = new memory, 1 = y, 2 = z,
#  whether the call allocates an n-element buffer: the result or, for z[:] = x + y, a temporary)
INPLACE = params("inplace", [
    (Variant("numpy-new", ops.add_new, "numpy"), None, True),
    (Variant("numpy-inplace", ops.add_inplace_numpy, "numpy"), 1, False),
    (Variant("numpy-slice", ops.add_into_slice, "numpy"), 2, True),
    (Variant("torch-new", ops.add_new, "torch"), None, True),
    (Variant("torch-inplace", ops.add_inplace_torch, "torch"), 1, False),
    (Variant("torch-out", ops.add_out_torch, "torch"), 2, False),
])


@pytest.mark.parametrize("variant,result_arg,allocates", INPLACE)
def test_inplace(variant, result_arg, allocates, size, measure):
    n, fn, dtype = ops.SIZES[size]["inplace"]["n"], variant.fn, variant.dtype
    seed_x, seed_y = pair("ops/inplace", "x", "y")
    x0 = tensors.array((n,), dtype, seed=seed_x)
    y0 = tensors.array((n,), dtype, seed=seed_y)
    x = variant.operand((n,), seed=seed_x)  # read, never written: the shared operand

    def fresh_y():
        return variant.place(y0)

    z = variant.place(np.zeros_like(y0))
    # z is the seed's preallocated output: made once and written through (so its pages are mapped), then
    # reused by every round as a program reusing a buffer would; only allocating variants pay page faults.
    z[:] = 1
    last = []

    def setup():
        # A new y every round, so an in-place round never sees a previous round's result.
        args = (x, fresh_y()) if result_arg != 2 else (x, fresh_y(), z)
        last[:] = [args]
        return args

    buffer = n * x0.itemsize
    peak = memory.peak_bytes(fn, setup())
    if allocates:
        assert peak["peak_bytes"] >= buffer, f"{variant} should allocate an n-element buffer: {peak}"
    else:
        assert peak["peak_bytes"] < SLACK, f"{variant} should allocate (almost) nothing: {peak}"

    out = measure(
        fn, (), setup=setup, rounds=INPLACE_ROUNDS,
        record=_record("inplace", variant, [[n], [n]], n, 3 * buffer, **peak),
        reference=x0.astype(np.float64) + y0.astype(np.float64),
        rtol=check.rtol(dtype, ops=1),  # one correctly rounded addition per element
    )
    args = last[0]  # the arguments of the round that returned ``out``
    if result_arg is None:
        assert all(out is not a for a in args), f"{variant} returned one of its inputs"
        assert ops.data_address(out) not in {ops.data_address(a) for a in args}, \
            f"{variant} wrote into an input's buffer"
    else:
        keep = args[result_arg]
        assert out is keep and ops.data_address(out) == ops.data_address(keep), \
            f"{variant} did not write into the buffer it was given"


# --- broadcast (seeds 003/004) ---------------------------------------------------------------------------

# (variant, whether the operands are copied out to n x n first)
BROADCAST = params("broadcast", [
    (Variant("numpy-broadcast", ops.outer_broadcast, "numpy"), False),
    (Variant("numpy-tile", ops.outer_numpy_tile, "numpy"), True),
    (Variant("torch-broadcast", ops.outer_broadcast, "torch"), False),
    (Variant("torch-expand", ops.outer_torch_expand, "torch"), False),
    (Variant("torch-repeat", ops.outer_torch_repeat, "torch"), True),
])


@pytest.mark.parametrize("variant,copies", BROADCAST)
def test_broadcast(variant, copies, size, measure):
    """Outer sum and outer product of two length-n vectors, returned as a pair of n x n matrices."""
    n, fn, dtype = ops.SIZES[size]["broadcast"]["n"], variant.fn, variant.dtype
    seed_a, seed_b = pair("ops/broadcast")
    a, b = (tensors.array((n,), dtype, seed=s, dist="normal") for s in (seed_a, seed_b))
    args = tuple(variant.operand((n,), seed=s, dist="normal") for s in (seed_a, seed_b))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)

    outputs = 2 * n * n * a.itemsize
    peak = memory.peak_bytes(fn, args)
    # The point of the experiment: broadcasting allocates only the two results; copies double that.
    if copies:
        assert peak["peak_bytes"] >= 1.9 * outputs, f"{variant} should materialise n x n copies: {peak}"
    else:
        assert peak["peak_bytes"] < outputs + SLACK, f"{variant} should allocate only its results: {peak}"

    measure(
        fn, args,
        record=_record("broadcast", variant, [[n], [n]], 2 * n * n, 2 * n * a.itemsize + outputs, **peak),
        reference=np.stack((a64[:, None] + b64[None, :], a64[:, None] * b64[None, :])),
        rtol=check.rtol(dtype, ops=1),  # one correctly rounded sum or product per element
    )


# --- reduce (seed 003) -----------------------------------------------------------------------------------

REDUCE = params("reduce", [
    Variant("numpy", ops.sum_mean_numpy, "numpy"),
    Variant("torch", ops.sum_mean_torch, "torch"),
    Variant("torch-cuda", ops.sum_mean_torch, "torch", "cuda"),
])


@pytest.mark.parametrize("variant", REDUCE)
def test_reduce(variant, size, measure):
    """Sum and mean of n values in [0, 1): all positive, so a float32 sum is well conditioned and the
    relative tolerance measures the summation's own error, not a cancellation."""
    n, seed, dtype = ops.SIZES[size]["reduce"]["n"], SEEDS["ops/reduce"], variant.dtype
    x = tensors.array((n,), dtype, seed=seed)
    arg = variant.operand((n,), seed=seed)
    total = float(np.sum(x, dtype=np.float64))
    # n terms summed (exact float32 values: no rounding before the sum), the mean one division more
    condition = check.sequential_condition(x)
    tol = check.rtol(dtype, length=n, condition=condition, ops=1)

    def mean_is_right(out, tol=check.rtol(dtype, length=n, condition=condition, ops=2)):
        # The norm-wise error of [sum, mean] hardly sees the mean (it is n times smaller): check it alone.
        got = float(to_numpy(out)[1])
        assert abs(got - total / n) <= tol * (total / n), f"mean {got} != {total / n} (float64)"

    measure(
        variant.fn, (arg,),
        record=_record("reduce", variant, [[n]], 2 * n, n * x.itemsize),
        reference=np.array([total, total / n]),
        rtol=tol,
        extra_check=mean_is_right,
    )


# --- interop (seed 001) ----------------------------------------------------------------------------------

# (variant, what the input is, whether the result shares the input's memory)
INTEROP = params("interop", [
    (Variant("from-numpy", ops.from_numpy, "torch"), "numpy", True),
    (Variant("torch-tensor", ops.torch_tensor, "torch"), "numpy", False),
    (Variant("to-numpy", ops.to_numpy, "torch"), "torch", True),
    (Variant("h2d", ops.host_to_device, "torch", "cuda"), "torch", False),
    (Variant("d2h", ops.device_to_host, "torch", "cuda"), "torch-cuda", False),
    (Variant("h2d-pinned", ops.host_to_device, "torch", "cuda"), "torch-pinned", False),
])


#: The interop source column -> the buffer kind a host-device copy reads (record field ``source``).
BUFFER_KIND = {"torch": "pageable", "torch-pinned": "pinned", "torch-cuda": "device"}


@pytest.mark.parametrize("variant,source,shares", INTEROP)
def test_interop(variant, source, shares, size, measure):
    """One n-element array crossing the numpy/torch or host/device boundary."""
    import torch

    n, fn, dtype, device = ops.SIZES[size]["interop"]["n"], variant.fn, variant.dtype, variant.device
    base = tensors.array((n,), dtype, seed=SEEDS["ops/interop"], dist="normal")
    if source == "numpy":
        src = base.copy()  # writable and owned by this test: the sharing check writes through it
    else:
        src = torch.tensor(base)
        if source == "torch-cuda":
            src = src.to("cuda")
        elif source == "torch-pinned":
            src = ops.pinned(src)

    buffer = n * base.itemsize
    peak = memory.peak_bytes(fn, (src,), device=device)
    if shares:
        assert peak["peak_bytes"] < SLACK, f"{variant} should copy nothing: {peak}"
    else:
        assert peak["peak_bytes"] >= buffer, f"{variant} should allocate a copy: {peak}"

    # Bytes: a host copy reads and writes the buffer; a host-device copy moves it once across the bus (the
    # convention of the transfer benchmarks and of the roofline's transfer ceiling).
    nbytes = 0 if shares else buffer if device == "cuda" else 2 * buffer
    # A host-device copy declares its buffers, as the transfer benchmarks do: the roofline holds it against
    # the copy ceiling of its direction from these fields, never from its name.
    buffers = {"source": BUFFER_KIND[source], "destination": "new"} if device == "cuda" else {}
    out = measure(
        fn, (src,),
        record=_record("interop", variant, [[n]], 0, nbytes, **peak, **buffers),
        reference=base.astype(np.float64),
        rtol=0.0,  # a copy or a view is exact: any differing element fails
    )
    # A write through the source must show through a zero-copy result, and never through a copy.
    assert ops.shares_memory(src, out) is shares, \
        f"{variant}: a write through the input {'was not' if shares else 'was'} seen through the result"


# --- autograd (seed 001) ---------------------------------------------------------------------------------

def _size_label(n: int) -> str:
    k = round(np.log10(n))
    return f"1e{k}" if 10 ** k == n else str(n)


def pytest_generate_tests(metafunc):
    """The autograd sizes depend on the profile, so its cases are made here, once the profile is known."""
    if metafunc.function.__name__ != "test_autograd":
        return
    profile = plugin.profile(metafunc.config).size
    cases = []
    for n in ops.SIZES[profile]["autograd"]["n"]:
        for lib, device in (("torch", "cpu"), ("torch-cuda", "cuda")):
            for (fn_name, stage), fn in ops.AUTOGRAD.items():
                row = Variant(f"{lib}-{fn_name}-{stage}", fn, "torch", device)
                cases.append(param(f"autograd-{_size_label(n)}", row, fn_name, stage, n))
    metafunc.parametrize("variant,fn_name,stage,n", cases)


def test_autograd(variant, fn_name, stage, n, measure):
    """The seed's t = sum((x+5)^2 + 1) and sigmoid examples at n elements: the forward pass recording
    the graph, or forward and backward returning x.grad."""
    dtype = variant.dtype
    base = tensors.array((n,), dtype, seed=SEEDS["ops/autograd"], dist="normal")
    x = variant.operand((n,), seed=SEEDS["ops/autograd"], dist="normal")
    x = x.detach().clone().requires_grad_(True)  # the cached tensor is shared: never mark it
    backward = stage == "forward-backward"
    measure(
        variant.fn, (x,),
        record=_record(f"autograd-{_size_label(n)}", variant, [[n]], None, (2 if backward else 1) * n * base.itemsize),
        reference=ops.autograd_reference(fn_name, stage, base.astype(np.float64)),
        rtol=_autograd_rtol(fn_name, stage, base.astype(np.float64), dtype),
    )


#: Roundings allowed one sigmoid of float32 (1 / (1 + exp(-y)): exp within a few ulps in every ATen
#: kernel set, its addition and division one each).
SIGMOID_OPS = 4


def _autograd_rtol(fn_name: str, stage: str, x64: np.ndarray, dtype: str) -> float:
    """check.rtol for the autograd examples, from what each computes (y = x + 5):

    - square forward: sum(y*y + 1): y, y*y (doubling y's error) and + 1 round: 4 per term, then n terms summed;
    - square backward: 2y: y rounds once, the doubling is exact (the grad of a sum is 1): 2 allowed;
    - sigmoid forward: sum(sigmoid(y)): SIGMOID_OPS per term, then n terms summed;
    - sigmoid backward: r (1 - r) with r = sigmoid(y): 1 - r cancels, multiplying r's error by r / (1 - r)
      element by element; norm-wise that is ||r^2|| / ||r (1 - r)|| times SIGMOID_OPS, plus two roundings.
    """
    y = x64 + 5
    if fn_name == "square":
        terms, per_term = y * y + 1, 4
    else:
        terms, per_term = 1 / (1 + np.exp(-y)), SIGMOID_OPS
    if stage == "forward":
        return check.rtol(dtype, length=x64.size, condition=check.sequential_condition(terms), ops=per_term)
    if fn_name == "square":
        return check.rtol(dtype, ops=2)
    r = terms
    return check.rtol(dtype, ops=2 + SIGMOID_OPS * float(np.linalg.norm(r * r) / np.linalg.norm(r * (1 - r))))
