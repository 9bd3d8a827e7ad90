"""Matrix multiplication, every way the seed documents time it.

Seed 004 (fast.ai part 2, "matmul"): a 5x784 @ 784x10 product of MNIST digits and random weights done
by a triple loop on tensors, numba, element-wise rows, torch.dot, broadcasting, einsum and the library
operator, then the whole training set through the same ops, a naive numba CUDA kernel and torch on the GPU.
Seed 000 ("From Numpy to PyTorch"): a @ b.T for 10000x1024 and 5000x1024 float32 on numpy, torch, GPU.
Seed 003 (d2l-style notebook): a 10000x10000 product x.mm(w.t()) on CPU and GPU.

Every function here takes operands that are already prepared (right library, dtype and device) and
returns the product; nothing here imports pytest.
"""
from __future__ import annotations

import functools
import math

import numpy as np

#: Shapes of each experiment per profile, as (M, K, N): an (M x K) operand times a (K x N) one; for
#: ``abt`` and ``square`` the second operand is stored (N x K) and used transposed, as the seeds do.
SIZES = {
    "smoke": {
        "mnist5": (5, 784, 10),
        "mnist-full": (500, 784, 10),
        "abt": (200, 128, 100),
        "square": (256, 256, 256),
    },
    "default": {
        "mnist5": (5, 784, 10),
        "mnist-full": (20000, 784, 10),
        "abt": (2000, 1024, 1000),
        "square": (2048, 2048, 2048),
    },
    "seed": {
        "mnist5": (5, 784, 10),          # seed 004: x_valid[:5] @ weights
        "mnist-full": (50000, 784, 10),  # seed 004: x_train @ weights
        "abt": (10000, 1024, 5000),      # seed 000
        "square": (10000, 10000, 10000), # seed 003
    },
}


# --- seed 004: from a Python triple loop to the library operator -----------------------------------

def matmul_torch_loop(a, b):
    """The seed's first version: three Python loops indexing torch tensors element by element."""
    import torch

    (ar, ac), (br, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc, dtype=a.dtype)
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i, j] += a[i, k] * b[k, j]
    return c


def matmul_python_lists(a, b):
    """The same triple loop on lists of Python floats (so it computes in float64)."""
    ar, ac, bc = len(a), len(a[0]), len(b[0])
    c = [[0.0] * bc for _ in range(ar)]
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i][j] += a[i][k] * b[k][j]
    return c


@functools.lru_cache(maxsize=None)
def _numba_dot():
    from numba import njit

    @njit
    def dot(a, b):
        res = 0.0
        for i in range(len(a)):
            res += a[i] * b[i]
        return res

    return dot


def matmul_numba_dot(a, b):
    """Seed 004's numba step: the inner loop is an @njit dot, the two outer loops stay in Python."""
    dot = _numba_dot()
    (ar, ac), (br, bc) = a.shape, b.shape
    c = np.zeros((ar, bc), dtype=a.dtype)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = dot(a[i, :], b[:, j])
    return c


def matmul_elementwise(a, b):
    """Rows times columns element-wise, summed: one loop level fewer in Python."""
    import torch

    (ar, ac), (br, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc, dtype=a.dtype)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_torch_dot(a, b):
    """The same with torch.dot for each row-column pair."""
    import torch

    (ar, ac), (br, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc, dtype=a.dtype)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = torch.dot(a[i, :], b[:, j])
    return c


def matmul_broadcast(a, b):
    """One Python loop over rows; each row broadcast against the whole of b ("300 ms to 0.1 ms")."""
    import torch

    (ar, ac), (br, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc, dtype=a.dtype)
    for i in range(ar):
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


def matmul_einsum(a, b):
    """Einstein summation, no Python loop at all."""
    import torch

    return torch.einsum("ik,kj->ij", a, b)


def matmul_operator(a, b):
    """The library's own product, ``a @ b``: numpy (BLAS sgemm) or torch, CPU or CUDA."""
    return a @ b


def matmul_operator_copyback(a, b):
    """``(a @ b).cpu()`` as seed 004 times torch on the GPU: the product and the copy back to the host."""
    return (a @ b).cpu()


# --- ours: numba on all cores, written to approach memory bandwidth ---------------------------------

@functools.lru_cache(maxsize=None)
def _numba_rows_kernel():
    from numba import njit, prange

    @njit(parallel=True, fastmath=True)
    def rows(a, bt, c, zero):
        # One row of a per iteration, read from memory once and then from L1 for each of the few output
        # columns; bt (N x K, contiguous) makes the inner loop a unit-stride dot that fastmath may split
        # into SIMD partial sums, accumulated in the inputs' precision as BLAS does (``zero`` carries that
        # type in: a literal 0 would make the sum float64 and stop the vectorization, 2.5x slower).
        m, k_dim = a.shape
        n = bt.shape[0]
        for i in prange(m):
            for j in range(n):
                s = zero
                for k in range(k_dim):
                    s += a[i, k] * bt[j, k]
                c[i, j] = s

    return rows


def matmul_numba_parallel(a, b):
    """A numba ``prange`` kernel over rows: every core streams its share of ``a`` once."""
    dtype = np.result_type(a, b)
    c = np.empty((a.shape[0], b.shape[1]), dtype=dtype)
    _numba_rows_kernel()(a, np.ascontiguousarray(b.T), c, dtype.type(0))
    return c


# --- seed 004: the naive CUDA kernel -----------------------------------------------------------------

TPB = 16  # the seed's threads per block, in each of two dimensions

#: ``numba.cuda``, bound on first use (numba is optional). A module global on purpose: numba's CUDA
#: simulator swaps in its per-launch fake of the module only where a kernel reads it as a global.
cuda = None


@functools.lru_cache(maxsize=None)
def numba_cuda_kernel():
    """The seed's kernel: one thread per output element, a plain loop over k, no shared memory."""
    global cuda
    from numba import cuda as numba_cuda

    cuda = numba_cuda

    @cuda.jit
    def matmul(a, b, c):
        i, j = cuda.grid(2)
        if i < c.shape[0] and j < c.shape[1]:
            tmp = 0.0
            for k in range(a.shape[1]):
                tmp += a[i, k] * b[k, j]
            c[i, j] = tmp

    return matmul


def cuda_grid(shape, tpb: int = TPB):
    """Blocks per grid covering an output of ``shape`` with ``tpb x tpb`` threads a block."""
    return (math.ceil(shape[0] / tpb), math.ceil(shape[1] / tpb)), (tpb, tpb)


def matmul_numba_cuda(a_dev, b_dev, c_dev, tpb: int = TPB):
    """Launch the naive kernel on device arrays and copy the result back, as the seed times it.

    The copy back also waits for the kernel, so the timed call holds all the device work.
    """
    blocks, threads = cuda_grid(c_dev.shape, tpb)
    numba_cuda_kernel()[blocks, threads](a_dev, b_dev, c_dev)
    return c_dev.copy_to_host()


# --- seeds 000 and 003: a @ b.T ----------------------------------------------------------------------

def matmul_abt(a, b):
    """``a @ b.T`` (numpy or torch, CPU or CUDA); seed 003's ``x.mm(w.t())`` is the same product."""
    return a @ b.T


def matmul_abt_copyback(a, b):
    """``(a @ b.T).cpu()``: seed 000's GPU timing, product plus the copy of the result to the host."""
    return (a @ b.T).cpu()


def flops(m: int, k: int, n: int) -> int:
    """Floating-point operations of an (m x k) @ (k x n) product: a multiply and an add per term."""
    return 2 * m * k * n


def min_bytes(m: int, k: int, n: int, itemsize: int, out_itemsize: int | None = None) -> int:
    """Least bytes a product must move: both operands read once, the output written once."""
    return (m * k + k * n) * itemsize + m * n * (out_itemsize or itemsize)
