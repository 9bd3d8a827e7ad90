"""``python -m nptbench history [PATH ...]``: every saved run of a machine as a series, its steps found and
explained.

Reads saved runs (by default ``results/``: the committed baselines of every machine and the runs in
``results/runs/``; or any files and folders given) as summaries, without their rounds (a folder keeps
them in an index, so an unchanged file is not read again: nptbench.schema.runs.read_summaries; progress
on stderr while files are read whole; docs/history.md), builds each benchmark's series per machine, profile
and conditions (nptbench.analysis.history: runs of other machines never mix into a series), finds its
steps (nptbench.analysis.changepoints: from the scatter between runs, with a stated false-alarm rate) and
prints them newest first, each with its size and interval, the first run at the new level and what
changed there. A step a row took with the whole run (its group's run level: the machine ran every row
slower or faster), where nothing in its environment changed, is the machine's: printed apart, with the
run level's own steps, and never failing ``--fail-on-new-step``. ``--json`` prints every series as data, ``--out DIR`` writes a dashboard (history.md,
history.html with its plots inline, img/*.svg; nptbench.tools.dashboard), and ``--fail-on-new-step`` makes
it a CI check.

Count runs (``history results/counts``, pytest bench --instrument instructions) are read apart, never by the
timed detector: each row's count over the runs, and a step wherever a run's count left the level of the
runs since the last step by more than the counts' own rule (nptbench.analysis.counts.history).

Exit statuses (nptbench.schema.status.Status): ``PASSED`` (no new slowdown step, or not asked), ``FAILED`` (with
``--fail-on-new-step``: the newest runs begin a slowdown step, one line per step), ``BAD_INPUT`` (a
run cannot be read, or says no date: named in one line; bad arguments), ``NOTHING`` (no series to look at).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from nptbench.analysis import changepoints, counts
from nptbench.analysis.fmt import step_ratio
from nptbench.analysis.history import RunLevel, Series, changed_there, newest_first, run_levels, series, unique
from nptbench.schema import layout, store
from nptbench.schema.record import conditions_label
from nptbench.schema.runs import INDEX_FILE, RunError, read_summaries
from nptbench.schema.status import Status

#: A step is new when its first run is among the series' newest this many runs (a step shows once
#: ``min_size`` runs sit after it, and may need a couple more on a noisy machine).
NEW_RUNS = 5
#: Seconds between two progress lines while reading runs.
PROGRESS_EVERY = 2.0


def read(paths: list[Path], progress=None, index: bool = True) -> tuple[list, list[Path]]:
    """Every run at ``paths`` (files, folders of them) as its summary (nptbench.schema.runs.read_summaries:
    a folder's index spares reading again a file that did not change; ``index=False`` reads every file
    whole and writes no index), copies of one run read once; ``progress(done, total)`` is called about every
    :data:`PROGRESS_EVERY` seconds while files are read whole. :class:`RunError` names a corrupt file."""
    started = last = time.monotonic()

    def every(done: int, total: int) -> None:
        nonlocal last
        if progress and time.monotonic() - last > PROGRESS_EVERY:
            progress(done, total)
            last = time.monotonic()

    runs = [dated(r) for p in paths for r in read_summaries(p, every, index)]
    if not runs:
        raise RunError(f"no saved run (*.json) in {', '.join(map(str, paths))}")
    if progress and last > started:  # it printed progress: say where it ended
        progress(len(runs), len(runs))
    return unique(runs)


def dated(run):
    """``run``, when it says when it was made; :class:`RunError` naming its file otherwise: a history orders
    runs by their saved time, and a run without one has no place in it (pytest-benchmark saves one with
    every run: it was edited or made by another tool)."""
    stamp = run.time
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        raise RunError(f"{run.path}: " + (f"its datetime {stamp!r} is not a date" if stamp else "has no datetime")
                       + ", so it has no place in a history (pytest-benchmark saves one with every run)") from None
    return run


def step_data(s: Series, step) -> dict:
    first = s.points[step.index]
    return {"index": step.index, "first_run": first.file, "first_run_path": str(first.run.path),
            "date": first.date, "ratio": step.ratio, "interval": [step.low, step.high], "p": step.p,
            "runs_before": step.before, "runs_after": step.after, "slower": step.slower,
            "changed": s.explain(step)}


def series_data(s: Series) -> dict:
    return {"name": s.name, "experiment": s.experiment, "fingerprint": s.fingerprint, "profile": s.profile,
            "conditions": dict(s.conditions), "time": s.time_kind, "runs": len(s.points),
            "first": s.points[0].date, "last": s.points[-1].date,
            "steps": [step_data(s, st) for st in s.steps],
            "with_run_level": [step_data(s, st) for st in s.shared],
            "environment_changes": [{"index": i, "run": s.points[i].file, "changes": w} for i, w in s.changes()]}


def level_data(lv: RunLevel) -> dict:
    fingerprint, profile, conds, kind = lv.group
    return {"fingerprint": fingerprint, "profile": profile, "conditions": dict(conds), "time": kind,
            "rows": len(lv.names),
            "runs": [{"file": r.path.name, "level": v, "rows": n} for r, v, n in zip(lv.runs, lv.values, lv.rows)],
            "steps": [{"index": st.index, "first_run": lv.runs[st.index].path.name, "ratio": st.ratio,
                       "interval": [st.low, st.high], "p": st.p, "slower": st.slower} for st in lv.steps]}


def level_label(lv: RunLevel) -> str:
    fingerprint, profile, conds, kind = lv.group
    words = conditions_label(conds)
    return f"run level [{fingerprint}, {profile}{', ' + words if words else ''}, {kind}]"


def new_steps(all_series: list[Series], new_runs: int) -> list[tuple[Series, object]]:
    """Slowdown steps whose first run is among their series' newest ``new_runs`` runs."""
    return [(s, st) for s in all_series for st in s.steps
            if st.slower and st.index >= len(s.points) - new_runs]


def fmt_step(s: Series, step) -> str:
    why = s.explain(step)
    said = changed_there(why)
    commits = " -> ".join(why["commits"])
    return (f"{s.label}: {step_ratio(step.ratio, step.low, step.high)} from run {step.index + 1} of "
            f"{len(s.points)} ({s.points[step.index].file}, {s.points[step.index].date})"
            + (f"; commits {commits}" if commits else "")
            + (f"; changed there: {'; '.join(said)}" if said else "; nothing recorded changed there"))


def print_text(all_series: list[Series], copies: list[Path], runs: int, short: list[Series], levels=(),
               out=None) -> None:
    out = out or sys.stdout
    machines = sorted({s.fingerprint for s in all_series})
    print(f"{runs} runs of {len(machines)} machine(s) ({', '.join(machines)}), {len(all_series)} series"
          + (f"; {len(copies)} copies of a run read once" if copies else ""), file=out)
    for group in sorted({(s.fingerprint, s.profile, s.conditions) for s in all_series}):
        members = [s for s in all_series if (s.fingerprint, s.profile, s.conditions) == group]
        conds = conditions_label(group[2])
        lengths = sorted(len(s.points) for s in members)
        print(f"  {group[0]}, {group[1]}{', ' + conds if conds else ''}: {len(members)} benchmarks, "
              f"{lengths[0]}-{lengths[-1]} runs each", file=out)
    if short:
        print(f"{len(short)} series too short to hold a step (fewer than {2 * changepoints.MIN_SIZE} runs)", file=out)
    steps = newest_first(all_series)
    if not steps:
        print("no steps", file=out)
    else:
        print(f"\n{len(steps)} step(s), newest first:", file=out)
        for s, st in steps:
            print(("  slower " if st.slower else "  faster ") + fmt_step(s, st), file=out)
    shared = newest_first(all_series, shared=True)
    moved = [lv for lv in levels if lv.steps]
    if shared or moved:
        print(f"\nthe machine's: {len(shared)} step(s) of rows taken with their run level (every row of the run "
              "moved alike, nothing recorded changed there), not counted as the rows' own:", file=out)
        for lv in moved:
            for st in lv.steps:
                print(f"  {level_label(lv)}: {step_ratio(st.ratio, st.low, st.high)} from run {st.index + 1} "
                      f"of {len(lv.runs)} ({lv.runs[st.index].path.name})", file=out)
        for s, st in shared:
            print(f"  with the run level: {fmt_step(s, st)}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench history",
        description="Every saved run of a machine as a series per benchmark, profile and conditions; steps found "
                    "from the scatter between runs and explained by what changed there. Exit status: 0, 1 a new "
                    "slowdown step (--fail-on-new-step), 2 a run cannot be read, 3 no series.")
    parser.add_argument("paths", nargs="*", type=Path,
                        help=f"saved runs: files or folders (default: the store --results names)")
    parser.add_argument("--results", default=None,
                        help=f"read the runs of this store, a folder or a postgresql:// URL (default: "
                             f"${store.ENV}, else {layout.RESULTS}/, baselines and runs); from a database with "
                             "--fingerprint, that machine's runs alone")
    parser.add_argument("-k", dest="keyword", default=None, help="only benchmarks whose name contains this")
    parser.add_argument("--fingerprint", default=None, help="only this machine")
    parser.add_argument("--profile", default=None, help="only this size profile")
    parser.add_argument("--json", action="store_true", help="print every series and its steps as JSON")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the dashboard there: history.md, history.html (plots inline), img/*.svg")
    parser.add_argument("--fail-on-new-step", action="store_true",
                        help="exit 1 when the newest runs of a series begin a slowdown step of its own (one line "
                             "per step; a step every row of the run took alike, with nothing changed, is the "
                             "machine's and does not fail)")
    parser.add_argument("--new", type=int, default=NEW_RUNS,
                        help=f"with --fail-on-new-step: a step is new when it begins among the newest N runs "
                             f"(default {NEW_RUNS})")
    parser.add_argument("--alpha", type=float, default=changepoints.ALPHA,
                        help=f"chance that a series with no step gets one (default {changepoints.ALPHA})")
    parser.add_argument("--min-step", type=float, default=changepoints.MIN_STEP,
                        help=f"smallest step reported, as a fraction (default {changepoints.MIN_STEP})")
    parser.add_argument("--min-runs", type=int, default=changepoints.MIN_SIZE,
                        help=f"fewest runs on either side of a step (default {changepoints.MIN_SIZE})")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--no-index", action="store_true",
                        help="read every run file whole and write no index (by default a folder keeps the "
                             f"summaries of its runs in {INDEX_FILE}, keyed by each file's size, time and inode)")
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1 or args.min_step < 0 or args.min_runs < 1 or args.new < 1:
        parser.error("--alpha must lie in (0, 1), --min-step >= 0, --min-runs and --new >= 1")
    if args.paths and args.results:
        parser.error("give saved runs or --results, not both")
    location = args.results or store.locate()
    try:
        paths = args.paths or (store.local_runs(location, args.fingerprint or "") if store.is_database(location)
                               else [Path(location)])
    except RunError as exc:
        print(f"nptbench history: {exc}", file=sys.stderr)
        return Status.BAD_INPUT

    if all(counts.holds_counts(p) for p in paths):
        return count_history(paths, args)

    def progress(done: int, total: int) -> None:
        print(f"history: read {done} of {total} runs", file=sys.stderr, flush=True)

    try:
        runs, copies = read(paths, None if args.quiet else progress, not args.no_index)
    except RunError as exc:
        print(f"nptbench history: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    every = series(runs)
    levels = run_levels(every)  # of every row, whatever the filters show
    found = [s for s in every if wanted(args, s.name, s.fingerprint, s.profile)]
    if not found:
        print("nptbench history: no series in these runs" + (" with these filters" if args.keyword or
              args.fingerprint or args.profile else ""), file=sys.stderr)
        return Status.NOTHING
    short = [s for s in found if len(s.points) < 2 * args.min_runs]
    started = time.monotonic()
    for i, s in enumerate(found, 1):
        s.detect(alpha=args.alpha, min_size=args.min_runs, min_step=args.min_step)
        if not args.quiet and time.monotonic() - started > PROGRESS_EVERY and i % 25 == 0:
            print(f"history: searched {i} of {len(found)} series", file=sys.stderr, flush=True)
    shown = {s.group for s in found}
    levels = [lv for lv in levels if lv.group in shown and lv.defined]
    for lv in levels:
        lv.detect(alpha=args.alpha, min_size=args.min_runs, min_step=args.min_step)
    if args.json:
        print(json.dumps({"runs": len(runs), "copies_read_once": [str(p) for p in copies],
                          "detector": {"alpha": args.alpha, "min_step": args.min_step, "min_runs": args.min_runs},
                          "series": [series_data(s) for s in found],
                          "run_levels": [level_data(lv) for lv in levels]}, indent=1))
    else:
        print_text(found, copies, len(runs), short, levels)
    if args.out:
        from nptbench.tools import dashboard

        written = dashboard.write(found, args.out, levels)
        print(f"wrote {written['markdown']} and {written['html']} ({len(written['images'])} plots)",
              file=sys.stderr if args.json else sys.stdout)
    if args.fail_on_new_step:
        fresh = new_steps(found, args.new)
        for s, st in fresh:
            print(f"NEW SLOWDOWN STEP: {fmt_step(s, st)}", file=sys.stderr)
        if fresh:
            return Status.FAILED
    return Status.PASSED


def wanted(args, name: str, fingerprint: str, profile: str) -> bool:
    """Whether a series passes history's filters (``-k``, ``--fingerprint``, ``--profile``)."""
    return ((not args.keyword or args.keyword in name) and (not args.fingerprint or fingerprint == args.fingerprint)
            and (not args.profile or profile == args.profile))


def count_history(paths: list, args) -> Status:
    """``history`` of count runs (``results/counts``): each row's count over the runs and its steps, judged by
    nptbench.analysis.counts (never by the timed changepoint detector: counts have their own rule)."""
    try:
        runs = [r for p in paths for r in counts.load(p)]
    except RunError as exc:
        print(f"nptbench history: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    found = [s for s in counts.history(runs) if wanted(args, s.name, *s.group[:2])]
    if not found:
        print("nptbench history: no count series in these runs", file=sys.stderr)
        return Status.NOTHING
    if args.json:
        print(json.dumps({"runs": len(runs), "instrument": "instructions", "series": [
            {"name": s.name, "experiment": s.experiment, "fingerprint": s.group[0], "profile": s.group[1],
             "runs": [str(r.path) for r in s.runs], "instructions_per_call": s.values,
             "steps": [{"run": str(s.runs[st.index].path), "level": st.level, "count": st.count,
                        "ratio": st.ratio, "threshold": st.threshold, "verdict": st.verdict} for st in s.steps]}
            for s in found]}, indent=1))
    else:
        print(counts.render_history(found, len(runs)))
    if args.fail_on_new_step:
        fresh = counts.new_slower_steps(found, args.new)
        for s, st in fresh:
            print(f"NEW SLOWDOWN STEP (counts): {s.name}: x{st.ratio:.4f} at {s.runs[st.index].path}", file=sys.stderr)
        if fresh:
            return Status.FAILED
    return Status.PASSED


if __name__ == "__main__":
    sys.exit(main())
