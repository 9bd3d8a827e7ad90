"""The history's dashboard (``python -m nptbench history --out DIR``): ``history.md``, ``history.html`` and
``img/*.svg``, one plot per series.

The plots are SVG, drawn as the report's are (nptbench.tools.report.svg), with no plotting library: the
dashboard works after the README's first command, which installs none. Each plot shows a series' runs in the order they were made (time on a log
scale), the level of each stretch between steps, every step (red: slower, green: faster, with its ratio),
every step the row took with its run level (grey dashed, "run"; nptbench.analysis.history) and every run
where the environment changed (grey dotted line, the change in its tooltip). Each machine, profile and
set of conditions begins with the plots of its run levels (one per kind of time): each run's time of every
row relative to that row's usual time (the median over the rows), with its own steps. Runs of several
machines read together (a fleet) begin with one table: each machine's newest level of each benchmark side
by side, its newest step, and the slowest machine against the fastest (:func:`fleet`). The HTML page
holds the plots inline (hovering a run shows its file, date, commit and time); the Markdown links them.
"""
from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

from nptbench.analysis.fmt import fmt_time, step_ratio
from nptbench.analysis.history import Point, RunLevel, Series, changed_there, commit, newest_first
from nptbench.schema.record import conditions_label
from nptbench.tools.report.md import Doc
from nptbench.tools.report.svg import CHANGE, FASTER, LEVEL, MUTED, POINT, SHARED, SLOWER, Canvas, Scale, axes

W, H = 760, 230
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 26, 34


def svg(s: Series, fmt=fmt_time, numbers: list[int] | None = None) -> str:
    """One series as an SVG plot (module docstring); ``fmt`` writes a value (a time, by default);
    ``numbers``: each point's run number (1, 2, ... by default)."""
    values = s.values
    n = len(values)
    numbers = numbers or list(range(1, n + 1))
    c = Canvas(W, H)
    x = Scale(0, max(n - 1, 1), LEFT, W - RIGHT, log=False) if n > 1 else Scale(-1, 1, LEFT, W - RIGHT, log=False)
    y = Scale(min(values) / 1.15, max(values) * 1.15, H - BOTTOM, TOP)
    c.text(LEFT, 15, s.name, size=12, bold=True)
    c.text(W - RIGHT, 15, f"{s.time_kind}, log scale", anchor="end", color=MUTED)
    axes(c, x, y, fmt_y=fmt)
    for i in range(0, n, max(1, math.ceil(n / 12))):
        c.text(x(i), H - 18, str(numbers[i]), anchor="middle")
    c.text(LEFT, H - 4, f"run {numbers[0]}: {s.points[0].date}", color=MUTED)
    c.text(W - RIGHT, H - 4, f"run {numbers[-1]}: {s.points[-1].date}", anchor="end", color=MUTED)

    def between(i: int) -> float:  # where a change between run i - 1 and run i is drawn
        return (x(i - 1) + x(i)) / 2

    for i, words in s.changes():
        c.line(between(i), TOP, between(i), H - BOTTOM, CHANGE, 1.5, "2,3", title="; ".join(words))
        c.text(between(i), H - BOTTOM - 3, "env", anchor="middle", color=CHANGE)
    bounds = [0, *(st.index for st in s.steps), n]
    for a, b in zip(bounds, bounds[1:]):
        level = statistics.median(values[a:b])
        c.line(x(a) - 3, y(level), x(b - 1) + 3, y(level), LEVEL, 2, opacity=0.6)
    for st in s.steps:
        color = SLOWER if st.slower else FASTER
        tip = f"{step_ratio(st.ratio, st.low, st.high)} from run {numbers[st.index]}"
        c.line(between(st.index), TOP, between(st.index), H - BOTTOM, color, 1.5, "5,3", title=tip)
        c.text(between(st.index) + 3, TOP + 10, f"x{st.ratio:.2f}", color=color, bold=True, title=tip)
    for st in s.shared:
        tip = f"x{st.ratio:.2f} from run {numbers[st.index]}, taken with the run level: the machine's"
        c.line(between(st.index), TOP, between(st.index), H - BOTTOM, SHARED, 1, "5,3", title=tip)
        c.text(between(st.index) + 3, TOP + 22, f"run x{st.ratio:.2f}", color=SHARED, title=tip)
    for i, p in enumerate(s.points):
        c.marker(x(i), y(p.value), POINT,
                 title=f"run {numbers[i]}: {p.file}, {p.date}, commit {commit(p.run)[:10] or '?'}: {fmt(p.value)}")
    return c.render()


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


def newest_level(s: Series) -> float:
    """A series' level now: the median of its runs since its last own step."""
    start = s.steps[-1].index if s.steps else 0
    return statistics.median(s.values[start:])


def fleet(doc: Doc, all_series: list[Series]) -> None:
    """Where the series span several machines: one table, a row per benchmark (with its profile, conditions
    and kind of time), a column per machine with its newest level and its newest step, and the ratio of the
    slowest machine's level to the fastest's. Nothing where there is one machine."""
    machines = sorted({s.fingerprint for s in all_series})
    if len(machines) < 2:
        return
    rows: dict[tuple, dict[str, Series]] = {}
    for s in all_series:
        rows.setdefault((s.name, s.profile, conditions_label(s.conditions), s.time_kind), {})[s.fingerprint] = s
    doc.h(2, f"The fleet: {len(machines)} machines side by side")
    doc.p("Each machine's newest level of each benchmark (the median of its runs since its last step), its newest "
          "step if it has one, and, where two or more machines ran the benchmark, how many times slower the "
          "slowest is than the fastest. Levels of different machines are different hardware, not a change.")

    def cell(s: Series | None) -> str:
        if s is None:
            return "-"
        text = f"{fmt_time(newest_level(s))} ({len(s.points)} runs)"
        if s.steps:
            st = s.steps[-1]
            text += f"; {'slower' if st.slower else 'faster'} {step_ratio(st.ratio, st.low, st.high)} from {s.points[st.index].date}"
        return text

    table = []
    for (name, profile, conds, kind), on in sorted(rows.items()):
        levels = [newest_level(s) for s in on.values()]
        spread = f"x{max(levels) / min(levels):.2f}" if len(levels) > 1 else "-"
        table.append([f"`{name}`", ", ".join(filter(None, [profile, conds, kind])), *(cell(on.get(m)) for m in machines),
                      spread])
    doc.table(["benchmark", "profile, conditions, time", *machines, "slowest / fastest"], table)


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
    fleet(doc, all_series)
    steps = newest_first(all_series)
    doc.h(2, "Steps, newest first")
    if steps:
        rows = []
        for s, st in steps:
            why = s.explain(st)
            said = changed_there(why)
            rows.append([f"`{s.name}`", s.fingerprint, "slower" if st.slower else "faster",
                         step_ratio(st.ratio, st.low, st.high),
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
                 step_ratio(st.ratio, st.low, st.high),
                 f"{st.index + 1} of {len(lv.runs)}: `{lv.runs[st.index].path.name}`"] for lv in levels for st in lv.steps]
        rows += [[f"`{s.name}`", s.fingerprint, "slower" if st.slower else "faster",
                  step_ratio(st.ratio, st.low, st.high),
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
