"""Machine drift: how the machine's state (its yardsticks, nptbench.measure.yardsticks) differs between a
baseline and a new run, and which verdicts that could explain.

Each timed session saves its yardsticks at its start and at its end (nptbench.schema.record.
YARDSTICK_FIELDS). A run's state is the geometric mean of the two (:func:`run_state`); a side of several
runs, the geometric mean over its runs. A yardstick whose ratio new/base lies beyond its own run-to-run
noise (:data:`THRESHOLDS`, measured on a 2-core shared VM: see nptbench/measure/yardsticks.py) has
drifted, and a drift is named beside every verdict of the kind of row it moves: a lower copy bandwidth
for memory-bound rows, a slower interpreter for dispatch-bound ones (short calls), a slower core for
compute-bound ones (:func:`kinds`, from the roofline's ``bound`` field). Nothing is normalized by them: a
drift explains, it never hides a verdict.
"""
from __future__ import annotations

import math

from nptbench.analysis.verdict import FASTER, SLOWER
from nptbench.schema.record import YARDSTICK_RATES as RATES

#: Default noise thresholds on |ln(new / base)|, measured on the reference VM (module docstring).
THRESHOLDS = {"copy_gbps": 0.30, "python_mips": 0.80, "hash_mbps": 0.50}

#: Which kind of row each yardstick can explain.
KIND = {"copy_gbps": "memory-bound", "python_mips": "dispatch-bound", "hash_mbps": "compute-bound"}

#: A row whose median time per call is under this (seconds) counts as dispatch-bound.
DISPATCH_MEDIAN_S = 100e-6



def run_state(info: dict) -> dict | None:
    """A run's yardsticks (its ``machine_info["nptbench"]``): the geometric mean of the start and the end
    of its session, per rate; None for a run saved without them."""
    taken = [v for v in ((info.get("yardsticks") or {}).get(k) for k in ("start", "end")) if isinstance(v, dict)]
    return side_state(taken)


def side_state(states: list) -> dict | None:
    """The geometric mean of several states (runs, or a session's start and end), per rate present in all."""
    states = [s for s in states if s]
    if not states:
        return None
    out = {}
    for name in RATES:
        values = [s.get(name) for s in states]
        if all(isinstance(v, (int, float)) and v > 0 for v in values):
            out[name] = math.exp(sum(math.log(v) for v in values) / len(values))
    return out or None


def compare(base: dict, new: dict, thresholds: dict | None = None) -> list[dict]:
    """Per yardstick present in both: ratio new/base, and whether |ln ratio| exceeds its threshold.

    Each item: ``yardstick``, ``base``, ``new``, ``ratio``, ``threshold`` (on |ln ratio|),
    ``beyond_noise`` (bool), ``direction`` ("slower", "faster" or None when within noise) and
    ``explains`` (the kind of row it could account for).
    """
    limits = {**THRESHOLDS, **(thresholds or {})}
    out = []
    for name in RATES:
        b, n = base.get(name), new.get(name)
        if not isinstance(b, (int, float)) or not isinstance(n, (int, float)) or b <= 0 or n <= 0:
            continue
        ratio = n / b
        beyond = abs(math.log(ratio)) > limits[name]
        out.append({"yardstick": name, "base": b, "new": n, "ratio": ratio, "threshold": limits[name],
                    "beyond_noise": beyond, "direction": (SLOWER if ratio < 1 else FASTER) if beyond else None,
                    "explains": KIND[name]})
    return out


def _median_s(record: dict) -> float | None:
    for key in ("median_s", "median", "time_per_iter"):
        if isinstance(record.get(key), (int, float)):
            return float(record[key])
    stats = record.get("stats")
    if isinstance(stats, dict) and isinstance(stats.get("median"), (int, float)):
        return float(stats["median"])
    return None


def kinds(record: dict) -> set[str]:
    """Which kinds of machine drift could move this row: memory-bound, compute-bound, dispatch-bound.

    The host copy and hash yardsticks say nothing about a row timed on a GPU (its bound is the
    device's); such a row can still be dispatch-bound when its median is short (launch overhead).
    """
    bound = record.get("bound")
    median = _median_s(record)
    on_host = record.get("device", "cpu") == "cpu"
    out = set()
    if on_host and bound == "memory":
        out.add("memory-bound")
    if on_host and bound == "compute":
        out.add("compute-bound")
    if (bound is None and on_host) or (median is not None and median < DISPATCH_MEDIAN_S):
        out.add("dispatch-bound")
    return out


def explains(record: dict, drift) -> str | None:
    """Words naming the yardstick drift that could explain this row's change, or None.

    ``drift`` is ``compare()``'s list (or one of its items); only yardsticks beyond noise count.
    """
    items = [drift] if isinstance(drift, dict) else list(drift or [])
    row_kinds = kinds(record)
    why = [f"{d['yardstick']} {d['direction']} ({d['ratio']:.2f}x base, beyond {math.exp(d['threshold']):.2f}x noise)"
           f" could explain this {d['explains']} row"
           for d in items if d.get("beyond_noise") and d.get("explains") in row_kinds]
    return "; ".join(why) or None
