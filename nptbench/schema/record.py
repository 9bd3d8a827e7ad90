"""The one record schema every benchmark writes into ``benchmark.extra_info``.

Report and compare tools read only these fields, so they are declared here, with their meaning and unit,
and nowhere else: :data:`FIELDS` are in every record; :data:`GPU_FIELDS` and :data:`GPU_STATE_FIELDS`
every ``device == "cuda"`` record adds; :data:`HARNESS_FIELDS`, :data:`FAMILY_FIELDS`, :data:`ROOFLINE_FIELDS`
and :data:`SAVED_FIELDS` the harness, a family, the roofline or saving and promoting add where they apply;
:data:`INSTRUMENT_FIELDS` a record counted instead of timed (``--instrument instructions``);
:data:`FIELD_PREFIXES` fields named by a prefix. Every field reaches ``benchmark.extra_info`` through
:func:`write`, which refuses an undeclared one: a new field is declared here first.
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


#: Fields a record on ``device == "cuda"`` adds (nptbench.measure.devicetime.DeviceRun.fields; ``kernel_*`` only for
#: the kernel and precision benchmarks where torch sees the GPU). Tools read GPU times only through these.
GPU_FIELDS = {
    "device_time_s": "median device time of one call: CUDA events around each timed call (seconds)",
    "device_time_min_s": "the least of those device times",
    "device_time_rounds": "how many timed calls were event-timed "
                          "(the first nptbench.measure.devicetime.MAX_EVENT_SAMPLES)",
    "device_times_s": "every event-timed call's device time in call order (seconds, 6 significant digits): "
                      "pytest-benchmark's calibration calls first where it calibrated, then one per round "
                      "(rounds are one call each on a GPU); compare judges GPU records on these",
    "device_timer": "what took the device times: torch.cuda.Event or numba.cuda.event",
    "gpu_cold_l2": "true when the L2 cache was flushed before every round (--gpu-cold-l2)",
    "peak_device_bytes": "the call's device operands plus the most it allocated on top",
    "kernel_time_s": "median device time without the launch's host cost (a spin kernel queued before each "
                     "of nptbench.measure.devicetime.KERNEL_TIME_SAMPLES untimed calls); at most device_time_s, "
                     "up to noise",
    "kernel_time_min_s": "the least of those kernel times",
    "kernel_time_rounds": "how many untimed calls the kernel times come from",
    "kernel_time_note": "how the kernel times were taken, in words",
    "kernel_tflops": "flops / kernel_time_s, in TFLOP/s",
    "device_gbps": "bytes / device_time_s, in GB/s",
    "device_tflops": "flops / device_time_s, in TFLOP/s",
    "peak_device_note": "what peak_device_bytes counts and where it was read, in words",
}

#: The GPU's state around a benchmark's rounds, read through NVML (nvidia-ml-py's ``pynvml``) by
#: nptbench.measure.gpustate: what every ``device == "cuda"`` record adds besides :data:`GPU_FIELDS`. Where
#: NVML is missing or refuses (no pynvml, a container without the driver's library, a MIG instance, an old
#: driver) the record holds only ``gpu_state_note``, saying why in one line. Read by
#: nptbench.analysis.gpu_records (the throttle flag of the terminal summary, the report and compare).
GPU_STATE_FIELDS = {
    "gpu_state_before": "one GPU state sample (GPU_SAMPLE_FIELDS) taken after the warm-up, just before the rounds",
    "gpu_state_after": "one GPU state sample (GPU_SAMPLE_FIELDS) taken just after the rounds",
    "gpu_state_samples": "how many samples a background thread took while the rounds ran (one every "
                         "gpu_state_interval_s; 0 for rounds shorter than that)",
    "gpu_state_interval_s": "seconds between two samples taken while the rounds ran",
    "gpu_sm_clock_ref_mhz": "the SM clock the rounds are held to (MHz): the application clock, else the default "
                            "application clock, else the maximum clock (gpu_sm_clock_ref names which)",
    "gpu_sm_clock_ref": "which clock gpu_sm_clock_ref_mhz is: application, default application or max",
    "gpu_sm_clock_min_mhz": "least SM clock of the samples (before, during, after) in which the GPU was not idle "
                            "(MHz); null when every sample found it idle",
    "gpu_sm_clock_ratio_min": "gpu_sm_clock_min_mhz / gpu_sm_clock_ref_mhz (unitless, 1.0 = at the reference clock)",
    "gpu_temperature_max_c": "highest GPU temperature of the samples (degrees Celsius)",
    "gpu_power_max_w": "highest power draw of the samples (watts; NVML's own averaging window)",
    "gpu_throttle_reasons_seen": "every clock throttle (event) reason NVML reported in any sample, by name "
                                 "(GPU_THROTTLE_REASONS), in bit order",
    "gpu_throttle_threshold": "the fraction of gpu_sm_clock_ref_mhz below which the rounds count as throttled "
                              "(--gpu-throttle-threshold; default 0.75, as nvbench's --throttle-threshold)",
    "gpu_throttled": "true when gpu_sm_clock_ratio_min < gpu_throttle_threshold or a sample saw a power or "
                     "thermal reason (GPU_THROTTLE_FLAGGED): the rounds ran under a lowered clock",
    "gpu_state_note": "why the GPU's state is missing or partial, in one line (absent when it is whole)",
}

#: One GPU state sample (the values of ``gpu_state_before`` and ``gpu_state_after``, and what the sampler
#: reads while the rounds run): field -> what, with its unit. A value NVML refuses is null.
GPU_SAMPLE_FIELDS = {
    "sm_clock_mhz": "current SM clock (MHz)",
    "mem_clock_mhz": "current memory clock (MHz)",
    "temperature_c": "GPU temperature (degrees Celsius)",
    "power_w": "power draw of the board (watts)",
    "throttle_reasons": "the clock throttle (event) reasons active now, by name (GPU_THROTTLE_REASONS)",
}

#: The GPU's fixed settings, read once through NVML and saved in the run's machine info as
#: ``machine_info["nptbench"]["gpu_state"]`` where a GPU is present (nptbench.measure.gpustate.static_info);
#: where NVML is missing or refuses it holds only ``note``.
GPU_MACHINE_FIELDS = {
    "nvml_device": "which NVML device was read: its UUID, or its NVML index",
    "name": "the GPU's name as NVML gives it",
    "driver": "the NVIDIA driver version",
    "nvml_version": "the NVML library's version",
    "sm_clock_app_mhz": "application SM clock: the clock the GPU runs work at (MHz)",
    "mem_clock_app_mhz": "application memory clock (MHz)",
    "sm_clock_default_app_mhz": "default application SM clock, before any nvidia-smi -ac (MHz)",
    "sm_clock_max_mhz": "maximum SM clock (MHz)",
    "mem_clock_max_mhz": "maximum memory clock (MHz)",
    "persistence_mode": "true when the driver stays loaded between processes (nvidia-smi -pm 1)",
    "power_limit_w": "the power limit the driver enforces (watts)",
    "power_default_limit_w": "the board's default power limit (watts)",
    "mig_mode": "true when MIG is on: clocks and power are the whole GPU's, shared with other instances",
    "throttle_reasons_supported": "the throttle reasons this GPU can report, by name",
    "refused": "the settings NVML refused to give, by field name",
    "note": "why NVML gave nothing, or what is partial, in one line",
}

#: NVML's clock throttle reasons (``nvmlClocksThrottleReason*``, renamed ``nvmlClocksEventReason*`` in
#: newer NVML): name -> (bit, what it means). nptbench.measure.gpustate takes the bits from pynvml where it
#: has them and from here otherwise.
GPU_THROTTLE_REASONS = {
    "GpuIdle": (0x1, "nothing is running: the clocks are idle (not a throttle)"),
    "ApplicationsClocksSetting": (0x2, "clocks held at the application clock setting (nvidia-smi -ac)"),
    "SwPowerCap": (0x4, "software power cap: the board draws its power limit and the driver lowered the clocks"),
    "HwSlowdown": (0x8, "hardware slowdown, clocks cut by half or more: too hot, an external power brake, or "
                        "too much power"),
    "SyncBoost": (0x10, "clocks held to those of the other GPUs of a sync-boost group"),
    "SwThermalSlowdown": (0x20, "software thermal slowdown: the GPU or its memory is above its temperature limit"),
    "HwThermalSlowdown": (0x40, "hardware thermal slowdown: the GPU is too hot"),
    "HwPowerBrakeSlowdown": (0x80, "hardware power brake: the system's power supply asserted it"),
    "DisplayClockSetting": (0x100, "clocks held by the display clock setting"),
    "BoardLimit": (0x200, "a board limit"),
    "Reliability": (0x400, "a reliability limit"),
}

#: The reasons that flag a record (``gpu_throttled``) wherever they appear: power and thermal limits.
GPU_THROTTLE_FLAGGED = ("SwPowerCap", "HwSlowdown", "SwThermalSlowdown", "HwThermalSlowdown", "HwPowerBrakeSlowdown")

#: Below this fraction of the reference SM clock the rounds count as throttled (nvbench's default).
DEFAULT_GPU_THROTTLE_THRESHOLD = 0.75

#: Fields the harness (nptbench.measure.harness.measure) adds to every record, or where it says so.
HARNESS_FIELDS = {
    "rtol": "the relative tolerance rel_err was held to (unitless)",
    "rtol_rule": "how rtol was derived from the computation (nptbench.measure.check.rtol): dtype, steps, unit "
                 "roundoff, elementwise roundings, reduction length and its condition; absent for a fixed tolerance",
    "synchronized": "false when the timed call did not wait for the device (absent: it did)",
}

#: Fields a family adds next to the shared ones, where they apply to its records.
FAMILY_FIELDS = {
    # matmul, GPU kernels
    "copy_back": "true when the timed call ends with the result copied back to the host",
    "out_dtype": "element type of the output buffer where it may differ from dtype",
    # ops
    "random_inside": "true when the timed call draws its own random operands (as the seed does)",
    "repetitions": "how many times one call repeats the seed's work (a loop's length)",
    "peak_bytes": "most bytes one untimed call allocated: the sum of the peak_bytes_* below (bytes)",
    "peak_bytes_tracemalloc": "peak of Python objects and numpy buffers (tracemalloc, bytes)",
    "peak_bytes_torch_cpu": "peak of torch's CPU allocator (bytes); absent without torch",
    "peak_bytes_cuda": "peak of torch's CUDA allocator (bytes); only on device cuda",
    # GPU transfers and precision modes
    "source": "the buffer a transfer reads: pageable, pinned or device",
    "destination": "the buffer a transfer writes: pageable, pinned, device, or new (allocated by the call)",
    "checked_against": "what the reference of a reduced-precision product is, in words",
    # training
    "iterations": "training iterations (steps or epochs) of one timed call; the time per iteration is the "
                  "round time over this",
    "steps": "training steps of one timed call (read by compare as work, like iterations)",
    "epochs": "training epochs of one timed call (read by compare as work, like iterations)",
    "samples": "training samples one timed call goes through",
    "lr": "the learning rate",
    "time_per_iter": "median round time / iterations (seconds); absent with --benchmark-disable",
    "samples_per_s": "samples per iteration x iterations / median round time (1/s)",
    "initial_loss": "the loss before the first update (null when not finite)",
    "final_loss": "the loss after the last update (null when not finite)",
    "diverged_at": "the first iteration whose loss is not finite, or null",
    "loss_drop": "initial loss / final loss (unitless)",
    "max_pointwise_rel_err": "largest relative error of the loss trajectory against float64, point by point",
    "pointwise_rtol": "the tolerance max_pointwise_rel_err was held to (nptbench.measure.check.rtol, unitless)",
    "loss_rel_err": "relative error of the first loss against float64 (linreg-large, whose later losses diverge)",
    "loss_rtol": "the tolerance loss_rel_err was held to (nptbench.measure.check.rtol, unitless)",
    "compile_s": "seconds the first (tracing and compiling) call of a compiled step took, untimed",
    "compile_backend": "the torch.compile backend",
    "inductor_fx_graph_cache": "whether inductor's FX graph cache was on",
}

#: Fields the roofline adds when a run is saved (nptbench.analysis.roofline.annotate; roofline.FIELDS holds the same,
#: tests/test_record.py checks they agree).
ROOFLINE_FIELDS = {
    "achieved_gflops": "flops / median time, in GFLOP/s (null without flops)",
    "achieved_gbps": "bytes / median time, in GB/s (null without bytes)",
    "bound": "compute or memory (or transfer): whichever ceiling gives the longer attainable time",
    "pct_of_ceiling": "attainable time at the bounding ceiling / median time, in percent",
    "ceiling": "the bounding ceiling, in words",
    "ceiling_note": "why a memory-bound record reads above 100 % (operands within the cache, or a low ceiling)",
}

#: Fields added when a run is saved (nptbench.analysis.roofline.annotate_run, from the plugin) or promoted
#: (nptbench.tools.promote).
SAVED_FIELDS = {
    "roofline_time": "which time the roofline fields divide by: median, or the device median (CUDA events)",
    "raw_rounds_kept": "N of M: a promoted baseline keeps N evenly spaced raw rounds of the M measured",
}

#: The machine's state, taken at the start and at the end of every timed session by
#: nptbench.measure.yardsticks and saved in the run's machine info as
#: ``machine_info["nptbench"]["yardsticks"] = {"start": {...}, "end": {...}}``; field -> what, with its unit.
YARDSTICK_FIELDS = {
    "copy_gbps": "memory copy bandwidth: ctypes.memmove of 64 MiB into another 64 MiB buffer, "
                 "bytes read + written per second, in GB/s (1e9 B/s); best of 10 copies",
    "python_mips": "pure-Python interpreter speed: million iterations per second of a fixed loop of "
                   "int/float arithmetic and dict/list operations, one thread; best of 30",
    "hash_mbps": "in-core scalar compute: hashlib.blake2b over a 256 KiB (L2-resident) buffer, "
                 "MB/s (1e6 B/s) hashed, one thread; best of 30",
    "other_cpus_busy": "average number of CPUs busy with anything but this process while the yardsticks "
                       "ran (from /proc/stat, 10 ms ticks; null off Linux): above ~0.3 a neighbour was running",
    "yardstick_seconds": "wall time one measure() took, in seconds (allocation included)",
    "yardstick_method": "how the yardsticks were taken, in one line of words",
}

#: What a run's machine info (``machine_info["nptbench"]``, written by nptbench.env.machine.describe) says
#: about its software and machine besides its conditions; the history (nptbench.analysis.history) annotates
#: a series at the run where one of them changed. field -> what.
ENVIRONMENT_FIELDS = {
    "python": "the Python version",
    "versions": "{package: version} of numpy, torch, numba, fastcore and pytest-benchmark",
    "blas": "{numpy, torch: the BLAS each was built with}",
    "blas_kernels": "{BLAS library file: the kernel set it runs, threadpoolctl's architecture: Haswell, "
                    "SkylakeX ...; Prescott or Katmai when held to its SSE kernels}",
    "cpu_kernels": "{torch: the CPU capability torch's operators dispatch to (AVX512, AVX2, DEFAULT ...), and "
                   "each kernel-set variable set (ATEN_CPU_CAPABILITY, OPENBLAS_CORETYPE, MKL_ENABLE_INSTRUCTIONS, "
                   "MKL_CBWR): its value}",
    "gpus": "[{name, driver, ...}] the GPUs torch sees: a driver change annotates the series",
}

#: The yardsticks that are rates (higher is faster), in the order they are reported.
YARDSTICK_RATES = ("copy_gbps", "python_mips", "hash_mbps")

#: What a saved run says about the session that saved it, under ``nptbench_session`` at the top of the
#: run file (written by nptbench.plugin): field -> what. A run whose session did not end with every
#: collected benchmark run and passed is partial: promote refuses it as a baseline unless told, and
#: compare and the gate say so.
SESSION_FIELDS = {
    "exitstatus": "pytest's exit status when the run was saved: 0 every test passed, 1 some failed, "
                  "2 interrupted (Ctrl-C), other values as pytest defines them",
    "collected": "how many benchmarks the session collected",
    "failed": "node ids of the benchmarks that failed or errored (a wrong result still has its times)",
    "not_run": "node ids of the benchmarks collected but never run (the session stopped before them)",
    "complete": "true when every collected benchmark ran (or skipped with its reason) and none failed",
}

#: Fields a record counted under ``--instrument instructions`` adds (nptbench.measure.instruments.fields), in
#: place of times: per call, after the warm-up, in one valgrind (callgrind) process per session. Read by
#: nptbench.analysis.counts, never with the wall-time statistics.
INSTRUMENT_FIELDS = {
    "instructions_per_call": "instructions one call executes (callgrind's Ir): (a window of instructions_calls "
                             "calls - an empty window) / instructions_calls, in instructions",
    "instructions_calls": "calls in each counted window: a power of two, 1 to nptbench.measure.instruments.MAX_CALLS, "
                          "chosen from a first counted call",
    "instructions_windows": "windows of instructions_calls calls counted back to back (the median is the count)",
    "instructions_window_spread": "(max - min) / median of those windows' instructions (unitless): the "
                                  "count's noise within the session; null for a call counted in one window "
                                  "(nptbench.measure.instruments.LARGE_CALL instructions or more)",
    "allocator_instructions_per_call": "of instructions_per_call, the instructions one call executes in the "
                                       "memory allocators (glibc's malloc and free, CPython's object "
                                       "allocator: nptbench.measure.instruments.ALLOCATOR_FUNCTIONS), in "
                                       "instructions: the part of the count that moves with the allocator's "
                                       "state, which the session's history sets",
    "counted_threads": "threads the call was counted with: 1 (every thread pool at one thread); a row that "
                       "runs multi-threaded when timed is counted as one thread's work",
    "memory_accesses_per_call": "data reads + writes of one call (callgrind's Dr + Dw), in accesses",
    "l1_misses_per_call": "simulated L1 misses of one call, instruction and data (I1mr + D1mr + D1mw), in misses "
                          "(the run's instrument_cache geometry)",
    "ll_misses_per_call": "simulated last-level misses of one call (ILmr + DLmr + DLmw), in misses: accesses "
                          "that went to RAM",
    "cycles_estimate_per_call": "estimated cycles of one call: 1 x L1 hits + 5 x LL hits + 30 x RAM accesses "
                                "over instruction and data accesses (pythonspeed's fit of cachegrind's events "
                                "to a Haswell Xeon), in cycles; an estimate, not a measurement",
    "instrument_cost_s": "seconds the instrument spent on this benchmark under valgrind (its warm-up and "
                         "windows): the instrument's cost, as information; never the benchmark's time, and "
                         "never judged",
}

#: What a count run's machine info (``machine_info["nptbench"]``) says about how it was counted
#: (nptbench.measure.instruments.session_info); a run without ``instrument`` is a timed run.
INSTRUMENT_RUN_FIELDS = {
    "instrument": "instructions: the run holds counts, not times (it is saved in results/counts/)",
    "instrument_tool": "valgrind's version and tool",
    "instrument_cache": "{I1, D1, LL: [bytes, ways, line bytes]} of the simulated caches, fixed",
    "instrument_cycles_formula": "the cycle estimate's formula, in words",
    "instrument_threads": "threads every pool was held to while counting (1)",
    "instrument_aslr": "off: address randomization was switched off (setarch -R)",
    "instrument_kernels": "{variable: value} of the kernel choices the run was counted with (BLAS, torch's "
                          "operators, inductor's compiler: nptbench.measure.instruments.KERNELS, or the user's "
                          "own): counts of other kernels are compared only when asked",
    "instrument_jobs": "valgrind processes that counted the run's benchmarks at once, each a share of them "
                       "(--instrument-jobs)",
}

#: Fields named by a prefix: prefix -> what the rest of the name says.
FIELD_PREFIXES = {
    "rel_err_vs_": "rel_err against another reference, named by the suffix (information only, unchecked)",
    "matmul_": "a torch matmul precision flag (suffix: the flag's name) as the benchmark ran",
}

#: Every declared field with a fixed name.
DECLARED = {**FIELDS, **GPU_FIELDS, **GPU_STATE_FIELDS, **HARNESS_FIELDS, **FAMILY_FIELDS, **ROOFLINE_FIELDS,
            **SAVED_FIELDS, **INSTRUMENT_FIELDS}


def declared(name: str) -> bool:
    """Whether ``name`` is a field of the schema."""
    return name in DECLARED or name.startswith(tuple(FIELD_PREFIXES))

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


def _undeclared(fields) -> None:
    unknown = [f for f in fields if not declared(f)]
    if unknown:
        raise RecordError(f"undeclared record field {', '.join(unknown)}: declare it in nptbench/schema/record.py")


def make_record(**fields) -> dict:
    """A validated, JSON-ready record: all of :data:`FIELDS`, plus any other declared fields given."""
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise RecordError(f"record lacks {', '.join(missing)}")
    _undeclared(fields)
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


def write(extra_info: dict, **fields) -> None:
    """Put ``fields`` into a benchmark's ``extra_info``: the one way into a saved record. Each must be
    declared above; the shared fields come checked from :func:`make_record`."""
    _undeclared(fields)
    extra_info.update(fields)
