"""The text and the JSON of a comparison's verdicts (nptbench.analysis.comparison's pairings): the tables
``compare`` prints, the gate's section of a pytest session's summary and ``ab``'s result, and ``compare
--json``. Rendering only: what a verdict is, and the exit status, are the engine's.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys

from nptbench.analysis import counts
from nptbench.analysis.comparison import ALPHA, BUILD_HINT, NOT_COMPARED, Pairing, outcome
from nptbench.analysis.gate import SHORT_SPAN_MINUTES, Span
from nptbench.analysis.verdict import CONFIDENCE, FASTER, SLOWER, WORDS
from nptbench.schema.runs import Run
from nptbench.schema.status import Status


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


#: How many unmatched benchmarks are named before the rest is only counted (a ``-k`` subset compared
#: with a whole-suite baseline leaves most of the baseline unmatched).
LIST_LIMIT = 10


def _names(names: list[str], limit: int = LIST_LIMIT) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return f"{len(names)} benchmarks, {', '.join(names[:limit])} and {len(names) - limit} more"


def _versions(runs: list[Run]) -> str:
    keys = ("torch", "numpy", "numba")
    seen = sorted({" ".join(f"{k} {r.versions.get(k)}" for k in keys if r.versions.get(k)) + _kernels(r)
                   for r in runs})
    return "; ".join(s for s in seen if s) or "versions not recorded"


def _kernels(run: Run) -> str:
    """`` (torch kernels AVX512, OpenBLAS SkylakeX)``: the kernel sets a run recorded (empty for runs that
    recorded none), so a change of kernels shows where versions stay the same."""
    info = run.info
    parts = []
    torch_kernels = (info.get("cpu_kernels") or {}).get("torch")
    if torch_kernels:
        parts.append(f"torch kernels {torch_kernels}")
    parts += [f"{'OpenBLAS' if 'openblas' in lib.lower() else lib} {arch}"
              for lib, arch in sorted((info.get("blas_kernels") or {}).items()) if arch and "cpu_kernels" in info]
    return f" ({', '.join(dict.fromkeys(parts))})" if parts else ""


def _ratio(x: float | None) -> str:
    return f"{x:.2f}x" if x is not None and math.isfinite(x) else "-"


def describe_pairing(p: Pairing, base_label: str = "BASE", new_label: str = "NEW") -> list[str]:
    """The lines a pairing prints besides its table: how it was judged, the machine's state, what it lacks."""
    out = []
    if p.mode == "baseline":
        judged = [r for r in p.rows if r.basis.startswith("between runs")]
        if judged:
            which = {"min": "fastest rounds", "median": "medians",
                     "both": "medians and, in agreement, the fastest rounds"}[p.statistic]
            out.append(f"Judged on the spread between runs (the {which} of {judged[0].runs[0]} {base_label} and "
                       f"{judged[0].runs[1]} {new_label} runs; Holm over {len(judged)} benchmarks: a session in "
                       f"which nothing changed fails with a chance of at most {ALPHA:.0%}). 'interval' is the "
                       "prediction interval of the ratio; 'detects' the smallest slowdown this baseline can call "
                       "on this machine.")
        if p.span is not None:
            out.append(span_line(p.span, len(p.base_runs), base_label))
        if p.second:
            called = [r for r in p.rows if r.confirmed is not None]
            kept = [r.name for r in called if r.confirmed]
            out.append(f"A second timing of the {len(called)} row(s) called slower (this run with those rows timed "
                       f"again, judged the same way) confirmed {len(kept)}" + (f": {_names(kept)}" if kept else "") +
                       "; a row it did not confirm is uncertain: one slow stretch of the machine, or a change too "
                       "small to show every time.")
        if p.thin:
            k = len(p.base_runs)
            out.append(f"**cannot judge**: {base_label} holds {k} run{'s' if k != 1 else ''} of this machine and "
                       "profile, too few to know how much a benchmark moves between runs (within one run it "
                       "cannot be seen); no row is called slower or faster. To " + BUILD_HINT + ".")
    else:
        out.append("Judged within the session (runs made side by side: rounds and runs, nptbench.analysis.verdict).")
    if p.machine_drift is not None and math.isfinite(p.machine_drift):
        out.append(f"Whole-machine drift of {new_label}: {_ratio(p.machine_drift)} (the median ratio over the "
                   "benchmarks; reported, not removed).")
    for d in p.drifts:
        moved = [r.name for r in p.rows if r.explained and d["yardstick"] in r.explained]
        state = (f"machine state: {d['yardstick']} {d['ratio']:.2f}x of {base_label}'s "
                 f"({d['base']:.3g} -> {d['new']:.3g})")
        if d["beyond_noise"]:
            called = [r.name for r in p.rows if r.explained and d["yardstick"] in r.explained
                      and r.verdict == SLOWER]
            state += (f", beyond its own noise ({math.exp(d['threshold']):.2f}x): it could explain the "
                      f"{d['explains']} rows ({len(moved)})" + (f", of which called slower: {_names(called)}"
                                                                  if called else ""))
        else:
            state += ", within its own noise"
        out.append(state)
    out += p.notes
    return out


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def span_line(span: Span, k: int, base_label: str = "BASE") -> str:
    """When BASE's runs were made, in words; a set made within a short stretch says what that costs."""
    line = (f"{base_label}'s {k} runs were made over {span.minutes:.0f} min ({_when(span.first)} to {_when(span.last)}, "
            f"a run every {span.median_gap:.1f} min at the median).")
    if span.short:
        line += (f" **A short set**: all within {SHORT_SPAN_MINUTES:.0f} min, one stretch of this machine; on "
                 "a shared machine the next stretch can sit beyond anything the set saw, and a verdict of slower "
                 "can then be the machine. Add runs made at other times (python -m nptbench baseline --runs 1, "
                 "an hour or a day apart; or run the gate with --baseline-grow, which adds each session that "
                 "passed).")
    return line


def render(pairings: list[Pairing], base_label: str = "BASE", new_label: str = "NEW") -> str:
    out = []
    for p in pairings:
        out.append(f"### {p.label}")
        out.append("")
        if not p.base_runs:
            out.append(f"No {base_label} run from this machine: nothing to compare with.")
            out.append("")
            continue
        if not p.same_hardware:
            out.append(f"> **WARNING: different hardware.** {base_label} ran on `{p.base_fp}`, {new_label} on "
                       f"`{p.new_fp}`: these ratios compare machines, not code.")
            out.append("")
        out.append(f"{base_label}: {len(p.base_runs)} run(s), {_versions(p.base_runs)}, profile "
                   f"{', '.join(sorted({r.profile for r in p.base_runs}))}  ")
        out.append(f"{new_label}: {len(p.new_runs)} run(s), {_versions(p.new_runs)}, profile "
                   f"{', '.join(sorted({r.profile for r in p.new_runs}))}")
        out.append("")
        interval = "interval" if p.mode == "baseline" else f"{CONFIDENCE:.0%} CI"
        out.append(f"| benchmark | shape | timed by | {base_label} median (us) | {new_label} median (us) | "
                   f"host medians (us) | ratio | {interval} | p | min effect | detects | verdict |")
        out.append("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|")
        for r in p.rows:
            v = r.result
            ci = f"{v.low:.3f}-{v.high:.3f}" if v.low is not None else "-"
            pv = f"{v.p:.2g}" if v.p is not None else "-"
            word = f"**{v.verdict}**" if v.verdict in (SLOWER, FASTER) else v.verdict
            notes = [x for x in (v.note, f"the machine? {r.explained}" if r.explained else "",
                                 f"**{r.throttled}**" if r.throttled else "") if x]
            if notes:
                word += f" ({'; '.join(notes)})"
            timer, host = "host", "-"
            if r.timer == "device":
                timer, host = "device (CUDA events)", f"{_us(r.base_host)} → {_us(r.new_host)}"
            ratio = "-" if r.verdict == NOT_COMPARED else f"{v.ratio:.2f}"
            detects = f"≥ {r.min_detectable:.2f}x" if r.min_detectable else "-"
            out.append(f"| {r.name} | {r.shape} | {timer} | {_us(r.base_median)} | {_us(r.new_median)} | {host} | "
                       f"{ratio} | {ci} | {pv} | {r.min_effect:.0%} | {detects} | {word} |")
        counts = {w: sum(r.verdict == w for r in p.rows) for w in WORDS}
        out.append("")
        out.append("Verdicts: " + ", ".join(f"{n} {w}" for w, n in counts.items()) + ".")
        out += describe_pairing(p, base_label, new_label)
        if p.only_base:
            out.append(f"Only in {base_label}: {_names(p.only_base)}.")
        if p.only_new:
            out.append(f"Only in {new_label}: {_names(p.only_new)}.")
        out.append("")
    if len(pairings) > 1:
        out.append(side_by_side(pairings))
    return "\n".join(out).rstrip() + "\n"


def side_by_side(pairings: list[Pairing]) -> str:
    """One row per benchmark, one column per machine: ratio and verdict."""
    cols = [p for p in pairings if p.rows]
    names = sorted({r.name for p in cols for r in p.rows})
    cells = {(i, r.name): r.verdict if r.verdict == NOT_COMPARED else f"{r.result.ratio:.2f} {r.verdict}"
             for i, p in enumerate(cols) for r in p.rows}
    lines = ["### All machines side by side (ratio NEW/BASE and verdict)", "",
             "| benchmark | " + " | ".join(f"`{p.label}`" for p in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cells.get((i, name), "-") for i in range(len(cols))) + " |")
    return "\n".join(lines) + "\n"


def as_json(pairings: list[Pairing], status: int) -> dict:
    """Every verdict as data (``--json``)."""
    out = {"status": status, "pairings": []}
    for p in pairings:
        out["pairings"].append({
            "base_fingerprint": p.base_fp, "new_fingerprint": p.new_fp, "mode": p.mode,
            "base_runs": [str(r.path) for r in p.base_runs], "new_runs": [str(r.path) for r in p.new_runs],
            "machine_drift": p.machine_drift, "machine_state": p.drifts, "notes": p.notes,
            "statistic": p.statistic if p.mode == "baseline" else None,
            "base_span": None if p.span is None else {**dataclasses.asdict(p.span), "short": p.span.short},
            "second_timing": [str(r.path) for r in p.second],
            "only_base": p.only_base, "only_new": p.only_new,
            "verdicts": [{
                "benchmark": r.name, "experiment": r.experiment, "verdict": r.verdict,
                "ratio": None if not math.isfinite(r.result.ratio) else r.result.ratio,
                "low": r.result.low, "high": r.result.high, "p": r.result.p,
                "min_effect": r.min_effect, "min_detectable": r.min_detectable,
                "basis": r.basis, "runs": {"base": r.runs[0], "new": r.runs[1]},
                "timed_by": r.timer, "base_median_s": r.base_median, "new_median_s": r.new_median,
                "note": r.result.note, "machine_could_explain": r.explained, "gpu_throttled": r.throttled,
                "confirmed": r.confirmed,
            } for r in p.rows],
        })
    return out


def slower_lines(pairings: list[Pairing]) -> list[str]:
    """One line per row called slower: its ratio, what the baseline could detect, and what else it says
    (the gate's lines under its table)."""
    return [f"{row.name}: {row.verdict}, {row.ratio_text()}, detects >= {row.min_detectable:.2f}x"
            + (f" (the machine? {row.explained})" if row.explained else "")
            + (f" ({row.throttled})" if row.throttled else "")
            for p in pairings for row in p.called()]


def show(pairings: list[Pairing], as_data: bool = False) -> Status:
    """Print a comparison as ``compare`` does (its tables, or with ``as_data`` its JSON; a warning where it
    compares different hardware, and the lines of its outcome on stderr) and return its exit status
    (nptbench.analysis.comparison.outcome)."""
    for p in pairings:
        if p.base_runs and not p.same_hardware:
            print(f"WARNING: comparing different hardware: {p.base_fp} vs {p.new_fp}", file=sys.stderr)
    status, lines = outcome(pairings)
    if as_data:
        print(json.dumps(as_json(pairings, status), indent=1))
    else:
        print(render(pairings))
    for line in lines:
        print(f"nptbench compare: {line}", file=sys.stderr)
    return status


def wall_verdicts(pairings: list[Pairing]) -> dict:
    """benchmark name -> its wall-time verdict and ratio: the column a count table shows beside its own."""
    return {r.bench or r.name: f"{r.verdict}, {r.result.ratio:.2f}x" for p in pairings for r in p.rows}


def show_counts(pairing: counts.CountPairing, times: dict | None = None, command: str = "compare",
                base_label: str = "BASE", new_label: str = "NEW") -> Status:
    """Print a count comparison (nptbench.analysis.counts.render; ``times``: :func:`wall_verdicts` of the
    same rows, shown beside, never combined), name the rows called slower on stderr, and return its exit
    status (nptbench.analysis.counts.status_of)."""
    print(counts.render(pairing, times, base_label, new_label))
    called = counts.slower(pairing)
    if called:
        print(f"nptbench {command}: {len(called)} benchmark(s) slower in counts: {', '.join(called)}", file=sys.stderr)
    return counts.status_of(pairing)
