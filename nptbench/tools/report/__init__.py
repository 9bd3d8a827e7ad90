"""``python -m nptbench report RUN... --out DIR``: what the saved runs say, next to what the seeds said.

The seed documents (000-004) each print a few times and a speed-up. This report reads one or more saved
pytest-benchmark runs (CPU-only, GPU-only, or merged from several machines) and writes ``report.md`` (with
its SVG plots in ``DIR/img``) and a self-contained ``report.html`` (plots inline) holding:

- the machines and versions each run measured, and their roofline ceilings;
- the claims ledger: every claim of nptbench/analysis/claims.toml with the seed's ratio, ours, a verdict and,
  where the seed's comparison was unfair, the fair ratio and why;
- one table and one bar chart per experiment: time, ratio to the slowest and the fastest variant,
  achieved rates and % of the ceiling that bounds each;
- a roofline chart per machine and a chart of the seeds' ratios against ours;
- the benchmarks that were skipped, with their reasons.

Results are grouped by *context*: one machine at one size profile, and results under other conditions
(nptbench.schema.record.conditions: a cold L2, the run's thread variables) in a context of their own
(``M1/default/cold-L2``). Ratios are only taken within a context. Several runs of one benchmark in one
context are pooled as compare pools them (nptbench.analysis.across), never replaced, and each row says how many runs and
rounds it rests on.

Here: each section of the report as one function, in the order :func:`build` calls them. The results
and their contexts are nptbench.tools.report.data's, the document (Markdown and HTML) nptbench.tools.report.md's,
the charts nptbench.tools.report.plots', drawn as the dashboard's are (nptbench.tools.report.svg): no
plotting library, so the report works after the README's first command alone.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nptbench.analysis import claims, counts
from nptbench.analysis import gpu_records
from nptbench.analysis.fmt import fmt_num, fmt_pct, fmt_time
from nptbench.schema import layout
from nptbench.schema.record import per_second
from nptbench.schema.runs import RunError
from nptbench.schema.store import run_paths
from nptbench.tools.report.data import ReportError, Result, Runs, contexts, gather, skip_reasons, times_by_context
from nptbench.tools.report.md import Doc
from nptbench.tools.report.plots import plot_claims, plot_experiment, plot_roofline


# --- names --------------------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


# --- how a result reads in a sentence or a cell -------------------------------------------------------

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
        return name + f"{fmt_time(r.unit_time)} device ({fmt_time(r.per_unit(r.median))} host){per}"
    return name + fmt_time(r.unit_time) + per


def _rate(r: Result) -> str:
    """Bytes per second of a result's leading time (its record's ``bytes``)."""
    nbytes = r.record.get("bytes")
    if not nbytes:
        return "no bytes recorded"
    return f"{fmt_num(per_second(r.record, r.lead)['bytes'] / 1e9)} GB/s of {nbytes / 1e6:,.0f} MB"


def _floor(floor) -> str:
    if not floor:
        return "-"
    return f"{fmt_time(floor['host_s'])} / {fmt_time(floor['device_s'])}"


def _ceiling_source(ceilings: dict) -> str:
    source = ceilings.get("source")
    if source == "stored":
        return f"stored {str(ceilings.get('date', '?'))[:10]}"
    return source or "quick"  # runs saved before sources were recorded measured quick ceilings


# --- the sections, in the report's order ---------------------------------------------------------------

def summary(doc: Doc, runs: Runs, rows: list) -> None:
    doc.h(1, "nptbench report")
    doc.p(f"{len(runs.files)} run(s), {len(runs.results)} benchmark result(s), {len(runs.skips)} skipped, "
          f"{len(runs.machines)} machine(s). Times are pytest-benchmark medians (per iteration where a call "
          "runs several); GPU results are read by their device time first (the median of CUDA events around "
          "each timed call), with the host median beside it, which also holds the per-call synchronization "
          "(the machine's timer floor says how much). Ratios are taken only between results of the same "
          "context: one machine at one size profile, written `M1/default`, and results under other conditions "
          "in a context of their own (`M1/default/cold-L2`: the L2 cache flushed before every round; thread "
          "variables the run was started with are named likewise).")
    counts = {v: sum(r.verdict == v for r in rows) for v in claims.VERDICTS}
    doc.p("Claims: " + ", ".join(f"**{n}** {v}" for v, n in counts.items() if n) + ".")
    if runs.pooled:
        doc.p(f"{runs.pooled} result(s) rest on several runs of the same context and conditions: their rounds "
              "are pooled (joined where the runs saved them, else their medians averaged), and the `runs` "
              "column says how many.")


def run_list(doc: Doc, runs: Runs) -> None:
    doc.h(2, "Runs")
    doc.table(["file", "date (UTC)", "machine", "profile", "commit"],
              [[f"`{Path(p).name}`", w[:19].replace("T", " "), m, prof, c] for p, w, m, prof, c in runs.files])


def machines(doc: Doc, runs: Runs) -> None:
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
    floors = [f"{m.label}: {gpu_records.describe_timer_floor(m.info.get('nptbench', {}).get('timer_floor'))}."
              for m in runs.machines.values() if m.info.get("nptbench", {}).get("timer_floor")]
    if floors:
        doc.p(" ".join(floors))
    elif any(m.gpus for m in runs.machines.values()):
        doc.p("Timer floor: not recorded in these runs (saved before the suite measured it).")


def ceilings(doc: Doc, runs: Runs) -> None:
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
                reduced = " / ".join(fmt_num(mm.get(k)) for k in ("tf32", "bfloat16", "float16"))
                crows.append([m.label, dev, c.get("source") or _ceiling_source(m.ceilings), fmt_num(mm.get("float32")),
                              fmt_num(mm.get("float64")),
                              reduced if mm.get("tf32") else "-", fmt_num(c.get("copy_gbps")),
                              fmt_num(c.get("h2d_gbps")), fmt_num(c.get("d2h_gbps")),
                              c.get("method", "-")])
        if not m.ceilings:
            crows.append([m.label, "-", "-", "-", "-", "-", "-", "-", "not measured in these runs"])
    doc.table(["machine", "device", "source", "fp32 GFLOP/s", "fp64 GFLOP/s", "tf32 / bf16 / fp16 GFLOP/s",
               "copy GB/s", "h2d GB/s", "d2h GB/s", "how measured"], crows)


def _pair(c) -> str:
    """A claim's pair of benchmarks, baseline → contender, the experiment named once where they share it."""
    if c.baseline[0] == c.contender[0]:
        return f"`{c.baseline[0]}`: `{c.baseline[1]}` → `{c.contender[1]}`"
    return f"`{c.baseline[0]}/{c.baseline[1]}` → `{c.contender[0]}/{c.contender[1]}`"


def _fair(r) -> str:
    c = r.claim
    if not c.fair_baseline:
        return "-"
    if (c.fair_baseline, c.fair_contender) == (c.baseline, c.contender):
        return f"{claims.fmt_ratio(r.fair)} (the same pair, timed alike)"
    return f"{claims.fmt_ratio(r.fair)} (`{c.fair_baseline[1]}` → `{c.fair_contender[1]}`)"


def _ledger_row(runs: Runs, r) -> list:
    c = r.claim
    ran = "; ".join(f"{_figure(runs.results[(ctx, *pair)])} in {ctx}" for pair, ctx in r.measured)
    why = " ".join(x for x in (c.unfair, f"({r.why})" if r.why else "", f"Measured: {ran}." if ran else "")
                   if x)
    return [f"**{c.id}**", c.seed, f"\"{c.quote}\"", f"{c.seed_figures}; {c.hardware}", _pair(c),
            claims.fmt_seed_ratio(c.seed_ratio), claims.fmt_ratio(r.ours),
            "-" if r.ours is None else claims.fmt_ratio(r.host) if r.host != r.ours else "same",
            "; ".join(_figure(runs.results[(r.context, *pair)]) for pair in (c.baseline, c.contender))
            if r.ours is not None else "-",
            f"**{r.verdict}**", _fair(r), why or "-", r.context or "-"]


def claims_ledger(doc: Doc, runs: Runs, rows: list, tolerance: float, img: Path | None) -> None:
    doc.h(2, "Claims ledger")
    doc.p(f"Each claim of the seed documents (nptbench/analysis/claims.toml) against the pair of benchmarks that tests "
          f"it. A ratio is time(baseline) / time(contender): how many times faster the contender is. "
          f"Verdict: **reproduced** within a factor {tolerance:g} of the seed's ratio (or range), else "
          f"**larger** or **smaller**; **not measurable here** when a benchmark of the pair did not run. "
          f"The fair ratio compares like with like where the seed's comparison did not. Ours are measured "
          f"at the context's size profile: only the `seed` profile uses the seeds' exact shapes. A GPU side "
          f"is read by its device time; the host ratio (host medians on both sides) is what a caller waits "
          f"for. Ratios never cross machines: a claim whose two sides ran on different machines is not "
          f"measurable, and the figures of the side that ran are given.")
    doc.table(["claim", "seed", "quote", "seed's figures; hardware", "pair (baseline → contender)", "seed ratio",
               "our ratio", "host ratio", "our figures", "verdict", "fair ratio", "why unfair / why not measured",
               "context"], [_ledger_row(runs, r) for r in rows])
    notes = [f"**{r.claim.id}**: {r.claim.note}" for r in rows if r.claim.note]
    if notes:
        doc.p("Notes: " + " ".join(dict.fromkeys(notes)))
    for r in rows:
        shown = [runs.results[(r.context, *e)] for e in r.claim.evidence if (r.context, *e) in runs.results]
        if shown:
            doc.p(f"Evidence for **{r.claim.id}** in {r.context}: "
                  + "; ".join(f"{_figure(x)}, {_rate(x)}" for x in shown) + ".")
    if img is not None:
        p = img / "claims.svg"
        n = plot_claims(rows, tolerance, p)
        doc.img(p, "seed ratio against our ratio")
        doc.p(f"{n} claim(s) plotted; claims without a seed figure or without both benchmarks are in the table only.")


def _experiment_row(r: Result, many: bool, kernel: bool, per_iter: bool, fastest: float, slowest: float) -> list:
    ctx, rec, roof = r.context, r.record, r.roof
    iqr = (r.q3 - r.q1) if r.q1 is not None and r.q3 is not None else None
    return [*([ctx] if many else []), f"`{r.variant}`", rec.get("backend"), rec.get("device"),
            rec.get("dtype"), fmt_time(r.lead), "device" if r.on_device else "host",
            fmt_time(r.median) if r.on_device else "-",
            *([fmt_time(rec.get("kernel_time_s"))] if kernel else []),
            *([fmt_time(r.unit_time)] if per_iter else []),
            fmt_time(iqr), r.runs, r.rounds, f"{slowest / r.unit_time:.3g}x",
            f"{r.unit_time / fastest:.3g}x", fmt_num(roof.get("achieved_gflops")),
            fmt_num(roof.get("achieved_gbps")), roof.get("bound") or "-",
            fmt_pct(roof.get("pct_of_ceiling")),
            "-" if rec.get("rel_err") is None else f"{rec['rel_err']:.1e}"]


def experiment(doc: Doc, exp: str, res: list, many: bool, img: Path | None) -> None:
    """One experiment: its chart, its table (fastest first within each context), and notes."""
    doc.h(3, exp)
    if img is not None:
        p = img / f"exp-{_slug(exp)}.svg"
        plot_experiment(exp, res, many, p)
        doc.img(p, f"{exp}: time by variant")
    trows = []
    per_iter = any(r.record.get("iterations") for r in res)
    kernel = any(r.record.get("kernel_time_s") for r in res)
    for ctx in sorted({r.context for r in res}):
        sel = sorted((r for r in res if r.context == ctx), key=lambda r: r.unit_time)
        fastest, slowest = sel[0].unit_time, sel[-1].unit_time
        trows += [_experiment_row(r, many, kernel, per_iter, fastest, slowest) for r in sel]
    doc.table([*(["context"] if many else []), "variant", "backend", "device", "dtype", "median", "timed by",
               "host median", *(["kernel time"] if kernel else []),
               *(["per iteration"] if per_iter else []), "host IQR", "runs", "rounds", "speed-up vs slowest",
               "time / fastest", "GFLOP/s", "GB/s", "bound", "% ceiling", "rel. error"], trows)
    above = [f"`{r.variant}` ({r.context}): {fmt_pct(r.roof['pct_of_ceiling'])} %, {r.roof['ceiling_note']}"
             for r in res if r.roof.get("ceiling_note")]
    if above:
        doc.p("Above the memory ceiling: " + "; ".join(above) + ".")
    shapes = {json.dumps(r.record.get("shape")) for r in res}
    doc.p("Operand shapes: " + "; ".join(f"`{s}`" for s in sorted(shapes)) + ". Dataset: "
          + ", ".join(sorted({str(r.record.get("dataset")) for r in res})) + ".")


def experiments(doc: Doc, runs: Runs, img: Path | None) -> None:
    doc.h(2, "Experiments")
    by_exp: dict = {}
    for r in runs.results.values():
        by_exp.setdefault(r.experiment, []).append(r)
    many = len(contexts(runs)) > 1
    for exp in sorted(by_exp):
        experiment(doc, exp, by_exp[exp], many, img)


def checks(doc: Doc, runs: Runs) -> None:
    doc.h(2, "Checks")
    flags = [gpu_records.kernel_time_flag(f"{r.context} `{r.experiment}/{r.variant}`", r.record, r.host_rounds)
             for r in runs.results.values()]
    flags = [f for f in flags if f]
    checked = sum(bool(r.record.get("kernel_time_s") and r.record.get("device_time_s")) for r in runs.results.values())
    doc.p(f"`kernel_time_s <= device_time_s` (the kernel time leaves out the launch's host cost): checked on "
          f"{checked} result(s) that have both, broken by {len(flags)}"
          + (". **Flagged:** " + "; ".join(flags) + ". Within the rounds' spread, the GPU's clock moved between "
             "the timed rounds and the kernel-time calls after them (results/GPU.md)." if flags else "."))
    gpu_state(doc, runs)


def gpu_state(doc: Doc, runs: Runs) -> None:
    """The GPU results whose rounds ran throttled (nptbench.analysis.gpu_records), in the Checks section."""
    gpu = [r for r in runs.results.values() if r.record.get("device") == "cuda"]
    if not gpu:
        return
    sampled = [r for r in gpu if "gpu_state_before" in r.record]
    flags = [gpu_records.throttle_flag(f"{r.context} `{r.experiment}/{r.variant}`", r.record) for r in sampled]
    flags = [f for f in flags if f]
    thresholds = sorted({r.record.get("gpu_throttle_threshold") for r in sampled} - {None})
    line = (f"GPU clocks (the SM clock at least {' / '.join(f'{t:.0%}' for t in thresholds) or 'the threshold'} "
            "of the application clock while the rounds ran, and no power or thermal throttle reason): checked on "
            f"{len(sampled)} of {len(gpu)} GPU result(s), throttled in {len(flags)}")
    line += (". **Throttled:** " + "; ".join(flags) + ". Their times hold a lowered clock: compare them only "
             "with results that ran under the same state, or run again once the GPU is cool and below its power "
             "limit (docs/reproduce.md: GPU state)." if flags else ".")
    unsampled = [r for r in gpu if "gpu_state_before" not in r.record]
    if unsampled:
        notes = sorted({gpu_records.state_missing(r.record) or "saved before runs recorded it" for r in unsampled})
        line += f" Not recorded for {len(unsampled)} result(s): " + "; ".join(notes) + "."
    doc.p(line)


def roofline_charts(doc: Doc, runs: Runs, img: Path | None) -> None:
    doc.h(2, "Roofline charts")
    if img is None:
        return
    for ctx in sorted({r.context for r in runs.results.values()}):
        res = [r for r in runs.results.values() if r.context == ctx]
        m = next(m for m in runs.machines.values() if ctx.startswith(m.label + "/"))
        p = img / f"roofline-{_slug(ctx)}.svg"
        n = plot_roofline(ctx, res, m.ceilings, p)
        doc.img(p, f"roofline {ctx}")
        doc.p(f"{ctx}: {n} of {len(res)} results placed (the others lack flops or bytes, or a ceiling). "
              "Lines: attainable rate min(peak, bandwidth x intensity) for fp32 (thick) and fp64 (thin).")


def skipped(doc: Doc, runs: Runs) -> None:
    doc.h(2, "Skipped benchmarks")
    if runs.skips:
        doc.table(["context", "benchmark", "reason"],
                  [[s.context, f"`{s.name}`", s.reason] for s in sorted(runs.skips, key=lambda s: (s.context, s.name))])
    else:
        doc.p("None recorded (runs saved before skips were recorded hold no list).")
    if runs.ignored:
        doc.p(f"{len(runs.ignored)} benchmark(s) without an nptbench record were left out: "
              + ", ".join(f"`{n}`" for n in runs.ignored[:20]) + (" ..." if len(runs.ignored) > 20 else ""))


def instructions(doc: Doc, count_runs: list) -> None:
    """For learners: each counted benchmark's instructions per call and per useful operation (a flop as its
    record counts them: a product's multiply-add is two, an elementwise op's element one), by experiment,
    fewest first, with how many times more the variant needs than the experiment's leanest."""
    rows = {}
    for run in count_runs:
        for b in run.benchmarks:
            rec = b.get("extra_info") or {}
            if rec.get("instructions_per_call"):
                rows[(rec.get("experiment", "?"), rec.get("variant", b["name"]))] = rec  # the newest run's
    if not rows:
        return
    doc.h(2, "Instructions per useful operation")
    doc.p("Counted under the instruction instrument (`pytest bench --instrument instructions`, "
          "docs/instructions.md): what each variant asks of the CPU for the same work, in the machine's own "
          "instructions. A flop is the record's: a product's multiply-add is 2 flops, an elementwise op's element "
          "1. Counts are one thread's and take the AVX2 paths the instrument can run; a memory-bound row's time "
          "is its bytes, not its instructions.")
    by_exp: dict = {}
    for (exp, variant), rec in rows.items():
        by_exp.setdefault(exp, []).append((variant, rec))
    table = []
    for exp in sorted(by_exp):
        ranked = sorted(by_exp[exp], key=lambda vr: vr[1]["instructions_per_call"])
        least = ranked[0][1]["instructions_per_call"]
        for variant, rec in ranked:
            n, flops = rec["instructions_per_call"], rec.get("flops")
            table.append([exp, variant, fmt_num(n), fmt_num(n / flops) if flops else "-",
                          f"{n / least:,.1f}x"])
    doc.table(["experiment", "variant", "instructions per call", "per flop", "against the leanest"], table)


def build(runs: Runs, out: Path, plots: bool = True, claims_path=claims.PATH, count_runs: list = ()) -> dict:
    """Write report.md, report.html and img/*.svg into ``out``; returns the paths written. ``count_runs``:
    runs saved by the instruction instrument, whose counts get a section of their own."""
    out.mkdir(parents=True, exist_ok=True)
    img = out / "img"
    if plots:
        img.mkdir(exist_ok=True)
    ledger, tolerance = claims.load(claims_path)
    rows = claims.evaluate(ledger, times_by_context(runs), tolerance, skip_reasons(runs),
                               host=times_by_context(runs, host=True))
    doc = Doc()
    summary(doc, runs, rows)
    run_list(doc, runs)
    machines(doc, runs)
    ceilings(doc, runs)
    claims_ledger(doc, runs, rows, tolerance, img if plots else None)
    experiments(doc, runs, img if plots else None)
    instructions(doc, list(count_runs))
    checks(doc, runs)
    roofline_charts(doc, runs, img if plots else None)
    skipped(doc, runs)
    md, page = out / "report.md", out / "report.html"
    md.write_text(doc.markdown(out), encoding="utf-8")
    page.write_text(doc.html("nptbench report"), encoding="utf-8")
    return {"markdown": md, "html": page, "images": sorted(img.glob("*.svg")) if plots else []}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench report",
        description="Markdown and HTML report (roofline, claims ledger, plots) from saved pytest-benchmark runs.")
    parser.add_argument("runs", nargs="+", help="saved runs (--benchmark-json files, or directories of them); count "
                                                "runs (--instrument instructions) among them add the instructions "
                                                "per useful operation; a store's database: postgresql://...#<folder>")
    parser.add_argument("--out", required=True, type=Path, help="directory for report.md, report.html, img/")
    parser.add_argument("--no-plots", action="store_true", help="tables only, no charts")
    parser.add_argument("--results", type=Path, default=layout.RESULTS,
                        help="where stored ceilings are looked up per fingerprint (default: ./results)")
    parser.add_argument("--run-ceilings", action="store_true",
                        help="hold each run against the ceilings it measured, even where stored ones exist")
    args = parser.parse_args(argv)
    try:
        given = [p for arg in args.runs for p in run_paths(arg)]
        counted = [p for p in given if counts.holds_counts(p)]
        timed = [p for p in given if p not in counted]
        if not timed:
            raise ReportError("count runs alone make no report: give the timed runs of the same benchmarks too")
        written = build(gather(timed, None if args.run_ceilings else args.results), args.out,
                        plots=not args.no_plots, count_runs=[r for p in counted for r in counts.load(p)])
    except (ReportError, RuntimeError, RunError) as exc:
        print(f"nptbench report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written['markdown']} and {written['html']} ({len(written['images'])} plots)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
