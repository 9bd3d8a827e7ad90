"""Hand-written numba CUDA matmul kernels: seed 004's naive kernel timed on its own, and a shared-memory
tiled kernel (tile 16 and 32) to show how far a few lines of CUDA get towards cuBLAS.

Seed 004 ends its matmul notebook with a one-thread-per-output ``@cuda.jit`` kernel (kept, unchanged, in
:mod:`nptbench.matmul`); the GPU lecture that continues that notebook times it against torch on a
5120x256 @ 256x5120 product. The tiled kernel here is the textbook next step: each block stages a
``tile x tile`` slab of ``a`` and of ``b`` in shared memory, so every element fetched from global memory
is used ``tile`` times instead of once.

Every launcher takes device arrays that are already prepared (inputs and output), launches, and returns
the output device array without copying it back and without waiting: the caller (the harness) waits
inside the timed region, and the copy back to check the result happens outside it. numba is imported
lazily, so importing this module never needs numba or a GPU.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import matmul as mm

#: ``numba.cuda``, bound on first use. A module global on purpose: numba's CUDA simulator swaps in its
#: per-launch fake of the module only where a kernel reads it as a global, never through a closure.
cuda = None


def _numba_cuda():
    global cuda
    if cuda is None:
        from numba import cuda as numba_cuda

        cuda = numba_cuda
    return cuda

#: Tile edges compiled as separate kernels (a tile is a compile-time constant: shared arrays need one).
TILES = (16, 32)


@functools.lru_cache(maxsize=None)
def tiled_kernel(tile: int):
    """The shared-memory tiled float32 kernel for ``tile x tile`` thread blocks (compiled once per tile)."""
    if tile not in TILES:
        raise ValueError(f"tile must be one of {TILES}, got {tile!r}")
    _numba_cuda()

    # `tile` is a closure variable: numba freezes it into the kernel as a constant, which is what lets
    # the shared arrays have a static size.
    @cuda.jit
    def matmul_tiled(a, b, c):
        sa = cuda.shared.array((tile, tile), dtype=np.float32)
        sb = cuda.shared.array((tile, tile), dtype=np.float32)
        # threadIdx.x varies fastest within a warp, so it walks along rows of b and c: neighbouring
        # threads read and write neighbouring addresses (coalesced), and read sb without bank conflicts.
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * tile + ty
        col = cuda.blockIdx.x * tile + tx
        m, k_dim = a.shape
        n = b.shape[1]
        acc = np.float32(0.0)
        for k0 in range(0, k_dim, tile):
            # Elements past an edge load as zero and so add nothing: any M, K, N works, not only
            # multiples of the tile. No thread returns early: all must reach both barriers.
            if row < m and k0 + tx < k_dim:
                sa[ty, tx] = a[row, k0 + tx]
            else:
                sa[ty, tx] = np.float32(0.0)
            if k0 + ty < k_dim and col < n:
                sb[ty, tx] = b[k0 + ty, col]
            else:
                sb[ty, tx] = np.float32(0.0)
            cuda.syncthreads()  # the whole slab is loaded before anyone reads it
            for kk in range(tile):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()  # everyone is done with the slab before it is overwritten
        if row < m and col < n:
            c[row, col] = acc

    return matmul_tiled


def tiled_grid(shape, tile: int):
    """(blocks, threads) covering an output of ``shape``; x runs over columns, y over rows."""
    rows, cols = shape
    return (math.ceil(cols / tile), math.ceil(rows / tile)), (tile, tile)


def launch_tiled(a_dev, b_dev, c_dev, tile: int):
    """Launch the tiled kernel; returns ``c_dev`` (float32) without waiting for it."""
    blocks, threads = tiled_grid(c_dev.shape, tile)
    tiled_kernel(tile)[blocks, threads](a_dev, b_dev, c_dev)
    return c_dev


def matmul_numba_cuda_tiled16(a_dev, b_dev, c_dev):
    """Shared-memory tiled kernel, 16x16 threads and tiles."""
    return launch_tiled(a_dev, b_dev, c_dev, 16)


def matmul_numba_cuda_tiled32(a_dev, b_dev, c_dev):
    """Shared-memory tiled kernel, 32x32 threads and tiles (1024 threads, the most a block may have)."""
    return launch_tiled(a_dev, b_dev, c_dev, 32)


def matmul_numba_cuda_naive(a_dev, b_dev, c_dev):
    """Seed 004's naive kernel (:func:`nptbench.matmul.numba_cuda_kernel`) launched alone: no copy back,
    so it compares with the tiled kernels and cuBLAS on kernel time. ``c_dev`` is float64, as the seed's."""
    blocks, threads = mm.cuda_grid(c_dev.shape, mm.TPB)
    mm.numba_cuda_kernel()[blocks, threads](a_dev, b_dev, c_dev)
    return c_dev


#: variant id -> (launcher, dtype of the output buffer it writes)
KERNELS = {
    "numba-cuda-naive": (matmul_numba_cuda_naive, "float64"),
    "numba-cuda-tiled16": (matmul_numba_cuda_tiled16, "float32"),
    "numba-cuda-tiled32": (matmul_numba_cuda_tiled32, "float32"),
}
