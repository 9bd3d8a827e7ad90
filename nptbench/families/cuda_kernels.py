"""Hand-written numba CUDA matmul kernels: seed 004's naive kernel timed on its own, a shared-memory tiled
kernel (tile 16 and 32) and two register-blocked tiled kernels, to show how far a few lines of CUDA get
towards cuBLAS.

Seed 004 ends its matmul notebook with a one-thread-per-output ``@cuda.jit`` kernel (kept, unchanged, in
:mod:`nptbench.families.matmul`); the GPU lecture that continues that notebook times it against torch on a
5120x256 @ 256x5120 product. The tiled kernel here is the textbook next step: each block stages a
``tile x tile`` slab of ``a`` and of ``b`` in shared memory, so every element fetched from global memory
is used ``tile`` times instead of once. The register-blocked kernel adds the step after that: each thread
computes a 4x4 block of outputs from values it holds in registers, so it reads shared memory half a time
per multiply-add instead of twice. The last kernel takes the steps cuBLAS-class kernels take next: 8x8
outputs a thread on 128x128 block tiles, 128-bit shared-memory reads, and double-buffered slabs whose
global loads overlap the arithmetic.

Every launcher takes device arrays that are already prepared (inputs and output), launches, and returns
the output device array without copying it back and without waiting: the caller (the harness) waits
inside the timed region, and the copy back to check the result happens outside it. numba is imported
lazily, so importing this module never needs numba or a GPU.
"""
from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from nptbench.families import matmul as mm
from nptbench.env.backends import cudasim_enabled

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


#: Geometry of the register-blocked kernel: each block computes a ``REG_TILE x REG_TILE`` block of ``c``
#: with ``REG_THREADS x REG_THREADS`` threads, so each thread keeps ``REG_PER x REG_PER`` outputs in
#: registers; ``k`` is staged ``REG_K`` at a time.
REG_TILE, REG_K, REG_THREADS = 64, 16, 16
REG_PER = REG_TILE // REG_THREADS  # 4


@functools.lru_cache(maxsize=None)
def regtiled_kernel():
    """Shared-memory tiling plus register blocking (64x64 block tile, 4x4 outputs a thread, float32).

    The tiled kernel above does two shared-memory reads per fused multiply-add, so shared-memory bandwidth,
    not arithmetic, bounds it. Here each thread reads REG_PER values of ``a`` and REG_PER of ``b`` from
    shared memory per step of ``k`` and does REG_PER**2 multiply-adds with them from registers: a quarter
    of the shared-memory traffic per flop at REG_PER = 4. This is the first step cuBLAS-class kernels take
    (they add wider loads, double buffering and larger per-thread blocks).
    """
    _numba_cuda()
    bm, bk, t, r = REG_TILE, REG_K, REG_THREADS, REG_PER
    bm_pad = bm + 2  # shared-array shapes must be plain constants: computed here, not in the kernel
    nthreads = t * t
    loads = bm * bk // nthreads  # elements each thread stages per slab, of a and of b alike

    @cuda.jit
    def matmul_regtiled(a, b, c):
        # a's slab is stored transposed (sa[k, row]) so the compute loop reads it like b's. A warp stores
        # 16 k-rows of 2 neighbouring rows of a; two columns of padding put those 32 words in 32
        # different shared-memory banks (one column would leave pairs in the same bank).
        sa = cuda.shared.array((bk, bm_pad), dtype=np.float32)
        sb = cuda.shared.array((bk, bm), dtype=np.float32)
        acc = cuda.local.array((r, r), dtype=np.float32)
        ra = cuda.local.array(r, dtype=np.float32)
        rb = cuda.local.array(r, dtype=np.float32)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * t + tx
        row0 = cuda.blockIdx.y * bm
        col0 = cuda.blockIdx.x * bm
        m, k_dim = a.shape
        n = b.shape[1]
        for i in range(r):
            for j in range(r):
                acc[i, j] = np.float32(0.0)
        for k0 in range(0, k_dim, bk):
            # Stage both slabs; past an edge, zeros (they add nothing), so any M, K, N works. Consecutive
            # threads read consecutive addresses of a row of a (along k) and of a row of b (along n).
            for s in range(loads):
                idx = tid + s * nthreads
                rr = idx // bk
                kk = idx % bk
                if row0 + rr < m and k0 + kk < k_dim:
                    sa[kk, rr] = a[row0 + rr, k0 + kk]
                else:
                    sa[kk, rr] = np.float32(0.0)
            for s in range(loads):
                idx = tid + s * nthreads
                kk = idx // bm
                cc = idx % bm
                if k0 + kk < k_dim and col0 + cc < n:
                    sb[kk, cc] = b[k0 + kk, col0 + cc]
                else:
                    sb[kk, cc] = np.float32(0.0)
            cuda.syncthreads()  # both slabs are complete before anyone reads them
            for kk in range(bk):
                # Thread (tx, ty) owns rows ty + i*t and columns tx + j*t of the block tile: strided, so
                # the threads of a warp read neighbouring words of sb (no bank conflicts) and write
                # neighbouring words of c (coalesced).
                for i in range(r):
                    ra[i] = sa[kk, ty + i * t]
                for j in range(r):
                    rb[j] = sb[kk, tx + j * t]
                for i in range(r):
                    for j in range(r):
                        acc[i, j] += ra[i] * rb[j]
            cuda.syncthreads()  # everyone is done with the slabs before they are overwritten
        for i in range(r):
            row = row0 + ty + i * t
            for j in range(r):
                col = col0 + tx + j * t
                if row < m and col < n:
                    c[row, col] = acc[i, j]

    return matmul_regtiled


def regtiled_grid(shape):
    """(blocks, threads) of the register-blocked kernel for an output of ``shape``."""
    blocks, _ = tiled_grid(shape, REG_TILE)  # one block per 64x64 tile of c, as the tiled kernels
    return blocks, (REG_THREADS, REG_THREADS)


def matmul_numba_cuda_regtiled64(a_dev, b_dev, c_dev):
    """Register-blocked tiled kernel: 64x64 block tile, 16x16 threads, 4x4 outputs a thread."""
    blocks, threads = regtiled_grid(c_dev.shape)
    regtiled_kernel()[blocks, threads](a_dev, b_dev, c_dev)
    return c_dev


#: Geometry of the double-buffered kernel: ``BIG_TILE x BIG_TILE`` block tiles of ``c``, computed by
#: ``BIG_THREADS x BIG_THREADS`` threads of ``BIG_PER x BIG_PER`` outputs each; ``k`` staged ``BIG_K`` at
#: a time, in two shared-memory buffers.
BIG_TILE, BIG_K, BIG_THREADS = 128, 8, 16
BIG_PER = BIG_TILE // BIG_THREADS  # 8
#: Registers a thread may use: 65536 per SM / (2 blocks x 256 threads), so that two blocks share an SM.
BIG_MAX_REGISTERS = 128
#: Four float32 in one 16-byte record. Shared arrays of it are 16-byte aligned, so the compiler reads and
#: writes a record with one 128-bit instruction (numba has no other way to a vector load or store).
QUAD = np.dtype([("x", np.float32), ("y", np.float32), ("z", np.float32), ("w", np.float32)], align=True)


@functools.lru_cache(maxsize=None)
def regtiled128_kernel():
    """Register blocking at 8x8 outputs a thread on 128x128 block tiles, with double-buffered slabs.

    Against :func:`regtiled_kernel`: each thread keeps 64 accumulators, so it reads shared memory a
    quarter of a time per multiply-add (BIG_PER values of ``a`` and of ``b`` for BIG_PER**2 multiply-adds),
    in 128-bit reads of four values; each element fetched from global memory is used 128 times instead of
    64. The slabs of ``k`` are double-buffered: a thread fetches its share of the next slab from global
    memory into registers, does the multiply-adds of the current slab while those loads are in flight,
    and stores them into the other shared buffer at the start of the next step; one barrier per slab.

    The kernel takes the operands flattened (``a`` as ``m * k`` elements, and so on) with their sizes, so
    that each thread computes its element offsets once and then only adds ``k`` to them; with 2-D arrays
    the compiled fetch recomputed a 64-bit row offset for every element of every slab.
    """
    _numba_cuda()
    bm, bk, t, r = BIG_TILE, BIG_K, BIG_THREADS, BIG_PER
    nthreads = t * t
    quads = bm // 4  # records across a slab's row
    # a's slab is stored transposed, a k-row of quads of rows: sa[buf, k, q] = a[4q:4q+4, k]. The 8 threads
    # that store at once (128 bits each) hold 8 k of one quad; one record of padding per k-row (33, an
    # odd number of 16-byte bank groups) puts them in 8 different groups of banks.
    quads_pad = quads + 1
    # A thread owns two quads of rows half a tile apart (4*ty and bm/2 + 4*ty) and likewise of columns.
    assert nthreads == quads * bk and r == 8 and bm // 2 == 4 * t
    # numba's own CUDA target aligns a shared array of records to the record's size (16 bytes); numba-cuda
    # aligns it to the record's alignment (1 byte) unless given alignment=, which the other rejects. The
    # branch not taken is dropped before typing. (Neither simulator takes alignment= or a register limit.)
    simulated = cudasim_enabled()
    aligned = not simulated and "alignment" in inspect.signature(cuda.shared.array).parameters

    @cuda.jit(**({} if simulated else {"max_registers": BIG_MAX_REGISTERS}))
    def matmul_regtiled128(a, b, c, m, k_dim, n):
        if aligned:
            sa = cuda.shared.array((2, bk, quads_pad), dtype=QUAD, alignment=16)
            sb = cuda.shared.array((2, bk, quads), dtype=QUAD, alignment=16)
        else:
            sa = cuda.shared.array((2, bk, quads_pad), dtype=QUAD)
            sb = cuda.shared.array((2, bk, quads), dtype=QUAD)
        acc = cuda.local.array((r, r), dtype=np.float32)
        ra = cuda.local.array(r, dtype=np.float32)
        rb = cuda.local.array(r, dtype=np.float32)
        ga = cuda.local.array(4, dtype=np.float32)  # this thread's quad of a slab of a, on its way to sa
        gb = cuda.local.array(4, dtype=np.float32)  # and of b
        # The masks change nothing (the block is t x t threads) but tell the compiler that these indices
        # are not negative, so it drops numba's negative-index wrap-around from the shared-memory accesses;
        # global offsets are converted to unsigned for the same reason.
        tx = cuda.threadIdx.x & (t - 1)
        ty = cuda.threadIdx.y & (t - 1)
        tid = ty * t + tx
        row0 = cuda.blockIdx.y * bm
        col0 = cuda.blockIdx.x * bm
        # Each slab, this thread fetches rows a_row .. a_row+3 of a at k = a_k (a warp: 4 quads of rows, 8
        # consecutive k each) and columns b_col .. b_col+3 of b at k = b_k (a warp: 128 consecutive
        # columns of one row of b). Elements past an edge are not read; zeros stand in for them (zeros
        # add nothing, so any M, K, N works).
        a_q = tid // bk
        a_k = tid & (bk - 1)
        b_q = tid % quads
        b_k = tid // quads
        a_row = row0 + 4 * a_q
        b_col = col0 + 4 * b_q
        a_off = a_row * k_dim + a_k  # of a[a_row, a_k], then of a[a_row, k0 + a_k]
        b_off = b_k * n + b_col  # of b[b_k, b_col], then of b[k0 + b_k, b_col]
        for i in range(r):
            for j in range(r):
                acc[i, j] = np.float32(0.0)
        nslabs = (k_dim + bk - 1) // bk
        inside = row0 + bm <= m and col0 + bm <= n  # the block's tile of c lies inside c
        a_rows = m - a_row  # of this thread's 4 rows of a, those below a_rows exist
        b_cols = n - b_col  # and of its 4 columns of b
        b_next = bk * n
        # Step f stores slab f - 1 (fetched during the step before) into buffer (f - 1) % 2, fetches slab f
        # into registers, and multiplies slab f - 1 while those loads are in flight: nslabs + 1 steps, the
        # first only fetching, the last only multiplying. One barrier per slab: the buffer a step stores
        # into was last read two steps before, ahead of the previous step's barrier.
        # (while loops, not range(): numba's range loop keeps a 64-bit trip count beside its index, which
        # costs several instructions per trip of the compiled loop.)
        f = 0
        while f <= nslabs:
            cur = (f - 1) & 1
            if f > 0:
                qa = sa[cur, a_k, a_q]
                qa["x"], qa["y"], qa["z"], qa["w"] = ga[0], ga[1], ga[2], ga[3]
                qb = sb[cur, b_k, b_q]
                qb["x"], qb["y"], qb["z"], qb["w"] = gb[0], gb[1], gb[2], gb[3]
                cuda.syncthreads()  # slab f - 1 is complete before anyone multiplies it
            if f < nslabs:
                k0 = f * bk
                if inside and k0 + bk <= k_dim:  # the whole slab lies inside the operands: no checks
                    for i in range(4):
                        ga[i] = a[np.uint64(a_off + i * k_dim)]
                        gb[i] = b[np.uint64(b_off + i)]
                else:
                    a_in = k0 + a_k < k_dim
                    b_in = k0 + b_k < k_dim
                    for i in range(4):
                        ga[i] = a[np.uint64(a_off + i * k_dim)] if a_in and i < a_rows else np.float32(0.0)
                        gb[i] = b[np.uint64(b_off + i)] if b_in and i < b_cols else np.float32(0.0)
                a_off += bk  # on to the next slab: bk columns of a, bk rows of b
                b_off += b_next
            if f > 0:
                kk = 0
                while kk < bk:
                    # Two steps of k per trip: the compiler unrolls this loop of two (it left one of bk
                    # steps rolled), so the loop's own instructions come once per two steps.
                    for k2 in range(2):
                        # Thread (tx, ty) owns rows 4*ty + {0..3} and bm/2 + 4*ty + {0..3} of the block tile,
                        # and likewise columns by tx: two quads of a and two of b per step of k. A warp reads
                        # 16 neighbouring quads of sb and 2 of sa (broadcast): no bank conflict.
                        for h in range(2):
                            qa = sa[cur, kk + k2, ty + h * t]
                            qb = sb[cur, kk + k2, tx + h * t]
                            ra[4 * h], ra[4 * h + 1], ra[4 * h + 2], ra[4 * h + 3] = qa["x"], qa["y"], qa["z"], qa["w"]
                            rb[4 * h], rb[4 * h + 1], rb[4 * h + 2], rb[4 * h + 3] = qb["x"], qb["y"], qb["z"], qb["w"]
                        for i in range(r):
                            for j in range(r):
                                acc[i, j] += ra[i] * rb[j]
                    kk += 2
            f += 1
        for i in range(r):
            row = row0 + 4 * ty + (i // 4) * (bm // 2) + i % 4
            for j in range(r):
                col = col0 + 4 * tx + (j // 4) * (bm // 2) + j % 4
                if row < m and col < n:
                    c[np.uint64(row * n + col)] = acc[i, j]

    return matmul_regtiled128


def matmul_numba_cuda_regtiled128(a_dev, b_dev, c_dev):
    """Double-buffered register-blocked kernel: 128x128 block tile, 16x16 threads, 8x8 outputs a thread."""
    (m, k), n = a_dev.shape, b_dev.shape[1]
    blocks, _ = tiled_grid(c_dev.shape, BIG_TILE)
    # flat views of the same device memory (C-contiguous: no copy)
    regtiled128_kernel()[blocks, (BIG_THREADS, BIG_THREADS)](
        a_dev.reshape(m * k), b_dev.reshape(k * n), c_dev.reshape(m * n), m, k, n)
    return c_dev


def matmul_numba_cuda_naive(a_dev, b_dev, c_dev):
    """Seed 004's naive kernel (:func:`nptbench.families.matmul.numba_cuda_kernel`) launched alone: no copy back,
    so it compares with the tiled kernels and cuBLAS on kernel time. ``c_dev`` is float64, as the seed's."""
    blocks, threads = mm.cuda_grid(c_dev.shape, mm.TPB)
    mm.numba_cuda_kernel()[blocks, threads](a_dev, b_dev, c_dev)
    return c_dev


#: variant id -> (launcher, dtype of the output buffer it writes)
KERNELS = {
    "numba-cuda-naive": (matmul_numba_cuda_naive, "float64"),
    "numba-cuda-tiled16": (matmul_numba_cuda_tiled16, "float32"),
    "numba-cuda-tiled32": (matmul_numba_cuda_tiled32, "float32"),
    "numba-cuda-regtiled64": (matmul_numba_cuda_regtiled64, "float32"),
    "numba-cuda-regtiled128": (matmul_numba_cuda_regtiled128, "float32"),
}
