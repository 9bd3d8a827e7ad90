"""``python -m nptbench report RUN... --out DIR``: what the saved runs say, next to what the seeds said.

The seed documents (000-004) each print a few times and a speed-up. This report reads one or more saved
pytest-benchmark runs (CPU-only, GPU-only, or merged from several machines) and writes ``report.md`` (with
its plots in ``DIR/img``) and a self-contained ``report.html`` (plots embedded) holding:

- the machines and versions each run measured, and their roofline ceilings;
- the claims ledger: every claim of nptbench/claims.toml with the seed's ratio, ours, a verdict and,
  where the seed's comparison was unfair, the fair ratio and why;
- one table and one bar chart per experiment: time, ratio to the slowest and the fastest variant,
  achieved rates and % of the ceiling that bounds each;
- a roofline chart per machine and a chart of the seeds' ratios against ours;
- the benchmarks that were skipped, with their reasons.

Results are grouped by *context*: one machine at one size profile, and results under other conditions
(nptbench.record.conditions: a cold L2, the run's thread variables) in a context of their own
(``M1/default/cold-L2``). Ratios are only taken within a context. Several runs of one benchmark in one
context are pooled (:func:`pool`), never replaced, and each row says how many runs and rounds it rests on.
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import claims as claims_mod
from . import devicetime, roofline
from .baseline import BaselineError, commit_label, is_run_file, load_run, run_fingerprint
from .record import DEVICE_TIME_LABEL, conditions, conditions_label, lead_time

BACKEND_COLORS = {"python": "#8c564b", "numpy": "#1f77b4", "torch": "#ff7f0e", "numba": "#2ca02c"}
VERDICT_COLORS = {
    claims_mod.REPRODUCED: "#2ca02c", claims_mod.LARGER: "#1f77b4", claims_mod.SMALLER: "#d62728",
    claims_mod.NOT_MEASURABLE: "#7f7f7f", claims_mod.NO_FIGURE: "#9467bd",
}


class ReportError(Exception):
    """A run cannot be read or the report cannot be made; the message says why."""


# --- reading runs -------------------------------------------------------------------------------------

@dataclass
class Machine:
    key: str  # the hardware fingerprint (nptbench.baseline.run_fingerprint)
    label: str  # M1, M2 ...
    nodes: list  # host names of the runs from this hardware
    cpu: str
    cores: object
    gpus: list
    info: dict  # machine_info of the latest run from this machine
    ceilings: dict = field(default_factory=dict)


@dataclass
class Result:
    context: str
    experiment: str
    variant: str
    record: dict
    median: float
    q1: float | None
    q3: float | None
    rounds: int
    roof: dict
    roof_time: str
    run: str
    host_rounds: list | None = None
    runs: int = 1  # runs of the same context and conditions pooled into this result

    @property
    def lead(self) -> float:
        """The time this result is read by: device time on a GPU where recorded, else the host median."""
        return lead_time(self.record, self.median)[0]

    @property
    def on_device(self) -> bool:
        return lead_time(self.record, self.median)[1] == DEVICE_TIME_LABEL

    def per_unit(self, seconds: float) -> float:
        """``seconds`` per unit of the experiment's work: per iteration where a call runs several
        (``iterations`` in the record), so that variants running different counts compare."""
        its = self.record.get("iterations")
        return seconds / its if isinstance(its, (int, float)) and its > 0 else seconds

    @property
    def unit_time(self) -> float:
        return self.per_unit(self.lead)


@dataclass
class Skip:
    context: str
    name: str
    experiment: str | None
    variant: str | None
    reason: str


@dataclass
class Runs:
    files: list = field(default_factory=list)  # (path, datetime, machine label, profile, commit)
    machines: dict = field(default_factory=dict)  # key -> Machine
    results: dict = field(default_factory=dict)  # (context, experiment, variant) -> Result
    skips: list = field(default_factory=list)
    pooled: int = 0  # results resting on several runs
    ignored: list = field(default_factory=list)  # benchmarks without an nptbench record


def _use_stored_ceilings(runs: Runs, results: Path) -> None:
    from . import calibrate

    for m in runs.machines.values():
        doc = calibrate.read(calibrate.stored_path(m.key, results))
        threads = m.info.get("nptbench", {}).get("threads", {})
        if doc is None or calibrate.usable(doc, {"env": threads.get("env", {}), "torch": threads.get("torch")}):
            continue
        m.ceilings = doc
        for r in runs.results.values():
            if r.context.startswith(m.label + "/"):
                seconds, r.roof_time = roofline.roofline_time(r.record, r.median)
                r.roof = roofline.annotate(r.record, seconds, doc)


def expand(paths) -> list[Path]:
    """Run files: each path itself, or the .json files under a directory (sorted)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.json") if is_run_file(f))
            if not found:
                raise ReportError(f"{p}: no .json runs in this directory")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise ReportError(f"{p}: no such file or directory")
    return out


def _machine(data: dict) -> tuple[str, str, tuple]:
    """(key, CPU, GPU names) of the machine that measured a run. The key is the hardware fingerprint that
    baselines and ``compare`` use, so two hosts of the same hardware are one machine here too; a run that
    did not record one falls back to its host name and CPU."""
    mi = data["machine_info"]
    npt = mi.get("nptbench", {})
    cpu = npt.get("cpu_model") or mi.get("cpu", {}).get("brand_raw") or mi.get("processor") or "?"
    gpus = tuple(g.get("name", "?") for g in npt.get("gpus", []) or [])
    fp = run_fingerprint(data)
    return (fp if fp != "unknown" else f"{mi.get('node', '?')} / {cpu}"), cpu, gpus


def load_runs(paths, results: Path | None = None) -> Runs:
    """The runs at ``paths``. With ``results``, a machine whose fingerprint has stored ceilings there
    (``python -m nptbench calibrate``) measured with the runs' thread settings is held against those, and
    its roofline columns are computed again from them."""
    raw = []
    for path in expand(paths):
        try:
            data = load_run(path)  # the same reading and checks as compare and promote
        except BaselineError as exc:
            raise ReportError(str(exc)) from None
        if not isinstance(data.get("machine_info"), dict):
            raise ReportError(f"{path}: not a run of this suite (no 'machine_info')")
        raw.append((data.get("datetime", ""), str(path), data))
    raw.sort(key=lambda r: r[0])  # later runs replace earlier results of the same benchmark
    runs = Runs()
    for when, path, data in raw:
        mi = data["machine_info"]
        key, cpu, gpus = _machine(data)
        if key not in runs.machines:
            npt = mi.get("nptbench", {})
            runs.machines[key] = Machine(key, f"M{len(runs.machines) + 1}", [], cpu,
                                         npt.get("cpu_cores", "?"), list(gpus), mi)
        m = runs.machines[key]
        if mi.get("node", "?") not in m.nodes:
            m.nodes.append(mi.get("node", "?"))
        m.info = mi
        m.ceilings = mi.get("nptbench", {}).get("ceilings") or m.ceilings
        profile = mi.get("nptbench", {}).get("profile", "?")
        context = f"{m.label}/{profile}"
        run_label = conditions_label(conditions({}, mi.get("nptbench")))  # the run's thread variables
        context += f"/{run_label}" if run_label else ""
        runs.files.append((path, when, m.label, profile, commit_label(data)))
        for b in data["benchmarks"]:
            rec = b.get("extra_info", {}) or {}
            stats = b.get("stats", {}) or {}
            if not rec.get("experiment") or not rec.get("variant") or not stats.get("median"):
                runs.ignored.append(b.get("fullname", b.get("name", "?")))
                continue
            if "pct_of_ceiling" in rec:
                roof = {k: rec.get(k) for k in roofline.FIELDS}
                roof_time = rec.get("roofline_time", "median")
            else:  # a run saved without the roofline hook: derive from its ceilings, if any
                seconds, roof_time = roofline.roofline_time(rec, stats["median"])
                roof = roofline.annotate(rec, seconds, m.ceilings)
            # Other conditions (a cold L2) time other work: a context of their own, never a replacement.
            label = conditions_label(conditions(rec, mi.get("nptbench")))
            where = f"{m.label}/{profile}" + (f"/{label}" if label else "")
            result = Result(where, rec["experiment"], rec["variant"], rec, stats["median"], stats.get("q1"),
                            stats.get("q3"), stats.get("rounds") or len(stats.get("data") or []), roof, roof_time,
                            path, stats.get("data"))
            k = (where, rec["experiment"], rec["variant"])
            if k in runs.results:
                runs.pooled += runs.results[k].runs == 1
                result = pool(runs.results[k], result, m.ceilings)
            runs.results[k] = result
        for s in data.get("nptbench_skipped", []) or []:
            runs.skips.append(Skip(context, s.get("nodeid", "?"), s.get("experiment"), s.get("variant"),
                                   s.get("reason", "")))
    if not runs.results and not runs.skips:
        raise ReportError("the runs hold no nptbench benchmarks (no records in extra_info)")
    if results is not None:
        _use_stored_ceilings(runs, Path(results))
    return runs


def pool(a: Result, b: Result, ceilings: dict) -> Result:
    """One result from two runs of the same benchmark under the same conditions, neither dropped: their
    rounds joined (host rounds and, for a GPU record, per-call device times) where both runs saved all of
    them, else every time the mean of the two medians, weighted by how many runs each rests on. The record
    is the later run's, with the pooled device and kernel times; the roofline columns are taken again."""
    runs = a.runs + b.runs
    gpu = b.record.get("device") == "cuda"
    raw = all(r.host_rounds and (not gpu or r.record.get("device_times_s")) for r in (a, b))

    def weighted(name):
        x, y = a.record.get(name), b.record.get(name)
        return (x * a.runs + y * b.runs) / runs if x and y else None

    rec = dict(b.record)
    if raw:
        rounds = a.host_rounds + b.host_rounds
        median, (q1, q3) = float(np.median(rounds)), map(float, np.percentile(rounds, [25, 75]))
        device = a.record.get("device_times_s", []) + b.record.get("device_times_s", [])
        pooled = {"device_times_s": device or None, "device_time_s": float(np.median(device)) if device else None}
    else:
        rounds, median, q1, q3 = None, (a.median * a.runs + b.median * b.runs) / runs, None, None
        pooled = {"device_times_s": None, "device_time_s": weighted("device_time_s")}
    pooled["kernel_time_s"] = weighted("kernel_time_s")
    for name, value in pooled.items():
        if value is None:
            rec.pop(name, None)
        else:
            rec[name] = value
    seconds, roof_time = roofline.roofline_time(rec, median)
    return Result(b.context, b.experiment, b.variant, rec, median, q1, q3, a.rounds + b.rounds,
                  roofline.annotate(rec, seconds, ceilings), roof_time, f"{a.run}; {b.run}", rounds, runs)


def contexts(runs: Runs) -> list[str]:
    return sorted({r.context for r in runs.results.values()} | {s.context for s in runs.skips})


def times_by_context(runs: Runs, host: bool = False) -> dict:
    """context -> {(experiment, variant): time per unit}: the leading time (device time on a GPU), or with
    ``host`` the host median."""
    out: dict = {}
    for r in runs.results.values():
        out.setdefault(r.context, {})[(r.experiment, r.variant)] = r.per_unit(r.median) if host else r.unit_time
    return out


def skip_reasons(runs: Runs) -> dict:
    return {(s.experiment, s.variant): s.reason for s in runs.skips if s.experiment and s.variant}


# --- a document rendered both to Markdown and to HTML -------------------------------------------------

class Doc:
    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(("h", level, text))

    def p(self, text):
        self.blocks.append(("p", text))

    def table(self, header, rows):
        self.blocks.append(("table", header, rows))

    def img(self, path: Path, alt: str):
        self.blocks.append(("img", path, alt))

    def markdown(self, base: Path) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "table":
                cell = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
                out.append("\n".join(["| " + " | ".join(map(cell, b[1])) + " |",
                                      "|" + "|".join("---" for _ in b[1]) + "|",
                                      *("| " + " | ".join(map(cell, r)) + " |" for r in b[2])]))
            elif b[0] == "img":
                out.append(f"![{b[2]}]({b[1].relative_to(base).as_posix()})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
               "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
               "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
               "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
               "th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3}</style></head><body>"]
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{b[1]}>{html.escape(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{_inline_html(b[1])}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{_inline_html(str(c))}</th>" for c in b[1]) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{_inline_html(str(c))}</td>" for c in r) + "</tr>" for r in b[2]]
                out.append("</table>")
            elif b[0] == "img":
                data = base64.b64encode(b[1].read_bytes()).decode()
                out.append(f"<p><img alt='{html.escape(b[2])}' src='data:image/png;base64,{data}'></p>")
        out.append("</body></html>")
        return "\n".join(out)


def _inline_html(text: str) -> str:
    """Escape, then render the only Markdown the report writes inline: `code` and **bold**."""
    parts = html.escape(text).split("`")
    s = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = s.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


# --- plots --------------------------------------------------------------------------------------------

def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ReportError("the report's plots need matplotlib: pip install 'nptbench[report]' "
                          "(or pass --no-plots)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _label_points(ax, points, fontsize: float = 7) -> None:
    """Label each (x, y, text) right of its point, moved down until it overlaps no label placed before.

    Call after the axes' limits and layout are final: placement works in display pixels."""
    fig = ax.figure
    fig.canvas.draw()
    char_w, line_h = fontsize * 0.62 * fig.dpi / 72, fontsize * 1.25 * fig.dpi / 72
    placed = []  # (left, bottom, width) of each label so far, in pixels
    for x, y, text in sorted(points, key=lambda p: -p[1]):
        px, py = ax.transData.transform((x, y))
        left, bottom, width = px + 6, py - line_h / 2, char_w * len(text)
        for _ in range(40):
            if not any(left < bl + bw and bl < left + width and bottom < bb + line_h and bb < bottom + line_h
                       for bl, bb, bw in placed):
                break
            bottom -= line_h * 0.8
        placed.append((left, bottom, width))
        dy = (bottom + line_h / 2 - py) * 72 / fig.dpi
        ax.annotate(text, (x, y), xytext=(6, dy), textcoords="offset points", fontsize=fontsize, va="center",
                    color="#222", arrowprops=dict(arrowstyle="-", lw=0.4, color="#999") if dy < -2 else None)


def plot_experiment(plt, experiment: str, results: list, many_contexts: bool, path: Path) -> None:
    """Horizontal bars of time (log scale) by variant, fastest on top, coloured by backend."""
    rows = sorted(results, key=lambda r: r.unit_time, reverse=True)
    labels = [r.variant + (f"  [{r.context}]" if many_contexts else "") for r in rows]
    values = [r.unit_time for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.32 * len(rows)))
    colors = [BACKEND_COLORS.get(r.record.get("backend"), "#7f7f7f") for r in rows]
    ax.barh(range(len(rows)), values, color=colors, height=0.7)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), labels, fontsize=9)
    lo, hi = min(values), max(values)
    ax.set_xlim(lo / 3, hi * 8)
    for i, v in enumerate(values):
        ax.text(v * 1.1, i, roofline.fmt_time(v), va="center", fontsize=8)
    per = " per iteration" if any(r.record.get("iterations") for r in rows) else ""
    ax.set_xlabel(f"median time{per} (log scale)")
    ax.set_title(f"{experiment}: time by variant (shorter is faster)", fontsize=11)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for b, c in BACKEND_COLORS.items()
               if any(r.record.get("backend") == b for r in rows)]
    # Fastest on top, so the upper right corner is free for the legend.
    ax.legend(handles, [b for b in BACKEND_COLORS if any(r.record.get("backend") == b for r in rows)],
              fontsize=8, loc="upper right")
    ax.grid(axis="x", which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roofline(plt, context: str, results: list, ceilings: dict, path: Path) -> int:
    """Operational intensity (flop/byte) against achieved GFLOP/s, with each device's two ceilings.

    Colour = experiment, marker = device, each point labelled with its variant. Returns how many
    results could be placed (those with both flops and bytes)."""
    pts = [r for r in results if r.record.get("flops") and r.record.get("bytes") and r.roof.get("achieved_gflops")]
    fig, ax = plt.subplots(figsize=(9.5, 6))
    xs = [r.record["flops"] / r.record["bytes"] for r in pts] or [0.1, 10]
    ridges = [c["matmul_gflops"]["float32"] / c["copy_gbps"] for c in ceilings.values()
              if isinstance(c, dict) and c.get("copy_gbps") and c.get("matmul_gflops", {}).get("float32")]
    x_lo, x_hi = min(xs + ridges) / 4, max(xs + ridges) * 4
    grid = [x_lo * (x_hi / x_lo) ** (i / 200) for i in range(201)]
    for dev, style in (("cpu", "-"), ("cuda", "--")):
        c = ceilings.get(dev)
        if not c or not c.get("copy_gbps"):
            continue
        bw = c["copy_gbps"]
        for dt, width in (("float32", 2.0), ("float64", 1.0)):
            peak = c.get("matmul_gflops", {}).get(dt)
            if peak:
                ax.plot(grid, [min(peak, bw * x) for x in grid], style, color="#444", lw=width,
                        label=f"{dev} ceiling: {dt} matmul {peak:,.0f} GFLOP/s, copy {bw:,.1f} GB/s")
    experiments = sorted({r.experiment for r in pts})
    ncolors = 10 if len(experiments) <= 10 else 20
    cmap = plt.get_cmap(f"tab{ncolors}")
    for i, exp in enumerate(experiments):
        for dev, marker in (("cpu", "o"), ("cuda", "^")):
            sel = [r for r in pts if r.experiment == exp and r.record.get("device") == dev]
            if not sel:
                continue
            x = [r.record["flops"] / r.record["bytes"] for r in sel]
            y = [r.roof["achieved_gflops"] for r in sel]
            ax.scatter(x, y, marker=marker, s=40, color=cmap(i % ncolors), edgecolors="black", linewidths=0.5,
                       label=f"{exp} ({'GPU' if dev == 'cuda' else 'CPU'})", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_xlabel("operational intensity (flop per byte of least traffic)")
    ax.set_ylabel("achieved GFLOP/s (median time)")
    ax.set_title(f"Roofline {context}: solid = CPU ceilings, dashed = GPU; thick fp32, thin fp64", fontsize=10)
    ax.grid(which="both", alpha=0.2)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    _label_points(ax, [(r.record["flops"] / r.record["bytes"], r.roof["achieved_gflops"], r.variant) for r in pts],
                  fontsize=6.5)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(pts)


def plot_claims(plt, rows: list, tolerance: float, path: Path) -> int:
    """The seeds' ratios against ours (log-log); hollow marks the fair ratio where there is one."""
    pts = [r for r in rows if r.ours is not None and r.claim.seed_ratio]
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    seed_x = lambda r: r.claim.seed_ratio[0]  # noqa: E731 - a range plots at its low end
    vals = [seed_x(r) for r in pts] + [r.ours for r in pts] + [r.fair for r in pts if r.fair] or [1, 10]
    lo, hi = min(vals + [1]) / 3, max(vals) * 3
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="ours = seed's")
    ax.fill_between([lo, hi], [lo / tolerance, hi / tolerance], [lo * tolerance, hi * tolerance],
                    color="#2ca02c", alpha=0.12, label=f"reproduced (within {tolerance:g}x)")
    ax.axhline(1, color="#999", lw=0.8, ls=":")
    many = len({p.context for p in pts}) > 1
    for r in pts:
        x = seed_x(r)
        color = VERDICT_COLORS[r.verdict]
        if _own_fair(r):
            ax.plot([x, x], [r.ours, r.fair], color=color, lw=0.8, zorder=2)
            ax.scatter([x], [r.fair], facecolors="white", edgecolors=color, s=40, zorder=3)
        ax.scatter([x], [r.ours], color=color, s=40, zorder=4, edgecolors="black", linewidths=0.5)
    for verdict, color in VERDICT_COLORS.items():
        if any(r.verdict == verdict for r in pts):
            ax.scatter([], [], color=color, label=verdict, edgecolors="black", linewidths=0.5)
    if any(_own_fair(r) for r in pts):
        ax.scatter([], [], facecolors="white", edgecolors="black", label="fair ratio (another pair)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("seed's claimed speed-up (time of baseline / time of contender)")
    ax.set_ylabel("our measured speed-up")
    ax.set_title("Seed claims: their speed-up against ours", fontsize=11)
    ax.grid(which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _label_points(ax, [(seed_x(r), r.ours, r.claim.id + (f" [{r.context}]" if many else "")) for r in pts])
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(pts)


def _own_fair(row) -> bool:
    """A fair ratio from a pair other than the seed's (the same pair, timed fairly, is the ratio itself)."""
    c = row.claim
    return row.fair is not None and (c.fair_baseline, c.fair_contender) != (c.baseline, c.contender)


# --- the report ---------------------------------------------------------------------------------------

def _v(d: dict, *keys, default="-"):
    for k in keys:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return default
        d = d[k]
    return d


def _figure(r: Result) -> str:
    """`experiment/variant` and its time: the device time first on a GPU, the host median beside it."""
    name = f"`{r.experiment}/{r.variant}` "
    its = r.record.get("iterations")
    per = f" per iteration of {its}" if r.per_unit(1.0) != 1.0 else ""
    if r.on_device:
        return name + f"{roofline.fmt_time(r.unit_time)} device ({roofline.fmt_time(r.per_unit(r.median))} host){per}"
    return name + roofline.fmt_time(r.unit_time) + per


def _rate(r: Result) -> str:
    """Bytes per second of a result's leading time (its record's ``bytes``)."""
    nbytes = r.record.get("bytes")
    return f"{roofline.fmt_num(nbytes / r.lead / 1e9)} GB/s of {nbytes / 1e6:,.0f} MB" if nbytes else "no bytes recorded"


def _floor(floor) -> str:
    if not floor:
        return "-"
    return f"{roofline.fmt_time(floor['host_s'])} / {roofline.fmt_time(floor['device_s'])}"


_pct = roofline.fmt_pct


def _ceiling_source(ceilings: dict) -> str:
    source = ceilings.get("source")
    if source == "stored":
        return f"stored {str(ceilings.get('date', '?'))[:10]}"
    return source or "quick"  # runs saved before sources were recorded measured quick ceilings


def build(runs: Runs, out: Path, plots: bool = True, claims_path=claims_mod.PATH) -> dict:
    """Write report.md, report.html and img/*.png into ``out``; returns the paths written."""
    plt = _pyplot() if plots else None
    out.mkdir(parents=True, exist_ok=True)
    img = out / "img"
    if plots:
        img.mkdir(exist_ok=True)
    ctxs = contexts(runs)
    many = len(ctxs) > 1
    claims, tolerance = claims_mod.load(claims_path)
    rows = claims_mod.evaluate(claims, times_by_context(runs), tolerance, skip_reasons(runs),
                               host=times_by_context(runs, host=True))
    doc = Doc()

    doc.h(1, "nptbench report")
    doc.p(f"{len(runs.files)} run(s), {len(runs.results)} benchmark result(s), {len(runs.skips)} skipped, "
          f"{len(runs.machines)} machine(s). Times are pytest-benchmark medians (per iteration where a call "
          "runs several); GPU results are read by their device time first (the median of CUDA events around "
          "each timed call), with the host median beside it, which also holds the per-call synchronization "
          "(the machine's timer floor says how much). Ratios are taken only between results of the same "
          "context: one machine at one size profile, written `M1/default`, and results under other conditions "
          "in a context of their own (`M1/default/cold-L2`: the L2 cache flushed before every round; thread "
          "variables the run was started with are named likewise).")
    counts = {v: sum(r.verdict == v for r in rows) for v in claims_mod.VERDICTS}
    doc.p("Claims: " + ", ".join(f"**{n}** {v}" for v, n in counts.items() if n) + ".")
    if runs.pooled:
        doc.p(f"{runs.pooled} result(s) rest on several runs of the same context and conditions: their rounds "
              "are pooled (joined where the runs saved them, else their medians averaged), and the `runs` "
              "column says how many.")

    doc.h(2, "Runs")
    doc.table(["file", "date (UTC)", "machine", "profile", "commit"],
              [[f"`{Path(p).name}`", w[:19].replace("T", " "), m, prof, c] for p, w, m, prof, c in runs.files])

    doc.h(2, "Machines and versions")
    mrows = []
    for m in runs.machines.values():
        npt = m.info.get("nptbench", {})
        vers = _v(npt, "versions", default={})
        gpus = "; ".join(f"{g.get('name')} (cc {g.get('capability')}, {g.get('memory_gib')} GiB, driver "
                         f"{g.get('driver')}, CUDA {g.get('cuda_runtime')})" for g in npt.get("gpus", []) or []) or "none"
        mrows.append([m.label, f"`{m.key}`", ", ".join(m.nodes), m.cpu, m.cores, gpus, m.info.get("python_version", "-"),
                      *(vers.get(k) or "-" for k in ("numpy", "torch", "numba")),
                      f"numpy: {_v(npt, 'blas', 'numpy')}; torch: {_v(npt, 'blas', 'torch')}",
                      _v(npt, "threads", "torch"), _floor(npt.get("timer_floor"))])
    doc.table(["id", "fingerprint", "hosts", "CPU", "cores", "GPU", "python", "numpy", "torch", "numba", "BLAS",
               "torch threads", "timer floor (host / device)"], mrows)
    floors = [f"{m.label}: {devicetime.describe_timer_floor(m.info.get('nptbench', {}).get('timer_floor'))}."
              for m in runs.machines.values() if m.info.get("nptbench", {}).get("timer_floor")]
    if floors:
        doc.p(" ".join(floors))
    elif any(m.gpus for m in runs.machines.values()):
        doc.p("Timer floor: not recorded in these runs (saved before the suite measured it).")

    doc.h(2, "Roofline ceilings")
    doc.p("The fastest large fp32 and fp64 matrix product (TF32 off on a GPU) and the fastest large copy, "
          "counting bytes read plus written; on a GPU also pinned host-device copies. `stored`: measured "
          "carefully by `python -m nptbench calibrate` (results/<fingerprint>/ceilings.json, used where the "
          "runs' thread settings match); `quick`: measured in a second or two at the start of the session, "
          "from operands that may be too small to reach the peak (so `% ceiling` may read high). A benchmark "
          "is held against the ceiling that bounds it: compute when flops/peak exceeds bytes/bandwidth, else "
          "memory. Above 100 % of a memory ceiling, each experiment says why (operands within the cache, "
          "whose copy ceiling is a DRAM rate, or a ceiling measured too low).")
    crows = []
    for m in runs.machines.values():
        for dev in ("cpu", "cuda"):
            c = m.ceilings.get(dev)
            if c:
                mm = c.get("matmul_gflops", {})
                reduced = " / ".join(roofline.fmt_num(mm.get(k)) for k in ("tf32", "bfloat16", "float16"))
                crows.append([m.label, dev, _ceiling_source(m.ceilings), roofline.fmt_num(mm.get("float32")),
                              roofline.fmt_num(mm.get("float64")),
                              reduced if mm.get("tf32") else "-", roofline.fmt_num(c.get("copy_gbps")),
                              roofline.fmt_num(c.get("h2d_gbps")), roofline.fmt_num(c.get("d2h_gbps")),
                              c.get("method", "-")])
        if not m.ceilings:
            crows.append([m.label, "-", "-", "-", "-", "-", "-", "-", "not measured in these runs"])
    doc.table(["machine", "device", "source", "fp32 GFLOP/s", "fp64 GFLOP/s", "tf32 / bf16 / fp16 GFLOP/s",
               "copy GB/s", "h2d GB/s", "d2h GB/s", "how measured"], crows)

    doc.h(2, "Claims ledger")
    doc.p(f"Each claim of the seed documents (nptbench/claims.toml) against the pair of benchmarks that tests "
          f"it. A ratio is time(baseline) / time(contender): how many times faster the contender is. "
          f"Verdict: **reproduced** within a factor {tolerance:g} of the seed's ratio (or range), else "
          f"**larger** or **smaller**; **not measurable here** when a benchmark of the pair did not run. "
          f"The fair ratio compares like with like where the seed's comparison did not. Ours are measured "
          f"at the context's size profile: only the `seed` profile uses the seeds' exact shapes. A GPU side "
          f"is read by its device time; the host ratio (host medians on both sides) is what a caller waits "
          f"for. Ratios never cross machines: a claim whose two sides ran on different machines is not "
          f"measurable, and the figures of the side that ran are given.")
    lrows = []
    for r in rows:
        c = r.claim
        ran = "; ".join(f"{_figure(runs.results[(ctx, *pair)])} in {ctx}" for pair, ctx in r.measured)
        why = " ".join(x for x in (c.unfair, f"({r.why})" if r.why else "", f"Measured: {ran}." if ran else "")
                       if x)
        if not c.fair_baseline:
            fair = "-"
        elif (c.fair_baseline, c.fair_contender) == (c.baseline, c.contender):
            fair = f"{claims_mod.fmt_ratio(r.fair)} (the same pair, timed alike)"
        else:
            fair = f"{claims_mod.fmt_ratio(r.fair)} (`{c.fair_baseline[1]}` → `{c.fair_contender[1]}`)"
        lrows.append([f"**{c.id}**", c.seed, f"\"{c.quote}\"", f"{c.seed_figures}; {c.hardware}",
                      f"`{c.baseline[0]}`: `{c.baseline[1]}` → `{c.contender[1]}`"
                      if c.baseline[0] == c.contender[0] else f"`{c.baseline[0]}/{c.baseline[1]}` → "
                      f"`{c.contender[0]}/{c.contender[1]}`",
                      claims_mod.fmt_seed_ratio(c.seed_ratio), claims_mod.fmt_ratio(r.ours),
                      "-" if r.ours is None else claims_mod.fmt_ratio(r.host) if r.host != r.ours else "same",
                      "; ".join(_figure(runs.results[(r.context, *pair)]) for pair in (c.baseline, c.contender))
                      if r.ours is not None else "-",
                      f"**{r.verdict}**", fair, why or "-", r.context or "-"])
    doc.table(["claim", "seed", "quote", "seed's figures; hardware", "pair (baseline → contender)", "seed ratio",
               "our ratio", "host ratio", "our figures", "verdict", "fair ratio", "why unfair / why not measured",
               "context"], lrows)
    notes = [f"**{r.claim.id}**: {r.claim.note}" for r in rows if r.claim.note]
    if notes:
        doc.p("Notes: " + " ".join(dict.fromkeys(notes)))
    for r in rows:
        shown = [runs.results[(r.context, *e)] for e in r.claim.evidence if (r.context, *e) in runs.results]
        if shown:
            doc.p(f"Evidence for **{r.claim.id}** in {r.context}: "
                  + "; ".join(f"{_figure(x)}, {_rate(x)}" for x in shown) + ".")
    if plots:
        p = img / "claims.png"
        n = plot_claims(plt, rows, tolerance, p)
        doc.img(p, "seed ratio against our ratio")
        doc.p(f"{n} claim(s) plotted; claims without a seed figure or without both benchmarks are in the table only.")

    doc.h(2, "Experiments")
    by_exp: dict = {}
    for r in runs.results.values():
        by_exp.setdefault(r.experiment, []).append(r)
    for exp in sorted(by_exp):
        res = by_exp[exp]
        doc.h(3, exp)
        if plots:
            p = img / f"exp-{_slug(exp)}.png"
            plot_experiment(plt, exp, res, many, p)
            doc.img(p, f"{exp}: time by variant")
        trows = []
        per_iter = any(r.record.get("iterations") for r in res)
        kernel = any(r.record.get("kernel_time_s") for r in res)
        for ctx in sorted({r.context for r in res}):
            sel = sorted((r for r in res if r.context == ctx), key=lambda r: r.unit_time)
            fastest, slowest = sel[0].unit_time, sel[-1].unit_time
            for r in sel:
                rec, roof = r.record, r.roof
                iqr = (r.q3 - r.q1) if r.q1 is not None and r.q3 is not None else None
                trows.append([*([ctx] if many else []), f"`{r.variant}`", rec.get("backend"), rec.get("device"),
                              rec.get("dtype"), roofline.fmt_time(r.lead), "device" if r.on_device else "host",
                              roofline.fmt_time(r.median) if r.on_device else "-",
                              *([roofline.fmt_time(rec.get("kernel_time_s"))] if kernel else []),
                              *([roofline.fmt_time(r.unit_time)] if per_iter else []),
                              roofline.fmt_time(iqr), r.runs, r.rounds, f"{slowest / r.unit_time:.3g}x",
                              f"{r.unit_time / fastest:.3g}x", roofline.fmt_num(roof.get("achieved_gflops")),
                              roofline.fmt_num(roof.get("achieved_gbps")), roof.get("bound") or "-",
                              _pct(roof.get("pct_of_ceiling")),
                              "-" if rec.get("rel_err") is None else f"{rec['rel_err']:.1e}"])
        doc.table([*(["context"] if many else []), "variant", "backend", "device", "dtype", "median", "timed by",
                   "host median", *(["kernel time"] if kernel else []),
                   *(["per iteration"] if per_iter else []), "host IQR", "runs", "rounds", "speed-up vs slowest",
                   "time / fastest", "GFLOP/s", "GB/s", "bound", "% ceiling", "rel. error"], trows)
        above = [f"`{r.variant}` ({r.context}): {_pct(r.roof['pct_of_ceiling'])} %, {r.roof['ceiling_note']}"
                 for r in res if r.roof.get("ceiling_note")]
        if above:
            doc.p("Above the memory ceiling: " + "; ".join(above) + ".")
        shapes = {json.dumps(r.record.get("shape")) for r in res}
        doc.p("Operand shapes: " + "; ".join(f"`{s}`" for s in sorted(shapes)) + ". Dataset: "
              + ", ".join(sorted({str(r.record.get("dataset")) for r in res})) + ".")

    doc.h(2, "Checks")
    flags = [devicetime.kernel_time_flag(f"{r.context} `{r.experiment}/{r.variant}`", r.record, r.host_rounds)
             for r in runs.results.values()]
    flags = [f for f in flags if f]
    checked = sum(bool(r.record.get("kernel_time_s") and r.record.get("device_time_s")) for r in runs.results.values())
    doc.p(f"`kernel_time_s <= device_time_s` (the kernel time leaves out the launch's host cost): checked on "
          f"{checked} result(s) that have both, broken by {len(flags)}"
          + (". **Flagged:** " + "; ".join(flags) + ". Within the rounds' spread, the GPU's clock moved between "
             "the timed rounds and the kernel-time calls after them (results/GPU.md)." if flags else "."))

    doc.h(2, "Roofline charts")
    for ctx in sorted({r.context for r in runs.results.values()}):
        res = [r for r in runs.results.values() if r.context == ctx]
        m = next(m for m in runs.machines.values() if ctx.startswith(m.label + "/"))
        if not plots:
            break
        p = img / f"roofline-{_slug(ctx)}.png"
        n = plot_roofline(plt, ctx, res, m.ceilings, p)
        doc.img(p, f"roofline {ctx}")
        doc.p(f"{ctx}: {n} of {len(res)} results placed (the others lack flops or bytes, or a ceiling). "
              "Lines: attainable rate min(peak, bandwidth x intensity) for fp32 (thick) and fp64 (thin).")

    doc.h(2, "Skipped benchmarks")
    if runs.skips:
        doc.table(["context", "benchmark", "reason"],
                  [[s.context, f"`{s.name}`", s.reason] for s in sorted(runs.skips, key=lambda s: (s.context, s.name))])
    else:
        doc.p("None recorded (runs saved before skips were recorded hold no list).")
    if runs.ignored:
        doc.p(f"{len(runs.ignored)} benchmark(s) without an nptbench record were left out: "
              + ", ".join(f"`{n}`" for n in runs.ignored[:20]) + (" ..." if len(runs.ignored) > 20 else ""))

    md, page = out / "report.md", out / "report.html"
    md.write_text(doc.markdown(out), encoding="utf-8")
    page.write_text(doc.html("nptbench report"), encoding="utf-8")
    return {"markdown": md, "html": page, "images": sorted(img.glob("*.png")) if plots else []}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench report",
        description="Markdown and HTML report (roofline, claims ledger, plots) from saved pytest-benchmark runs.")
    parser.add_argument("runs", nargs="+", help="saved runs (--benchmark-json files, or directories of them)")
    parser.add_argument("--out", required=True, type=Path, help="directory for report.md, report.html, img/")
    parser.add_argument("--no-plots", action="store_true", help="tables only (no matplotlib needed)")
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="where stored ceilings are looked up per fingerprint (default: ./results)")
    parser.add_argument("--run-ceilings", action="store_true",
                        help="hold each run against the ceilings it measured, even where stored ones exist")
    args = parser.parse_args(argv)
    try:
        written = build(load_runs(args.runs, None if args.run_ceilings else args.results), args.out,
                        plots=not args.no_plots)
    except (ReportError, RuntimeError) as exc:
        print(f"nptbench report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written['markdown']} and {written['html']} ({len(written['images'])} plots)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
