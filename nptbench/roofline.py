"""How far each result is from what the hardware can do: session ceilings and the roofline columns.

Every seed document (000-004) reports times and speed-ups only; none says how close a time is to the
machine's limit. Here each device's ceilings are measured once per session:

- compute: the rate of a large fp32 (and fp64) matrix product by the BLAS in use (numpy and torch on the
  CPU, the faster counts; cuBLAS with TF32 off on a GPU);
- memory: the rate of a large copy, counting the bytes read plus the bytes written;
- on a GPU also the host-to-device and device-to-host rates of a pinned copy.

A benchmark whose record holds ``flops`` or ``bytes`` then gets its achieved GFLOP/s and GB/s and the
percentage of the ceiling that bounds it: the roofline's attainable time is the larger of flops/peak and
bytes/bandwidth, and ``pct_of_ceiling`` is that time over the measured (median) time. Nothing here imports
pytest: the suite's plugin (nptbench.plugin) saves :func:`session_ceilings` with a run, calls
:func:`annotate_run` on the run it saves and prints :func:`table_rows` after pytest-benchmark's tables.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from . import record as schema
from .fmt import fmt_bytes, fmt_num, fmt_pct, fmt_time
from .record import DEVICE_TIME_LABEL, lead_time, per_second

#: Record fields this module adds next to the shared schema.
FIELDS = schema.ROOFLINE_FIELDS

#: dtype of a record -> which measured product rate bounds its compute. Reduced precisions (tf32, bf16,
#: fp16) run on units an fp32 product does not use (tensor cores): a GPU session measures their own rates
#: (:func:`reduced_precision_rates`); where none was measured (a CPU) they get no ceiling, not a wrong one.
COMPUTE_DTYPE = {"float32": "float32", "float64": "float64", "tf32": "tf32", "bfloat16": "bfloat16",
                 "float16": "float16"}
#: The reduced precision modes measured on a GPU (nptbench.backends.PRECISIONS names their record dtypes).
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


def _last_level_cache_bytes() -> int:
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


def _available_bytes() -> int:
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
        nbytes = min(max(2 * _last_level_cache_bytes(), 64 * 2**20), _available_bytes() // 8)
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
        "cache_bytes": _last_level_cache_bytes(),
        "method": (f"best of 5 wall times of a square product (fp32: {how32}, the faster of numpy's and "
                   f"torch's BLAS; fp64: {how64}); copy: best of repeated {how_bw}, bytes read + written; "
                   f"torch threads {threads}, the suite's own thread settings"),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def reduced_precision_rates(torch, n: int, timed, reps: int, device: str = "cuda") -> dict:
    """GFLOP/s of an n x n product in each of :data:`REDUCED_MODES`, set up exactly as the precision
    benchmarks set theirs up (nptbench.backends.matmul_precision, cast_operand), keyed by the record dtype."""
    from .backends import PRECISIONS, cast_operand, matmul_precision

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
    from .backends import missing_cuda

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
    from . import ceilings as stored
    from .backends import missing_cuda
    from .runs import fingerprint

    data, why = stored.load(fingerprint(), Path(results))
    if data is not None and "cuda" not in data and missing_cuda() is None:
        data["cuda"] = {**cuda_ceilings(quick=False), "source": "quick"}
        data["note"] = "the stored file holds no GPU ceilings: those were measured in this session"
    return data, why


def source_line(ceilings: dict) -> str:
    """Where a session's ceilings came from, in one line."""
    source = ceilings.get("source")
    if source == "stored":
        return f"ceilings: stored, calibrated {ceilings.get('date', '?')} ({ceilings.get('path', '?')})"
    if source == "file":
        return f"ceilings: read from {ceilings.get('path', '?')}"
    if source == "quick":
        return f"ceilings: quick, measured in this session ({ceilings.get('note', '')})"
    return f"ceilings: {source or 'measured in the session (older run: source not recorded)'}"


# --- the roofline columns ----------------------------------------------------------------------------

def _transfer(record: dict) -> str | None:
    """``h2d``/``d2h`` for a host<->device copy benchmark: a ``transfer`` field, else the experiment or
    variant named ``h2d``/``d2h`` (``h2d-pinned`` ...), as the GPU and interop families name them."""
    t = record.get("transfer")
    if t in ("h2d", "d2h"):
        return t
    for name in (str(record.get("experiment", "")), str(record.get("variant", ""))):
        for t in ("h2d", "d2h"):
            if name == t or name.startswith(t + "-"):
                return t
    return None


def annotate(record: dict, seconds: float | None, ceilings: dict | None) -> dict:
    """The roofline fields (:data:`FIELDS`) of one record timed at ``seconds`` a call."""
    out = dict.fromkeys(FIELDS)
    flops, nbytes = record.get("flops"), record.get("bytes")
    if not seconds or seconds <= 0 or (not flops and not nbytes):
        return out
    rates = per_second(record, seconds)
    if "flops" in rates:
        out["achieved_gflops"] = rates["flops"] / 1e9
    if "bytes" in rates:
        out["achieved_gbps"] = rates["bytes"] / 1e9
    dev = (ceilings or {}).get(record.get("device"))
    if not dev:
        return out
    candidates = []  # (attainable seconds, bound, ceiling in words)
    transfer = _transfer(record) if record.get("device") == "cuda" else None
    if nbytes and transfer and dev.get(f"{transfer}_gbps"):
        bw = dev[f"{transfer}_gbps"]
        candidates.append((nbytes / (bw * 1e9), "transfer", f"{transfer} {bw:.1f} GB/s"))
    elif nbytes and dev.get("copy_gbps"):
        bw = dev["copy_gbps"]
        candidates.append((nbytes / (bw * 1e9), "memory", f"{record['device']} copy {bw:.1f} GB/s"))
    if flops:
        key = COMPUTE_DTYPE.get(str(record.get("dtype", "")).replace("torch.", ""))
        peak = dev.get("matmul_gflops", {}).get(key) if key else None
        if not peak:
            # A compute-heavy record without a ceiling for its dtype has no honest percentage.
            return out
        candidates.append((flops / (peak * 1e9), "compute", f"{record['device']} {key} matmul {peak:.0f} GFLOP/s"))
    if not candidates:
        return out
    attainable, bound, words = max(candidates)
    out.update(bound=bound, ceiling=words, pct_of_ceiling=100.0 * attainable / seconds)
    if bound == "memory" and out["pct_of_ceiling"] > 100:
        out["ceiling_note"] = above_memory_ceiling(nbytes, dev.get("cache_bytes"), (ceilings or {}).get("source"))
    return out


#: Operands up to this many times the last-level cache can still be served partly from it between calls.
PARTLY_CACHED = 8


def above_memory_ceiling(nbytes: float, cache_bytes: int | None, source: str | None = None) -> str:
    """Why a memory-bound record can beat the memory ceiling, from its operand bytes and the cache size."""
    hint = " (quick ceilings: run python -m nptbench calibrate)" if source != "stored" else ""
    if not cache_bytes:
        return (f"{fmt_bytes(nbytes)} of operands against a copy ceiling measured without the cache size: "
                "operands in cache, or a ceiling measured too low" + hint)
    size = f"its {fmt_bytes(nbytes)} of operands"
    if nbytes <= cache_bytes:
        return f"{size} fit in the {fmt_bytes(cache_bytes)} last-level cache, and the copy ceiling is a DRAM rate"
    if nbytes <= PARTLY_CACHED * cache_bytes:
        return (f"{size} are {nbytes / cache_bytes:.2g}x the {fmt_bytes(cache_bytes)} last-level cache: part of "
                "them can stay in cache from one call to the next, and the copy ceiling is a DRAM rate" + hint)
    return (f"{size} are {nbytes / cache_bytes:.2g}x the {fmt_bytes(cache_bytes)} last-level cache: the copy "
            "ceiling is too low" + hint)


def wants_ceilings(records) -> bool:
    """Whether any record counts flops or bytes: else there is no roofline to draw, nor ceilings to measure."""
    return any(r.get("flops") or r.get("bytes") for r in records)


def ceilings_off() -> bool:
    """Ceilings switched off for this process (``NPTBENCH_CEILINGS=off``): no calibration, no roofline fields."""
    return os.environ.get(ENV_FILE, "").strip().lower() == OFF


def annotate_run(output_json: dict) -> None:
    """Add the roofline fields to every benchmark of a run as pytest-benchmark saves it (time:
    :func:`roofline_time`), against the run's own ceilings, else this session's."""
    benches = output_json.get("benchmarks", [])
    if not wants_ceilings(b.get("extra_info", {}) for b in benches):
        return
    ceilings = output_json.get("machine_info", {}).get("nptbench", {}).get("ceilings") or session_ceilings()
    for b in benches:
        info = b.setdefault("extra_info", {})
        seconds, which = roofline_time(info, b.get("stats", {}).get("median"))
        schema.write(info, **annotate(info, seconds, ceilings), roofline_time=which)


def roofline_time(record: dict, host_median: float | None) -> tuple[float | None, str]:
    """The time a record is held against its ceiling: the CUDA-event median on a GPU where recorded
    (launch overhead is not the device's limit), else pytest-benchmark's median wall time."""
    return lead_time(record, host_median)


def table_rows(benchmarks, ceilings: dict) -> dict[str, list[list[str]]]:
    """group -> rows of :data:`HEADER`. GPU rows lead with their device time (CUDA events), the host
    median beside it; rows are sorted by the leading time."""
    groups: dict[str, list] = {}
    for b in benchmarks:
        info = b.extra_info
        if not info.get("experiment"):
            continue
        median = b.stats.median if b.stats and b.stats.rounds else None
        lead, which = lead_time(info, median)
        on_device = which == DEVICE_TIME_LABEL
        roof = annotate(info, lead, ceilings)
        groups.setdefault(b.group or info["experiment"], []).append((lead or float("inf"), [
            str(info.get("variant")), str(info.get("device")), str(info.get("dtype")), fmt_time(lead),
            "device" if on_device else "host", fmt_time(median) if on_device else "-",
            fmt_num(roof["achieved_gflops"]), fmt_num(roof["achieved_gbps"]), roof["bound"] or "-",
            fmt_pct(roof["pct_of_ceiling"]),
        ]))
    return {g: [row for _, row in sorted(rows, key=lambda r: r[0])] for g, rows in sorted(groups.items())}


HEADER = ["variant", "device", "dtype", "median", "timed by", "host median", "GFLOP/s", "GB/s", "bound",
          "% ceiling"]
LEFT = {"variant", "device", "dtype", "timed by", "bound"}


def format_table(rows: list[list[str]], header=HEADER) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if header[i] in LEFT else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return [line(header), "  ".join("-" * w for w in widths), *map(line, rows)]


def describe(ceilings: dict) -> list[str]:
    lines = []
    for dev in ("cpu", "cuda"):
        c = ceilings.get(dev)
        if not c:
            continue
        mm = ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in c.get("matmul_gflops", {}).items())
        extra = "".join(f", {k[:3]} {c[k]:.1f} GB/s" for k in ("h2d_gbps", "d2h_gbps") if c.get(k))
        lines.append(f"{dev}: matmul {mm}; copy {c.get('copy_gbps', 0):.1f} GB/s{extra}")
    return lines
