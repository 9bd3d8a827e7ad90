"""Tensor operations, interop and autodiff: every non-training comparison of seeds 001 and 003.

Seed 001 ("Pytorch Basics and Speed Comparisons with Numpy and GPU"): 100 small random matrix products
on numpy and torch, the sum of two random 10000x10000 matrices on numpy, torch and the GPU (timed on the
GPU without synchronization), numpy <-> torch conversion, and autodiff of sum((x+5)^2 + 1) and a sigmoid.
Seed 003 (d2l-style numpy tutorial): "Saving Memory" (y = y + x against y += x and z[:] = x + y),
broadcasting, sum and mean.

Every function takes prepared operands and returns its result; nothing here imports pytest. Functions
whose name ends in ``_as_seed`` draw their random inputs inside the call, as the seed does.
"""
from __future__ import annotations

import math

import numpy as np

#: Sizes of each experiment per profile. ``n`` is a vector length or a matrix side; ``reps`` the
#: repetitions the seed loops over. seed: the seed documents' shapes; where a seed shows an operation only
#: at toy size (seed 003's sum of 12 numbers, a 3x2 broadcast), the scale of seed 001's large examples
#: (10^7-element vectors, 10000-wide matrices, 10^8 elements to reduce).
SIZES = {
    "smoke": {
        "small-matmul-loop": {"reps": 3, "n": 16},
        "big-add": {"n": 64},
        "inplace": {"n": 100_000},
        "broadcast": {"n": 256},
        "reduce": {"n": 10_000},
        "interop": {"n": 100_000},
        "autograd": {"n": (1_000,)},
    },
    "default": {
        "small-matmul-loop": {"reps": 100, "n": 100},
        "big-add": {"n": 2_000},
        "inplace": {"n": 10_000_000},
        "broadcast": {"n": 2_000},
        "reduce": {"n": 10_000_000},
        "interop": {"n": 10_000_000},
        "autograd": {"n": (1_000, 100_000, 10_000_000)},
    },
    "seed": {
        "small-matmul-loop": {"reps": 100, "n": 100},  # seed 001: 100 x (randn 100x100, twice; matmul)
        "big-add": {"n": 10_000},                      # seed 001: one pass of its 10-pass loop body
        "inplace": {"n": 10_000_000},
        "broadcast": {"n": 10_000},
        "reduce": {"n": 100_000_000},
        "interop": {"n": 10_000_000},
        "autograd": {"n": (1_000, 10_000, 100_000, 1_000_000, 10_000_000)},
    },
}


# --- seed 001: random inputs drawn inside the timed call -------------------------------------------
# The seed draws from the global generator. These draw from a generator re-seeded at the start of each
# call (the same algorithm: MT19937 for numpy's legacy randn and torch's CPU generator, Philox on CUDA),
# so every call does identical work and its result can be checked against a regenerated reference.

def small_matmul_loop_numpy_as_seed(reps: int, n: int, seed: int):
    """``reps`` times: two n x n randn matrices and their product (float64); returns the last product."""
    rng = np.random.RandomState(seed)
    for _ in range(reps):
        a = rng.randn(n, n)
        b = rng.randn(n, n)
        c = np.matmul(a, b)
    return c


def small_matmul_loop_torch_as_seed(reps: int, n: int, gen, seed: int):
    """The same with ``torch.randn`` (float32) on the device of ``gen``; returns the last product."""
    import torch

    gen.manual_seed(seed)
    for _ in range(reps):
        a = torch.randn([n, n], generator=gen, device=gen.device)
        b = torch.randn([n, n], generator=gen, device=gen.device)
        c = torch.matmul(a, b)
    return c


def big_add_numpy_as_seed(n: int, seed: int):
    """Seed 001's numpy loop body: two n x n randn matrices (float64) and their sum."""
    rng = np.random.RandomState(seed)
    a = rng.randn(n, n)
    b = rng.randn(n, n)
    return a + b


def big_add_torch_as_seed(n: int, gen, seed: int):
    """Seed 001's torch loop body: two n x n ``torch.randn`` matrices (float32) on ``gen``'s device, summed."""
    import torch

    gen.manual_seed(seed)
    a = torch.randn([n, n], generator=gen, device=gen.device)
    b = torch.randn([n, n], generator=gen, device=gen.device)
    return a + b


def normal_stats_problem(values, mean: float, var: float, k: float = 6.0) -> str | None:
    """``None`` when the sample mean and variance fit N(mean, var) within ``k`` standard errors.

    For a sample of N near-normal values the mean has standard error sqrt(var/N) and the variance
    var*sqrt(2/N). Catches a wrong distribution (uniform instead of normal, a dropped operand, one
    operand added to itself), which a reference drawn from the same generator cannot.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    count = x.size
    m, v = float(x.mean()), float(x.var())
    problems = []
    if abs(m - mean) > k * math.sqrt(var / count):
        problems.append(f"mean {m:.4g}, expected {mean:.4g} +- {k * math.sqrt(var / count):.2g}")
    if abs(v - var) > k * var * math.sqrt(2.0 / count):
        problems.append(f"variance {v:.4g}, expected {var:.4g} +- {k * var * math.sqrt(2.0 / count):.2g}")
    return "; ".join(problems) or None


# --- seed 001: the addition alone, inputs prepared outside ------------------------------------------

def add(a, b):
    """``a + b`` (numpy or torch, CPU or CUDA): a fresh result."""
    return a + b


# --- seed 003 "Saving Memory" -------------------------------------------------------------------------

def add_new(x, y):
    """``y = y + x``: the result goes to newly allocated memory, y's old buffer is dropped."""
    y = y + x
    return y


def add_inplace_numpy(x, y):
    """``y += x``: the result is written into y's own buffer."""
    y += x
    return y


def add_into_slice(x, y, z):
    """``z[:] = x + y``: the seed's "in-place" form; x + y is still a temporary before the copy into z."""
    z[:] = x + y
    return z


def add_inplace_torch(x, y):
    """``y.add_(x)``: torch's in-place add."""
    return y.add_(x)


def add_out_torch(x, y, z):
    """``torch.add(x, y, out=z)``: the sum written straight into a preallocated z."""
    import torch

    return torch.add(x, y, out=z)


def data_address(a) -> int:
    """Address of the first element of a numpy array or torch tensor."""
    return a.data_ptr() if hasattr(a, "data_ptr") else a.__array_interface__["data"][0]


# --- seeds 003/004: broadcasting against materialised copies ---------------------------------------

def outer_broadcast(a, b):
    """Outer sum and product by broadcasting (numpy or torch): no copy of either vector is made."""
    return a[:, None] + b[None, :], a[:, None] * b[None, :]


def outer_numpy_tile(a, b):
    """The same after ``np.tile`` makes both operands full n x m matrices."""
    big_a = np.tile(a[:, None], (1, len(b)))
    big_b = np.tile(b[None, :], (len(a), 1))
    return big_a + big_b, big_a * big_b


def outer_torch_expand(a, b):
    """The same with ``expand``: an explicit n x m *view* (stride 0), so still no copy."""
    big_a = a[:, None].expand(len(a), len(b))
    big_b = b[None, :].expand(len(a), len(b))
    return big_a + big_b, big_a * big_b


def outer_torch_repeat(a, b):
    """The same with ``repeat``: both operands copied out to n x m first."""
    big_a = a[:, None].repeat(1, len(b))
    big_b = b[None, :].repeat(len(a), 1)
    return big_a + big_b, big_a * big_b


# --- seed 003: reductions ---------------------------------------------------------------------------

def sum_mean_numpy(x):
    """``x.sum()`` and ``x.mean()`` as one array of two."""
    return np.array([x.sum(), x.mean()])


def sum_mean_torch(x):
    """``x.sum()`` and ``x.mean()`` stacked into one tensor of two (on x's device)."""
    import torch

    return torch.stack((x.sum(), x.mean()))


# --- seed 001: crossing the numpy/torch boundary ---------------------------------------------------

def from_numpy(a):
    """``torch.from_numpy``: a tensor over the array's own memory (zero-copy)."""
    import torch

    return torch.from_numpy(a)


def torch_tensor(a):
    """``torch.tensor``: a new tensor holding a copy."""
    import torch

    return torch.tensor(a)


def to_numpy(t):
    """``Tensor.numpy()``: an array over the tensor's own memory (zero-copy, CPU only)."""
    return t.numpy()


def host_to_device(t):
    """``t.to("cuda")``: a copy to the GPU (pageable or pinned host memory; the caller waits for it)."""
    return t.to("cuda", non_blocking=t.is_pinned())


def device_to_host(t):
    """``t.cpu()``: a copy back to host memory (waits for the copy itself)."""
    return t.cpu()


def pinned(t):
    """A page-locked copy of a CPU tensor, so a host-to-device copy can be a direct DMA."""
    return t.pin_memory()


def shares_memory(src, out) -> bool:
    """Whether a write through ``src`` is seen through ``out`` (tensors or arrays, any device).

    Writes one element and restores it, so the caller's data is unchanged afterwards.
    """
    flat_src, flat_out = src.reshape(-1), out.reshape(-1)
    old = float(flat_src[0])
    marker = 3.0 if old != 3.0 else 5.0  # exact in every dtype, so the read-back compares equal
    flat_src[0] = marker
    try:
        return float(flat_out[0]) == marker
    finally:
        flat_src[0] = old


# --- seed 001: autodiff -----------------------------------------------------------------------------

def square_forward(x):
    """t = sum((x + 5)^2 + 1), recording the graph (x requires grad)."""
    return (((x + 5) ** 2) + 1).sum()


def sigmoid_forward(x):
    """s = sum(1 / (1 + exp(-(x + 5)))), recording the graph (x requires grad)."""
    import torch

    return (1 / (1 + torch.exp(-(x + 5)))).sum()


def square_forward_backward(x):
    """t.backward(); returns dt/dx = 2(x + 5). The gradient is cleared first so calls don't accumulate."""
    x.grad = None
    square_forward(x).backward()
    return x.grad


def sigmoid_forward_backward(x):
    """s.backward(); returns ds/dx = r(1 - r) with r the sigmoid of x + 5."""
    x.grad = None
    sigmoid_forward(x).backward()
    return x.grad


AUTOGRAD = {
    ("square", "forward"): square_forward,
    ("square", "forward-backward"): square_forward_backward,
    ("sigmoid", "forward"): sigmoid_forward,
    ("sigmoid", "forward-backward"): sigmoid_forward_backward,
}


def autograd_reference(fn: str, stage: str, x64: np.ndarray) -> np.ndarray:
    """The float64 value each autograd variant must return, from the closed forms."""
    y = x64 + 5
    if fn == "square":
        return np.asarray(np.sum(y * y + 1)) if stage == "forward" else 2 * y
    r = 1 / (1 + np.exp(-y))
    return np.asarray(np.sum(r)) if stage == "forward" else r * (1 - r)
