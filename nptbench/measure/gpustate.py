"""The GPU's state around every GPU benchmark: clocks, temperature, power and throttle reasons, through NVML.

On a GPU the commonest false slowdown is a clock that drops under a power or thermal limit: the code did
not change, the card ran slower. nvbench measures the SM clock of every trial and discards those below
75 % of the default clock (``--throttle-threshold``); here each GPU record says what the clock did while
its rounds ran, and whether it fell (nptbench.schema.record.GPU_STATE_FIELDS):

- :func:`probe`: NVML's handle of this process's CUDA device, or why there is none, in one line (no
  ``pynvml``, no driver library in the container, a MIG instance, an old driver), once a process;
- :func:`static_info`: the GPU's settings for the run's machine info (application and maximum clocks,
  persistence mode, power limit, driver; nptbench.schema.record.GPU_MACHINE_FIELDS);
- :func:`sample`: one reading now (nptbench.schema.record.GPU_SAMPLE_FIELDS);
- :class:`Sampler`: a reading before and after a benchmark's rounds, and one every
  :data:`SAMPLE_INTERVAL_S` from a background thread while they run; :meth:`Sampler.fields` turns them
  into the record's fields, flagging rounds whose SM clock fell below the threshold or that saw a power
  or thermal reason.

``pynvml`` (nvidia-ml-py, in the ``cuda`` extra) is imported on first use through :func:`load_nvml`, which
the tests replace with a fake. Without NVML nothing is sampled and nothing fails: each GPU record gets
``gpu_state_note`` instead. Each NVML query costs tens of microseconds on the host and nothing on the
device: the sampling thread holds the GIL only for those moments, so it can add that much to one host
round now and then (never to the device times, CUDA events).
"""
from __future__ import annotations

import importlib
import os
import sys
import threading

from nptbench.schema.record import (DEFAULT_GPU_THROTTLE_THRESHOLD, GPU_THROTTLE_FLAGGED, GPU_THROTTLE_REASONS)

#: Seconds between two samples while a benchmark's rounds run (rounds shorter than this get none).
SAMPLE_INTERVAL_S = 0.05
#: The pynvml constant prefixes of the throttle reasons, newest first.
REASON_PREFIXES = ("nvmlClocksEventReason", "nvmlClocksThrottleReason")


def load_nvml():
    """The ``pynvml`` module (nvidia-ml-py). Replaced by a fake in the tests."""
    return importlib.import_module("pynvml")


def _one_line(exc: BaseException, limit: int = 160) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:limit]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- the device --------------------------------------------------------------------------------------

def _torch_uuid() -> str | None:
    """NVML's UUID of torch's current device, where torch has already started CUDA (never starts it)."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_initialized():
            return None
        uuid = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", None)
    except Exception:
        return None
    if not uuid:
        return None
    text = str(uuid)
    return text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"


def _device_handle(nvml):
    """The NVML handle of the CUDA device this process benchmarks on, and which it is in words: torch's
    current device by UUID, else the first of ``CUDA_VISIBLE_DEVICES`` (CUDA's numbering is not NVML's once
    that is set), else NVML's device 0."""
    uuid = _torch_uuid()
    if uuid:
        try:
            return nvml.nvmlDeviceGetHandleByUUID(uuid), uuid
        except Exception:
            pass
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if visible.startswith(("GPU-", "MIG-")):
        return nvml.nvmlDeviceGetHandleByUUID(visible), visible
    index = int(visible) if visible.isdigit() else 0
    return nvml.nvmlDeviceGetHandleByIndex(index), f"NVML device {index}"


class Device:
    """One NVML device handle and the module it came from."""

    def __init__(self, nvml, handle, which: str):
        self.nvml, self.handle, self.which = nvml, handle, which
        self.names = reason_bits(nvml)
        self.refused: dict[str, str] = {}  # field -> NVML's one-line refusal
        reasons = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        self._reasons = reasons or getattr(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)

    def query(self, field: str, fn, *args):
        """``fn(handle, *args)``, or None where NVML refuses it (remembered in :attr:`refused`)."""
        if fn is None:
            self.refused.setdefault(field, "not in this pynvml")
            return None
        try:
            return fn(self.handle, *args)
        except Exception as exc:
            self.refused.setdefault(field, _one_line(exc))
            return None

    def sample(self) -> dict:
        """One reading now (nptbench.schema.record.GPU_SAMPLE_FIELDS)."""
        n = self.nvml
        out = {
            "sm_clock_mhz": self.query("sm_clock_mhz", n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_SM),
            "mem_clock_mhz": self.query("mem_clock_mhz", n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_MEM),
            "temperature_c": self.query("temperature_c", n.nvmlDeviceGetTemperature, n.NVML_TEMPERATURE_GPU),
            "power_w": self.query("power_w", n.nvmlDeviceGetPowerUsage),
            "throttle_reasons": self.query("throttle_reasons", self._reasons),
        }
        if out["power_w"] is not None:
            out["power_w"] = round(out["power_w"] / 1000, 1)  # NVML: milliwatts
        if out["throttle_reasons"] is not None:
            out["throttle_reasons"] = decode_reasons(out["throttle_reasons"], self.names)
        return out


def reason_bits(nvml=None) -> dict[int, str]:
    """bit -> reason name: pynvml's constants where it has them, the schema's table for the rest."""
    out = {bit: name for name, (bit, _) in GPU_THROTTLE_REASONS.items()}
    for prefix in reversed(REASON_PREFIXES):  # the newer names win
        for attr in dir(nvml) if nvml is not None else ():
            name = attr[len(prefix):]
            value = getattr(nvml, attr, None)
            if (attr.startswith(prefix) and name not in ("None", "All", "UserDefinedClocks")
                    and isinstance(value, int) and value > 0 and value & (value - 1) == 0):
                out[value] = name
    return out


def decode_reasons(mask: int, names: dict[int, str] | None = None) -> list[str]:
    """The reason names of the set bits of ``mask``, in bit order; an unknown bit as ``bit 0x...``."""
    names = names if names is not None else reason_bits()
    out, bit = [], 1
    mask = int(mask)
    while bit <= mask:
        if mask & bit:
            out.append(names.get(bit, f"bit {bit:#x}"))
        bit <<= 1
    return out


_PROBE: dict = {}


def probe() -> tuple[Device | None, str | None]:
    """(this process's NVML device, None), or (None, why not in one line); asked once a process."""
    if "probe" not in _PROBE:
        _PROBE["probe"] = _probe()
    return _PROBE["probe"]


def reset() -> None:
    """Forget the probe (tests; a process that changed its device)."""
    _PROBE.clear()


def _probe() -> tuple[Device | None, str | None]:
    try:
        nvml = load_nvml()
    except Exception as exc:  # ImportError, or a pynvml that breaks on import
        return None, (f"NVML not read: pynvml is not importable ({_one_line(exc)}); pip install nvidia-ml-py "
                      "(in the cuda extra)")
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return None, (f"NVML not read: nvmlInit failed ({_one_line(exc)}): no NVIDIA driver library in this "
                      "container, or a driver too old for this pynvml")
    try:
        handle, which = _device_handle(nvml)
    except Exception as exc:
        return None, f"NVML not read: no NVML device for this process's GPU ({_one_line(exc)})"
    dev = Device(nvml, handle, which)
    try:
        nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)
    except Exception as exc:
        mig = " (a MIG instance: NVML gives clocks only for the whole GPU)" if which.startswith("MIG-") else ""
        return None, f"NVML not read: it refuses the SM clock of {which}{mig} ({_one_line(exc)})"
    return dev, None


def sample() -> dict:
    """One reading now, or ``{"note": why not}``."""
    dev, why = probe()
    return dev.sample() if dev is not None else {"note": why}


# --- the settings: for the run's machine info ---------------------------------------------------------

def static_info() -> dict:
    """The GPU's settings (nptbench.schema.record.GPU_MACHINE_FIELDS), or ``{"note": why not}``."""
    dev, why = probe()
    if dev is None:
        return {"note": why}
    n, refused = dev.nvml, {}

    def q(field, fn_name, *args):
        fn = getattr(n, fn_name, None)
        if fn is None:
            refused[field] = "not in this pynvml"
            return None
        try:
            return fn(dev.handle, *args)
        except Exception as exc:
            refused[field] = _one_line(exc)
            return None

    def watts(mw):
        return None if mw is None else round(mw / 1000, 1)

    driver = _call(n, "nvmlSystemGetDriverVersion")
    version = _call(n, "nvmlSystemGetNVMLVersion")
    name = q("name", "nvmlDeviceGetName")
    mig = q("mig_mode", "nvmlDeviceGetMigMode")
    persistence = q("persistence_mode", "nvmlDeviceGetPersistenceMode")
    supported = q("throttle_reasons_supported", "nvmlDeviceGetSupportedClocksEventReasons") \
        if hasattr(n, "nvmlDeviceGetSupportedClocksEventReasons") else \
        q("throttle_reasons_supported", "nvmlDeviceGetSupportedClocksThrottleReasons")
    out = {
        "nvml_device": dev.which,
        "name": None if name is None else _text(name),
        "driver": None if driver is None else _text(driver),
        "nvml_version": None if version is None else _text(version),
        "sm_clock_app_mhz": q("sm_clock_app_mhz", "nvmlDeviceGetApplicationsClock", n.NVML_CLOCK_SM),
        "mem_clock_app_mhz": q("mem_clock_app_mhz", "nvmlDeviceGetApplicationsClock", n.NVML_CLOCK_MEM),
        "sm_clock_default_app_mhz": q("sm_clock_default_app_mhz", "nvmlDeviceGetDefaultApplicationsClock",
                                      n.NVML_CLOCK_SM),
        "sm_clock_max_mhz": q("sm_clock_max_mhz", "nvmlDeviceGetMaxClockInfo", n.NVML_CLOCK_SM),
        "mem_clock_max_mhz": q("mem_clock_max_mhz", "nvmlDeviceGetMaxClockInfo", n.NVML_CLOCK_MEM),
        "persistence_mode": None if persistence is None else bool(persistence),
        "power_limit_w": watts(q("power_limit_w", "nvmlDeviceGetEnforcedPowerLimit")),
        "power_default_limit_w": watts(q("power_default_limit_w", "nvmlDeviceGetPowerManagementDefaultLimit")),
        "mig_mode": None if mig is None else bool(mig[0] if isinstance(mig, (list, tuple)) else mig),
        "throttle_reasons_supported": None if supported is None else decode_reasons(supported, dev.names),
    }
    if refused:
        names = sorted(refused)
        out["refused"] = names
        out["note"] = "NVML refused " + ", ".join(f"{f} ({refused[f]})" for f in names[:3]) + \
                      (f" and {len(names) - 3} more" if len(names) > 3 else "")
    if out["mig_mode"]:
        out["note"] = "; ".join(x for x in (out.get("note"), "MIG is on: clocks and power are the whole GPU's, "
                                            "shared with other instances") if x)
    return out


def _call(nvml, name):
    fn = getattr(nvml, name, None)
    try:
        return fn() if fn is not None else None
    except Exception:
        return None


def reference_clock(info: dict) -> tuple[float | None, str | None]:
    """The SM clock rounds are held to, and which it is: application, default application, or max."""
    for key, which in (("sm_clock_app_mhz", "application"), ("sm_clock_default_app_mhz", "default application"),
                       ("sm_clock_max_mhz", "max")):
        if info.get(key):
            return float(info[key]), which
    return None, None


_STATIC: dict = {}


def _static_once() -> dict:
    if "info" not in _STATIC or _STATIC.get("probe") is not _PROBE.get("probe"):
        _STATIC["info"], _STATIC["probe"] = static_info(), _PROBE.get("probe")
    return _STATIC["info"]


# --- around a benchmark's rounds -----------------------------------------------------------------------

class Sampler:
    """The GPU's state before, during and after one benchmark's rounds (the harness: ``start()`` before
    the rounds, ``stop()`` after, ``fields()`` into the record). Without NVML it does nothing and its
    fields are the one-line reason."""

    def __init__(self, threshold: float | None = None, interval: float = SAMPLE_INTERVAL_S):
        self.threshold = DEFAULT_GPU_THROTTLE_THRESHOLD if threshold is None else float(threshold)
        self.interval = interval
        self.dev, self.why = probe()
        self.before = self.after = None
        self.during: list[dict] = []
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        if self.dev is None:
            return
        self.before = self.dev.sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nptbench-gpustate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.during.append(self.dev.sample())

    def stop(self) -> None:
        if self.dev is None or self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.after = self.dev.sample()

    def fields(self) -> dict:
        """The record's fields (nptbench.schema.record.GPU_STATE_FIELDS)."""
        if self.dev is None:
            return {"gpu_state_note": self.why}
        if self.before is None:
            return {"gpu_state_note": "GPU state not sampled: the sampler was never started"}
        info = _static_once()
        ref, which = reference_clock(info)
        samples = [s for s in (self.before, *self.during, self.after) if s is not None]
        busy = [s["sm_clock_mhz"] for s in samples
                if s.get("sm_clock_mhz") is not None and "GpuIdle" not in (s.get("throttle_reasons") or ())]
        seen_bits = {name: bit for bit, name in self.dev.names.items()}
        seen = sorted({r for s in samples for r in (s.get("throttle_reasons") or ())},
                      key=lambda r: seen_bits.get(r, 1 << 62))
        low = min(busy) if busy else None
        ratio = round(low / ref, 4) if low is not None and ref else None
        temps = [s["temperature_c"] for s in samples if s.get("temperature_c") is not None]
        powers = [s["power_w"] for s in samples if s.get("power_w") is not None]
        out = {
            "gpu_state_before": self.before,
            "gpu_state_after": self.after,
            "gpu_state_samples": len(self.during),
            "gpu_state_interval_s": self.interval,
            "gpu_sm_clock_ref_mhz": ref,
            "gpu_sm_clock_ref": which,
            "gpu_sm_clock_min_mhz": low,
            "gpu_sm_clock_ratio_min": ratio,
            "gpu_temperature_max_c": max(temps) if temps else None,
            "gpu_power_max_w": max(powers) if powers else None,
            "gpu_throttle_reasons_seen": seen,
            "gpu_throttle_threshold": self.threshold,
            "gpu_throttled": bool((ratio is not None and ratio < self.threshold)
                                  or any(r in GPU_THROTTLE_FLAGGED for r in seen)),
        }
        missing = [f for f in ("sm_clock_mhz", "throttle_reasons") if any(s.get(f) is None for s in samples)]
        if ref is None:
            missing.append("reference SM clock")
        if missing:
            out["gpu_state_note"] = "partial: NVML refused " + ", ".join(
                f"{f} ({self.dev.refused[f]})" if f in self.dev.refused else f for f in missing)
        return out
