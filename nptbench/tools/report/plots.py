"""The report's charts, drawn in SVG (nptbench.tools.report.svg): time by variant per experiment, a roofline
per context, and the seeds' claimed speed-ups against ours. Each writes one ``.svg`` file; every point and
bar carries its figures as a tooltip.
"""
from __future__ import annotations

from pathlib import Path

from nptbench.analysis import claims
from nptbench.analysis.fmt import fmt_num, fmt_time
from nptbench.tools.report.svg import (BACKEND_COLORS, CATEGORY, MUTED, OTHER, Canvas, Scale, axes, place_labels,
                                       text_width)

VERDICT_COLORS = {
    claims.REPRODUCED: "#2ca02c", claims.LARGER: "#1f77b4", claims.SMALLER: "#d62728",
    claims.NOT_MEASURABLE: "#7f7f7f", claims.NO_FIGURE: "#9467bd",
}


def _ratio(v: float) -> str:
    return f"{fmt_num(v, 2)}x"


def _write(c: Canvas, path: Path) -> None:
    Path(path).write_text(c.render(), encoding="utf-8")


def plot_experiment(experiment: str, results: list, many_contexts: bool, path: Path) -> None:
    """Horizontal bars of time (log scale) by variant, fastest on top, coloured by backend."""
    rows = sorted(results, key=lambda r: r.unit_time)
    labels = [r.variant + (f"  [{r.context}]" if many_contexts else "") for r in rows]
    values = [r.unit_time for r in rows]
    bar = 22
    left = 16 + max(text_width(t, 11) for t in labels)
    top, width = 56, left + 480
    c = Canvas(width, top + bar * len(rows) + 50)
    x = Scale(min(values) / 3, max(values) * 8, left, width - 20)
    c.text(left, 18, f"{experiment}: time by variant (shorter is faster)", size=13, bold=True)
    axes(c, x, Scale(1, 2, top + bar * len(rows), top - 4, log=False), fmt_x=fmt_time,
         x_label="median time" + (" per iteration" if any(r.record.get("iterations") for r in rows) else "")
         + " (log scale)")
    for i, (r, label) in enumerate(zip(rows, labels)):
        y = top + i * bar
        color = BACKEND_COLORS.get(r.record.get("backend"), OTHER)
        c.rect(left, y + 3, x(r.unit_time) - left, bar - 6, color, title=f"{label}: {fmt_time(r.unit_time)}")
        c.text(left - 6, y + bar / 2 + 4, label, anchor="end")
        c.text(x(r.unit_time) + 4, y + bar / 2 + 4, fmt_time(r.unit_time), size=10)
    backends = [b for b in BACKEND_COLORS if any(r.record.get("backend") == b for r in rows)]
    c.legend(width - 90, 36, [(b, BACKEND_COLORS[b], "box") for b in backends])
    _write(c, path)


def plot_roofline(context: str, results: list, ceilings: dict, path: Path) -> int:
    """Operational intensity (flop/byte) against achieved GFLOP/s, with each device's two ceilings.

    Colour = experiment, marker = device (circle: CPU, triangle: GPU), each point labelled with its variant.
    Returns how many results could be placed (those with both flops and bytes)."""
    pts = [r for r in results if r.record.get("flops") and r.record.get("bytes") and r.roof.get("achieved_gflops")]
    xs = [r.record["flops"] / r.record["bytes"] for r in pts] or [0.1, 10]
    ys = [r.roof["achieved_gflops"] for r in pts] or [0.1, 10]
    ridges = [c["matmul_gflops"]["float32"] / c["copy_gbps"] for c in ceilings.values()
              if isinstance(c, dict) and c.get("copy_gbps") and c.get("matmul_gflops", {}).get("float32")]
    peaks = [p for c in ceilings.values() if isinstance(c, dict) for p in c.get("matmul_gflops", {}).values() if p]
    x_lo, x_hi = min(xs + ridges) / 4, max(xs + ridges) * 4
    plot_w, legend_w, top, height = 620, 330, 40, 560
    c = Canvas(80 + plot_w + legend_w, height)
    x = Scale(x_lo, x_hi, 80, 80 + plot_w)
    y = Scale(min(ys) / 4, max(ys + peaks) * 3, height - 50, top)
    c.text(80, 18, f"Roofline {context}: solid = CPU ceilings, dashed = GPU; thick fp32, thin fp64", size=12,
           bold=True)
    axes(c, x, y, fmt_x=lambda v: fmt_num(v, 2), fmt_y=lambda v: fmt_num(v, 2),
         x_label="operational intensity (flop per byte of least traffic)", y_label="achieved GFLOP/s (median time)")
    legend = []
    grid = [x_lo * (x_hi / x_lo) ** (i / 200) for i in range(201)]
    for dev, dash in (("cpu", None), ("cuda", "6,4")):
        ceiling = ceilings.get(dev)
        if not ceiling or not ceiling.get("copy_gbps"):
            continue
        bw = ceiling["copy_gbps"]
        for dt, width in (("float32", 2.0), ("float64", 1.0)):
            peak = ceiling.get("matmul_gflops", {}).get(dt)
            if peak:
                line = [(x(v), y(min(peak, bw * v))) for v in grid if y.lo <= min(peak, bw * v) <= y.hi]
                c.polyline(line, "#444", width, dash)
                legend.append((f"{dev} ceiling: {dt} matmul {peak:,.0f} GFLOP/s, copy {bw:,.1f} GB/s", "#444",
                               ("thin" if width < 2 else "dash" if dash else "line")))
    experiments = sorted({r.experiment for r in pts})
    for i, exp in enumerate(experiments):
        color = CATEGORY[i % len(CATEGORY)]
        for dev, shape in (("cpu", "circle"), ("cuda", "triangle")):
            sel = [r for r in pts if r.experiment == exp and r.record.get("device") == dev]
            for r in sel:
                xi = r.record["flops"] / r.record["bytes"]
                c.marker(x(xi), y(r.roof["achieved_gflops"]), color, shape, r=4, stroke="black",
                         title=f"{exp} {r.variant}: {fmt_num(xi, 3)} flop/byte, "
                               f"{fmt_num(r.roof['achieved_gflops'], 3)} GFLOP/s")
            if sel:
                legend.append((f"{exp} ({'GPU' if dev == 'cuda' else 'CPU'})", color, shape))
    place_labels(c, [(x(r.record["flops"] / r.record["bytes"]), y(r.roof["achieved_gflops"]), r.variant)
                     for r in pts], size=7.5)
    c.legend(80 + plot_w + 20, top + 6, legend, size=9)
    _write(c, path)
    return len(pts)


def plot_claims(rows: list, tolerance: float, path: Path) -> int:
    """The seeds' ratios against ours (log-log); hollow marks the fair ratio where there is one."""
    pts = [r for r in rows if r.ours is not None and r.claim.seed_ratio]

    def seed_x(r):  # a range plots at its low end
        return r.claim.seed_ratio[0]

    vals = [seed_x(r) for r in pts] + [r.ours for r in pts] + [r.fair for r in pts if r.fair] or [1, 10]
    lo, hi = min(vals + [1]) / 3, max(vals) * 3
    size = 560
    many = len({p.context for p in pts}) > 1
    labels = [r.claim.id + (f" [{r.context}]" if many else "") for r in pts]
    x, y = Scale(lo, hi, 70, 70 + size - 40), Scale(lo, hi, size, 40)
    c = Canvas(max([size + 80] + [x(seed_x(r)) + 6 + text_width(t, 8) + 10 for r, t in zip(pts, labels)]), size + 60)
    c.text(70, 18, "Seed claims: their speed-up against ours", size=13, bold=True)
    band = [(x(lo), y(lo * tolerance)), (x(hi / tolerance), y(hi)), (x(hi), y(hi)), (x(hi), y(hi / tolerance)),
            (x(lo * tolerance), y(lo)), (x(lo), y(lo))]
    c.polygon(band, VERDICT_COLORS[claims.REPRODUCED], opacity=0.12)
    axes(c, x, y, fmt_x=_ratio, fmt_y=_ratio,
         x_label="seed's claimed speed-up (time of baseline / time of contender)", y_label="our measured speed-up")
    c.line(x(lo), y(lo), x(hi), y(hi), "black")
    c.line(x(lo), y(1), x(hi), y(1), "#999", 0.8, "2,3")
    for r in pts:
        color, xs = VERDICT_COLORS[r.verdict], x(seed_x(r))
        tip = f"{r.claim.id}: seed {_ratio(seed_x(r))}, ours {_ratio(r.ours)} ({r.verdict})"
        if _own_fair(r):
            c.line(xs, y(r.ours), xs, y(r.fair), color, 0.8)
            c.marker(xs, y(r.fair), "white", r=4, stroke=color, stroke_width=1.2, title=f"{tip}, fair {_ratio(r.fair)}")
        c.marker(xs, y(r.ours), color, r=4, stroke="black", title=tip)
    place_labels(c, [(x(seed_x(r)), y(r.ours), label) for r, label in zip(pts, labels)])
    legend = [("ours = seed's", "black", "line"),
              (f"reproduced (within {tolerance:g}x)", VERDICT_COLORS[claims.REPRODUCED], "box")]
    legend += [(v, color, "circle") for v, color in VERDICT_COLORS.items() if any(r.verdict == v for r in pts)]
    if any(_own_fair(r) for r in pts):
        legend.append(("fair ratio (another pair)", "black", "hollow"))
    c.legend(x(lo) + 10, 56, legend, size=9)
    c.text(x(hi), y(1) - 4, "1x", anchor="end", color=MUTED, size=9)
    _write(c, path)
    return len(pts)


def _own_fair(row) -> bool:
    """A fair ratio from a pair other than the seed's (the same pair, timed fairly, is the ratio itself)."""
    c = row.claim
    return row.fair is not None and (c.fair_baseline, c.fair_contender) != (c.baseline, c.contender)
