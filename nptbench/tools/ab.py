"""``python -m nptbench ab``: the same benchmarks under two setups, interleaved, then compare's verdict.

On a shared machine a single run a side gives false alarms: a whole run drifts when a neighbour takes a
core. The protocol measured in results/README.md avoids them: threads pinned, runs interleaved
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
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from nptbench.analysis.comparison import Effects, compare_runs
from nptbench.env import configs
from nptbench.schema import layout
from nptbench.schema.record import THREAD_VARIABLES
from nptbench.schema.runs import RunError, load_runs
from nptbench.schema.status import Status
from nptbench.tools import split_pytest_args
from nptbench.tools.verdict_text import show

#: Runs a side by default: with threads pinned, 3 interleaved runs a side gave no false alarm in the
#: A/A comparisons of results/README.md and called the SSE-only slowdown every time.
DEFAULT_REPEATS = 3


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


def run_env(side: Side, threads: int | None, ceilings: bool) -> dict:
    """The environment of one run: this one without BENCH_SIZE (the profile comes from the pytest
    arguments), with pinned threads unless ``threads`` is None, and the side's own variables (which win)."""
    env = {k: v for k, v in os.environ.items() if k != "BENCH_SIZE"}
    env.update(configs.threads(threads))
    env["NPTBENCH_OFFLINE"] = env.get("NPTBENCH_OFFLINE") or "1"
    if env.get("MNIST_DIR"):  # a revision runs from another folder: the same data for both sides
        env["MNIST_DIR"] = str(Path(env["MNIST_DIR"]).expanduser().resolve())
    if not ceilings:
        env["NPTBENCH_CEILINGS"] = "off"  # compare needs times only; calibrating every run costs seconds
    env.update(side.env)
    return env


def command(side: Side, storage: Path, name: str, pytest_args: list[str]) -> list[str]:
    return [side.python, "-m", "pytest", *pytest_args, "-q", "-p", "no:cacheprovider",
            f"--benchmark-storage=file://{storage}", f"--benchmark-save={name}", "--benchmark-save-data"]


def worktree(repo: Path, rev: str, parent: Path, side: str) -> Path:
    """A detached checkout of ``rev`` for ``side`` under ``parent`` (removed by :func:`remove_worktree`)."""
    dest = parent / f"{side}-rev-{''.join(c if c.isalnum() else '-' for c in rev)[:40]}"
    proc = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(dest), rev],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"nptbench ab: cannot check out {rev!r}: {proc.stderr.strip()}")
    return dest


def remove_worktree(repo: Path, path: Path) -> None:
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True)


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
    parser.add_argument("--repeats", "-n", type=int, default=DEFAULT_REPEATS,
                        help=f"runs a side (default {DEFAULT_REPEATS})")
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
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
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
        print(f"nptbench ab: {args.repeats} runs a side, interleaved A B; threads "
              f"{'as set' if threads is None else threads}; pytest {shlex.join(pytest_args)}; runs in {out}",
              file=sys.stderr)
        total, done, t0 = 2 * args.repeats, 0, time.perf_counter()
        for i in range(args.repeats):
            # A B, then B A: a steady drift of the machine (warming up, load rising) falls on both sides
            for side in (sides if i % 2 == 0 else sides[::-1]):
                done += 1
                storage = out / side.name
                start = time.perf_counter()
                proc = subprocess.run(command(side, storage, f"{side.name.lower()}{i + 1}", pytest_args),
                                      cwd=side.cwd, env=run_env(side, threads, args.ceilings),
                                      capture_output=True, text=True)
                took = time.perf_counter() - start
                if proc.returncode != 0:
                    tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
                    print("\n".join(tail), file=sys.stderr)
                    print(f"nptbench ab: run {done}/{total} (side {side.name}) failed with exit status "
                          f"{proc.returncode}", file=sys.stderr)
                    return Status.BAD_INPUT
                left = (time.perf_counter() - t0) / done * (total - done)
                print(f"nptbench ab: [{done}/{total}] {side.name} run {i + 1} of {args.repeats} done in "
                      f"{took:.1f} s; about {left:.0f} s left", file=sys.stderr, flush=True)
    finally:
        for path in made:
            remove_worktree(repo, path)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"nptbench ab: compare {out / 'A'} (BASE) {out / 'B'} (NEW)", file=sys.stderr)
    differ = sorted(k for k in THREAD_VARIABLES if sides[0].env.get(k) != sides[1].env.get(k))
    if differ or args.across_conditions:
        # compare keeps results of other thread settings apart; here that difference is what was asked for
        print(f"nptbench ab: the sides differ in {', '.join(differ) or 'conditions'}: compared across conditions",
              file=sys.stderr)
    try:
        # the two sides ran side by side in this session: judged within it, not against a saved baseline's spread
        pairings = compare_runs(load_runs([out / "A"]), load_runs([out / "B"]),
                                Effects.from_pyproject(args.config, args.min_effect),
                                across=bool(differ or args.across_conditions), mode="session")
    except RunError as exc:
        print(f"nptbench compare: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    return show(pairings)
