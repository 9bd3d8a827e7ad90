"""``python -m nptbench bisect``: which release or which commit made a benchmark slower.

A ladder of rungs, oldest (good) first, is searched by nptbench.analysis.bisect; every probe runs two
rungs the way ``ab`` does (separate pytest sessions, interleaved A B B A, threads pinned, the run as the
unit) and nptbench.analysis.bisect.probe_answers judges them, by default on each run's fastest round (a
Welch t test on their logs, nptbench.analysis.verdict.fastest_verdict; ``--statistic rounds``: the
same-session verdict ``compare --same-session`` gives, on all rounds), answering slower, same or ambiguous
per benchmark. Rungs are

- **package versions** (``--package torch --good 2.12.1 --bad 2.15.0``): every release between on the
  package index (``pip index versions``), each installed once into a cached venv beside the suite
  (``--cache``, default ``.nptbench-cache/``: ``venvs/<package>-<version>``) with the suite itself, and
  reused by later bisections;
- **git revisions** (``--revs GOOD BAD``): the first-parent commits from GOOD to BAD, each checked out
  once into a cached worktree (``revs/<commit>``) and run with this Python from there;
- **an explicit list** (``--envs PY1 PY2 ...``): interpreters (venvs, tox envs), in order.

A rung that will not install, check out or run (its pytest fails) is named and skipped, like
``git bisect skip``. ``--instrument instructions`` probes with instruction counts instead of times
(nptbench.measure.instruments): one counted session a rung (a count repeats between sessions), judged by
nptbench.analysis.counts (nptbench.analysis.bisect.count_answers), never ambiguous. Output: per benchmark the culprit pair with its effect and interval, or "no
regression", or the range an ambiguous probe or broken rungs left; every probe with its answers and time;
``--json FILE`` keeps it all as data. Exit statuses (nptbench.schema.status.Status): 0 no regression, 1 a
culprit found, 2 bad input, 4 undecided (ambiguous or broken rungs).
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nptbench.analysis import counts
from nptbench.analysis.bisect import (BROKEN, NO_REGRESSION, STATISTICS, UNDECIDED, Probe, Search, count_answers,
                                     probe_answers, probes_bound)
from nptbench.analysis.comparison import Effects
from nptbench.analysis.verdict import FASTER, SLOWER
from nptbench.schema.runs import RunError, load_runs
from nptbench.schema.status import Status
from nptbench.tools import session, split_pytest_args

#: Runs a side per probe. One run of a side whose fastest round a neighbour spoiled leaves a Welch interval
#: too wide to call with few runs: simulated bisections drawing from real runs found the exact culprit of a
#: 20 % step in 77 % with 4 runs a side and 98 % with 6 (results/bisect.md).
RUNS = 6
CACHE = Path(".nptbench-cache")


class BisectError(Exception):
    """Bad input, said in one line."""


@dataclass
class Rung:
    name: str
    python: str = sys.executable
    cwd: Path | None = None
    prepare: object = None  # a callable that makes the rung runnable (install, check out); raises BisectError
    ready: bool = False
    broken: str | None = None

    def make_ready(self) -> None:
        if self.ready or self.broken:
            return
        try:
            if self.prepare:
                self.prepare(self)
            self.ready = True
        except BisectError as exc:
            self.broken = str(exc)


# --- ladders --------------------------------------------------------------------------------------------

def _version_key(v: str):
    from packaging.version import Version

    return Version(v)


def index_versions(package: str, python: str = sys.executable) -> list[str]:
    """The released versions of ``package`` on the package index, oldest first (local builds such as
    ``2.13.0+cpu`` folded into their release)."""
    proc = subprocess.run([python, "-m", "pip", "index", "versions", package], capture_output=True, text=True)
    m = re.search(r"Available versions:\s*(.+)", proc.stdout)
    if proc.returncode != 0 or not m:
        raise BisectError(f"cannot list the versions of {package!r} on the package index: "
                          f"{(proc.stderr.strip().splitlines() or ['no answer'])[-1]}")
    versions = {v.strip().split("+")[0] for v in m.group(1).split(",") if v.strip()}
    return sorted(versions, key=_version_key)


def version_ladder(package: str, good: str, bad: str, versions: list[str]) -> list[str]:
    for v, end in ((good, "--good"), (bad, "--bad")):
        if v not in versions:
            raise BisectError(f"{package} {v} ({end}) is not a release on the package index "
                              f"(nearest: {', '.join(_nearest(v, versions))})")
    lo, hi = versions.index(good), versions.index(bad)
    if hi <= lo:
        raise BisectError(f"{package} {bad} (--bad) is not newer than {good} (--good)")
    return versions[lo:hi + 1]


def _nearest(v: str, versions: list[str]) -> list[str]:
    prefix = ".".join(v.split(".")[:2])
    return [x for x in versions if x.startswith(prefix)][:6] or versions[-6:]


def venv_rung(package: str, version: str, cache: Path, checkout: Path, python: str = sys.executable) -> Rung:
    """A rung that installs ``package==version`` and the suite into ``cache/venvs/<package>-<version>``
    the first time it is probed."""
    home = cache / "venvs" / f"{package}-{version}"
    bin_python = home / "bin" / "python"

    def prepare(rung: Rung) -> None:
        if (home / ".nptbench-ready").is_file():
            return
        steps = [[python, "-m", "venv", str(home)],
                 [str(bin_python), "-m", "pip", "install", "-q", f"{package}=={version}", "-e", str(checkout)]]
        for cmd in steps:
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as exc:
                raise BisectError(f"{package} {version} would not install: {exc}") from None
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["?"])[-1]
                raise BisectError(f"{package} {version} would not install: {last}")
        (home / ".nptbench-ready").write_text(version)

    return Rung(version, str(bin_python), checkout, prepare)


def rev_ladder(repo: Path, good: str, bad: str) -> list[str]:
    """GOOD, then the first-parent commits after it up to BAD (full ids)."""
    def git(*args):
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BisectError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
        return proc.stdout.split()

    good_id, bad_id = git("rev-parse", "--verify", f"{good}^{{commit}}")[0], git("rev-parse", "--verify", f"{bad}^{{commit}}")[0]
    between = git("rev-list", "--first-parent", "--reverse", f"{good_id}..{bad_id}")
    if not between:
        raise BisectError(f"{bad} is not a descendant of {good}: no commits between them")
    return [good_id, *between]


def rev_rung(repo: Path, commit: str, cache: Path) -> Rung:
    """A rung that checks ``commit`` out once into ``cache/revs/<commit>`` and runs from there."""
    where = (cache / "revs" / commit[:12]).resolve()

    def prepare(rung: Rung) -> None:
        if (where / "pyproject.toml").is_file():
            return
        refused = session.worktree(repo, commit, where)
        if refused:
            raise BisectError(f"cannot check out {commit[:12]}: {refused}")
        # does it build: the package must import from its own tree
        proc = subprocess.run([sys.executable, "-c", "import nptbench.plugin"], cwd=where, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BisectError(f"{commit[:12]} does not build: "
                              f"{(proc.stderr.strip().splitlines() or ['import failed'])[-1]}")

    return Rung(commit[:12], sys.executable, where, prepare)


# --- probes ---------------------------------------------------------------------------------------------

@dataclass
class Prober:
    rungs: list
    pytest_args: list
    out: Path
    runs_per_probe: list = field(default_factory=list)
    threads: int | None = 1
    effects: Effects = field(default_factory=Effects)
    faster: bool = False  # look for the rung that made it faster: "faster" is the change searched for
    statistic: str = "min"  # STATISTICS
    instrument: str = "time"  # or "instructions": one counted session a side (count_answers)

    def __call__(self, first: int, second: int, runs: int) -> Probe:
        probe = Probe(first, second, runs)
        t0 = time.perf_counter()
        for i in (first, second):
            self.rungs[i].make_ready()
            if self.rungs[i].broken:
                probe.broken, probe.broken_rung = self.rungs[i].broken, i
                return probe
        folder = self.out / f"probe-{len(self.runs_per_probe) + 1:02d}_{first}-{second}_x{runs}"
        self.runs_per_probe.append(str(folder))
        sides = [("A", self.rungs[first], first), ("B", self.rungs[second], second)]
        counting = self.instrument == "instructions"
        for k in range(1 if counting else runs):
            for label, rung, index in (sides if k % 2 == 0 else sides[::-1]):
                cmd = (session.count_command(rung.python, self.pytest_args, folder / label) if counting else
                       session.pytest_command(rung.python, self.pytest_args, folder / label,
                                              save=f"{label.lower()}{k + 1}"))
                try:
                    done = session.run(cmd, rung.cwd, session.side_by_side_environment(self.threads))
                except OSError as exc:
                    probe.broken, probe.broken_rung = f"cannot run it: {exc}", index
                    return probe
                if done.returncode != 0:
                    probe.broken, probe.broken_rung = (f"its benchmarks failed (pytest exit {done.returncode}: "
                                                       f"{done.last_line or '?'})"), index
                    probe.seconds = time.perf_counter() - t0
                    return probe
        try:
            if counting:
                probe.answers = count_answers(counts.load(folder / "A" / "counts"), counts.load(folder / "B" / "counts"),
                                              self.faster)
            else:
                probe.answers = probe_answers(load_runs([folder / "A"]), load_runs([folder / "B"]), self.effects,
                                              self.statistic, self.faster)
        except RunError as exc:
            probe.broken, probe.broken_rung = str(exc), second
            return probe
        probe.seconds = time.perf_counter() - t0
        return probe


# --- output ---------------------------------------------------------------------------------------------

def fmt_answer(a) -> str:
    if a is None or a == BROKEN:
        return "broken"
    ci = f" [{a.low:.3f}, {a.high:.3f}]" if a.low is not None else ""
    return f"{a.word}, ratio {a.ratio:.3f}{ci}" if a.ratio is not None else a.word


def report(search: Search, outcomes: list, seconds: float, faster: bool = False) -> list[str]:
    names = search.rungs
    change = FASTER if faster else SLOWER
    lines = [f"{len(search.probes)} probes over {len(names)} rungs ({names[0]} .. {names[-1]}) in {seconds:.0f} s"]
    for o in outcomes:
        if o.status == NO_REGRESSION:
            lines.append(f"  {o.benchmark}: {'no speed-up' if faster else 'no regression'} from {names[0]} to {names[-1]}")
        for c in o.culprits:
            lines.append(f"  {o.benchmark}: {'culprit' if c.confirmed else 'AMBIGUOUS culprit'} ({change}) "
                         f"{names[c.before]} -> {names[c.rung]} ({fmt_answer(c.answer)})")
        if o.status == UNDECIDED:
            lines.append(f"  {o.benchmark}: AMBIGUOUS: {o.note}")
    if search.broken:
        lines.append("  broken rungs (skipped): " + "; ".join(f"{names[k]}: {why}" for k, why in sorted(search.broken.items())))
    return lines


def as_json(search: Search, outcomes: list, seconds: float, ladder: dict) -> dict:
    names = search.rungs
    return {
        "ladder": ladder, "rungs": names, "seconds": seconds, "searched_for": ladder.get("searched_for", SLOWER),
        "outcomes": [{"benchmark": o.benchmark, "status": o.status, "note": o.note,
                      "range": [names[k] for k in o.range] if o.range else None,
                      "culprits": [{"before": names[c.before], "culprit": names[c.rung], "confirmed": c.confirmed,
                                    "answer": asdict(c.answer) if c.answer else None} for c in o.culprits]}
                     for o in outcomes],
        "probes": [{"first": names[p.first], "second": names[p.second], "runs_a_side": p.runs,
                    "seconds": p.seconds, "broken": p.broken,
                    "broken_rung": names[p.broken_rung] if p.broken_rung is not None else None,
                    "answers": {b: asdict(a) for b, a in p.answers.items()}} for p in search.probes],
        "broken": {names[k]: why for k, why in search.broken.items()},
    }


def main(argv: list[str] | None = None) -> int:
    argv, pytest_args = split_pytest_args(argv)
    parser = argparse.ArgumentParser(
        prog="python -m nptbench bisect",
        description="Find the release or commit that made benchmarks slower: a ladder of rungs (package versions, "
                    "git revisions or interpreters) searched with interleaved probes (as ab runs them). Pytest "
                    "arguments follow '--' (default: bench). Exit status: 0 no regression, 1 a culprit found, "
                    "2 bad input, 4 undecided (ambiguous, or broken rungs in the way).",
        epilog="examples: python -m nptbench bisect --revs v1 HEAD -- bench -k 'numba and square' --bench-size smoke; "
               "python -m nptbench bisect --package torch --good 2.12.1 --bad 2.15.0 -- bench -k add")
    ladder = parser.add_mutually_exclusive_group(required=True)
    ladder.add_argument("--revs", nargs=2, metavar=("GOOD", "BAD"), help="git revisions of this checkout")
    ladder.add_argument("--package", help="a package whose released versions form the ladder (with --good, --bad)")
    ladder.add_argument("--envs", nargs="+", metavar="PYTHON", help="interpreters, oldest (good) first")
    parser.add_argument("--good", help="with --package: the good version")
    parser.add_argument("--bad", help="with --package: the bad version")
    parser.add_argument("--runs", type=int, default=None,
                        help=f"runs a side per probe (default {RUNS}; doubled on an ambiguous answer; with "
                             "--instrument instructions always 1)")
    parser.add_argument("--instrument", choices=("time", "instructions"), default="time",
                        help="what a probe measures: times (default) or instruction counts (pytest --instrument "
                             "instructions: one counted session a rung, judged as compare judges counts)")
    parser.add_argument("--max-runs", type=int, default=12, help="most runs a side an ambiguous probe grows to")
    parser.add_argument("--threads", type=int, default=1, help="threads pinned in every run (default 1)")
    parser.add_argument("--min-effect", type=float, default=None, help="as for compare")
    parser.add_argument("--statistic", choices=STATISTICS, default="min",
                        help="what a probe judges: each run's fastest round (min, default) or all rounds (rounds: "
                             "compare's same-session verdict)")
    parser.add_argument("--faster", action="store_true",
                        help="look for the rung that made benchmarks faster instead (a speed-up to credit)")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"cached venvs and worktrees (default {CACHE}/)")
    parser.add_argument("--out", type=Path, default=None, help="where the probes' runs go (default results/runs/bisect-<time>)")
    parser.add_argument("--json", type=Path, default=None, help="write every probe and the outcome as JSON here")
    parser.add_argument("--config", type=Path, default=Path("pyproject.toml"), help="as for compare")
    args = parser.parse_args(argv)
    if args.instrument == "instructions":
        args.runs = args.max_runs = 1  # a count probe needs one run a side, and is never ambiguous
    elif args.runs is None:
        args.runs = RUNS
    if args.instrument == "time" and (args.runs < 2 or args.max_runs < args.runs):
        parser.error("--runs must be at least 2 and --max-runs at least --runs")
    pytest_args = pytest_args or ["bench"]
    checkout = Path.cwd()
    cache = args.cache.resolve()
    out = (args.out or Path("results") / "runs" / f"bisect-{time.strftime('%Y%m%d_%H%M%S')}").resolve()
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not empty (choose another --out)")
    try:
        if args.package:
            if not (args.good and args.bad):
                raise BisectError("--package needs --good and --bad")
            names = version_ladder(args.package, args.good, args.bad, index_versions(args.package))
            rungs = [venv_rung(args.package, v, cache, checkout) for v in names]
            ladder_info = {"package": args.package, "good": args.good, "bad": args.bad}
        elif args.revs:
            ids = rev_ladder(checkout, *args.revs)
            rungs = [rev_rung(checkout, c, cache) for c in ids]
            ladder_info = {"revs": args.revs}
        else:
            missing = [p for p in args.envs if not Path(p).exists()]
            if missing:
                raise BisectError(f"no such interpreter: {', '.join(missing)}")
            if len(args.envs) < 2:
                raise BisectError("--envs needs at least two interpreters")
            rungs = [Rung(p, str(Path(p).absolute()), checkout) for p in args.envs]
            ladder_info = {"envs": args.envs}
    except BisectError as exc:
        print(f"nptbench bisect: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    effects = Effects.from_pyproject(args.config, args.min_effect)
    started = time.perf_counter()

    def log(text: str) -> None:
        done = len(prober.runs_per_probe)
        elapsed = time.perf_counter() - started
        left = ""
        if done:
            # the probes a bisection of this ladder takes, at most, without ambiguities
            expect = max(done + 1, probes_bound(len(rungs)))
            left = f"; about {elapsed / done * (expect - done):.0f} s left if nothing is ambiguous"
        print(f"nptbench bisect: [{elapsed:.0f} s] {text}{left}", file=sys.stderr, flush=True)

    prober = Prober(rungs, pytest_args, out, threads=args.threads, effects=effects, faster=args.faster,
                    statistic=args.statistic, instrument=args.instrument)
    print(f"nptbench bisect: {len(rungs)} rungs: {', '.join(r.name for r in rungs)}; pytest "
          f"{shlex.join(pytest_args)}; runs in {out}", file=sys.stderr)
    first = prober(0, len(rungs) - 1, args.runs)
    if first.broken:
        print(f"nptbench bisect: an end of the ladder cannot be measured: {first.broken}", file=sys.stderr)
        return Status.BAD_INPUT
    if not first.answers:
        print("nptbench bisect: the selected benchmarks compared nothing (check the pytest arguments)", file=sys.stderr)
        return Status.BAD_INPUT
    search = Search([r.name for r in rungs], sorted(first.answers), prober, args.runs, args.max_runs, log=log)
    ladder_info["searched_for"] = FASTER if args.faster else SLOWER
    if args.instrument == "instructions":
        ladder_info["instrument"] = "instructions"
    search.add(first)
    outcomes = search.run()
    seconds = time.perf_counter() - started
    print("\n".join(report(search, outcomes, seconds, args.faster)))
    if args.json:
        args.json.write_text(json.dumps(as_json(search, outcomes, seconds, ladder_info), indent=1, default=str))
    if any(o.status == UNDECIDED for o in outcomes):
        return Status.CANNOT_JUDGE
    return Status.FAILED if any(o.culprits for o in outcomes) else Status.PASSED


if __name__ == "__main__":
    sys.exit(main())
