"""One way to run a benchmark session of the suite: everything that starts pytest to time benchmarks
(``ab``, ``baseline``, the gate's second timing, ``bisect``'s probes) builds, runs and reads it here.

- :func:`pytest_command`: the command line of one session, saved with raw rounds into a storage of its
  own (``--benchmark-save``) or as one file (``--benchmark-json``), with the profile and check log asked for;
- :func:`environment`: this process's environment with the thread-count variables pinned
  (nptbench.env.configs.threads) and what the caller adds;
- :func:`worktree` / :func:`remove_worktree`: a detached checkout of a git revision to run from;
- :func:`run`: one session, its exit status, output and seconds (:class:`Session`);
- :func:`saved_run`: the one file a named session saved;
- :func:`count_command` / :func:`count_run`: a session that counts instructions instead of timing
  (``--instrument instructions``) and the one count run it saved;
- :class:`Progress`: "[i/n] ... done in 12.3 s; about 40 s left" from the mean time so far.

Only the standard library and the environment layer: the pytest plugin imports it at start-up.
"""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nptbench.env import configs
from nptbench.schema.runs import RunError

#: Set in the environment of the second timing the gate makes of the rows it called slower: that session is
#: timed only, never judged (nptbench.plugin.PytestBaseline).
CONFIRMING_ENV = "NPTBENCH_CONFIRMING"


def pytest_command(python: str, pytest_args: list[str], storage: Path, save: str | None = None,
                   json_out: Path | None = None, bench_size: str | None = None,
                   check_log: Path | None = None, extra: list[str] = ()) -> list[str]:
    """``python -m pytest`` with ``pytest_args``, quiet and without pytest's cache, its runs stored under
    ``storage``: saved as ``NNNN_<save>.json`` with raw rounds (``save``), or written to ``json_out``; with
    ``--bench-size`` and ``--check-log`` where given, and ``extra`` options last."""
    size = [f"--bench-size={bench_size}"] if bench_size else []
    cmd = [python, "-m", "pytest", *pytest_args, *size, "-q", "-p", "no:cacheprovider",
           f"--benchmark-storage=file://{storage}"]
    if save:
        cmd += [f"--benchmark-save={save}", "--benchmark-save-data"]
    if json_out:
        cmd.append(f"--benchmark-json={json_out}")
    if check_log:
        cmd.append(f"--check-log={check_log}")
    return cmd + list(extra)


def count_command(python: str, pytest_args: list[str], results: Path, extra: list[str] = ()) -> list[str]:
    """:func:`pytest_command` for a session that counts instructions instead of timing (``--instrument
    instructions``, nptbench.measure.instruments): its count run is saved in ``results/counts/``
    (:func:`count_run`)."""
    return pytest_command(python, pytest_args, results / "runs", extra=["--instrument", "instructions", *extra])


def count_run(results: Path) -> Path:
    """The newest count run a :func:`count_command` session saved in ``results/counts/``; :class:`RunError`
    when there is none."""
    found = sorted((results / "counts").glob("*.json")) if (results / "counts").is_dir() else []
    if not found:
        raise RunError(f"no count run was saved under {results / 'counts'} (did the session count any benchmark? "
                       "is valgrind there? python -m nptbench doctor --instrument)")
    return found[-1]


def environment(threads: int | None = None, base: dict | None = None, **extra: str) -> dict:
    """``base`` (default: this process's environment) with the thread-count variables pinned to ``threads``
    (none pinned for None) and ``extra`` set last."""
    env = dict(os.environ if base is None else base)
    env.update(configs.threads(threads))
    env.update(extra)
    return env


def side_by_side_environment(threads: int | None, ceilings: bool = False, extra: dict | None = None) -> dict:
    """The environment of one of several sessions run side by side (``ab``'s sides, ``bisect``'s rungs): this
    one without BENCH_SIZE (the profile comes from the pytest arguments), with pinned threads unless
    ``threads`` is None, offline unless NPTBENCH_OFFLINE says otherwise, MNIST_DIR made absolute (a revision
    runs from another folder: the same data for every side), no ceilings unless ``ceilings`` (a verdict
    needs times only; calibrating every run costs seconds), and ``extra`` (a side's own variables) last."""
    env = environment(threads, {k: v for k, v in os.environ.items() if k != "BENCH_SIZE"})
    env["NPTBENCH_OFFLINE"] = env.get("NPTBENCH_OFFLINE") or "1"
    if env.get("MNIST_DIR"):
        env["MNIST_DIR"] = str(Path(env["MNIST_DIR"]).expanduser().resolve())
    if not ceilings:
        env["NPTBENCH_CEILINGS"] = "off"
    env.update(extra or {})
    return env


def worktree(repo: Path, rev: str, dest: Path) -> str | None:
    """Check ``rev`` out, detached, into ``dest`` (removed by :func:`remove_worktree`); None, or git's
    words where it cannot."""
    proc = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(dest), rev],
                          capture_output=True, text=True)
    return proc.stderr.strip() if proc.returncode != 0 else None


def remove_worktree(repo: Path, path: Path) -> None:
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True)


@dataclass
class Session:
    """A session that ran: its exit status, what it printed (stdout, then stderr) and how long it took."""
    returncode: int
    output: str
    seconds: float

    def tail(self, lines: int = 1) -> list[str]:
        """Its last ``lines`` lines of output."""
        return self.output.strip().splitlines()[-lines:]

    @property
    def last_line(self) -> str:
        """Its last line of output ("" when it printed nothing)."""
        return (self.tail() or [""])[0]


def run(cmd: list[str], cwd: Path | str | None = None, env: dict | None = None) -> Session:
    """Run one session to its end, its output captured. An interpreter that cannot be started raises
    OSError, as :func:`subprocess.run` does."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=None if cwd is None else str(cwd), env=env, capture_output=True, text=True)
    return Session(proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start)


def saved_run(storage: Path, name: str) -> Path:
    """The file the session saved as ``name`` under ``storage``; :class:`RunError` unless exactly one."""
    found = sorted(storage.rglob(f"[0-9][0-9][0-9][0-9]_{name}.json")) if storage.is_dir() else []
    if len(found) != 1:
        raise RunError(f"run {name!r} saved {len(found)} files under {storage}, not one"
                       + (" (did it collect any benchmark?)" if not found else ""))
    return found[0]


class Progress:
    """How far a series of ``total`` sessions has come and about how long the rest takes, from the mean
    time of those done (plus ``pause`` seconds before each one left)."""

    def __init__(self, total: int, pause: float = 0.0):
        self.total, self.pause, self.done, self.run_time = total, pause, 0, 0.0
        self.started = time.perf_counter()

    def add(self, seconds: float) -> None:
        self.done += 1
        self.run_time += seconds

    @property
    def left(self) -> float:
        """Seconds left: the sessions to go at the mean time of a session so far, and their pauses."""
        if not self.done:
            return 0.0
        return self.run_time / self.done * (self.total - self.done) + self.pause * (self.total - self.done)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started
