"""The machine's ceilings, measured: quick ones in a second or two for a session, careful ones for
``python -m nptbench calibrate``, and which of them a session uses.

Each device's ceilings are measured once per session:

- compute: the rate of a large fp32 (and fp64) matrix product by the BLAS in use (numpy and torch on the
  CPU, the faster counts; cuBLAS with TF32 off on a GPU, and the reduced precision modes' own rates);
- memory: the rate of a large copy, counting the bytes read plus the bytes written;
- on a GPU also the host-to-device and device-to-host rates of a pinned copy.

:func:`session_ceilings` picks the session's: a file named by ``$NPTBENCH_CEILINGS``, else the stored
ceilings of this machine (nptbench.schema.ceilings) where they hold for this process's threads, else a
quick measurement now. What the ceilings mean for a record (the roofline columns) is
nptbench.analysis.roofline's, which never measures.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from nptbench.env import machine
from nptbench.schema import ceilings
from nptbench.schema import layout

#: The reduced precision modes measured on a GPU (nptbench.env.backends.PRECISIONS names their record dtypes).
REDUCED_MODES = ("tf32", "bf16", "fp16")

#: Environment: a JSON file of ceilings to use instead of measuring (e.g. from a saved run's machine_info),
#: or ``off`` for none at all (no calibration, no roofline columns: runs that only need their times, such
#: as the proof runs of the tests); and ``quick`` calibration sizes (a fraction of a second; coarse, for tests).
ENV_FILE = "NPTBENCH_CEILINGS"
OFF = "off"
ENV_SCALE = "NPTBENCH_CALIBRATION"


# --- measuring ---------------------------------------------------------------------------------------

def _best(fn, reps: int) -> float:
    """Least wall time of ``reps`` calls (the one least disturbed by anything else on the machine)."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def last_level_cache_bytes() -> int:
    sizes = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip()
            mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
            sizes.append(int(text.rstrip("KMG")) * mult)
    except (OSError, ValueError):
        pass
    return max(sizes, default=32 * 2**20)


def available_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 * 2**30


def _cpu_matmul_rate(dtype: str, quick: bool, libs=("numpy", "torch")) -> tuple[float, str]:
    """Best GFLOP/s of square products by each library in ``libs`` (if importable), and which one.

    The size is chosen from a first product of ``n_min`` so that one product takes about 50 ms: long
    enough for the BLAS to reach its rate, short enough that the whole calibration takes a few seconds.
    """
    rng = np.random.default_rng(0)
    target, n_min, n_max = (0.01, 256, 512) if quick else (0.05, 1024, 4096)
    best_rate, how = 0.0, ""
    for lib in libs:
        if lib == "torch":
            try:
                import torch
            except Exception:  # numpy's BLAS alone still gives a ceiling
                continue
            mm, wrap = torch.mm, torch.from_numpy
        else:
            mm, wrap = np.matmul, (lambda x: x)

        def operands(n):
            return [wrap(rng.random((n, n), dtype=np.float64).astype(dtype)) for _ in range(2)]

        a, b = operands(n_min)
        mm(a, b)  # warm-up: thread pool start, packing buffers
        t = _best(lambda: mm(a, b), 2)
        n = int(min(n_max, max(n_min, n_min * (target / t) ** (1 / 3))) // 256 * 256)
        if n != n_min:
            a, b = operands(n)
            mm(a, b)
        t = _best(lambda: mm(a, b), 5)  # best of 5: the least disturbed by anything else running
        rate = 2 * n**3 / t / 1e9
        if rate > best_rate:
            best_rate, how = rate, f"{lib} {n}x{n}"
    return best_rate, how


def _cpu_copy_rate(quick: bool) -> tuple[float, str]:
    """Best GB/s (read + written) of copying an array larger than the last-level cache."""
    if quick:
        nbytes = 16 * 2**20  # may sit in cache: quick ceilings are coarse, for tests only
    else:
        nbytes = min(max(2 * last_level_cache_bytes(), 64 * 2**20), available_bytes() // 8)
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.zeros_like(src)  # zeros_like writes the pages: no first-touch faults inside the timing
    copies = {"numpy copyto": lambda: np.copyto(dst, src)}
    try:
        import torch

        s, d = torch.from_numpy(src), torch.from_numpy(dst)
        copies["torch copy_"] = lambda: d.copy_(s)  # multi-threaded where numpy's copy is not
    except Exception:
        pass
    best_rate, how = 0.0, ""
    for name, fn in copies.items():
        fn()
        rate = 2 * src.nbytes / _best(fn, 5) / 1e9
        if rate > best_rate:
            best_rate, how = rate, name
    return best_rate, f"{how} of {src.nbytes / 2**20:.0f} MiB"


def cpu_ceilings(quick: bool = False) -> dict:
    t0 = time.perf_counter()
    f32, how32 = _cpu_matmul_rate("float32", quick)
    # fp64 only with the library that won at fp32: the same BLAS, half the calibration time.
    f64, how64 = _cpu_matmul_rate("float64", quick, libs=(how32.split()[0],))
    bw, how_bw = _cpu_copy_rate(quick)
    threads = None
    try:
        import torch

        threads = torch.get_num_threads()
    except Exception:
        pass
    return {
        "matmul_gflops": {"float32": round(f32, 2), "float64": round(f64, 2)},
        "copy_gbps": round(bw, 2),
        "cache_bytes": last_level_cache_bytes(),
        "method": (f"best of 5 wall times of a square product (fp32: {how32}, the faster of numpy's and "
                   f"torch's BLAS; fp64: {how64}); copy: best of repeated {how_bw}, bytes read + written; "
                   f"torch threads {threads}, the suite's own thread settings"),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def reduced_precision_rates(torch, n: int, timed, reps: int, device: str = "cuda") -> dict:
    """GFLOP/s of an n x n product in each of :data:`REDUCED_MODES`, set up exactly as the precision
    benchmarks set theirs up (nptbench.env.backends.matmul_precision, cast_operand), keyed by the record dtype."""
    from nptbench.env.backends import PRECISIONS, cast_operand, matmul_precision

    rates = {}
    for mode in REDUCED_MODES:
        with matmul_precision(mode):
            a, b = (cast_operand(torch.randn(n, n, device=device), mode) for _ in range(2))
            c = torch.empty_like(a)
            rates[PRECISIONS[mode]] = 2 * n**3 / timed(lambda: torch.mm(a, b, out=c), reps) / 1e9
        del a, b, c
    return rates


def cuda_ceilings(quick: bool = False) -> dict:
    """cuBLAS fp32 (TF32 off) and fp64 product rates, device copy and pinned host<->device rates.

    Timed with CUDA events around the work after a warm-up, best of several; memory is freed afterwards.
    """
    import torch

    t0 = time.perf_counter()
    dev = torch.device("cuda")

    def timed(fn, reps):
        fn()  # warm-up: cuBLAS handle and workspace, allocator
        best = float("inf")
        for _ in range(reps):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3)
        return best

    free, _ = torch.cuda.mem_get_info()
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    rates = {}
    sizes = {}
    try:
        n_max = 2048 if quick else 8192
        while n_max > 512 and 3 * n_max * n_max * 8 > free // 2:
            n_max //= 2
        for name, dt in (("float32", torch.float32), ("float64", torch.float64)):
            # Size from a first 1024 product, aiming at ~50 ms a call: large enough to fill a big GPU,
            # small enough that a card with slow fp64 does not take minutes.
            n = 1024
            while True:
                a = torch.randn(n, n, device=dev, dtype=dt)
                b = torch.randn(n, n, device=dev, dtype=dt)
                c = torch.empty(n, n, device=dev, dtype=dt)
                t = timed(lambda: torch.mm(a, b, out=c), 2 if n == 1024 else (3 if quick else 5))
                grow = int(min(n_max, n * (0.05 / t) ** (1 / 3)) // 512 * 512)
                if n != 1024 or grow <= n:
                    break
                n = grow
                del a, b, c
            rates[name], sizes[name] = 2 * n**3 / t / 1e9, n
            del a, b, c
        # on the tensor cores, at the fp32 size: a tenth of the fp32 product's time or less
        rates.update(reduced_precision_rates(torch, sizes["float32"], timed, 3 if quick else 5))
        nbytes = min((64 if quick else 1024) * 2**20, free // 8)
        x = torch.ones(nbytes // 4, device=dev)
        y = torch.empty_like(x)
        bw = 2 * x.nbytes / timed(lambda: y.copy_(x), 5) / 1e9
        del y
        tbytes = min((32 if quick else 256) * 2**20, nbytes)
        host = torch.ones(tbytes // 4, pin_memory=True)
        d = torch.empty(tbytes // 4, device=dev)
        h2d = host.nbytes / timed(lambda: d.copy_(host, non_blocking=True), 5) / 1e9
        d2h = host.nbytes / timed(lambda: host.copy_(d, non_blocking=True), 5) / 1e9
        del x, host, d
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.cuda.empty_cache()
    name = torch.cuda.get_device_name()
    return {
        "matmul_gflops": {k: round(v, 2) for k, v in rates.items()},
        "copy_gbps": round(bw, 2),
        "cache_bytes": getattr(torch.cuda.get_device_properties(0), "L2_cache_size", None),
        "h2d_gbps": round(h2d, 2),
        "d2h_gbps": round(d2h, 2),
        "method": (f"{name}: CUDA-event time, best of repeated torch.mm (cuBLAS, TF32 off; fp32 "
                   f"{sizes['float32']}x{sizes['float32']}, fp64 {sizes['float64']}x{sizes['float64']}; "
                   f"tf32, bf16 and fp16 at the fp32 size, set up as the precision benchmarks); "
                   f"device copy of {nbytes / 2**20:.0f} MiB, bytes read + written; pinned host<->device "
                   f"copies of {tbytes / 2**20:.0f} MiB"),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def calibrate(quick: bool = False) -> dict:
    """Ceilings of every device here: ``{"cpu": {...}, "cuda": {...}}`` (``cuda`` only with a GPU)."""
    from nptbench.env.backends import missing_cuda

    out = {"cpu": cpu_ceilings(quick)}
    if missing_cuda() is None:
        out["cuda"] = cuda_ceilings(quick)
    out["scale"] = "quick" if quick else "full"
    return out


_SESSION: dict = {}


def session_ceilings(results: Path | None = None) -> dict:
    """The ceilings of this process, chosen on first use: a file named by ``$NPTBENCH_CEILINGS``; else the
    stored ceilings of this machine's fingerprint under ``results`` (``python -m nptbench calibrate``) when
    they were measured with this process's thread settings; else a quick measurement now. ``source`` says
    which (``file``, ``stored`` with its ``date``, ``quick`` with a ``note`` on why not stored)."""
    if "ceilings" not in _SESSION:
        path = os.environ.get(ENV_FILE)
        if path:
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError) as exc:
                raise RuntimeError(f"{ENV_FILE}={path}: cannot read ceilings from it ({exc})") from None
            # Accept a bare ceilings file or a saved run, whose machine_info holds them.
            if isinstance(data, dict) and isinstance(data.get("machine_info"), dict):
                data = (data["machine_info"].get("nptbench") or {}).get("ceilings")
            if not (isinstance(data, dict) and isinstance(data.get("cpu"), dict)):
                raise RuntimeError(f"{ENV_FILE}={path}: holds no ceilings (a run saved by a timed session of "
                                   "this suite, or its machine_info.nptbench.ceilings)")
            data = {**data, "source": "file", "path": path}
        else:
            data, why = _stored(results)
            if data is None:
                data = {**calibrate(quick=os.environ.get(ENV_SCALE, "") == "quick"), "source": "quick",
                        "note": f"{why}; for careful ones run: python -m nptbench calibrate"}
        _SESSION["ceilings"] = data
    return _SESSION["ceilings"]


def _stored(results: Path | None) -> tuple[dict | None, str]:
    """This fingerprint's stored ceilings if usable here (a GPU they lack is measured now), and why (not)."""
    if results is None:
        return None, "no results folder given"
    from nptbench.env.backends import missing_cuda

    data, why = load_stored(machine.fingerprint(), Path(results))
    if data is not None and "cuda" not in data and missing_cuda() is None:
        data["cuda"] = {**cuda_ceilings(quick=False), "source": "quick"}
        data["note"] = "the stored file holds no GPU ceilings: those were measured in this session"
    return data, why


def load_stored(fp: str, results: Path = layout.RESULTS) -> tuple[dict | None, str]:
    """The stored ceilings of fingerprint ``fp`` if this process may use them (its thread settings), and
    why (not)."""
    path = layout.ceilings_path(fp, results)
    doc = ceilings.read(path)
    if doc is None:
        return None, f"no stored ceilings for {fp} ({path})"
    why = ceilings.usable(doc, machine.thread_settings())
    if why:
        return None, why
    return doc, f"stored {doc.get('date', '?')} ({path})"


def ceilings_off() -> bool:
    """Ceilings switched off for this process (``NPTBENCH_CEILINGS=off``): no calibration, no roofline fields."""
    return os.environ.get(ENV_FILE, "").strip().lower() == OFF
