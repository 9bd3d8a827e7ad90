"""The verdict engine: did NEW get slower than BASE, beyond noise and beyond a minimum effect?

Every command and the gate that judge saved runs call these functions (``compare``, the
``--benchmark-compare`` gate, ``ab``, ``bisect``'s ``--statistic rounds`` and the scripts), so the same runs
give the same verdicts everywhere. They read runs and settings and return data; they never print.

- :func:`compare_runs` pairs runs by hardware fingerprint and judges each pairing (:func:`compare_pair`)
  in one of two ways (:data:`MODES`): **against a saved baseline** (the default, and the gate): BASE is a
  set of runs made at other times and each benchmark is judged on the spread between them
  (nptbench.analysis.gate: a prediction interval on the runs' times, Holm over the pairing's benchmarks,
  the smallest slowdown the set could detect; by default a row is called only where the runs' medians and
  their fastest rounds agree, :data:`STATISTIC`); a set of fewer than 3 runs cannot judge. Or **side by
  side in one session** (as ``ab`` runs them): on the rounds and runs themselves
  (nptbench.analysis.verdict).
- Either way a verdict needs both significance and a minimum effect (:class:`Effects`: 10 % unless
  pyproject.toml's ``[tool.nptbench.min-effect]`` says otherwise for the experiment). Beside the verdicts:
  how the machine's yardsticks differ between the sides and which rows that could explain
  (nptbench.analysis.drift), GPU rows that ran throttled (nptbench.analysis.gpu_records.throttle_note),
  partial runs and runs that lack yardsticks.
- GPU records (``device == "cuda"``) are judged on their device times (CUDA events) when both sides have
  them (:func:`judged_times`), with the host medians kept beside.
- :func:`confirm`: the second timing of the rows called slower; a row stays slower only where a second,
  separate timing of it is called slower too.
- :func:`outcome`: the exit policy, a :class:`nptbench.schema.status.Status` and the lines that say why.

Benchmarks are matched, kept apart by their conditions and pooled over several runs of one side as
nptbench.analysis.across says. A pairing's verdicts are :class:`Row` objects, each holding one
:class:`nptbench.analysis.verdict.Verdict` (its words: nptbench.analysis.verdict.WORDS).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is a dependency there (pyproject.toml)
    import tomli as tomllib

from nptbench.analysis import drift, gate, gpu_records
from nptbench.analysis.across import Bench, Times, benches
from nptbench.analysis.verdict import (CANNOT_JUDGE, DEFAULT_MIN_EFFECT, NOT_COMPARED, SLOWER, UNCERTAIN,
                                       Verdict, hierarchical_verdict, verdict)
from nptbench.schema.record import conditions_label
from nptbench.schema.runs import Run, RunError
from nptbench.schema.status import Status

#: Which time of each run a saved baseline is judged on: its median round, its fastest (``min``), or both,
#: when a benchmark is called slower (or faster, or the same) only where both say so (results/gate.md).
STATISTICS = ("both", "median", "min")
STATISTIC = "both"
#: How a comparison is judged. "baseline" (the default, and the gate): NEW against a saved baseline made at
#: other times, on the spread between the baseline's runs (nptbench.analysis.gate). "session": runs made
#: side by side in one session, interleaved (``ab``), where the spread within and between those runs is
#: the right noise (nptbench.analysis.verdict).
MODES = ("baseline", "session")
#: The chance that a session in which nothing changed fails the gate, at most (Holm over its benchmarks).
ALPHA = 0.05
#: How to build a baseline that can judge between-run noise (nptbench.tools.baseline).
BUILD_HINT = ("build one of at least 3 runs made at different times: python -m nptbench baseline --runs 5 "
              "(docs/upgrade.md: a trustworthy set)")


# --- settings and models ---------------------------------------------------------------------------------

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


@dataclass
class Row:
    """One benchmark of a pairing: its verdict (``result``) and what it rests on."""
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
    alpha: float = ALPHA  # the family-wise level of the between-run verdicts (compare_pair sets it)

    @property
    def thin(self) -> bool:
        """A baseline too thin to judge between-run noise (its rows say "cannot judge")."""
        return any(r.verdict == CANNOT_JUDGE for r in self.rows)

    @property
    def same_hardware(self) -> bool:
        return self.base_fp == self.new_fp and self.base_fp != "unknown"

    @property
    def label(self) -> str:
        return self.new_fp if self.same_hardware else f"{self.base_fp} -> {self.new_fp}"

    def called(self, word: str = SLOWER) -> list[Row]:
        """Its rows with the verdict ``word``."""
        return [r for r in self.rows if r.verdict == word]


# --- judging one pair ------------------------------------------------------------------------------------

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


def joined(*notes: str) -> str:
    """Notes on one verdict, the empty ones left out."""
    return "; ".join(x for x in notes if x)


def judge(b: Bench, n: Bench, effect: float) -> tuple[Verdict, str]:
    """The same-session verdict on one pair and which times it was taken on ("device" or "host")."""
    bt, nt, timer, note = judged_times(b, n)
    if bt.rounds is not None and nt.rounds is not None and len(bt.run_times) > 1 and len(nt.run_times) > 1:
        result = hierarchical_verdict(bt.run_times, nt.run_times, effect)
    elif bt.rounds is not None and nt.rounds is not None:
        result = verdict(bt.rounds, nt.rounds, effect)
    else:
        result = Verdict(nt.median / bt.median, note="saved without raw round times")
    if note:
        result.note = joined(result.note, note)
    return result, timer


def _judged_between(pairs: list, alpha: float, statistic: str) -> list:
    """The gate's judgements (nptbench.analysis.gate) of ``pairs`` (BASE times, NEW times, effect) on one
    time a run (``median`` or ``min``), each with its verdict."""
    judged = gate.judge_session({i: (bt.per_run(statistic), nt.per_run(statistic))
                                 for i, (bt, nt, _) in enumerate(pairs)},
                                min_effect={i: e for i, (_, _, e) in enumerate(pairs)}, alpha=alpha)
    out = []
    for j in judged:
        ok = j.verdict != CANNOT_JUDGE or j.k > 1
        result = Verdict(j.ratio, j.low if ok else None, j.high if ok else None, j.p_slower if ok else None,
                         j.verdict)  # a thin baseline is explained once, for the pairing
        out.append((result, j))
    return out


def between_runs(pairs: list, alpha: float, statistic: str = STATISTIC) -> list:
    """The verdicts of ``pairs`` (BASE times, NEW times, effect) between runs, one time a run by
    ``statistic``, as (Verdict, nptbench.analysis.gate.Judgement) pairs; with ``both``, on the medians and
    on the fastest rounds, a verdict only where the two agree (the interval and ratio are the medians', p
    and the smallest detectable slowdown the larger of the two)."""
    if statistic != "both":
        return _judged_between(pairs, alpha, statistic)
    out = []
    for (med, jm), (low, jl) in zip(_judged_between(pairs, alpha, "median"), _judged_between(pairs, alpha, "min")):
        agreed = med.verdict if med.verdict == low.verdict else UNCERTAIN
        p = None if med.p is None or low.p is None else max(med.p, low.p)
        result = Verdict(med.ratio, med.low, med.high, p, agreed)
        detect = max(jm.min_detectable, jl.min_detectable)
        out.append((result, dataclasses.replace(jm, min_detectable=detect, verdict=agreed)))
    return out


def _times(x: Bench, timer: str) -> Times:
    return x.device if timer == "device" else x.host


def _named(bench: Bench, with_conditions: bool) -> str:
    """A benchmark's name, with its conditions where the name alone would not tell it apart."""
    label = conditions_label(bench.conds)
    return f"{bench.name} [{label}]" if with_conditions and label else bench.name


def _conditions_text(conds: tuple) -> str:
    return conditions_label(conds) or "usual conditions"


# --- judging a pairing -----------------------------------------------------------------------------------

def _matches(old: dict, new: dict):
    """Each NEW benchmark with its BASE benchmark: the same key, else the same work under other conditions
    (then with the words that say so), as (BASE, NEW, difference in words or "")."""
    old_by_work: dict = {}
    for key in sorted(old, key=str):
        old_by_work.setdefault(key[0], []).append(key)
    for key, n in new.items():
        if key in old:
            yield old[key], n, ""
        elif key[0] in old_by_work:
            b = old[old_by_work[key[0]][0]]
            yield b, n, (f"measured under different conditions: BASE {_conditions_text(b.conds)}, "
                         f"NEW {_conditions_text(n.conds)}")


def _not_compared(name: str, b: Bench, n: Bench, effect: float, differ: str) -> Row:
    return Row(name, n.experiment, n.shape, b.host.median, n.host.median, effect,
               Verdict(float("nan"), verdict=NOT_COMPARED, note=differ + " (--across-conditions judges them anyway)"),
               "host", b.host.median, n.host.median, record=n.record, bench=n.name)


def _session_basis(bt: Times, nt: Times) -> str:
    return "within the session: rounds of " + (
        f"{bt.runs} and {nt.runs} runs, two-level bootstrap" if len(bt.run_times) > 1 and len(nt.run_times) > 1
        else "one run a side")


def _judge_pending(pairing: Pairing, pending: list) -> None:
    """The rows judged between runs, all in one family (Holm over them), and the whole machine's drift."""
    if not pending:
        return
    judged = between_runs([(bt, nt, row.min_effect) for row, bt, nt in pending], pairing.alpha, pairing.statistic)
    for (row, _, _), (result, j) in zip(pending, judged):
        result.note = joined(result.note, row.result.note)
        row.result, row.min_detectable = result, j.min_detectable if j.verdict != CANNOT_JUDGE else None
        row.basis = (f"between runs: {j.k} BASE runs, {j.n} NEW" if j.verdict != CANNOT_JUDGE
                     else f"thin baseline: {j.k} BASE run{'s' if j.k != 1 else ''}")
    pairing.machine_drift = gate.session_drift([j for _, j in judged])


def compare_pair(base_runs: list[Run], new_runs: list[Run], effects: Effects, across: bool = False,
                 mode: str = "baseline", alpha: float = ALPHA, statistic: str = STATISTIC) -> Pairing:
    """Judge each benchmark of NEW against the same benchmark of BASE under the same conditions (matched
    and pooled as nptbench.analysis.across says). One found in BASE only under other conditions is refused
    (verdict "not compared", with the reason), or with ``across`` judged and marked. ``mode``: see
    :data:`MODES`. Rows are sorted slowest first, those not compared last."""
    pairing = Pairing(base_runs[0].fingerprint, new_runs[0].fingerprint, base_runs, new_runs, mode=mode,
                      statistic=statistic, across=across, alpha=alpha)
    if mode == "baseline":
        pairing.span = gate.set_span([r.time for r in base_runs])
    old, new = benches(base_runs), benches(new_runs)
    # a side holding one benchmark under several conditions names each with them
    mixed_old, mixed_new = (len({x.conds for x in side.values()}) > 1 for side in (old, new))
    used_old, used_new = set(), set()
    pending = []  # (row, BASE times, NEW times): judged together between runs
    throttle_sides = []  # (row, BASE, NEW): whether either side's GPU rounds ran throttled
    for b, n, differ in _matches(old, new):
        used_old.add(b.key)
        used_new.add(n.key)
        effect = effects(n.experiment)
        name = _named(n, mixed_new or bool(differ))
        if differ and not across:
            pairing.rows.append(_not_compared(name, b, n, effect, differ))
            throttle_sides.append((pairing.rows[-1], b, n))
            continue
        if mode == "session":
            result, timer = judge(b, n, effect)
        else:
            # between runs every run counts by its median: device medians where both sides have them
            timer = "device" if b.device is not None and n.device is not None else "host"
            result = Verdict(float("nan"))
        bt, nt = _times(b, timer), _times(n, timer)
        if differ:
            result.note = joined(result.note, f"**{differ}**")
        row = Row(name, n.experiment, n.shape, bt.median, nt.median, effect, result, timer, b.host.median,
                  n.host.median, runs=(bt.runs, nt.runs), record=n.record, bench=n.name)
        if mode == "session":
            row.basis = _session_basis(bt, nt)
        else:
            pending.append((row, bt, nt))
        pairing.rows.append(row)
        throttle_sides.append((row, b, n))
    _judge_pending(pairing, pending)
    for row, b, n in throttle_sides:
        row.throttled = gpu_records.throttle_note(b.records, n.records)
    machine_state(pairing)
    pairing.rows.sort(key=lambda r: (r.verdict == NOT_COMPARED, -np.nan_to_num(r.result.ratio), r.name))
    pairing.only_base = sorted(_named(b, mixed_old) for k, b in old.items() if k not in used_old)
    pairing.only_new = sorted(_named(n, mixed_new) for k, n in new.items() if k not in used_new)
    return pairing


def machine_state(pairing: Pairing) -> None:
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


def _by_fingerprint(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run.fingerprint, []).append(run)
    return out


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


# --- the second timing -----------------------------------------------------------------------------------

def with_second_timing(first: Run, second: Run) -> Run:
    """``first`` with each benchmark that ``second`` timed again replaced by that second timing (matched by
    pytest's full name): the run judged again when the gate confirms."""
    again = {b.get("fullname") or b.get("name"): b for b in second.benchmarks}
    data = {**first.data, "benchmarks": [again.get(b.get("fullname") or b.get("name"), b) for b in first.benchmarks]}
    return Run(Path(f"{first.path} with the rows of {second.path}"), data)


def to_confirm(pairings: list[Pairing]) -> set[str]:
    """pytest's names of the benchmarks a second timing would confirm: the rows called slower against a
    saved baseline."""
    return {r.bench for p in pairings if p.mode == "baseline" for r in p.called()}


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
        if p.mode != "baseline" or not p.called():
            continue
        if len(p.new_runs) != 1:
            raise RunError(f"a second timing confirms one NEW run, not {len(p.new_runs)}")
        again = compare_pair(p.base_runs, [with_second_timing(p.new_runs[0], second)], effects or Effects(),
                             across=p.across, alpha=p.alpha, statistic=p.statistic)
        rows = {r.name: r for r in again.rows}
        p.second = [second]
        for r in p.called():
            s = rows.get(r.name)
            if s is None or r.bench not in retimed:
                r.result.note = joined(r.result.note, "no second timing of it to confirm")
                continue
            r.confirmed = s.verdict == SLOWER
            reading = f"a second timing read {s.result.ratio:.2f}x ({s.verdict})"
            if r.confirmed:
                r.result.note = joined(r.result.note, f"confirmed: {reading}")
            else:
                r.result = dataclasses.replace(r.result, verdict=UNCERTAIN, note=joined(
                    r.result.note, f"slower at {r.result.ratio:.2f}x, not confirmed: {reading}"))


# --- the exit policy -------------------------------------------------------------------------------------

def outcome(pairings: list[Pairing]) -> tuple[Status, list[str]]:
    """The exit status of a comparison and the lines that say why.

    Rows called slower fail it (:attr:`Status.FAILED`), unless the machine's state drifted beyond its noise
    in a way that could explain every one of them (:attr:`Status.CANNOT_JUDGE`: the run cannot tell the
    code from the machine; run again). A pairing that compared nothing is :attr:`Status.NOTHING`, a baseline
    too thin to judge :attr:`Status.CANNOT_JUDGE`; else :attr:`Status.PASSED`.
    """
    slower = [r for p in pairings for r in p.called()]
    unexplained = [r for r in slower if not r.explained]
    if unexplained:
        return Status.FAILED, [f"{len(slower)} benchmark(s) slower: {', '.join(r.name for r in slower)}"]
    if slower:
        return Status.CANNOT_JUDGE, [
            f"cannot judge: {len(slower)} benchmark(s) read slower, and the machine's own state drifted in a way "
            f"that could explain each: {', '.join(r.name for r in slower)} (see the machine state lines); run "
            "again when the machine is quieter"]
    empty = [p.label for p in pairings if all(r.verdict == NOT_COMPARED for r in p.rows)]
    if empty:  # a gate that compared nothing must not pass quietly
        return Status.NOTHING, [f"nothing was compared for {', '.join(empty)} (no benchmark on both sides)"]
    thin = [p.label for p in pairings if p.thin]
    if thin:
        return Status.CANNOT_JUDGE, [f"cannot judge between-run noise for {', '.join(thin)}: the baseline is too "
                                     "thin; " + BUILD_HINT]
    return Status.PASSED, []
