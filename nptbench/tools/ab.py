"""``python -m nptbench ab``: the same benchmarks under two setups, interleaved, then compare's verdict.

On a shared machine a single run a side gives false alarms: a whole run drifts when a neighbour takes a
core. The protocol measured in results/ab.md avoids them: threads pinned, runs interleaved
(A B B A A B ...) so that drift falls on both sides alike, several runs a side pooled, and a verdict that
counts the run as the unit (compare's two-level bootstrap). This command is that protocol. A side is any
combination of

- an environment (``--a-env OPENBLAS_CORETYPE=Prescott``),
- a Python interpreter (``--a-python .tox/torch212/bin/python``: another virtual environment or tox env),
- a git revision (``--a-rev v1.2``: checked out into a temporary worktree and run from there),

and both sides run the same pytest arguments (after ``--``; default ``bench``). Each run is saved with its
raw rounds under ``OUT/A`` or ``OUT/B``; the verdicts are nptbench.analysis.comparison's, judged within the
session (``compare --same-session``), printed as ``compare`` prints them; the exit status is compare's
(nptbench.schema.status.Status: 1 something is slower, 3 nothing compared), and 2 when a run fails.

``--instrument instructions`` counts instead of timing (nptbench.measure.instruments): one counted session a
side by default (a count repeats between sessions: no pooling needed), saved under ``OUT/A-counts`` and
``OUT/B-counts`` and judged by nptbench.analysis.counts. ``--instrument both`` makes the timed runs and one
count run a side, and prints the count table with each row's wall-time verdict beside its count's; the
exit status is 1 when either calls a row slower.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nptbench.analysis import counts
from nptbench.analysis.comparison import Effects, compare_runs
from nptbench.measure.instruments import KERNELS
from nptbench.schema import layout
from nptbench.schema.record import THREAD_VARIABLES
from nptbench.schema.runs import RunError, load_runs
from nptbench.schema.status import Status
from nptbench.tools import session, split_pytest_args
from nptbench.tools.verdict_text import show, show_counts, wall_verdicts

#: Runs a side by default: with threads pinned, 3 interleaved runs a side gave no false alarm in the
#: A/A comparisons of results/ab.md and called the SSE-only slowdown every time.
DEFAULT_REPEATS = 3
#: What a side measures: times (pytest-benchmark), instruction counts, or both.
INSTRUMENTS = ("time", "instructions", "both")


@dataclass
class Side:
    name: str
    python: str = sys.executable
    env: dict = field(default_factory=dict)
    rev: str | None = None
    cwd: Path | None = None  # where pytest runs: the checkout, or the revision's worktree

    def describe(self) -> str:
        parts = [f"python {self.python}"] if self.python != sys.executable else []
        parts += [f"rev {self.rev}"] if self.rev else []
        parts += [f"{k}={v}" for k, v in self.env.items()]
        return ", ".join(parts) or "as this process"


def parse_env(items: list[str], flag: str) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"nptbench ab: {flag} wants KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def worktree(repo: Path, rev: str, parent: Path, side: str) -> Path:
    """A detached checkout of ``rev`` for ``side`` under ``parent`` (removed by
    nptbench.tools.session.remove_worktree)."""
    dest = parent / f"{side}-rev-{''.join(c if c.isalnum() else '-' for c in rev)[:40]}"
    refused = session.worktree(repo, rev, dest)
    if refused:
        raise SystemExit(f"nptbench ab: cannot check out {rev!r}: {refused}")
    return dest


def main(argv: list[str] | None = None) -> int:
    argv, pytest_args = split_pytest_args(argv)
    parser = argparse.ArgumentParser(
        prog="python -m nptbench ab",
        description="Run the same benchmarks under two setups A and B, interleaved A B B A ..., with pinned "
                    "threads, then print compare's pooled verdict (exit 1 when B is slower). Pytest arguments "
                    "follow '--' (default: bench).",
        epilog="example: python -m nptbench ab --b-env OPENBLAS_CORETYPE=Prescott -- bench/test_matmul.py "
               "--bench-size smoke -k 'numpy and square'",
    )
    for side in ("a", "b"):
        up = side.upper()
        parser.add_argument(f"--{side}-env", action="append", metavar="KEY=VALUE", default=[],
                            help=f"an environment variable of side {up} (repeatable)")
        parser.add_argument(f"--{side}-python", default=sys.executable,
                            help=f"the Python of side {up} (another venv or tox env; default: this one)")
        parser.add_argument(f"--{side}-rev", default=None, help=f"a git revision to run side {up} from")
    parser.add_argument("--repeats", "-n", type=int, default=None,
                        help=f"runs a side (default {DEFAULT_REPEATS}; with --instrument instructions 1)")
    parser.add_argument("--instrument", choices=INSTRUMENTS, default="time",
                        help="time (default): timed runs, judged as compare --same-session does; instructions: "
                             "counted runs (pytest --instrument instructions), judged as compare judges counts; "
                             "both: the timed runs and one count run a side, the count table with the wall-time "
                             "verdicts beside")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads pinned on both sides (OMP/MKL/OPENBLAS/NUMBA_NUM_THREADS; default 1)")
    parser.add_argument("--no-pin", action="store_true", help="leave the thread settings as they are")
    parser.add_argument("--ceilings", action="store_true", help="measure ceilings in every run (off: faster)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the runs (OUT/A, OUT/B; default: results/runs/ab-<time>)")
    parser.add_argument("--min-effect", type=float, default=None, help="as for compare")
    parser.add_argument("--across-conditions", action="store_true",
                        help="as for compare (implied where the sides set different thread variables)")
    parser.add_argument("--config", type=Path, default=Path("pyproject.toml"), help="as for compare")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    timed = 0 if args.instrument == "instructions" else args.repeats or DEFAULT_REPEATS
    counted = {"time": 0, "instructions": args.repeats or 1, "both": 1}[args.instrument]
    pytest_args = pytest_args or ["bench"]
    out = (args.out or layout.ab_dir()).resolve()
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not empty: its runs would be pooled with the new ones (choose another --out)")
    sides = [Side("A", args.a_python, parse_env(args.a_env, "--a-env"), args.a_rev),
             Side("B", args.b_python, parse_env(args.b_env, "--b-env"), args.b_rev)]
    threads = None if args.no_pin else args.threads
    repo = Path.cwd()
    scratch = Path(tempfile.mkdtemp(prefix="nptbench-ab-"))
    made = []
    try:
        for side in sides:
            side.cwd = worktree(repo, side.rev, scratch, side.name) if side.rev else repo
            if side.rev:
                made.append(side.cwd)
        for side in sides:
            print(f"nptbench ab: side {side.name}: {side.describe()}", file=sys.stderr)
        what = ", ".join(f"{n} {kind}run{'s' if n > 1 or not kind else ''} a side" for n, kind in ((timed, ""), (counted, "count "))
                         if n)
        print(f"nptbench ab: {what}, interleaved A B; threads {'as set' if threads is None else threads}; pytest "
              f"{shlex.join(pytest_args)}; runs in {out}", file=sys.stderr)
        progress = session.Progress(2 * (timed + counted))
        for i in range(max(timed, counted)):
            # A B, then B A: a steady drift of the machine (warming up, load rising) falls on both sides
            for side in (sides if i % 2 == 0 else sides[::-1]):
                env = session.side_by_side_environment(threads, args.ceilings, side.env)
                cmds = [("", session.pytest_command(side.python, pytest_args, out / side.name,
                                                         save=f"{side.name.lower()}{i + 1}"))] if i < timed else []
                cmds += [("count ", session.count_command(side.python, pytest_args, out / f"{side.name}-counts"))
                         ] if i < counted else []
                for kind, cmd in cmds:
                    done = session.run(cmd, side.cwd, env)
                    progress.add(done.seconds)
                    if done.returncode != 0:
                        print("\n".join(done.tail(15)), file=sys.stderr)
                        print(f"nptbench ab: {kind}run {progress.done}/{progress.total} (side {side.name}) failed "
                              f"with exit status {done.returncode}", file=sys.stderr)
                        return Status.BAD_INPUT
                    print(f"nptbench ab: [{progress.done}/{progress.total}] {side.name} {kind}run {i + 1} of "
                          f"{counted if kind else timed} done in {done.seconds:.1f} s; about {progress.left:.0f} s left",
                          file=sys.stderr, flush=True)
    finally:
        for path in made:
            session.remove_worktree(repo, path)
        shutil.rmtree(scratch, ignore_errors=True)
    status, times = Status.PASSED, None
    if timed:
        status = judge_times(out, sides, args)
        if status == Status.BAD_INPUT:
            return status
    if counted:
        print(f"nptbench ab: counts {out / 'A-counts'} (BASE) {out / 'B-counts'} (NEW)", file=sys.stderr)
        try:
            kernels = args.across_conditions or any(sides[0].env.get(k) != sides[1].env.get(k) for k in KERNELS)
            pairing = counts.judge(counts.load(out / "A-counts" / "counts"), counts.load(out / "B-counts" / "counts"),
                                   across_kernels=kernels)
            if timed:
                times = wall_verdicts(compare_runs(load_runs([out / "A"]), load_runs([out / "B"]),
                                                   Effects.from_pyproject(args.config, args.min_effect),
                                                   across=across(sides, args), mode="session"))
        except RunError as exc:
            print(f"nptbench ab: {exc}", file=sys.stderr)
            return Status.BAD_INPUT
        counted_status = show_counts(pairing, times, "ab", "A", "B")
        status = counted_status if status == Status.PASSED or not timed else status
    return status


def across(sides: list[Side], args) -> bool:
    """Whether the sides are compared across conditions: they set different thread variables (what was asked
    for), or ``--across-conditions``."""
    return bool(differing(sides) or args.across_conditions)


def differing(sides: list[Side]) -> list[str]:
    return sorted(k for k in THREAD_VARIABLES if sides[0].env.get(k) != sides[1].env.get(k))


def judge_times(out: Path, sides: list[Side], args) -> Status:
    """Print the timed runs' verdicts (compare --same-session) and return their exit status."""
    print(f"nptbench ab: compare {out / 'A'} (BASE) {out / 'B'} (NEW)", file=sys.stderr)
    differ = differing(sides)
    if differ or args.across_conditions:
        # compare keeps results of other thread settings apart; here that difference is what was asked for
        print(f"nptbench ab: the sides differ in {', '.join(differ) or 'conditions'}: compared across conditions",
              file=sys.stderr)
    try:
        # the two sides ran side by side in this session: judged within it, not against a saved baseline's spread
        pairings = compare_runs(load_runs([out / "A"]), load_runs([out / "B"]),
                                Effects.from_pyproject(args.config, args.min_effect),
                                across=across(sides, args), mode="session")
    except RunError as exc:
        print(f"nptbench compare: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    return show(pairings)
