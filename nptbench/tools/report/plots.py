"""The report's charts (matplotlib): time by variant per experiment, a roofline per context, and the
seeds' claimed speed-ups against ours. Each takes pyplot as ``plt`` (nptbench.tools.report loads it only when
plots are asked for) and writes one PNG.
"""
from __future__ import annotations

from pathlib import Path

from nptbench.analysis import claims as claims_mod
from nptbench.analysis.fmt import fmt_time

BACKEND_COLORS = {"python": "#8c564b", "numpy": "#1f77b4", "torch": "#ff7f0e", "numba": "#2ca02c"}
VERDICT_COLORS = {
    claims_mod.REPRODUCED: "#2ca02c", claims_mod.LARGER: "#1f77b4", claims_mod.SMALLER: "#d62728",
    claims_mod.NOT_MEASURABLE: "#7f7f7f", claims_mod.NO_FIGURE: "#9467bd",
}


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
        ax.text(v * 1.1, i, fmt_time(v), va="center", fontsize=8)
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
