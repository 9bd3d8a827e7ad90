"""The one record schema every benchmark writes into ``benchmark.extra_info``.

Report and compare tools read only these fields, so they are built and checked here and nowhere else.
Families may add fields of their own (``peak_bytes``, ``iterations`` ...) next to the shared ones; the
GPU fields every ``device == "cuda"`` record adds are declared in :data:`GPU_FIELDS`.
"""
from __future__ import annotations

import numbers

BACKENDS = ("python", "numpy", "torch", "numba")
DEVICES = ("cpu", "cuda")
DATASETS = ("mnist", "synthetic", "random")

#: field -> what it holds. Every field is present in every record.
FIELDS = {
    "experiment": "experiment name, also the benchmark group (one printed table each)",
    "variant": "how this benchmark does the experiment's work, as in the test id",
    "backend": "one of " + "/".join(BACKENDS),
    "device": "one of " + "/".join(DEVICES),
    "dtype": "element type of the operands, e.g. float32",
    "shape": "list of the operands' shapes",
    "flops": "floating-point operations of one call (2*M*N*K for a product), or null",
    "bytes": "least bytes one call must move (inputs read once, output written once), or null",
    "dataset": "one of " + "/".join(DATASETS),
    "max_abs_err": "max |out - ref| against the float64 reference",
    "rel_err": "||out - ref|| / ||ref|| against the float64 reference",
}


#: Fields a record on ``device == "cuda"`` adds (nptbench.devicetime.DeviceRun.fields; ``kernel_*`` only for
#: the kernel and precision benchmarks where torch sees the GPU). Tools read GPU times only through these.
GPU_FIELDS = {
    "device_time_s": "median device time of one call: CUDA events around each timed call (seconds)",
    "device_time_min_s": "the least of those device times",
    "device_time_rounds": "how many timed calls were event-timed "
                          "(the first nptbench.devicetime.MAX_EVENT_SAMPLES)",
    "device_times_s": "every event-timed call's device time in call order (seconds, 6 significant digits): "
                      "pytest-benchmark's calibration calls first where it calibrated, then one per round "
                      "(rounds are one call each on a GPU); compare judges GPU records on these",
    "device_timer": "what took the device times: torch.cuda.Event or numba.cuda.event",
    "gpu_cold_l2": "true when the L2 cache was flushed before every round (--gpu-cold-l2)",
    "peak_device_bytes": "the call's device operands plus the most it allocated on top",
    "kernel_time_s": "median device time without the launch's host cost (a spin kernel queued before each "
                     "of nptbench.devicetime.KERNEL_TIME_SAMPLES untimed calls); at most device_time_s, "
                     "up to noise",
    "kernel_time_min_s": "the least of those kernel times",
}

#: Conditions a result was measured under that change what its time means, though the work (experiment,
#: variant, shape ...) is the same. They are part of a result's identity: compare pools and judges only
#: results under the same conditions, and the report keeps them in separate contexts. From the record:
#: ``gpu_cold_l2``. From the run (``machine_info.nptbench.threads.env``): the thread-count variables the
#: session was started with. Synchronization and the copy back are conditions too, but each has its own
#: variant (``torch-cuda-nosync``, ``*-copyback``), so they never meet under one name.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def conditions(record: dict, run_info: dict | None = None) -> tuple:
    """((name, value), ...) of the conditions a result was measured under (see above); () for the usual:
    a warm L2 (or a CPU result) and no thread variable set. ``run_info`` is the run's
    ``machine_info["nptbench"]``."""
    out = []
    if record.get("device") == "cuda" and record.get("gpu_cold_l2"):
        out.append(("gpu_cold_l2", True))
    env = ((run_info or {}).get("threads") or {}).get("env") or {}
    out += [(k, str(env[k])) for k in THREAD_VARIABLES if k in env]
    return tuple(out)


def conditions_label(conds: tuple) -> str:
    """``cold-L2``, ``OMP_NUM_THREADS=1`` ... joined by commas; "" for the usual conditions."""
    return ",".join("cold-L2" if k == "gpu_cold_l2" else f"{k}={v}" for k, v in conds)


#: The time a GPU result is read by first, and where it comes from.
DEVICE_TIME, DEVICE_TIME_LABEL = "device_time_s", "device median (CUDA events)"


def lead_time(record: dict, host_median: float | None) -> tuple[float | None, str]:
    """The time a result is read and ranked by: on ``device == "cuda"`` the CUDA-event median where the
    record has one (the host median also holds the per-call synchronization and event cost, a real share
    of a short call), else pytest-benchmark's median wall time. Returns (seconds, what it is)."""
    if record.get("device") == "cuda" and record.get(DEVICE_TIME):
        return record[DEVICE_TIME], DEVICE_TIME_LABEL
    return host_median, "median"


def per_second(record: dict, seconds: float | None) -> dict:
    """What one call of ``record`` does per second at ``seconds`` a call: ``{"flops": ..., "bytes": ...}``,
    each only where the record counts it, nothing without a positive time. Every rate in a record or a
    table (GFLOP/s and GB/s against the ceilings, a GPU record's device TFLOP/s and GB/s) is this, scaled."""
    if not seconds or seconds <= 0:
        return {}
    return {k: record[k] / seconds for k in ("flops", "bytes") if record.get(k)}


class RecordError(ValueError):
    """A record does not follow the schema."""


def _shape(value) -> list[list[int]]:
    shapes = [list(s) for s in value]
    for s in shapes:
        if not all(isinstance(d, numbers.Integral) and d >= 0 for d in s):
            raise RecordError(f"shape must be a list of operand shapes of non-negative ints, got {value!r}")
    return [[int(d) for d in s] for s in shapes]


def _number_or_none(name, value):
    if value is None:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
        raise RecordError(f"{name} must be a non-negative number or None, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def make_record(**fields) -> dict:
    """A validated, JSON-ready record: all of :data:`FIELDS`, plus any extra fields given."""
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise RecordError(f"record lacks {', '.join(missing)}")
    rec = dict(fields)
    for name, allowed in (("backend", BACKENDS), ("device", DEVICES), ("dataset", DATASETS)):
        if rec[name] not in allowed:
            raise RecordError(f"{name} must be one of {allowed}, got {rec[name]!r}")
    for name in ("experiment", "variant", "dtype"):
        if not isinstance(rec[name], str) or not rec[name]:
            raise RecordError(f"{name} must be a non-empty string, got {rec[name]!r}")
    rec["shape"] = _shape(rec["shape"])
    for name in ("flops", "bytes", "max_abs_err", "rel_err"):
        rec[name] = _number_or_none(name, rec[name])
    return rec


def validate(extra_info: dict) -> list[str]:
    """Problems with a record read back from a saved run (empty list when it is sound)."""
    try:
        make_record(**extra_info)
    except RecordError as exc:
        return [str(exc)]
    return []
