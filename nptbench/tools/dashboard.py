"""The history's dashboard (``python -m nptbench history --out DIR``): ``history.md``, ``history.html`` and
``img/*.svg``, one plot per series.

The plots are SVG written here, with no plotting library: the dashboard works after the README's first
command, which installs none. Each plot shows a series' runs in the order they were made (time on a log
scale), the level of each stretch between steps, every step (red: slower, green: faster, with its ratio),
every step the row took with its run level (grey dashed, "run"; nptbench.analysis.history) and every run
where the environment changed (grey dotted line, the change in its tooltip). Each machine, profile and
set of conditions begins with the plots of its run levels (one per kind of time): each run's time of every
row relative to that row's usual time (the median over the rows), with its own steps. The HTML page
holds the plots inline (hovering a run shows its file, date, commit and time); the Markdown links them.
"""
from __future__ import annotations

import html
import math
import re
import statistics
from pathlib import Path

from nptbench.analysis.fmt import fmt_time
from nptbench.analysis.history import Point, RunLevel, Series, changed_there, commit, newest_first
from nptbench.schema.record import conditions_label
from nptbench.tools.report.md import Doc

W, H = 760, 230
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 26, 34
SLOWER, FASTER, LEVEL, POINT, CHANGE, SHARED = "#d62728", "#2ca02c", "#1f77b4", "#555", "#999", "#777"


def _ticks(lo: float, hi: float) -> list[float]:
    """Three to six round times between lo and hi (seconds), for a log axis: the roundest that give at
    least three."""
    for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9),
                      tuple(round(1 + 0.1 * k, 1) for k in range(90))):
        out = [m * 10 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
               for m in mantissas if lo <= m * 10 ** e <= hi]
        if len(out) >= 3:
            return out[::math.ceil(len(out) / 6)]
    return out or [lo, hi]


def svg(s: Series, fmt=fmt_time, numbers: list[int] | None = None) -> str:
    """One series as an SVG plot (module docstring); ``fmt`` writes a value (a time, by default);
    ``numbers``: each point's run number (1, 2, ... by default)."""
    values = s.values
    n = len(values)
    numbers = numbers or list(range(1, n + 1))
    lo, hi = min(values) / 1.15, max(values) * 1.15
    span_x, span_y = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(i: float) -> float:
        return LEFT + (span_x * (i / (n - 1)) if n > 1 else span_x / 2)

    def y(v: float) -> float:
        return TOP + span_y * (1 - (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)))

    e = html.escape
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' viewBox='0 0 {W} {H}' "
           f"font-family='sans-serif' font-size='11'>",
           f"<rect x='0' y='0' width='{W}' height='{H}' fill='white'/>",
           f"<text x='{LEFT}' y='15' font-size='12' font-weight='bold'>{e(s.name)}</text>",
           f"<text x='{W - RIGHT}' y='15' text-anchor='end' fill='#555'>{e(s.time_kind)}, log scale</text>",
           f"<line x1='{LEFT}' y1='{TOP + span_y}' x2='{W - RIGHT}' y2='{TOP + span_y}' stroke='#333'/>",
           f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{TOP + span_y}' stroke='#333'/>"]
    for v in _ticks(lo, hi):
        out.append(f"<line x1='{LEFT - 4}' y1='{y(v):.1f}' x2='{W - RIGHT}' y2='{y(v):.1f}' stroke='#eee'/>"
                   f"<text x='{LEFT - 6}' y='{y(v) + 4:.1f}' text-anchor='end'>{e(fmt(v))}</text>")
    step_every = max(1, math.ceil(n / 12))
    for i in range(0, n, step_every):
        out.append(f"<text x='{x(i):.1f}' y='{H - 18}' text-anchor='middle'>{numbers[i]}</text>")
    out.append(f"<text x='{LEFT}' y='{H - 4}' fill='#555'>run {numbers[0]}: {e(s.points[0].date)}</text>"
               f"<text x='{W - RIGHT}' y='{H - 4}' text-anchor='end' fill='#555'>run {numbers[-1]}: "
               f"{e(s.points[-1].date)}</text>")
    for i, words in s.changes():
        xc = (x(i - 1) + x(i)) / 2
        out.append(f"<g><title>{e('; '.join(words))}</title><line x1='{xc:.1f}' y1='{TOP}' x2='{xc:.1f}' "
                   f"y2='{TOP + span_y}' stroke='{CHANGE}' stroke-dasharray='2,3' stroke-width='1.5'/>"
                   f"<text x='{xc:.1f}' y='{TOP + span_y - 3}' text-anchor='middle' fill='{CHANGE}'>env</text></g>")
    bounds = [0, *(st.index for st in s.steps), n]
    for a, b in zip(bounds, bounds[1:]):
        level = statistics.median(values[a:b])
        out.append(f"<line x1='{x(a) - 3:.1f}' y1='{y(level):.1f}' x2='{x(b - 1) + 3:.1f}' y2='{y(level):.1f}' "
                   f"stroke='{LEVEL}' stroke-width='2' opacity='0.6'/>")
    for st in s.steps:
        xs, color = (x(st.index - 1) + x(st.index)) / 2, SLOWER if st.slower else FASTER
        out.append(f"<g><title>{e(f'x{st.ratio:.2f} ({st.low:.2f}-{st.high:.2f}) from run {numbers[st.index]}')}</title>"
                   f"<line x1='{xs:.1f}' y1='{TOP}' x2='{xs:.1f}' y2='{TOP + span_y}' stroke='{color}' "
                   f"stroke-dasharray='5,3' stroke-width='1.5'/><text x='{xs + 3:.1f}' y='{TOP + 10}' "
                   f"fill='{color}' font-weight='bold'>x{st.ratio:.2f}</text></g>")
    for st in s.shared:
        xs = (x(st.index - 1) + x(st.index)) / 2
        tip = f"x{st.ratio:.2f} from run {numbers[st.index]}, taken with the run level: the machine's"
        out.append(f"<g><title>{e(tip)}</title><line x1='{xs:.1f}' y1='{TOP}' x2='{xs:.1f}' y2='{TOP + span_y}' "
                   f"stroke='{SHARED}' stroke-dasharray='5,3' stroke-width='1'/><text x='{xs + 3:.1f}' "
                   f"y='{TOP + 22}' fill='{SHARED}'>run x{st.ratio:.2f}</text></g>")
    for i, p in enumerate(s.points):
        tip = f"run {numbers[i]}: {p.file}, {p.date}, commit {commit(p.run)[:10] or '?'}: {fmt(p.value)}"
        out.append(f"<circle cx='{x(i):.1f}' cy='{y(p.value):.1f}' r='3' fill='{POINT}'><title>{e(tip)}</title>"
                   "</circle>")
    out.append("</svg>")
    return "\n".join(out)


def slug(s: Series) -> str:
    conds = conditions_label(s.conditions)
    text = "_".join(filter(None, [s.fingerprint, s.profile, conds, s.name]))
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")[:180]


def level_series(lv: RunLevel) -> Series:
    """A run level as a series to plot: its runs that have a level, its own steps."""
    fingerprint, profile, conds, kind = lv.group
    idx = lv.defined
    where = {i: k for k, i in enumerate(idx)}
    steps = [type(st)(**{**st.__dict__, "index": where[st.index]}) for st in lv.steps]
    return Series(fingerprint, profile, conds, (), f"run level ({kind}): median of {len(lv.names)} rows' time / "
                  "their usual", "", kind, [Point(lv.runs[i], lv.values[i], {}) for i in idx], steps)


def ratio(v: float) -> str:
    return f"{v:.2f}x"


def write(all_series: list[Series], out: Path, levels: list[RunLevel] = ()) -> dict:
    """Write history.md, history.html and img/<series>.svg into ``out``; returns the paths written."""
    out = Path(out)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    for old in img.glob("*.svg"):
        old.unlink()
    doc = Doc()
    runs = {p.run.path for s in all_series for p in s.points}
    doc.h(1, "nptbench history")
    doc.p(f"{len(runs)} runs, {len(all_series)} series (one per benchmark, machine, profile and conditions). "
          "Steps are found from the scatter between runs (nptbench.analysis.changepoints); each is the ratio "
          "of the new level to the old, with its 95 % interval, from its first run at the new level.")
    steps = newest_first(all_series)
    doc.h(2, "Steps, newest first")
    if steps:
        rows = []
        for s, st in steps:
            why = s.explain(st)
            said = changed_there(why)
            rows.append([f"`{s.name}`", s.fingerprint, "slower" if st.slower else "faster",
                         f"x{st.ratio:.2f} ({st.low:.2f}-{st.high:.2f})",
                         f"{st.index + 1} of {len(s.points)}: `{s.points[st.index].file}` ({s.points[st.index].date})",
                         "; ".join(said) or "nothing recorded", " -> ".join(why["commits"])])
        doc.table(["benchmark", "machine", "", "ratio (95 %)", "first run at the new level", "changed there",
                   "commits"], rows)
    else:
        doc.p("No steps.")
    shared = newest_first(all_series, shared=True)
    if shared or any(lv.steps for lv in levels):
        doc.h(2, "The machine's: steps taken with the run level")
        doc.p("Steps a row took together with every row of its runs (its run level, the first plot of each "
              "section below), where nothing recorded in its environment changed: the machine ran everything "
              "slower or faster. They are not counted as the rows' own steps and never fail --fail-on-new-step.")
        rows = [[f"run level ({len(lv.names)} rows)", lv.group[0], "slower" if st.slower else "faster",
                 f"x{st.ratio:.2f} ({st.low:.2f}-{st.high:.2f})",
                 f"{st.index + 1} of {len(lv.runs)}: `{lv.runs[st.index].path.name}`"] for lv in levels for st in lv.steps]
        rows += [[f"`{s.name}`", s.fingerprint, "slower" if st.slower else "faster",
                  f"x{st.ratio:.2f} ({st.low:.2f}-{st.high:.2f})",
                  f"{st.index + 1} of {len(s.points)}: `{s.points[st.index].file}` ({s.points[st.index].date})"]
                 for s, st in shared]
        doc.table(["benchmark", "machine", "", "ratio (95 %)", "first run at the new level"], rows)
    for group in sorted({(s.fingerprint, s.profile, s.conditions) for s in all_series}):
        conds = conditions_label(group[2])
        doc.h(2, f"{group[0]}, {group[1]}" + (f", {conds}" if conds else ""))
        for lv in (lv for lv in levels if lv.group[:3] == group):
            ls = level_series(lv)
            path = img / f"{slug(ls)}.svg"
            path.write_text(svg(ls, ratio, [i + 1 for i in lv.defined]), encoding="utf-8")
            doc.img(path, ls.name)
        for s in (s for s in all_series if (s.fingerprint, s.profile, s.conditions) == group):
            path = img / f"{slug(s)}.svg"
            path.write_text(svg(s), encoding="utf-8")
            doc.img(path, s.name)
    md, page = out / "history.md", out / "history.html"
    md.write_text(doc.markdown(out), encoding="utf-8")
    page.write_text(doc.html("nptbench history"), encoding="utf-8")
    return {"markdown": md, "html": page, "images": sorted(img.glob("*.svg"))}
