"""``python -m nptbench baseline``: a baseline SET for this machine, several runs of the suite at different times.

The gate (``pytest bench --benchmark-compare-fail=median:10%``, nptbench.plugin.PytestBaseline) judges a
new run against every baseline run of this machine, profile and conditions in ``results/<fingerprint>/``
(nptbench.schema.runs.baseline_set), and what it measures noise by is the spread BETWEEN those runs. The
rounds of one run all sit within the same few seconds: they share the machine's state of that moment
(a neighbour on a core, the clock, the caches, what the OS is doing), so their scatter is far smaller than
the difference between two runs made minutes apart, and one run, or one long run, says nothing about how
much a whole run drifts. A new run judged against such a baseline is called slower for drift the
baseline never saw. So the set is made of separate sessions (each its own ``python -m pytest``
process) with pauses between them, each promoted (nptbench.tools.promote) into ``results/<fingerprint>/``.

Each run is saved with its raw rounds under ``results/runs/baseline-<time>/`` under a name of its own
(``baseline-<time>-<i>``), so the file of each run is found unambiguously and the promoted copies
(``<profile>-NNNN_baseline-<time>-<i>.json``) never collide with those of another invocation. The runs are
made in this process's environment as it is, or with ``--threads N`` pinning the thread-count variables
(OMP, MKL, OpenBLAS, numba) to N, which results/gate.md measured to be what makes a gate hold on a
shared 2-core VM (a neighbour preempting one of two busy threads stalls the other). A thread variable is
part of a result's conditions and the gate compares only runs made under the session's own, so the gate
must run with the same variables: the command printed at the end has them.

A run that fails stops the set: every failing benchmark is named with its one-line reason (from the run's
``--check-log``, ``<out>/<name>.checks.jsonl``), the failed run stays in ``<out>`` as pytest-benchmark saved it
(its record says it is partial) and is never promoted, and the line to go on without those rows is printed
(``-- bench --deselect NODEID``). The set is never built around a failure silently: a result that fails its
check is not a number to judge others by, and a set missing rows would judge them on fewer runs than it
says. An interrupt (Ctrl-C) between runs or during one stops the same way: the run in progress is not
promoted, those promoted before stay.

Exit status (nptbench.schema.status.Status): 0; 1 when a run's benchmark failed its check (named); 2 when a
run could not run or be saved or promoted (the runs promoted before it stay, and are named); 130 when
interrupted.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from nptbench.env import configs
from nptbench.schema import layout
from nptbench.schema.runs import RunError, load
from nptbench.schema.status import Status
from nptbench.tools import session, split_pytest_args
from nptbench.tools.promote import promote

#: Runs in a set by default: enough for compare's between-run spread to mean something.
DEFAULT_RUNS = 5
#: Runs the gate needs to judge between-run noise (nptbench.analysis.comparison.BUILD_HINT); fewer: "cannot judge".
MIN_SET = 3
#: Seconds between two runs by default: long enough for the machine's state to move on.
DEFAULT_PAUSE = 60.0
#: The gate's command, as printed at the end (with the run's pytest arguments, --bench-size and storage).
GATE = ["python", "-m", "pytest", "bench", "--benchmark-compare-fail=median:10%"]


def pause(seconds: float) -> None:
    """Wait between two runs (a function of its own so that tests can watch it)."""
    if seconds > 0:
        time.sleep(seconds)


def command(python: str, storage: Path, name: str, pytest_args: list[str], bench_size: str | None) -> list[str]:
    """One run of the set: its own pytest process, saved with raw rounds as ``storage/*/NNNN_<name>.json``,
    what each benchmark's check found in ``storage/<name>.checks.jsonl`` (nptbench.tools.session)."""
    return session.pytest_command(python, pytest_args, storage, save=name, bench_size=bench_size,
                                  check_log=check_log(storage, name))


def unwritable(folder: Path) -> str | None:
    """Why runs cannot be written under ``folder`` (made if missing), or None: tried by writing a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"{folder}: cannot write there ({exc.strerror or exc}); nothing was run"
    return None


def check_log(storage: Path, name: str) -> Path:
    return Path(storage) / f"{name}.checks.jsonl"


def failed_checks(storage: Path, name: str) -> list[dict]:
    """The benchmarks of run ``name`` that failed, each ``{"nodeid", "reason"}``, from its check log (empty
    when it has none or names none)."""
    path = check_log(storage, name)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("outcome") == "failed":
            out.append(rec)
    return out


def explain_failure(storage: Path, name: str, log, returncode: int, output: str) -> int:
    """Say what failed in run ``name`` and what to do; the exit status."""
    failed = failed_checks(storage, name)
    try:
        kept = session.saved_run(storage, name)
    except RunError:
        kept = None
    if failed:
        for rec in failed:
            log(f"  FAILED {rec['nodeid']}: {rec.get('reason', 'no reason given')}")
        log(f"the failed run {'is kept, not promoted: ' + str(kept) if kept else 'saved no file'}")
        deselect = " ".join(f"--deselect {shlex.quote(r['nodeid'])}" for r in failed)
        log(f"to build a set without {'this row' if len(failed) == 1 else 'these rows'} (said in every gate "
            f"that uses it): add -- bench {deselect}")
        return Status.FAILED
    tail = output.strip().splitlines()[-15:]
    print("\n".join(tail), file=sys.stderr)
    log(f"the run failed with exit status {returncode} and no benchmark failed its check (above: its last lines)")
    return Status.BAD_INPUT


def fmt_s(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds:.0f} s (~{seconds / 60:.0f} min)"


def gate_command(bench_size: str | None, results: Path, pytest_args: list[str] | None = None,
                 threads: int | None = None) -> str:
    """The gate's command line for the set just made: its thread variables, pytest arguments, profile and
    results folder."""
    pinned = [f"{k}={v}" for k, v in configs.threads(threads).items()]
    storage = []
    if Path(results) != layout.RESULTS:  # the plugin finds baselines beside the storage's runs/ folder
        storage = [f"--benchmark-storage=file://{layout.runs_dir(Path(results).resolve())}"]
    size = [f"--bench-size={bench_size}"] if bench_size else []
    return " ".join([*pinned, shlex.join([*GATE[:3], *(pytest_args or GATE[3:4]), *storage, *size, GATE[4]])])


def main(argv: list[str] | None = None) -> int:
    argv, pytest_args = split_pytest_args(argv)
    parser = argparse.ArgumentParser(
        prog="python -m nptbench baseline",
        description="Build this machine's baseline set: N separate runs of the suite with pauses between them, "
                    "each promoted into results/<fingerprint>/. The gate (--benchmark-compare-fail) judges a new "
                    "run against the spread between these runs; a run's own rounds all sit in the same few "
                    "seconds and cannot show it. Pytest arguments follow '--' (default: bench).",
        epilog="example: python -m nptbench baseline --runs 5 --pause 120 --bench-size smoke -- bench -k numpy",
    )
    parser.add_argument("--runs", "-n", type=int, default=DEFAULT_RUNS, help=f"runs in the set (default {DEFAULT_RUNS})")
    parser.add_argument("--pause", type=float, default=DEFAULT_PAUSE,
                        help=f"seconds to wait between two runs, not after the last (default {DEFAULT_PAUSE:g})")
    parser.add_argument("--bench-size", default=None, metavar="PROFILE",
                        help="the profile of the runs (passed to pytest as --bench-size; default: BENCH_SIZE or "
                             "the suite's default)")
    parser.add_argument("--results", type=Path, default=layout.RESULTS, help="results folder (default: ./results)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs pytest (default: this one)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the saved runs (default: RESULTS/runs/baseline-<time>); must be new or empty")
    parser.add_argument("--threads", type=int, default=None,
                        help="pin OMP/MKL/OPENBLAS/NUMBA_NUM_THREADS to this for every run (recommended on a shared "
                             "machine: 1); the gate must then run with the same (the command printed at the end)")
    parser.add_argument("--no-promote", action="store_true", help="save the runs only; promote none")
    parser.add_argument("--dry-run", action="store_true", help="print the commands it would run, and stop")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.pause < 0:
        parser.error("--pause cannot be negative")
    pytest_args = args.pytest_args = pytest_args or ["bench"]
    now = time.time()  # to the millisecond: the run names (and so the promoted names) of two sets never meet
    stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now)) + f"_{int(now * 1000) % 1000:03d}"
    out = (args.out or layout.runs_dir(args.results) / ("baseline-" + stamp)).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        parser.error(f"{out} is not empty: a run found there could be promoted by mistake (choose another --out)")
    names = [f"baseline-{stamp}-{i}" for i in range(1, args.runs + 1)]
    cmds = [command(args.python, out, name, pytest_args, args.bench_size) for name in names]
    if args.dry_run:
        pinned = " ".join(f"{k}={v}" for k, v in configs.threads(args.threads).items())
        for i, cmd in enumerate(cmds, 1):
            print((pinned + " " if pinned else "") + shlex.join(cmd))
            if not args.no_promote:
                print(f"# promote {out}/*/NNNN_{names[i - 1]}.json into {args.results}/<fingerprint>/")
            if i < args.runs and args.pause > 0:
                print(f"sleep {args.pause:g}")
        return Status.PASSED

    log = lambda msg: print(f"nptbench baseline: {msg}", file=sys.stderr, flush=True)
    problem = unwritable(out) or (None if args.no_promote else unwritable(Path(args.results)))
    if problem:  # before the first run, not after it: nothing could be saved or promoted
        log(problem)
        return Status.BAD_INPUT
    n = args.runs
    log(f"{n} run{'s' if n != 1 else ''} of pytest {shlex.join(pytest_args)}"
        f"{' --bench-size=' + args.bench_size if args.bench_size else ''}, {args.pause:g} s apart; saved in {out}"
        f"{'' if args.no_promote else f', promoted into {args.results}/<fingerprint>/'}")
    log(f"pauses alone take {fmt_s(args.pause * (n - 1))}; the time estimate follows the first run")
    promoted: list[Path] = []
    last_run = None
    progress = session.Progress(n, args.pause)
    try:
        for i, (name, cmd) in enumerate(zip(names, cmds), 1):
            done = session.run(cmd, env=session.environment(args.threads))
            took = done.seconds
            progress.add(took)
            if done.returncode != 0:
                log(f"run {i}/{n} failed with exit status {done.returncode}; not promoted, stopping")
                status = explain_failure(out, name, log, done.returncode, done.output)
                stop(promoted, args.no_promote, log)
                return status
            try:
                path = session.saved_run(out, name)
                last_run = load(path)
                if not args.no_promote:
                    dest = promote(path, args.results)
                    promoted.append(dest)
            except RunError as exc:
                log(f"run {i}/{n}: {exc}; stopping")
                return stop(promoted, args.no_promote, log)
            log(f"[{i}/{n}] run {i} done in {took:.1f} s; about {fmt_s(progress.left)} left (runs and pauses)")
            if i == 1 and n > 1:
                log(f"estimate: the whole set takes about {fmt_s(took * n + args.pause * (n - 1))}")
            log(f"  saved {path}" + ("" if args.no_promote else f"; promoted -> {dest}"))
            if i < n:
                pause(args.pause)
    except KeyboardInterrupt:
        log("interrupted: the run in progress is not promoted")
        stop(promoted, args.no_promote, log)
        return Status.INTERRUPTED
    log(f"{n} run{'s' if n != 1 else ''} done in {fmt_s(progress.elapsed)}")
    summary(last_run, args, promoted)
    return Status.PASSED


def stop(promoted: list[Path], no_promote: bool, log) -> int:
    """Say what stays after a stop; exit status 2 (:attr:`Status.BAD_INPUT`)."""
    if no_promote:
        log("nothing was promoted (--no-promote)")
    elif promoted:
        log(f"the {len(promoted)} run{'s' if len(promoted) != 1 else ''} promoted before it stay:")
        for dest in promoted:
            log(f"  {dest}")
    else:
        log("no run was promoted")
    return Status.BAD_INPUT


def summary(run, args, promoted: list[Path]) -> None:
    """How many runs the set of this fingerprint and profile holds now, and how to check the gate."""
    fp, profile = run.fingerprint, run.profile
    if args.no_promote:
        print(f"saved {args.runs} runs, none promoted (--no-promote); promote each with "
              f"python -m nptbench promote PATH")
    else:
        print(f"promoted {len(promoted)} runs into {layout.machine_dir(fp, args.results)}/")
    held, same_conditions = 0, 0
    for path in layout.baseline_files(fp, args.results):
        try:
            other = load(path)
        except RunError as exc:
            print(f"note: {exc}")
            continue
        if other.profile == profile:
            held += 1
            same_conditions += other.conditions() == run.conditions()
    print(f"the {profile} baseline set of {fp} now holds {held} run{'s' if held != 1 else ''}"
          + (f" ({same_conditions} under these runs' conditions)" if same_conditions != held else ""))
    if same_conditions < MIN_SET:
        print(f"note: the gate cannot judge between-run noise with fewer than {MIN_SET} runs; make more")
    print(f"check the gate with: {gate_command(args.bench_size, args.results, args.pytest_args, args.threads)}")
    print("where the gate runs regularly, add --baseline-grow: each session that passes joins the set, which "
          "then comes to hold the machine's slow spells (docs/upgrade.md: growing the set)")
