"""A machine's saved runs as series: one benchmark's time, run after run, with what changed around it.

A series is one benchmark (nptbench.analysis.across.match_key: the same work at the same shape) on one
machine (its hardware fingerprint), of one profile and under one set of conditions (a cold L2, the thread
variables: nptbench.schema.record.conditions). Those never mix in a series: under other conditions it is
another series. Its points are the runs in the order they were made (their saved time, then their file),
each with the run's time of that benchmark (a GPU row's device median first, as everywhere:
nptbench.schema.record.lead_time), its file, date, commit, environment (:func:`environment`) and the
machine's state (its yardsticks, nptbench.analysis.drift.run_state).

Everything that changes between two runs without being a condition (a package version, Python, the
BLAS build or the kernels it runs, the GPU driver) annotates the series at the first run where it
changed (:func:`changes`); a step (nptbench.analysis.changepoints) is explained by what changed at its
first run or next to it, by the commits between its two sides, and by the machine's yardsticks of the two
levels where they differ beyond their noise (nptbench.analysis.drift).

The rows of one machine, profile, set of conditions and kind of time also make that group's **run level**
(:func:`run_levels`; nptbench.analysis.changepoints.run_level): how slow the machine ran every row in each
run. A step a row took with its run level, where nothing in its environment changed, is the machine's
(:attr:`Series.shared`), not the row's (:attr:`Series.steps`); the run level's own steps show when the
machine's level moved.

A run read twice (a run in ``results/runs/`` and its promoted copy in ``results/<fingerprint>/``) is one
point: runs are the same when their machine, saved time and every benchmark's median are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nptbench.analysis import changepoints, drift
from nptbench.analysis.across import WORK_FIELDS, match_key
from nptbench.schema.record import ENVIRONMENT_FIELDS, conditions_label, lead_time
from nptbench.schema.runs import Run

#: Changes between the runs on either side of a step that name it: at its first run, or this many runs
#: before or after (a step is located to within a run or two).
NEAR = 1


def environment(run: Run) -> dict:
    """What a run says about its software and machine besides its conditions (nptbench.schema.record.
    ENVIRONMENT_FIELDS), flat: label -> value (python, each package's version, each BLAS's build and
    kernels, each GPU's driver)."""
    info = {k: run.info.get(k) for k in ENVIRONMENT_FIELDS}  # only what the schema declares
    env = {"python": info.get("python")}
    env.update({name: v for name, v in (info.get("versions") or {}).items()})
    env.update({f"BLAS of {lib}": v for lib, v in (info.get("blas") or {}).items()})
    env.update({f"BLAS kernels ({lib})": v for lib, v in (info.get("blas_kernels") or {}).items()})
    env.update({("CPU kernels (torch)" if k == "torch" else k): v for k, v in (info.get("cpu_kernels") or {}).items()})
    for i, gpu in enumerate(info.get("gpus") or []):
        if isinstance(gpu, dict) and gpu.get("driver"):
            env[f"GPU {i} driver"] = gpu["driver"]
    return {k: str(v) for k, v in env.items() if v is not None}


def commit(run: Run) -> str:
    """The commit a run names (full id, "" when it names none)."""
    return str((run.data.get("commit_info") or {}).get("id") or "")


def same_run_key(run: Run) -> tuple:
    """What makes two files the same run (module docstring)."""
    return (run.machine_key, run.time,
            tuple(sorted((b["fullname"], b["stats"]["median"]) for b in run.benchmarks)))


def unique(runs: list[Run]) -> tuple[list[Run], list[Path]]:
    """The runs with copies of one run read once (the first file read is kept), and the copies left out."""
    seen, kept, copies = set(), [], []
    for run in runs:
        key = same_run_key(run)
        if key in seen:
            copies.append(run.path)
            continue
        seen.add(key)
        kept.append(run)
    return kept, copies


@dataclass
class Point:
    """One run of a series."""
    run: Run
    value: float  # seconds: the run's lead time of this benchmark
    record: dict
    env: dict | None = None  # environment(run), made once a run by series(); None: made when asked
    state: dict | None = None  # drift.run_state of the run, made with env (None too for a run without yardsticks)

    @property
    def environment(self) -> dict:
        return self.env if self.env is not None else environment(self.run)

    @property
    def machine_state(self) -> dict | None:
        return self.state if self.env is not None else drift.run_state(self.run.info)

    @property
    def file(self) -> str:
        return self.run.path.name

    @property
    def date(self) -> str:
        return self.run.time[:19].replace("T", " ")


@dataclass
class Series:
    """One benchmark's runs on one machine, profile and set of conditions (module docstring)."""
    fingerprint: str
    profile: str
    conditions: tuple
    key: tuple  # nptbench.analysis.across.match_key
    name: str  # pytest's name of the benchmark (in the newest run)
    experiment: str
    time_kind: str  # which time the points are: the host median, or the device median (CUDA events)
    points: list = field(default_factory=list)
    steps: list = field(default_factory=list)  # changepoints.Step, oldest first, once found: the row's own
    shared: list = field(default_factory=list)  # steps taken with the run level, nothing changed there
    level: list | None = None  # the run level of each point, as a log (run_levels); None: no level

    @property
    def group(self) -> tuple:
        """The series' machine, profile, conditions and kind of time: what its run level is made of."""
        return (self.fingerprint, self.profile, self.conditions, self.time_kind)

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points]

    @property
    def label(self) -> str:
        conds = conditions_label(self.conditions)
        return f"{self.name} [{self.fingerprint}, {self.profile}{', ' + conds if conds else ''}]"

    def changes(self) -> list[tuple[int, list[str]]]:
        """(index, ["numpy 2.4.6 -> 2.5.0", ...]) at every run whose environment differs from the run
        before it in this series."""
        out = []
        envs = [p.environment for p in self.points]
        for i in range(1, len(envs)):
            if envs[i] != envs[i - 1]:
                out.append((i, env_changes(envs[i - 1], envs[i])))
        return out

    def detect(self, **options) -> list:
        """Find the series' steps (nptbench.analysis.changepoints.against_level with ``options``): its own
        in :attr:`steps`, with those it took with its run level where its environment changed there (a new
        version may move every row alike); the other steps it took with the run level in :attr:`shared`."""
        own, shared = changepoints.against_level(self.values, self.level, **options)
        kept = [st for st in shared if self.explain(st)["environment"]]
        self.steps = sorted(own + kept, key=lambda st: st.index)
        self.shared = [st for st in shared if st not in kept]
        return self.steps

    def explain(self, step) -> dict:
        """What changed at a step: the environment at its first run (or :data:`NEAR` runs around it), the
        commits between its two sides, and the yardsticks of the two levels beyond their noise."""
        i = step.index
        near = [(j, words) for j, words in self.changes() if abs(j - i) <= NEAR]
        before, after = self.points[i - step.before:i], self.points[i:i + step.after]
        commits = []
        for p in [self.points[i - 1], *after[:1]]:
            c = commit(p.run)[:10]
            if c and c not in commits:
                commits.append(c)
        base = drift.side_state([p.machine_state for p in before])
        new = drift.side_state([p.machine_state for p in after])
        machine = [d for d in drift.compare(base, new) if d["beyond_noise"]] if base and new else []
        return {
            "environment": [w if j == i else f"{w} (at run {j + 1}, {j - i:+d})" for j, ws in near for w in ws],
            "commits": commits,
            "machine": [f"{d['yardstick']} {d['ratio']:.2f}x ({d['explains']} rows)" for d in machine],
        }


@dataclass
class RunLevel:
    """The run level of one machine, profile, set of conditions and kind of time (module docstring): for
    each run, the median over its rows of each row's time relative to that row's usual time."""
    group: tuple  # Series.group
    runs: list  # Run, in the order of the series
    values: list  # the level of each run, as a ratio (1.0: the rows' usual times); None where too few rows
    rows: list  # how many rows each run's level is made of
    names: list  # the rows (Series.name) it is made of
    steps: list = field(default_factory=list)

    @property
    def defined(self) -> list[int]:
        """Indices of the runs that have a level."""
        return [i for i, v in enumerate(self.values) if v is not None]

    def detect(self, **options) -> list:
        """The level's own steps (nptbench.analysis.changepoints.detect over the runs that have a level);
        each step's ``index`` is that of its first run in :attr:`runs`."""
        idx = self.defined
        found = changepoints.detect([self.values[i] for i in idx], **options) if idx else []
        for st in found:
            st.index = idx[st.index]
        self.steps = found
        return found


def run_levels(all_series: list[Series]) -> list[RunLevel]:
    """Every group's run level (nptbench.analysis.changepoints.run_level), and each series' :attr:`Series.level`
    set from it (None where its group has fewer than changepoints.LEVEL_ROWS rows)."""
    out = []
    for group in sorted({s.group for s in all_series}, key=str):
        members = [s for s in all_series if s.group == group]
        runs = sorted({id(p.run): p.run for s in members for p in s.points}.values(),
                      key=lambda r: (r.time, str(r.path)))
        where = {id(r): i for i, r in enumerate(runs)}
        logs = np.full((len(members), len(runs)), np.nan)
        for k, s in enumerate(members):
            for p in s.points:
                logs[k, where[id(p.run)]] = np.log(p.value)
        level = changepoints.run_level(logs)
        for s in members:
            s.level = ([float(level[where[id(p.run)]]) for p in s.points]
                       if len(members) >= changepoints.LEVEL_ROWS else None)
        out.append(RunLevel(group, runs, [None if np.isnan(v) else float(np.exp(v)) for v in level],
                            [int(n) for n in np.sum(~np.isnan(logs), axis=0)], [s.name for s in members]))
    return out


def changed_there(why: dict) -> list[str]:
    """What :meth:`Series.explain` found at a step, as words: the environment's changes, then the machine's."""
    return [*why["environment"], *(f"machine: {m}" for m in why["machine"])]


def newest_first(all_series: list, shared: bool = False) -> list[tuple]:
    """Every (series, step) of these series, the step whose first run is newest first: their own steps, or
    with ``shared`` those taken with the run level (:attr:`Series.shared`)."""
    return sorted(((s, st) for s in all_series for st in (s.shared if shared else s.steps)),
                  key=lambda p: (p[0].points[p[1].index].run.time, p[0].name), reverse=True)


def env_changes(old: dict, new: dict) -> list[str]:
    """``name old -> new`` for every label that differs (``absent`` where one side lacks it)."""
    return [f"{k} {old.get(k, 'absent')} -> {new.get(k, 'absent')}"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def series(runs: list[Run]) -> list[Series]:
    """Every benchmark's series of these runs (module docstring), in a stable order: machine, profile,
    conditions, then the benchmark's name."""
    out: dict[tuple, Series] = {}
    keys: dict = {}
    for run in sorted(runs, key=lambda r: (r.time, str(r.path))):
        machine, profile = run.machine_key, run.profile  # once a run, not a row
        env, state = environment(run), drift.run_state(run.info)
        for b in run.benchmarks:
            rec = b.get("extra_info") or {}
            value, kind = lead_time(rec, b["stats"]["median"])
            if not value:
                continue
            conds = run.conditions(rec)
            key = (machine, profile, conds, _match_key(b, keys))
            s = out.get(key)
            if s is None:
                s = out[key] = Series(run.machine_key, run.profile, conds, key[3], b.get("name") or b["fullname"],
                                      rec.get("experiment") or b.get("group") or "", kind)
            s.name = b.get("name") or b["fullname"]
            s.points.append(Point(run, float(value), rec, env, state))
    return sorted(out.values(), key=lambda s: (s.fingerprint, s.profile, s.conditions, s.name))


def _match_key(bench: dict, memo: dict) -> tuple:
    """nptbench.analysis.across.match_key of a benchmark, made once for every benchmark that names the same
    work the same way (its name and every field of its record that match_key reads, as they print): a
    history's runs repeat their rows."""
    rec = bench.get("extra_info") or {}
    same = (bench["fullname"], id(rec))  # runs read from an index share their records (schema.runs._unpack)
    key = memo.get(same)
    if key is None:
        seen = (bench["fullname"], repr([(k in rec, rec.get(k)) for k in ("experiment", "variant", "backend", "device",
                                                                           "dtype", "shape", *WORK_FIELDS)]))
        key = memo.get(seen)
        if key is None:
            key = memo[seen] = match_key(bench)
        if rec:  # a record alive through the whole call: its id names it (an empty one is made afresh each time)
            memo[same] = key
    return key
