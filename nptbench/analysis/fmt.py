"""How the tools write numbers: times, rates, percentages and sizes, short and never in exponent form.

Shared by the roofline's terminal tables and the report, so that one figure reads the same in both.
"""
from __future__ import annotations


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fmt_pct(x: float | None) -> str:
    """A percentage: two significant digits below 10, whole numbers from there (never ``1e+02``), and
    ``<0.0001`` for what would print in exponent notation."""
    if x is None:
        return "-"
    if 0 < x < 1e-4:
        return "<0.0001"
    return f"{x:.2g}" if x < 10 else f"{x:.0f}"


def fmt_bytes(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def step_ratio(ratio: float, low: float, high: float) -> str:
    """A step or a verdict's ratio with its interval, as every tool writes it: ``x1.23 (1.10-1.38)``."""
    return f"x{ratio:.2f} ({low:.2f}-{high:.2f})"
