"""What a GPU record's own fields say about its timing: the session's timer floor in words, the
invariant ``kernel_time_s <= device_time_s`` (nptbench.schema.record.GPU_FIELDS), and whether its rounds
ran throttled (nptbench.schema.record.GPU_STATE_FIELDS), read from records and machine info as
nptbench.measure.devicetime and nptbench.measure.gpustate wrote them. Read by the plugin's terminal
summary, the report and compare.
"""
from __future__ import annotations

import statistics

from nptbench.schema.record import GPU_THROTTLE_FLAGGED


def describe_timer_floor(floor: dict | None) -> str | None:
    """One line for the terminal summary and the report."""
    if not floor:
        return None
    return (f"timer floor: {floor['host_s'] * 1e6:.1f} µs host, {floor['device_s'] * 1e6:.1f} µs device "
            f"per empty synchronized call with its events (median of {floor['calls']}, {floor['timer']}): "
            "that much of a short GPU call's host median is the timing itself")


# --- the invariant kernel_time_s <= device_time_s --------------------------------------------------------

def kernel_time_excess(record: dict) -> float | None:
    """How far ``kernel_time_s`` lies above ``device_time_s``, as a fraction of the latter, when it does.

    The kernel time leaves out the launch's host cost, so it should not exceed the device time of the same
    call; where it does, the two medians differ by more than that cost and the check flags it (see
    results/GPU.md for the one case measured, and why). None where both fields do not exist or it holds.
    """
    k, d = record.get("kernel_time_s"), record.get("device_time_s")
    if record.get("device") != "cuda" or not k or not d or k <= d:
        return None
    return k / d - 1


def kernel_time_flag(name: str, record: dict, host_rounds=None) -> str | None:
    """One line saying where ``kernel_time_s`` exceeds ``device_time_s`` and whether the excess lies within
    the rounds' own spread: above the median but not above the upper quartile of the per-call device times
    (``device_times_s``), or of the host rounds where those were not saved. Within the spread, the GPU's
    clock moved between the timed rounds and the kernel-time calls that follow them; beyond it, something
    else is wrong."""
    excess = kernel_time_excess(record)
    if excess is None:
        return None
    spread, which = record.get("device_times_s"), "device times"
    if not spread:
        spread, which = host_rounds, "host rounds"
    line = (f"{name}: kernel_time_s {record['kernel_time_s'] * 1e3:.4g} ms > device_time_s "
            f"{record['device_time_s'] * 1e3:.4g} ms (+{100 * excess:.1f} %)")
    if spread and len(spread) >= 4:
        q3 = statistics.quantiles(spread, n=4)[2]
        where = "within" if record["kernel_time_s"] <= q3 else "beyond"
        line += f", {where} the spread of the {len(spread)} {which} (upper quartile {q3 * 1e3:.4g} ms)"
    return line


# --- throttled rounds: the GPU's clock fell, or a power or thermal limit held it ---------------------------

def throttled(record: dict) -> bool:
    """Whether a record's rounds ran throttled (``gpu_throttled``, as nptbench.measure.gpustate decided it)."""
    return record.get("device") == "cuda" and bool(record.get("gpu_throttled"))


def throttle_causes(record: dict) -> str | None:
    """Why the rounds count as throttled, in a few words: the SM clock's fall against the threshold, and the
    power or thermal reasons seen. None where they do not."""
    if not throttled(record):
        return None
    parts = []
    ratio, threshold = record.get("gpu_sm_clock_ratio_min"), record.get("gpu_throttle_threshold")
    if ratio is not None and threshold is not None and ratio < threshold:
        parts.append(f"SM clock down to {record.get('gpu_sm_clock_min_mhz'):.0f} MHz, {ratio:.0%} of the "
                     f"{record.get('gpu_sm_clock_ref') or 'reference'} clock "
                     f"{record.get('gpu_sm_clock_ref_mhz'):.0f} MHz (threshold {threshold:.0%})")
    reasons = [r for r in record.get("gpu_throttle_reasons_seen") or () if r in GPU_THROTTLE_FLAGGED]
    if reasons:
        parts.append("throttle reason " + ", ".join(reasons))
    hot = [f"{record['gpu_temperature_max_c']:.0f} °C" if record.get("gpu_temperature_max_c") is not None else "",
           f"{record['gpu_power_max_w']:.0f} W" if record.get("gpu_power_max_w") is not None else ""]
    if any(hot):
        parts.append("peak " + ", ".join(h for h in hot if h))
    return "; ".join(parts) or "gpu_throttled is set"


def throttle_flag(name: str, record: dict) -> str | None:
    """One line for a throttled record: ``name: causes``; None where its rounds were not throttled."""
    causes = throttle_causes(record)
    return f"{name}: {causes}" if causes else None


def throttle_note(base_records: list[dict], new_records: list[dict]) -> str | None:
    """compare's note for a row whose BASE or NEW rounds ran throttled (any run of a pooled side), naming
    the side and why; None where neither did."""
    sides = []
    for side, records in (("BASE", base_records), ("NEW", new_records)):
        hit = [r for r in records if throttled(r)]
        if hit:
            runs = f" in {len(hit)} of {len(records)} runs" if len(records) > 1 else ""
            sides.append(f"{side}{runs} ({throttle_causes(hit[-1])})")
    if not sides:
        return None
    return "GPU rounds ran throttled in " + " and ".join(sides)


def state_missing(record: dict) -> str | None:
    """Why a GPU record holds no state of the GPU (``gpu_state_note`` where nothing was sampled), else None."""
    if record.get("device") != "cuda" or "gpu_state_before" in record:
        return None
    return record.get("gpu_state_note")
