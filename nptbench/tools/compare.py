"""``python -m nptbench compare BASE NEW``: did NEW get slower than BASE, beyond noise and beyond a minimum effect?

No seed experiment of its own: this judges every seed's benchmarks between saved runs (files or folders of
runs, from one or many machines), in one of two ways (:data:`MODES`):

- **against a saved baseline** (the default, and the ``--benchmark-compare`` gate, which is this function):
  BASE is a set of runs made at other times, and each benchmark is judged on the spread between them
  (nptbench.analysis.gate: a prediction interval on the runs' times, Holm over the session's benchmarks,
  the smallest slowdown the set could detect; by default a row is called only where the runs' medians and
  their fastest rounds agree, :data:`STATISTIC`). A set of fewer than 3 runs cannot judge (exit status 4);
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
fingerprints prints a loud warning. Exit statuses: :data:`PASSED` ... :data:`CANNOT_JUDGE`.

Count runs (``pytest bench --instrument instructions``) hold no times: BASE and NEW that are count runs, or
``--counts BASE_COUNTS NEW_COUNTS`` beside timed runs, are judged apart by nptbench.analysis.counts
(:func:`judge_counts`), in a table of their own that shows each row's wall-time verdict beside its count's.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is a dependency there (pyproject.toml)
    import tomli as tomllib

from nptbench.analysis import counts, drift, gate, gpu_records
from nptbench.analysis.across import Bench, Times, benches
from nptbench.analysis.verdict import (CONFIDENCE, DEFAULT_MIN_EFFECT, Verdict, hierarchical_verdict,
                                       verdict)
from nptbench.schema.record import conditions_label
from nptbench.schema.runs import Run, RunError, load_runs

#: Which time of each run a saved baseline is judged on: its median round, its fastest (``min``), or both,
#: when a benchmark is called slower (or faster, or the same) only where both say so (results/README.md:
#: the gate on a shared machine, measured).
STATISTICS = ("both", "median", "min")
STATISTIC = "both"


# --- configuration ---------------------------------------------------------------------------------------

@dataclass
class Effects:
    """Minimum effect sizes: a default and per-experiment overrides (pyproject.toml [tool.nptbench.min-effect])."""
    default: float = DEFAULT_MIN_EFFECT
    experiments: dict = field(default_factory=dict)

    def __call__(self, experiment: str) -> float:
        return float(self.experiments.get(experiment, self.default))

    @classmethod
    def from_pyproject(cls, path: Path, default: float | None = None) -> "Effects":
        table = {}
        if Path(path).is_file():
            with open(path, "rb") as f:
                table = dict(tomllib.load(f).get("tool", {}).get("nptbench", {}).get("min-effect", {}))
        base = table.pop("default", DEFAULT_MIN_EFFECT)
        return cls(base if default is None else default, table)


# --- comparing and printing ------------------------------------------------------------------------------

@dataclass
class Row:
    name: str
    experiment: str
    shape: str
    base_median: float  # of the times judged: device times where both sides have them, else host
    new_median: float
    min_effect: float
    result: Verdict
    timer: str = "host"  # "device" (CUDA events) or "host" (pytest-benchmark's wall time)
    base_host: float | None = None  # host medians, shown beside device medians
    new_host: float | None = None
    min_detectable: float | None = None  # the smallest ratio this baseline could call slower (between runs)
    basis: str = ""  # what the verdict rests on, in words
    runs: tuple = (0, 0)  # runs a side
    record: dict = field(default_factory=dict)  # NEW's record (its roofline bound: which drift explains it)
    explained: str | None = None  # the machine drift that could explain this row, in words
    throttled: str | None = None  # BASE or NEW rounds ran on a throttled GPU, in words (analysis.gpu_records)
    confirmed: bool | None = None  # called slower: whether a second timing of it was called slower too
    bench: str = ""  # pytest's name of the benchmark (``name`` may add its conditions: _named)

    @property
    def verdict(self) -> str:
        return self.result.verdict

    def ratio_text(self) -> str:
        r = self.result
        if r.verdict == NOT_COMPARED:
            return r.note
        ci = f" [{r.low:.3f}, {r.high:.3f}]" if r.low is not None else ""
        return f"ratio {r.ratio:.3f}{ci}" + (" on device times" if self.timer == "device" else "")


@dataclass
class Pairing:
    """One machine's (or one pair of machines') comparison."""
    base_fp: str
    new_fp: str
    base_runs: list
    new_runs: list
    rows: list = field(default_factory=list)
    only_base: list = field(default_factory=list)
    only_new: list = field(default_factory=list)
    mode: str = "baseline"  # see MODES
    drifts: list = field(default_factory=list)  # nptbench.analysis.drift.compare of the two sides' yardsticks
    notes: list = field(default_factory=list)  # what the comparison lacks or how it was made, in words
    machine_drift: float | None = None  # median ratio over the benchmarks judged between runs
    statistic: str = STATISTIC  # which time of each run the between-run verdict rests on
    span: gate.Span | None = None  # when BASE's runs were made (baseline mode)
    second: list = field(default_factory=list)  # the runs of a second timing of the rows called slower (confirm)
    across: bool = False  # rows under other conditions judged anyway (--across-conditions)
    alpha: float = 0.05  # the family-wise level of the between-run verdicts (compare_pair sets it)

    @property
    def thin(self) -> bool:
        """A baseline too thin to judge between-run noise (its rows say "cannot judge")."""
        return any(r.verdict == gate.CANNOT_JUDGE for r in self.rows)

    @property
    def same_hardware(self) -> bool:
        return self.base_fp == self.new_fp and self.base_fp != "unknown"

    @property
    def label(self) -> str:
        return self.new_fp if self.same_hardware else f"{self.base_fp} -> {self.new_fp}"


def _by_fingerprint(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run.fingerprint, []).append(run)
    return out


def judged_times(b: Bench, n: Bench) -> tuple[Times, Times, str, str]:
    """What a pair is judged on: per-call device times when both sides saved them (a GPU record's host
    time also holds the per-call synchronization and event cost), else host rounds, with a note when a
    GPU record lacked them. Returns (BASE times, NEW times, "device" or "host", note)."""
    def raw_device(x: Bench) -> bool:
        return x.device is not None and x.device.rounds is not None

    if raw_device(b) and raw_device(n):
        return b.device, n.device, "device", ""
    missing = [side for side, x in (("BASE", b), ("NEW", n)) if not raw_device(x)]
    note = f"host rounds: no per-call device times in {' and '.join(missing)}" if b.gpu or n.gpu else ""
    return b.host, n.host, "host", note


#: The verdict of a pair measured under different conditions, unless compare is asked to judge it anyway.
NOT_COMPARED = "not compared"


def _conditions_text(conds: tuple) -> str:
    return conditions_label(conds) or "usual conditions"


def _joined(*notes: str) -> str:
    """Notes on one verdict, the empty ones left out."""
    return "; ".join(x for x in notes if x)


def _named(bench: Bench, with_conditions: bool) -> str:
    """A benchmark's name, with its conditions where the name alone would not tell it apart."""
    label = conditions_label(bench.conds)
    return f"{bench.name} [{label}]" if with_conditions and label else bench.name


def judge(b: Bench, n: Bench, effect: float) -> tuple[Verdict, str]:
    """The verdict on one pair and which times it was taken on ("device" or "host")."""
    bt, nt, timer, note = judged_times(b, n)
    if bt.rounds is not None and nt.rounds is not None and len(bt.run_times) > 1 and len(nt.run_times) > 1:
        result = hierarchical_verdict(bt.run_times, nt.run_times, effect)
    elif bt.rounds is not None and nt.rounds is not None:
        result = verdict(bt.rounds, nt.rounds, effect)
    else:
        result = Verdict(nt.median / bt.median, note="saved without raw round times")
    if note:
        result.note = _joined(result.note, note)
    return result, timer


#: How a comparison is judged. "baseline" (the default, and the gate): NEW against a saved baseline made at
#: other times, on the spread between the baseline's runs (nptbench.analysis.gate). "session": runs made
#: side by side in one session, interleaved (``ab``), where the spread within and between those runs is
#: the right noise (nptbench.analysis.verdict).
MODES = ("baseline", "session")
#: The chance that a session in which nothing changed fails the gate, at most (Holm over its benchmarks).
ALPHA = 0.05


def _between_runs(pairs: list, alpha: float, statistic: str = STATISTIC) -> list:
    """The gate's judgements (nptbench.analysis.gate) of ``pairs`` (BASE times, NEW times, effect), on each
    side's runs, one time a run by ``statistic``; with ``both``, on the medians and on the fastest rounds,
    a verdict only where the two agree (the interval and ratio are the medians', p and the smallest
    detectable slowdown the larger of the two)."""
    if statistic == "both":
        out = []
        for (med, jm), (low, jl) in zip(_between_runs(pairs, alpha, "median"), _between_runs(pairs, alpha, "min")):
            agreed = med.verdict if med.verdict == low.verdict else "uncertain"
            p = None if med.p is None or low.p is None else max(med.p, low.p)
            result = Verdict(med.ratio, med.low, med.high, p, agreed)
            detect = max(jm.min_detectable, jl.min_detectable)
            out.append((result, dataclasses.replace(jm, min_detectable=detect, verdict=agreed)))
        return out
    judged = gate.judge_session({i: (bt.per_run(statistic), nt.per_run(statistic))
                                 for i, (bt, nt, _) in enumerate(pairs)},
                                min_effect={i: e for i, (_, _, e) in enumerate(pairs)}, alpha=alpha)
    out = []
    for j in judged:
        ok = j.verdict != gate.CANNOT_JUDGE or j.k > 1
        result = Verdict(j.ratio, j.low if ok else None, j.high if ok else None, j.p_slower if ok else None,
                         j.verdict)  # a thin baseline is explained once, for the pairing (describe_pairing)
        out.append((result, j))
    return out


def _medians(x: Bench, timer: str) -> Times:
    return x.device if timer == "device" else x.host


def compare_pair(base_runs: list[Run], new_runs: list[Run], effects: Effects, across: bool = False,
                 mode: str = "baseline", alpha: float = ALPHA, statistic: str = STATISTIC) -> Pairing:
    """Judge each benchmark of NEW against the same benchmark of BASE under the same conditions (matched
    and pooled as nptbench.analysis.across says). One found in BASE only under other conditions is refused
    (verdict "not compared", with the reason), or with ``across`` judged and marked. ``mode``: see
    :data:`MODES`."""
    pairing = Pairing(base_runs[0].fingerprint, new_runs[0].fingerprint, base_runs, new_runs, mode=mode)
    if mode == "baseline":
        pairing.span = gate.set_span([r.time for r in base_runs])
    old, new = benches(base_runs), benches(new_runs)
    # a side holding one benchmark under several conditions names each with them
    mixed_old, mixed_new = (len({x.conds for x in side.values()}) > 1 for side in (old, new))
    old_by_work: dict = {}
    for key in sorted(old, key=str):
        old_by_work.setdefault(key[0], []).append(key)
    used_old, used_new = set(), set()
    pending = []  # (row, BASE times, NEW times): judged together between runs
    throttle_sides = []  # (row, BASE, NEW): whether either side's GPU rounds ran throttled
    for key, n in new.items():
        if key in old:
            b, differ = old[key], ""
        elif key[0] in old_by_work:
            b = old[old_by_work[key[0]][0]]
            differ = (f"measured under different conditions: BASE {_conditions_text(b.conds)}, "
                      f"NEW {_conditions_text(n.conds)}")
        else:
            continue
        used_old.add(b.key)
        used_new.add(key)
        effect = effects(n.experiment)
        name = _named(n, mixed_new or bool(differ))
        if differ and not across:
            pairing.rows.append(Row(name, n.experiment, n.shape, b.host.median, n.host.median, effect,
                                    Verdict(float("nan"), verdict=NOT_COMPARED,
                                            note=differ + " (--across-conditions judges them anyway)"),
                                    "host", b.host.median, n.host.median, record=n.record, bench=n.name))
            throttle_sides.append((pairing.rows[-1], b, n))
            continue
        if mode == "session":
            result, timer = judge(b, n, effect)
        else:
            # between runs every run counts by its median: device medians where both sides have them
            timer = "device" if b.device is not None and n.device is not None else "host"
            result = Verdict(float("nan"))
        bt, nt = _medians(b, timer), _medians(n, timer)
        if differ:
            result.note = _joined(result.note, f"**{differ}**")
        row = Row(name, n.experiment, n.shape, bt.median, nt.median, effect, result, timer, b.host.median,
                  n.host.median, runs=(bt.runs, nt.runs), record=n.record, bench=n.name)
        if mode == "session":
            row.basis = "within the session: rounds of " + (
                f"{bt.runs} and {nt.runs} runs, two-level bootstrap" if len(bt.run_times) > 1 and len(nt.run_times) > 1
                else "one run a side")
        else:
            pending.append((row, bt, nt))
        pairing.rows.append(row)
        throttle_sides.append((row, b, n))
    pairing.statistic, pairing.across, pairing.alpha = statistic, across, alpha
    judged = _between_runs([(bt, nt, row.min_effect) for row, bt, nt in pending], alpha, statistic) if pending else []
    for (row, _, _), (result, j) in zip(pending, judged):
        result.note = _joined(result.note, row.result.note)
        row.result, row.min_detectable = result, j.min_detectable if j.verdict != gate.CANNOT_JUDGE else None
        row.basis = (f"between runs: {j.k} BASE runs, {j.n} NEW" if j.verdict != gate.CANNOT_JUDGE
                     else f"thin baseline: {j.k} BASE run{'s' if j.k != 1 else ''}")
    if judged:
        pairing.machine_drift = gate.session_drift([j for _, j in judged])
    for row, b, n in throttle_sides:
        row.throttled = gpu_records.throttle_note(b.records, n.records)
    _machine_state(pairing)
    pairing.rows.sort(key=lambda r: (r.verdict == NOT_COMPARED, -np.nan_to_num(r.result.ratio), r.name))
    pairing.only_base = sorted(_named(b, mixed_old) for k, b in old.items() if k not in used_old)
    pairing.only_new = sorted(_named(n, mixed_new) for k, n in new.items() if k not in used_new)
    return pairing


def with_second_timing(first: Run, second: Run) -> Run:
    """``first`` with each benchmark that ``second`` timed again replaced by that second timing (matched by
    pytest's full name): the run judged again when the gate confirms."""
    again = {b.get("fullname") or b.get("name"): b for b in second.benchmarks}
    data = {**first.data, "benchmarks": [again.get(b.get("fullname") or b.get("name"), b) for b in first.benchmarks]}
    return Run(Path(f"{first.path} with the rows of {second.path}"), data)


def confirm(pairings: list[Pairing], second: Run, effects: Effects | None = None) -> None:
    """Keep a row slower only where a second, separate timing of it (``second``, a run of some of NEW's
    benchmarks) is called slower too, judged exactly as the first: NEW with those rows replaced by their
    second timing, against the same BASE, in the same family of benchmarks (the same Holm family, the same
    moderated spreads). A row it does not confirm becomes ``uncertain``, with both readings in its note.

    The first judgement holds Holm's family-wise level and the second can only take verdicts away, so a
    session in which nothing changed fails no more often; one in which the machine had a slow stretch fails
    only if it lasts into the second timing. A row called slower that ``second`` did not time (it failed
    there, or did not run) stays slower, and says so. Needs one NEW run per pairing."""
    retimed = {b.get("name") for b in second.benchmarks}
    for p in pairings:
        if p.mode != "baseline" or not any(r.verdict == "slower" for r in p.rows):
            continue
        if len(p.new_runs) != 1:
            raise RunError(f"a second timing confirms one NEW run, not {len(p.new_runs)}")
        again = compare_pair(p.base_runs, [with_second_timing(p.new_runs[0], second)], effects or Effects(),
                             across=p.across, alpha=p.alpha, statistic=p.statistic)
        rows = {r.name: r for r in again.rows}
        p.second = [second]
        for r in p.rows:
            if r.verdict != "slower":
                continue
            s = rows.get(r.name)
            if s is None or r.bench not in retimed:
                r.result.note = _joined(r.result.note, "no second timing of it to confirm")
                continue
            r.confirmed = s.verdict == "slower"
            reading = f"a second timing read {s.result.ratio:.2f}x ({s.verdict})"
            if r.confirmed:
                r.result.note = _joined(r.result.note, f"confirmed: {reading}")
            else:
                r.result = dataclasses.replace(r.result, verdict="uncertain", note=_joined(
                    r.result.note, f"slower at {r.result.ratio:.2f}x, not confirmed: {reading}"))


def _machine_state(pairing: Pairing) -> None:
    """How the machine's yardsticks differ between the sides (nptbench.analysis.drift), and which rows
    that could explain; what a side lacks is said in the pairing's notes."""
    states = {side: [drift.run_state(r.info) for r in runs]
              for side, runs in (("BASE", pairing.base_runs), ("NEW", pairing.new_runs))}
    for side, runs in (("BASE", pairing.base_runs), ("NEW", pairing.new_runs)):
        for run in runs:
            if run.partial:
                pairing.notes.append(f"**{side} run {run.path} is partial**: {run.partial}")
    lacking = [f"{side} ({sum(s is None for s in st)} of {len(st)} runs)" for side, st in states.items()
               if any(s is None for s in st)]
    if lacking:
        pairing.notes.append("machine state: no yardsticks in " + " and ".join(lacking) +
                             " (saved before runs recorded them): drift of the machine cannot be named")
    base, new = drift.side_state(states["BASE"]), drift.side_state(states["NEW"])
    if base is None or new is None:
        return
    pairing.drifts = drift.compare(base, new)
    for row in pairing.rows:
        seen = {**row.record, "median": row.new_median}
        row.explained = drift.explains(seen, pairing.drifts)


def check_set(runs: list[Run], side: str) -> None:
    """A side's runs of one machine must be one set: one profile and the same run conditions (thread
    variables); else :class:`RunError` naming the files of each."""
    for what, of in (("profiles", lambda r: r.profile), ("conditions", lambda r: conditions_label(r.conditions())
                                                            or "usual conditions")):
        groups: dict = {}
        for r in runs:
            groups.setdefault(of(r), []).append(str(r.path))
        if len(groups) > 1:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(groups.items()))
            hint = " (--profile keeps one)" if what == "profiles" else ""
            raise RunError(f"{side} mixes {what} of one machine ({runs[0].fingerprint}), which a set of runs "
                           f"must not{hint}: {listed}")


def compare_runs(base: list[Run], new: list[Run], effects: Effects | None = None,
                 across: bool = False, mode: str = "baseline", alpha: float = ALPHA,
                 statistic: str = STATISTIC) -> list[Pairing]:
    """Pair runs by hardware fingerprint; a lone BASE machine is paired with every NEW machine. ``across``:
    also judge benchmarks measured under different conditions (marked), instead of refusing them.
    ``mode``: see :data:`MODES`; a side of one machine that mixes profiles or run conditions is refused
    (:func:`check_set`)."""
    effects = effects or Effects()
    base_fp, new_fp = _by_fingerprint(base), _by_fingerprint(new)
    for side, groups in (("BASE", base_fp), ("NEW", new_fp)):
        for runs in groups.values():
            check_set(runs, side)
    pairings = []
    for fp, runs in new_fp.items():
        if fp in base_fp:
            pairings.append(compare_pair(base_fp[fp], runs, effects, across, mode, alpha, statistic))
        elif len(base_fp) == 1:
            pairings.append(compare_pair(next(iter(base_fp.values())), runs, effects, across, mode, alpha, statistic))
        else:
            pairings.append(Pairing("none", fp, [], runs))
    return pairings


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


#: How many unmatched benchmarks are named before the rest is only counted (a ``-k`` subset compared
#: with a whole-suite baseline leaves most of the baseline unmatched).
LIST_LIMIT = 10


def _names(names: list[str], limit: int = LIST_LIMIT) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return f"{len(names)} benchmarks, {', '.join(names[:limit])} and {len(names) - limit} more"


def _versions(runs: list[Run]) -> str:
    keys = ("torch", "numpy", "numba")
    seen = sorted({" ".join(f"{k} {r.versions.get(k)}" for k in keys if r.versions.get(k)) + _kernels(r)
                   for r in runs})
    return "; ".join(s for s in seen if s) or "versions not recorded"


def _kernels(run: Run) -> str:
    """`` (torch kernels AVX512, OpenBLAS SkylakeX)``: the kernel sets a run recorded (empty for runs that
    recorded none), so a change of kernels shows where versions stay the same."""
    info = run.info
    parts = []
    torch_kernels = (info.get("cpu_kernels") or {}).get("torch")
    if torch_kernels:
        parts.append(f"torch kernels {torch_kernels}")
    parts += [f"{'OpenBLAS' if 'openblas' in lib.lower() else lib} {arch}"
              for lib, arch in sorted((info.get("blas_kernels") or {}).items()) if arch and "cpu_kernels" in info]
    return f" ({', '.join(dict.fromkeys(parts))})" if parts else ""


#: The verdict words, in the order a summary counts them.
WORDS = ("slower", "faster", "same", "uncertain", gate.CANNOT_JUDGE, NOT_COMPARED)
#: How to build a baseline that can judge between-run noise (nptbench.tools.baseline).
BUILD_HINT = ("build one of at least 3 runs made at different times: python -m nptbench baseline --runs 5 "
              "(results/README.md: a trustworthy baseline)")


def _ratio(x: float | None) -> str:
    return f"{x:.2f}x" if x is not None and math.isfinite(x) else "-"


def describe_pairing(p: Pairing, base_label: str = "BASE", new_label: str = "NEW") -> list[str]:
    """The lines a pairing prints besides its table: how it was judged, the machine's state, what it lacks."""
    out = []
    if p.mode == "baseline":
        judged = [r for r in p.rows if r.basis.startswith("between runs")]
        if judged:
            which = {"min": "fastest rounds", "median": "medians",
                     "both": "medians and, in agreement, the fastest rounds"}[p.statistic]
            out.append(f"Judged on the spread between runs (the {which} of {judged[0].runs[0]} {base_label} and "
                       f"{judged[0].runs[1]} {new_label} runs; Holm over {len(judged)} benchmarks: a session in "
                       f"which nothing changed fails with a chance of at most {ALPHA:.0%}). 'interval' is the "
                       "prediction interval of the ratio; 'detects' the smallest slowdown this baseline can call "
                       "on this machine.")
        if p.span is not None:
            out.append(span_line(p.span, len(p.base_runs), base_label))
        if p.second:
            called = [r for r in p.rows if r.confirmed is not None]
            kept = [r.name for r in called if r.confirmed]
            out.append(f"A second timing of the {len(called)} row(s) called slower (this run with those rows timed "
                       f"again, judged the same way) confirmed {len(kept)}" + (f": {_names(kept)}" if kept else "") +
                       "; a row it did not confirm is uncertain: one slow stretch of the machine, or a change too "
                       "small to show every time.")
        if p.thin:
            k = len(p.base_runs)
            out.append(f"**cannot judge**: {base_label} holds {k} run{'s' if k != 1 else ''} of this machine and "
                       "profile, too few to know how much a benchmark moves between runs (within one run it "
                       "cannot be seen); no row is called slower or faster. To " + BUILD_HINT + ".")
    else:
        out.append("Judged within the session (runs made side by side: rounds and runs, nptbench.analysis.verdict).")
    if p.machine_drift is not None and math.isfinite(p.machine_drift):
        out.append(f"Whole-machine drift of {new_label}: {_ratio(p.machine_drift)} (the median ratio over the "
                   "benchmarks; reported, not removed).")
    for d in p.drifts:
        moved = [r.name for r in p.rows if r.explained and d["yardstick"] in r.explained]
        state = (f"machine state: {d['yardstick']} {d['ratio']:.2f}x of {base_label}'s "
                 f"({d['base']:.3g} -> {d['new']:.3g})")
        if d["beyond_noise"]:
            called = [r.name for r in p.rows if r.explained and d["yardstick"] in r.explained
                      and r.verdict == "slower"]
            state += (f", beyond its own noise ({math.exp(d['threshold']):.2f}x): it could explain the "
                      f"{d['explains']} rows ({len(moved)})" + (f", of which called slower: {_names(called)}"
                                                                  if called else ""))
        else:
            state += ", within its own noise"
        out.append(state)
    out += p.notes
    return out


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def span_line(span: gate.Span, k: int, base_label: str = "BASE") -> str:
    """When BASE's runs were made, in words; a set made within a short stretch says what that costs."""
    line = (f"{base_label}'s {k} runs were made over {span.minutes:.0f} min ({_when(span.first)} to {_when(span.last)}, "
            f"a run every {span.median_gap:.1f} min at the median).")
    if span.short:
        line += (f" **A short set**: all within {gate.SHORT_SPAN_MINUTES:.0f} min, one stretch of this machine; on "
                 "a shared machine the next stretch can sit beyond anything the set saw, and a verdict of slower "
                 "can then be the machine. Add runs made at other times (python -m nptbench baseline --runs 1, "
                 "an hour or a day apart; or run the gate with --baseline-grow, which adds each session that "
                 "passed).")
    return line


def render(pairings: list[Pairing], base_label: str = "BASE", new_label: str = "NEW") -> str:
    out = []
    for p in pairings:
        out.append(f"### {p.label}")
        out.append("")
        if not p.base_runs:
            out.append(f"No {base_label} run from this machine: nothing to compare with.")
            out.append("")
            continue
        if not p.same_hardware:
            out.append(f"> **WARNING: different hardware.** {base_label} ran on `{p.base_fp}`, {new_label} on "
                       f"`{p.new_fp}`: these ratios compare machines, not code.")
            out.append("")
        out.append(f"{base_label}: {len(p.base_runs)} run(s), {_versions(p.base_runs)}, profile "
                   f"{', '.join(sorted({r.profile for r in p.base_runs}))}  ")
        out.append(f"{new_label}: {len(p.new_runs)} run(s), {_versions(p.new_runs)}, profile "
                   f"{', '.join(sorted({r.profile for r in p.new_runs}))}")
        out.append("")
        interval = "interval" if p.mode == "baseline" else f"{CONFIDENCE:.0%} CI"
        out.append(f"| benchmark | shape | timed by | {base_label} median (us) | {new_label} median (us) | "
                   f"host medians (us) | ratio | {interval} | p | min effect | detects | verdict |")
        out.append("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|")
        for r in p.rows:
            v = r.result
            ci = f"{v.low:.3f}-{v.high:.3f}" if v.low is not None else "-"
            pv = f"{v.p:.2g}" if v.p is not None else "-"
            word = f"**{v.verdict}**" if v.verdict in ("slower", "faster") else v.verdict
            notes = [x for x in (v.note, f"the machine? {r.explained}" if r.explained else "",
                                 f"**{r.throttled}**" if r.throttled else "") if x]
            if notes:
                word += f" ({'; '.join(notes)})"
            timer, host = "host", "-"
            if r.timer == "device":
                timer, host = "device (CUDA events)", f"{_us(r.base_host)} → {_us(r.new_host)}"
            ratio = "-" if r.verdict == NOT_COMPARED else f"{v.ratio:.2f}"
            detects = f"≥ {r.min_detectable:.2f}x" if r.min_detectable else "-"
            out.append(f"| {r.name} | {r.shape} | {timer} | {_us(r.base_median)} | {_us(r.new_median)} | {host} | "
                       f"{ratio} | {ci} | {pv} | {r.min_effect:.0%} | {detects} | {word} |")
        counts = {w: sum(r.verdict == w for r in p.rows) for w in WORDS}
        out.append("")
        out.append("Verdicts: " + ", ".join(f"{n} {w}" for w, n in counts.items()) + ".")
        out += describe_pairing(p, base_label, new_label)
        if p.only_base:
            out.append(f"Only in {base_label}: {_names(p.only_base)}.")
        if p.only_new:
            out.append(f"Only in {new_label}: {_names(p.only_new)}.")
        out.append("")
    if len(pairings) > 1:
        out.append(side_by_side(pairings))
    return "\n".join(out).rstrip() + "\n"


def side_by_side(pairings: list[Pairing]) -> str:
    """One row per benchmark, one column per machine: ratio and verdict."""
    cols = [p for p in pairings if p.rows]
    names = sorted({r.name for p in cols for r in p.rows})
    cells = {(i, r.name): r.verdict if r.verdict == NOT_COMPARED else f"{r.result.ratio:.2f} {r.verdict}"
             for i, p in enumerate(cols) for r in p.rows}
    lines = ["### All machines side by side (ratio NEW/BASE and verdict)", "",
             "| benchmark | " + " | ".join(f"`{p.label}`" for p in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cells.get((i, name), "-") for i in range(len(cols))) + " |")
    return "\n".join(lines) + "\n"


#: Exit statuses of compare (and what the gate reports): nothing slower; slower; a run cannot be read or a
#: set is refused; nothing compared; cannot judge (a thin baseline, or every row called slower could be the
#: machine's drift).
PASSED, SLOWER, UNREADABLE, NOTHING, CANNOT_JUDGE = 0, 1, 2, 3, 4


def outcome(pairings: list[Pairing]) -> tuple[int, list[str]]:
    """The exit status of a comparison and the lines that say why (:data:`PASSED` ... :data:`CANNOT_JUDGE`).

    Rows called slower fail it (1), unless the machine's state drifted beyond its noise in a way that
    could explain every one of them (4: the run cannot tell the code from the machine; run again).
    """
    slower = [r for p in pairings for r in p.rows if r.verdict == "slower"]
    unexplained = [r for r in slower if not r.explained]
    if unexplained:
        return SLOWER, [f"{len(slower)} benchmark(s) slower: {', '.join(r.name for r in slower)}"]
    if slower:
        return CANNOT_JUDGE, [f"cannot judge: {len(slower)} benchmark(s) read slower, and the machine's own "
                              f"state drifted in a way that could explain each: {', '.join(r.name for r in slower)} "
                              "(see the machine state lines); run again when the machine is quieter"]
    empty = [p.label for p in pairings if all(r.verdict == NOT_COMPARED for r in p.rows)]
    if empty:  # a gate that compared nothing must not pass quietly
        return NOTHING, [f"nothing was compared for {', '.join(empty)} (no benchmark on both sides)"]
    thin = [p.label for p in pairings if p.thin]
    if thin:
        return CANNOT_JUDGE, [f"cannot judge between-run noise for {', '.join(thin)}: the baseline is too thin; "
                              + BUILD_HINT]
    return PASSED, []


def as_json(pairings: list[Pairing], status: int) -> dict:
    """Every verdict as data (``--json``)."""
    out = {"status": status, "pairings": []}
    for p in pairings:
        out["pairings"].append({
            "base_fingerprint": p.base_fp, "new_fingerprint": p.new_fp, "mode": p.mode,
            "base_runs": [str(r.path) for r in p.base_runs], "new_runs": [str(r.path) for r in p.new_runs],
            "machine_drift": p.machine_drift, "machine_state": p.drifts, "notes": p.notes,
            "statistic": p.statistic if p.mode == "baseline" else None,
            "base_span": None if p.span is None else {**dataclasses.asdict(p.span), "short": p.span.short},
            "second_timing": [str(r.path) for r in p.second],
            "only_base": p.only_base, "only_new": p.only_new,
            "verdicts": [{
                "benchmark": r.name, "experiment": r.experiment, "verdict": r.verdict,
                "ratio": None if not math.isfinite(r.result.ratio) else r.result.ratio,
                "low": r.result.low, "high": r.result.high, "p": r.result.p,
                "min_effect": r.min_effect, "min_detectable": r.min_detectable,
                "basis": r.basis, "runs": {"base": r.runs[0], "new": r.runs[1]},
                "timed_by": r.timer, "base_median_s": r.base_median, "new_median_s": r.new_median,
                "note": r.result.note, "machine_could_explain": r.explained, "gpu_throttled": r.throttled,
                "confirmed": r.confirmed,
            } for r in p.rows],
        })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench compare",
        description="Compare saved runs (files or folders, from one or many machines): ratio of medians, an "
                    "interval and a verdict per benchmark. By default NEW is judged against BASE as against a "
                    "saved baseline, on the spread between BASE's runs (several runs made at different times; "
                    "results/README.md). Exit status: 0 nothing slower, 1 slower, 2 a run cannot be read or a "
                    "set is refused, 3 nothing compared, 4 cannot judge (a baseline of fewer than 3 runs, or a "
                    "machine whose drift could explain every slower row).",
    )
    parser.add_argument("base", type=Path, help="saved run(s): a .json file or a folder of them")
    parser.add_argument("new", type=Path, help="saved run(s) to judge against BASE")
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
        return judge_counts(args.base, args.new, None)
    try:
        base, new = load_runs([args.base]), load_runs([args.new])
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
        return UNREADABLE
    for p in pairings:
        if p.base_runs and not p.same_hardware:
            print(f"WARNING: comparing different hardware: {p.base_fp} vs {p.new_fp}", file=sys.stderr)
    status, lines = outcome(pairings)
    if args.json:
        print(json.dumps(as_json(pairings, status), indent=1))
    else:
        print(render(pairings))
    for line in lines:
        print(f"nptbench compare: {line}", file=sys.stderr)
    if args.counts is not None:
        times = {r.bench or r.name: f"{r.verdict}, {r.result.ratio:.2f}x" for p in pairings for r in p.rows}
        counted = judge_counts(*args.counts, times)
        status = counted if status == PASSED else status
    return status


def judge_counts(base: Path, new: Path, times: dict | None) -> int:
    """Print the count table of two sides' count runs (nptbench.analysis.counts) and return compare's exit
    status for them: :data:`SLOWER` where a count is called slower."""
    try:
        pairing = counts.judge(counts.load(base), counts.load(new))
    except RunError as exc:
        print(f"nptbench compare: {exc}", file=sys.stderr)
        return UNREADABLE
    print(counts.render(pairing, times))
    called = counts.slower(pairing)
    if called:
        print(f"nptbench compare: {len(called)} benchmark(s) slower in counts: {', '.join(called)}", file=sys.stderr)
    return SLOWER if called else NOTHING if pairing.refused or not pairing.rows else PASSED
