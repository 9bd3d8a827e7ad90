"""The regression gate of a pytest session (``--benchmark-compare``, ``--benchmark-compare-fail``), as a plain
object: the pytest plugin (nptbench.plugin.PytestBaseline) hands it what pytest knows and prints what it
says; everything here runs, and is tested, without pytest.

- **Finding the set** (:meth:`SessionGate.find`): every baseline run of this machine's fingerprint, this
  profile and this session's conditions (nptbench.schema.runs.baseline_set), in the results folder, or in
  the store ``$NPTBENCH_RESULTS`` names (a folder, or a PostgreSQL database: nptbench.schema.store.find_set,
  where a grown run goes too), with one header line that
  says which, or that there is none. A ``--benchmark-compare-fail`` that would compare nothing because
  the set was made under other conditions is refused (:class:`nptbench.schema.runs.RunError`).
- **Judging** (:meth:`SessionGate.judge`): this session's run against the set, by the verdict engine
  (nptbench.analysis.comparison, baseline mode), so the gate and ``compare BASE NEW`` always agree.
- **The second timing**: with ``--benchmark-compare-fail`` the rows called slower are timed again in a
  separate pytest session (:func:`second_timing`, run by nptbench.tools.session) and only the rows called
  slower again fail it (nptbench.analysis.comparison.confirm).
- **Growing the set** (``--baseline-grow``): a session that passed, or any whole session while the set is
  too thin to judge, joins it (nptbench.tools.promote.promote_run).
"""
from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable

from nptbench.analysis.comparison import Effects, Pairing, compare_runs, confirm, outcome, to_confirm
from nptbench.schema import runs, store
from nptbench.schema.record import conditions_label
from nptbench.schema.status import Status
from nptbench.tools import session
from nptbench.tools.promote import promote_run
from nptbench.tools.verdict_text import render, slower_lines

#: What the gate is given to time the rows called slower again: their pytest names -> the second timing's
#: run, or why it failed in words, or None when none of them is in the session.
Retime = Callable[[set], "runs.Run | str | None"]


def second_timing(root: Path, nodeids: list[str], profile: str, timing_args: list[str]) -> runs.Run | str:
    """Time ``nodeids`` again in a separate pytest session run from ``root`` (nptbench.tools.session), with
    this profile, the given timing options (nptbench.plugin.timing_options) and this process's environment;
    the run it saved, or the one line that says why there is none."""
    with tempfile.TemporaryDirectory(prefix="nptbench-confirm-") as tmp:
        out = Path(tmp) / "second.json"
        cmd = session.pytest_command(sys.executable, nodeids, Path(tmp), json_out=out, bench_size=profile,
                                     extra=timing_args)
        # timed only, never judged there; no roofline needed
        done = session.run(cmd, root, session.environment(**{session.CONFIRMING_ENV: "1", "NPTBENCH_CEILINGS": "off"}))
        if not out.is_file():
            return (f"the second timing of the rows called slower failed (exit {done.returncode}: {done.last_line}); "
                    "they stay slower")
        return runs.Run(Path("a second timing"), runs.read_run(out))


def stamp(iso: str) -> str:
    """``20260101_003100`` for a run saved at ``2026-01-01T00:31:00`` (its time as written, any zone
    ignored); ``run`` when the time cannot be read."""
    try:
        return datetime.fromisoformat(str(iso)[:19]).strftime("%Y%m%d_%H%M%S")
    except ValueError:
        return "run"


class SessionGate:
    """The gate of one session: its baseline set, and after the session its verdicts and what it did.

    ``fail``: the session fails on a row called slower (``--benchmark-compare-fail``); ``min_effect``: the
    minimum effect its checks ask for, or None (pyproject.toml's); ``confirm``: time the rows called slower
    a second time first; ``grow``: ``--baseline-grow``; ``config``: where ``[tool.nptbench.min-effect]`` is read.
    After :meth:`judge`: ``status`` (nptbench.schema.status.Status), ``table`` (compare's text of the
    verdicts) and ``lines`` (what to say under it)."""

    def __init__(self, results: Path, fp: str, profile: str, paths: list, header: str, fail: bool = False,
                 min_effect: float | None = None, confirm: bool = True, grow: bool = False,
                 config: Path = Path("pyproject.toml")):
        self.results, self.fp, self.profile, self.paths, self.header = Path(results), fp, profile, list(paths), header
        self.fail, self.min_effect, self.confirm, self.grow_set, self.config = fail, min_effect, confirm, grow, config
        self.status: Status | None = None
        self.table = ""
        self.lines: list[str] = []

    @classmethod
    def find(cls, results: Path, fp: str, profile: str, select: str | None = None, conditions: tuple = (),
             fail: bool = False, **settings) -> "SessionGate":
        """The gate with the baseline set of this machine (``fp``), ``profile`` and run ``conditions`` (the
        session's thread variables: a set made under others would have every pair refused; a cold L2 is a
        condition of GPU records alone, judged per record) among ``results``' baseline runs, names holding
        ``select`` when given. A :class:`nptbench.schema.runs.RunError` where a failing gate would compare
        nothing because the set was made under other conditions, or a run of the set cannot be read."""
        location = store.locate(results)
        matching = f"/{' matching ' + repr(select) if select else ''}"
        if store.is_database(location):  # $NPTBENCH_RESULTS names a database: the set is read from it
            baseline_set = partial(store.find_set, location, fp, profile, select)
            where = f"{store.redact(location)}#{fp}{matching}"
        else:
            baseline_set = partial(runs.baseline_set, fp, profile, Path(location), select)
            where = f"{Path(location) / fp}{matching}"
        paths = baseline_set(conditions)
        if paths:
            k = len(paths)
            header = (f"nptbench: comparing with the baseline set of {where} ({k} run{'s' if k != 1 else ''}; "
                      f"newest {paths[-1].name})")
            return cls(results, fp, profile, paths, header, fail=fail, **settings)
        other = baseline_set()
        if not other:
            header = f"nptbench: no {profile} baseline for this machine in {where}: running without comparison"
            return cls(results, fp, profile, [], header, fail=fail, **settings)
        under = conditions_label(conditions) or "no thread variables set"
        missing = (f"no {profile} baseline in {where} measured under this session's conditions ({under}); "
                   f"{other[-1].name} was measured under others")
        if fail:  # a gate that would compare nothing must not pass quietly
            raise runs.RunError(f"--benchmark-compare-fail: {missing}: promote a run made under "
                                "these conditions, or run under the baseline's")
        return cls(results, fp, profile, [], f"nptbench: {missing}: running without comparison", fail=fail, **settings)

    def newest(self) -> runs.Run | None:
        """The set's newest run (what pytest-benchmark shows beside this session's numbers), or None."""
        return runs.load(self.paths[-1]) if self.paths else None

    @property
    def failed(self) -> bool:
        """Whether the session must fail: a failing gate that called a row slower."""
        return self.fail and self.status == Status.FAILED

    def judge(self, current: dict | None, saved: dict | None, retime: Retime) -> None:
        """Judge this session's run ``current`` against the set (without a set it is not needed); with
        ``fail`` and ``confirm``, the rows called slower are timed again (``retime``) and judged again. Then
        the set grows where it should, by ``saved`` (the run as written to its file, or None where the
        session saved none)."""
        if not self.paths:
            self.grow(saved, thin=True)
            return
        if not current["benchmarks"]:
            return
        effects = Effects.from_pyproject(self.config, self.min_effect)
        pairings = compare_runs([runs.load(path) for path in self.paths], [runs.Run(Path("this session"), current)],
                                effects)
        self.status, self.lines = outcome(pairings)
        if self.status == Status.FAILED and self.fail and self.confirm:
            self.second(pairings, effects, retime)
        self.table = render(pairings, "baseline", "now")
        if self.status == Status.FAILED:
            self.lines += slower_lines(pairings)
        thin = any(p.thin for p in pairings)
        if self.status == Status.PASSED or (thin and self.status == Status.CANNOT_JUDGE):
            self.grow(saved, thin)

    def second(self, pairings: list[Pairing], effects: Effects, retime: Retime) -> None:
        """The second timing of the rows called slower, and the verdicts and status after it."""
        second = retime(to_confirm(pairings))
        if isinstance(second, str):
            self.lines.insert(0, second)
        elif second is not None:
            confirm(pairings, second, effects)
            self.status, self.lines = outcome(pairings)

    def grow(self, saved: dict | None, thin: bool) -> None:
        """``--baseline-grow``: this session's run joins the set (it passed, or the set is still too thin to
        judge); one line says so, or why it did not join."""
        if not self.grow_set:
            return
        if not saved or not saved.get("benchmarks"):
            self.lines.append("--baseline-grow: this session saved no run (--benchmark-autosave off?): nothing joined")
            return
        run = runs.Run(Path("this session"), saved)
        try:
            dest = promote_run(run, f"gate-{stamp(saved.get('datetime', ''))}.json", store.locate(self.results),
                               unique=True)
        except runs.RunError as exc:
            self.lines.append(f"--baseline-grow: not joined: {exc}")
            return
        k = len(self.paths) + 1
        self.lines.append(f"--baseline-grow: this run {'joined the thin' if thin else 'passed and joined the'} "
                          f"baseline set ({k} run{'s' if k != 1 else ''} now): {dest}")
