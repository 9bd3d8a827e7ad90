"""How far each result is from what the hardware can do: the roofline columns of a record.

Every seed document (000-004) reports times and speed-ups only; none says how close a time is to the
machine's limit. Given a device's ceilings (measured by nptbench.measure.ceilings, or stored by
``python -m nptbench calibrate``), a benchmark whose record holds ``flops`` or ``bytes`` gets its achieved
GFLOP/s and GB/s and the percentage of the ceiling that bounds it: the roofline's attainable time is the
larger of flops/peak and bytes/bandwidth, and ``pct_of_ceiling`` is that time over the measured (median)
time. This module only reads records and ceilings, it never measures: the suite's plugin (nptbench.plugin)
passes the session's ceilings to :func:`annotate_run` and prints :func:`table_rows`.
"""
from __future__ import annotations

from nptbench.analysis.fmt import fmt_bytes, fmt_num, fmt_pct, fmt_time
from nptbench.schema import record as schema
from nptbench.schema.record import DEVICE_TIME_LABEL, lead_time, per_second

#: Record fields this module adds next to the shared schema.
FIELDS = schema.ROOFLINE_FIELDS

#: dtype of a record -> which measured product rate bounds its compute. Reduced precisions (tf32, bf16,
#: fp16) run on units an fp32 product does not use (tensor cores): a GPU session measures their own rates
#: (:func:`reduced_precision_rates`); where none was measured (a CPU) they get no ceiling, not a wrong one.
COMPUTE_DTYPE = {"float32": "float32", "float64": "float64", "tf32": "tf32", "bfloat16": "bfloat16",
                 "float16": "float16"}
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

HOST_BUFFERS = ("pageable", "pinned")


def _transfer(record: dict) -> str | None:
    """``h2d``/``d2h`` for a copy between host and device, from the declared fields ``source`` and
    ``destination`` (nptbench.schema.record.FAMILY_FIELDS): host to device when it reads a host buffer
    and writes a device one or a new one, device to host when it reads a device buffer and writes a host
    one or a new one; None for anything else, whatever its name."""
    source, dest = record.get("source"), record.get("destination")
    if source in HOST_BUFFERS and dest in ("device", "new"):
        return "h2d"
    if source == "device" and dest in HOST_BUFFERS + ("new",):
        return "d2h"
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


def annotate_run(output_json: dict, ceilings: dict) -> None:
    """Add the roofline fields to every benchmark of a run as pytest-benchmark saves it, against
    ``ceilings`` (the run's own, where its machine info holds them). The time held against a ceiling is
    the record's leading time (nptbench.schema.record.lead_time: the CUDA-event median on a GPU, where
    launch overhead is not the device's limit), named in ``roofline_time``."""
    for b in output_json.get("benchmarks", []):
        info = b.setdefault("extra_info", {})
        seconds, which = lead_time(info, b.get("stats", {}).get("median"))
        schema.write(info, **annotate(info, seconds, ceilings), roofline_time=which)


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
