"""What a GPU record's own fields say about its timing: the session's timer floor in words and the
invariant ``kernel_time_s <= device_time_s`` (nptbench.schema.record.GPU_FIELDS), read from records and
machine info as nptbench.measure.devicetime wrote them. Read by the plugin's terminal summary and the report.
"""
from __future__ import annotations

import statistics


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
