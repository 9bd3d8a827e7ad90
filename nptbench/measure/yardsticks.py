"""Machine-state yardsticks: three short, library-independent probes of the machine a run had.

A regression gate on shared, noisy 2-core VMs has to tell "the code got slower" from "the machine
got slower". Each timed session takes these yardsticks at its start and at its end and saves them in its
machine info (nptbench.schema.record.YARDSTICK_FIELDS); nptbench.analysis.drift says which ones moved
beyond their own run-to-run noise between a baseline and a new run, and which rows that could explain.

The probes (each the best, i.e. highest rate, of a few short repetitions, so that a neighbour that
steals the CPU for a moment lowers one repetition, not the result):

- ``copy_gbps`` -- **memory copy bandwidth**: ``ctypes.memmove`` of a 64 MiB buffer into another
  64 MiB buffer (twice the 32 MiB L3 of the reference VM, so the copy streams through DRAM), GB/s
  counting bytes read + written (2 x 64 MiB per copy; a write-allocate read, where the CPU does one,
  is not counted). Both buffers are touched before timing so no page fault is timed. ``memmove`` is libc's
  (glibc picks ``rep movsb`` / non-temporal vector stores for copies this size): one thread, no
  numpy, torch or BLAS in the path, and ctypes calls it with the GIL released. ``numpy.copyto``
  ends in the same memmove for contiguous arrays but adds numpy's dispatch and version to the path;
  bytearray slice copies add an extra temporary. Memory-bound rows depend on this.
- ``python_mips`` -- **interpreter speed**: a fixed pure-Python loop of integer and float
  arithmetic, a dict store/load and a list append/index per iteration, reported in million loop
  iterations per second. It uses only the CPython interpreter (its version and the core's clock and
  caches), so it tracks what dispatch-bound rows (small work per call: Python and library call
  overhead dominates) spend outside the kernels.
- ``hash_mbps`` -- **in-core scalar compute**: ``hashlib.blake2b`` over a 256 KiB buffer (resident in
  L2), 1 MiB per piece, MB/s hashed. BLAKE2b is 64-bit integer add/rotate/xor work in CPython's own
  ``_blake2`` module (not OpenSSL, not a BLAS): it moves with the core's clock and availability,
  not with memory bandwidth or any numeric library. It is the yardstick for compute-bound rows.
  It is not a FLOP/s figure: BLAS kernels use vector FMA units it does not exercise, so it
  catches a slower or busier core (clock, steal), not a change in the vector units.

The loop and hash probes run 30 times in ~1 ms pieces, the copy 10 times, round-robin, so each
one's best is taken across the whole call (~0.35 s) rather than inside one slow spell: on the
reference VM the single-thread speed flips between ~2.7 and ~1.2 Mit/s in spells of tens to hundreds
of ms whether or not anything else runs in the VM (host contention), and a short piece is likelier
to land in a fast one. ``other_cpus_busy`` records how busy the VM's other CPUs were meanwhile.

Reference VM (AMD EPYC, 2 vCPUs, 32 MiB L3, Python 3.11, numpy 2.4): one ``measure()`` takes
0.30-0.45 s typically, 0.9 s at worst with both CPUs contended, 1.1-1.4 s while a second process
streams memory; copy ~13-14 GB/s, interpreter ~2.7 Mit/s, blake2b ~790 MB/s.

Thresholds (``THRESHOLDS``, on ``|ln(new/base)|``) were measured on that VM -- never idle: other
sessions kept 1.0-1.5 CPUs busy throughout -- with 30 calls in one process and 10 separate processes
3 s apart. sigma of ln(rate), max/min:

=============  ================================  ================================
yardstick      one other CPU busy                ~1.5 other CPUs busy
=============  ================================  ================================
copy_gbps      sigma 0.06-0.08, max/min 1.30     sigma 0.28-0.32, max/min 2.1-2.5
python_mips    sigma 0.22-0.28, max/min 1.9-2.3  sigma 0.21-0.29, max/min 2.1-2.3
hash_mbps      sigma 0.16-0.18, max/min 1.6      sigma 0.13-0.17, max/min 1.6-1.7
=============  ================================  ================================

(the interpreter and hash columns of the first condition come from an earlier probe layout with
10 longer pieces; their spread was the same.) Each threshold is about 3 sigma and at least the
log of the worst max/min seen where that yardstick was not itself contended, rounded up:

- copy 0.30 (ratio outside 0.74..1.35): flags a 30 % drop (ln -0.357) and never a 2 % one. A
  background process looping numpy copies of 512 MiB arrays lowered it to 0.31-0.58 of its value
  without that process (ln -1.18..-0.54) while the interpreter and hash yardsticks moved
  -0.15..+0.38 (within their thresholds): it sees a bandwidth neighbour and only that. Under
  ~1.5 CPUs of other load its own spread exceeds 0.30 -- then a flag is real contention, which
  ``other_cpus_busy`` corroborates.
- interpreter 0.80 (0.45..2.2) and hash 0.50 (0.61..1.65): on such a host these only catch gross
  changes (a different Python build, a much slower or halved core); finer interpreter drift is
  below what a sub-second probe can resolve there.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import time

from nptbench.schema.record import YARDSTICK_RATES as RATES


COPY_BYTES = 64 << 20
HASH_BYTES = 256 << 10
HASH_UPDATES = 4
PY_LOOP = 2_000
REPEATS = 10
#: Short probes (loop, hash) run this many times per copy: short runs are likelier to fall in a spell
#: when the host gives this vCPU its full speed.
SHORT_PER_ROUND = 3

METHOD = (f"{REPEATS} rounds, best of each: ctypes.memmove {COPY_BYTES >> 20} MiB (read+write bytes) once, "
          f"then {SHORT_PER_ROUND}x each a pure-Python loop of {PY_LOOP} int/float/dict/list iterations; "
          f"blake2b over {HASH_BYTES >> 10} KiB x {HASH_UPDATES}")


def _rate(fn, amount: float) -> float:
    t0 = time.perf_counter()
    fn()
    return amount / (time.perf_counter() - t0)


class _Copy:
    """Two touched ``nbytes`` buffers; calling it copies one into the other."""

    def __init__(self, nbytes: int = COPY_BYTES):
        self.nbytes = nbytes
        self.src = ctypes.create_string_buffer(nbytes)
        self.dst = ctypes.create_string_buffer(nbytes)
        ctypes.memset(self.src, 1, nbytes)  # fault every page in before timing
        ctypes.memset(self.dst, 2, nbytes)

    def __call__(self):
        ctypes.memmove(self.dst, self.src, self.nbytes)


def _py_loop(n: int) -> int:
    d: dict = {}
    lst: list = []
    acc, x = 0, 1.0
    for i in range(n):
        acc = (acc + i * 7) % 1_000_003
        x = x * 1.000001 + 0.5 / (i + 1)
        d[i & 1023] = acc
        lst.append(d[(i * 13) & 1023] if (i * 13) & 1023 in d else i)
        if len(lst) > 256:
            lst.clear()
    return acc + len(lst) + int(x)


_HASH_BUF = bytes(range(256)) * (HASH_BYTES // 256)


def _hash(updates: int = HASH_UPDATES) -> bytes:
    h = hashlib.blake2b()
    for _ in range(updates):
        h.update(_HASH_BUF)
    return h.digest()


def copy_gbps(repeats: int = REPEATS) -> float:
    """Best copy bandwidth of ``repeats`` copies, GB/s read + written."""
    copy = _Copy()
    return max(_rate(copy, 2 * copy.nbytes) for _ in range(repeats)) / 1e9


def python_mips(repeats: int = REPEATS) -> float:
    """Best pure-Python loop rate of ``repeats`` runs, million iterations/s."""
    return max(_rate(lambda: _py_loop(PY_LOOP), PY_LOOP) for _ in range(repeats)) / 1e6


def hash_mbps(repeats: int = REPEATS) -> float:
    """Best blake2b rate of ``repeats`` runs, MB/s."""
    return max(_rate(_hash, HASH_BYTES * HASH_UPDATES) for _ in range(repeats)) / 1e6


def _busy_jiffies() -> int | None:
    try:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return user + nice + system + irq + softirq + steal


def measure(repeats: int = REPEATS) -> dict:
    """Take every yardstick; returns the fields of nptbench.schema.record.YARDSTICK_FIELDS.

    The probes run round-robin (copy, loop, hash, copy, ...) so that each one's repetitions are
    spread over the whole call and its best is not taken inside a single slow spell of the host.
    """
    t0, cpu0, busy0 = time.perf_counter(), time.process_time(), _busy_jiffies()
    copy = _Copy()
    best = dict.fromkeys(RATES, 0.0)
    for _ in range(repeats):
        best["copy_gbps"] = max(best["copy_gbps"], _rate(copy, 2 * copy.nbytes) / 1e9)
        for _ in range(SHORT_PER_ROUND):
            best["python_mips"] = max(best["python_mips"], _rate(lambda: _py_loop(PY_LOOP), PY_LOOP) / 1e6)
            best["hash_mbps"] = max(best["hash_mbps"], _rate(_hash, HASH_BYTES * HASH_UPDATES) / 1e6)
    del copy
    wall, own, busy1 = time.perf_counter() - t0, time.process_time() - cpu0, _busy_jiffies()
    others = None
    if busy0 is not None and busy1 is not None:
        others = round(max(0.0, (busy1 - busy0) / os.sysconf("SC_CLK_TCK") - own) / wall, 2)
    return {**best, "other_cpus_busy": others, "yardstick_seconds": wall, "yardstick_method": METHOD}
