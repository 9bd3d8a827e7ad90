"""``python -m nptbench compare BASE NEW``: did NEW get slower than BASE, beyond noise and beyond a minimum effect?

No seed experiment of its own: this judges every seed's benchmarks between saved runs (files or folders of
runs, from one or many machines), in one of two ways (nptbench.analysis.comparison.MODES):

- **against a saved baseline** (the default, and the ``--benchmark-compare`` gate, which judges the same way):
  BASE is a set of runs made at other times, and each benchmark is judged on the spread between them
  (nptbench.analysis.gate: a prediction interval on the runs' times, Holm over the session's benchmarks,
  the smallest slowdown the set could detect; by default a row is called only where the runs' medians and
  their fastest rounds agree, ``--statistic both``). A set of fewer than 3 runs cannot judge (exit status 4);
- **side by side in one session** (``--same-session``, as ``ab`` runs them): on the rounds and runs
  themselves (nptbench.analysis.verdict).

Either way a verdict needs both significance and a minimum effect (10 % unless pyproject.toml's
``[tool.nptbench.min-effect]`` says otherwise for the experiment). Beside the verdicts: how the machine's
yardsticks differ between the sides and which rows that could explain (nptbench.analysis.drift), partial
runs, and runs that lack raw rounds or yardsticks.

GPU records (``device == "cuda"``) are judged on their device times (CUDA events) when both sides have
them, with the host medians shown beside: the host time of a short GPU call also holds the per-call
synchronization and event cost. Otherwise the host rounds are judged and the row says so. A row whose
BASE or NEW rounds ran on a throttled GPU (record field ``gpu_throttled``: the SM clock fell, or a power
or thermal limit held it) says so in its verdict (nptbench.analysis.gpu_records.throttle_note): its ratio
may be the clock's, not the code's.

Benchmarks are matched, kept apart by their conditions and pooled over several runs of one side as
nptbench.analysis.across says, like everywhere in the suite. Runs are grouped by hardware fingerprint:
each machine is judged against its own BASE runs and all machines are laid side by side; comparing across
fingerprints prints a loud warning. Exit statuses: nptbench.schema.status.Status (0 nothing slower, 1
slower, 2 a run cannot be read or a set is refused, 3 nothing compared, 4 cannot judge).

Count runs (``pytest bench --instrument instructions``) hold no times: BASE and NEW that are count runs, or
``--counts BASE_COUNTS NEW_COUNTS`` beside timed runs, are judged apart by nptbench.analysis.counts
(:func:`judge_counts`), in a table of their own that shows each row's wall-time verdict beside its count's.

This module parses the arguments, loads the runs, and prints: the judging, the second timing and the
exit policy are nptbench.analysis.comparison's (the engine the gate, ``ab`` and ``bisect`` call too), the
tables and the JSON nptbench.tools.verdict_text's.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nptbench.analysis import counts
from nptbench.analysis.comparison import STATISTIC, STATISTICS, Effects, compare_runs, confirm
from nptbench.analysis.verdict import DEFAULT_MIN_EFFECT
from nptbench.schema.runs import RunError, load_runs
from nptbench.schema.store import run_paths
from nptbench.schema.status import Status
from nptbench.tools.verdict_text import show, show_counts, wall_verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench compare",
        description="Compare saved runs (files or folders, from one or many machines): ratio of medians, an "
                    "interval and a verdict per benchmark. By default NEW is judged against BASE as against a "
                    "saved baseline, on the spread between BASE's runs (several runs made at different times; "
                    "docs/upgrade.md). Exit status: 0 nothing slower, 1 slower, 2 a run cannot be read or a "
                    "set is refused, 3 nothing compared, 4 cannot judge (a baseline of fewer than 3 runs, or a "
                    "machine whose drift could explain every slower row).",
    )
    parser.add_argument("base", help="saved run(s): a .json file or a folder of them, or a store's database "
                                     "(postgresql://...#<fingerprint>: a machine's set)")
    parser.add_argument("new", help="saved run(s) to judge against BASE, named the same ways")
    parser.add_argument("--min-effect", type=float, default=None,
                        help="smallest ratio change that counts, as a fraction (default: pyproject.toml "
                             f"[tool.nptbench.min-effect] default, else {DEFAULT_MIN_EFFECT})")
    parser.add_argument("--same-session", action="store_true",
                        help="BASE and NEW were run side by side in one session (as ab runs them): judge on the "
                             "rounds and runs themselves instead of a saved baseline's between-run spread")
    parser.add_argument("--across-conditions", action="store_true",
                        help="also judge benchmarks measured under different conditions (a cold L2, thread "
                             "variables), marking each such row; by default they are not compared")
    parser.add_argument("--config", type=Path, default=Path("pyproject.toml"),
                        help="where [tool.nptbench.min-effect] is read (default: ./pyproject.toml)")
    parser.add_argument("--statistic", choices=STATISTICS, default=STATISTIC,
                        help=f"which time of each run a saved baseline is judged on (default {STATISTIC})")
    parser.add_argument("--profile", default=None,
                        help="keep only the runs of this size profile on both sides (a machine's folder holds "
                             "the baselines of several profiles)")
    parser.add_argument("--confirm", type=Path, default=None, metavar="SECOND",
                        help="a saved run of a second, separate timing of some of NEW's rows (the gate makes one "
                             "of the rows it calls slower): a row stays slower only where NEW with those rows "
                             "replaced by SECOND's, judged against BASE the same way, calls it slower too")
    parser.add_argument("--json", action="store_true", help="print every verdict as JSON instead of the tables")
    parser.add_argument("--counts", nargs=2, type=Path, metavar=("BASE_COUNTS", "NEW_COUNTS"), default=None,
                        help="count runs of both sides (pytest bench --instrument instructions, results/counts/): "
                             "judged on their own rule (nptbench.analysis.counts) in a table of their own, each row "
                             "with the wall-time verdict beside it. BASE and NEW may themselves be count runs")
    args = parser.parse_args(argv)
    if args.counts is None and counts.holds_counts(args.base) and counts.holds_counts(args.new):
        return judge_counts(args.base, args.new, None, args.across_conditions)
    try:
        base, new = load_runs(run_paths(args.base)), load_runs(run_paths(args.new))
        if args.profile:
            base, new = ([r for r in side if r.profile == args.profile] for side in (base, new))
            if not base or not new:
                raise RunError(f"no {'BASE' if not base else 'NEW'} run of profile {args.profile!r}")
        pairings = compare_runs(base, new, Effects.from_pyproject(args.config, args.min_effect),
                                args.across_conditions, "session" if args.same_session else "baseline",
                                statistic=args.statistic)
        if args.confirm is not None:
            [second] = load_runs([args.confirm])[:1]
            confirm(pairings, second, Effects.from_pyproject(args.config, args.min_effect))
    except RunError as exc:
        print(f"nptbench compare: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    status = show(pairings, args.json)
    if args.counts is not None:
        counted = judge_counts(*args.counts, wall_verdicts(pairings), args.across_conditions)
        status = counted if status == Status.PASSED else status
    return status


def judge_counts(base: Path, new: Path, times: dict | None, across: bool = False) -> Status:
    """Print the count table of two sides' count runs (nptbench.analysis.counts) and return compare's exit
    status for them: ``FAILED`` where a count is called slower. ``across``: also runs counted with other
    BLAS kernels (``--across-conditions``)."""
    try:
        pairing = counts.judge(counts.load(base), counts.load(new), across_kernels=across)
    except RunError as exc:
        print(f"nptbench compare: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    return show_counts(pairing, times)
