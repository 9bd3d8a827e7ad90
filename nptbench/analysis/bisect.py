"""The search of ``python -m nptbench bisect``: which rung of an ordered ladder (package versions, git
revisions, environments) made a benchmark slower, found with as few probes as the noise allows.

A **probe** compares two rungs side by side: the command runs them interleaved, as ``ab`` does, and
:func:`probe_answers` judges the runs, by default on each run's fastest round (a Welch t test on their
logs, nptbench.analysis.verdict.fastest_verdict; ``rounds``: the same-session verdict of
nptbench.analysis.comparison on all rounds). It answers, per benchmark: :data:`SLOWER` (the second rung
is slower than the first beyond the minimum effect), :data:`SAME` (it is not: the same, or faster), or
:data:`AMBIGUOUS` (the interval straddles the minimum effect); a rung that cannot be installed, built or
run is :data:`BROKEN` and is skipped like ``git bisect skip``.

The search (:class:`Search`), per benchmark:

1. the ends: is the last rung slower than the first? If not, "no regression" (or ambiguous);
2. binary search for the step: the middle rung of the open range is probed against the lower end; slower
   moves the upper end there, same moves the lower end. A broken middle is skipped for the next rung
   nearest the middle; a range holding only broken rungs ends the search with that range;
3. an ambiguous probe is run again with twice the runs a side (up to ``max_runs``) before the search moves;
   still ambiguous, the search stops and reports the range it got to, with the word ambiguous;
4. the culprit pair (the rung before and the culprit) is confirmed by a direct probe of the two (often
   the search's last probe already); a confirmation that does not say slower makes the answer ambiguous;
5. another step: unless the culprit's step explains the whole ladder's (their intervals overlap), the last
   rung is probed against the culprit; slower means a second step lies after the culprit, and the search
   starts again from the culprit.

Probes are shared by benchmarks where their searches meet: a probe measures every selected benchmark at
once and is cached by its pair of rungs and runs a side. Nothing here runs anything: the command gives the
probe function, the tests give fake ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from nptbench.analysis import counts
from nptbench.analysis.across import benches
from nptbench.analysis.comparison import Effects, compare_runs
from nptbench.analysis.verdict import FASTER, SAME, SLOWER, Verdict, fastest_verdict

#: A probe's answers besides the verdict words SLOWER and SAME (nptbench.analysis.verdict): the interval
#: straddles the minimum effect; a rung could not be measured.
AMBIGUOUS, BROKEN = "ambiguous", "broken"
#: Outcomes of one benchmark's search.
FOUND, NO_REGRESSION, UNDECIDED = "found", "no regression", "ambiguous"


@dataclass
class Answer:
    """One benchmark's answer in one probe."""
    word: str  # SLOWER, SAME or AMBIGUOUS
    ratio: float | None = None  # second rung / first
    low: float | None = None
    high: float | None = None


@dataclass
class Probe:
    """One comparison of two rungs: ``second`` against ``first``."""
    first: int
    second: int
    runs: int  # a side
    answers: dict = field(default_factory=dict)  # benchmark -> Answer
    broken: str | None = None  # why a rung could not be measured; which rung: ``broken_rung``
    broken_rung: int | None = None
    seconds: float = 0.0


@dataclass
class Culprit:
    """A step: ``rung`` is the first rung at the new level, ``before`` the last at the old."""
    before: int
    rung: int
    confirmed: bool  # the direct probe of the pair said slower
    answer: Answer | None = None  # of the confirming probe


@dataclass
class Outcome:
    """One benchmark's result."""
    benchmark: str
    status: str  # FOUND, NO_REGRESSION or UNDECIDED
    culprits: list = field(default_factory=list)  # Culprit, in ladder order
    note: str = ""  # why UNDECIDED, or what stopped the search (broken rungs)
    range: tuple | None = None  # (lo, hi) the search got down to when it could not finish


ProbeFn = Callable[[int, int, int], Probe]

#: What a probe judges on: ``min``, each run's fastest round (nptbench.analysis.verdict.fastest_verdict,
#: the default: a neighbour's load moves it least), or ``rounds``, the same-session verdict on all rounds
#: (nptbench.analysis.comparison, mode "session": the two-level bootstrap ``ab`` prints).
STATISTICS = ("min", "rounds")


def answer_word(r: Verdict, min_effect: float, faster: bool = False) -> str:
    """A probe's word for a verdict ``r``. Bisection asks one thing: did the second rung change by the
    minimum effect in the direction searched for (slower, or faster with ``faster``)? :data:`SLOWER` where
    the verdict says so; :data:`SAME` ("not slower") where it says same or the other way, or where it is
    uncertain but its whole interval lies short of the minimum effect in that direction (0.86-1.09 with
    10 %: perhaps faster, certainly not 10 % slower); :data:`AMBIGUOUS` otherwise."""
    changed, other = (FASTER, SLOWER) if faster else (SLOWER, FASTER)
    if r.verdict == changed:
        return SLOWER
    if r.verdict in (SAME, other):
        return SAME
    if r.low is not None and r.high is not None:
        short = r.low >= 1 / (1 + min_effect) if faster else r.high <= 1 + min_effect
        if short:
            return SAME
    return AMBIGUOUS


def probe_answers(base: list, new: list, effects: Effects, statistic: str = "min", faster: bool = False) -> dict:
    """A probe's :class:`Answer` per benchmark (pytest's name) for the runs of its two rungs, judged by
    ``statistic`` (:data:`STATISTICS`)."""
    out = {}
    if statistic == "rounds":
        for p in compare_runs(base, new, effects, mode="session"):
            for row in p.rows:
                r = row.result
                out[row.name] = Answer(answer_word(r, row.min_effect, faster), r.ratio, r.low, r.high)
        return out
    a, b = benches(base), benches(new)
    for key in sorted(set(a) & set(b), key=lambda k: a[k].name):
        me = effects(a[key].experiment)
        r = fastest_verdict(a[key].host.run_mins, b[key].host.run_mins, me)
        out[b[key].name] = Answer(answer_word(r, me, faster), r.ratio, r.low, r.high)
    return out


def count_answers(base: list, new: list, faster: bool = False) -> dict:
    """A probe's :class:`Answer` per benchmark from the count runs of its two rungs (one a side is enough: a
    count repeats between sessions), judged by nptbench.analysis.counts: :data:`SLOWER` where the count moved
    beyond its rule in the direction searched for, else :data:`SAME`; never ambiguous, and no interval."""
    changed = FASTER if faster else SLOWER
    return {row.name: Answer(SLOWER if row.verdict == changed else SAME, row.ratio)
            for row in counts.judge(base, new).rows}


class Search:
    """Bisection over ``rungs`` (names, oldest first) for ``benchmarks`` with ``probe(first, second, runs)``."""

    def __init__(self, rungs: list[str], benchmarks: list[str], probe: ProbeFn, runs: int = 3,
                 max_runs: int = 12, max_steps: int = 4, log: Callable[[str], None] | None = None):
        if len(rungs) < 2:
            raise ValueError("a ladder needs at least two rungs")
        self.rungs, self.benchmarks, self._probe = list(rungs), list(benchmarks), probe
        self.runs, self.max_runs, self.max_steps = runs, max_runs, max_steps
        self.log = log or (lambda text: None)
        self.cache: dict[tuple, Probe] = {}
        self.probes: list[Probe] = []  # in the order they ran
        self.broken: dict[int, str] = {}

    # --- probing ---

    def add(self, probe: Probe) -> None:
        """Count a probe made outside the search (the command's first probe of the ladder's ends) as one of
        its own: cached, listed, and its broken rung known."""
        self.cache[(probe.first, probe.second, probe.runs)] = probe
        self.probes.append(probe)
        if probe.broken:
            self.broken[probe.broken_rung if probe.broken_rung is not None else probe.second] = probe.broken

    def probe(self, first: int, second: int, runs: int) -> Probe:
        key = (first, second, runs)
        if key not in self.cache:
            self.log(f"probe {len(self.probes) + 1}: {self.rungs[second]} against {self.rungs[first]}, "
                     f"{runs} runs a side")
            p = self._probe(first, second, runs)
            self.cache[key] = p
            self.probes.append(p)
            if p.broken:
                rung = p.broken_rung if p.broken_rung is not None else second
                self.broken[rung] = p.broken
                self.log(f"  {self.rungs[rung]} is broken: {p.broken}")
        return self.cache[key]

    def answer(self, first: int, second: int, bench: str) -> Answer | str:
        """The benchmark's answer for the pair, probing again with more runs while it is ambiguous;
        BROKEN when a rung of the pair cannot be measured."""
        runs = self.runs
        while True:
            p = self.probe(first, second, runs)
            if p.broken:
                return BROKEN
            a = p.answers.get(bench) or Answer(AMBIGUOUS)
            if a.word != AMBIGUOUS or runs * 2 > self.max_runs:
                return a
            runs *= 2

    def _runs_at(self, first: int, second: int) -> int:
        """The most runs a side the pair was probed with."""
        return max((k[2] for k in self.cache if k[:2] == (first, second)), default=self.runs)

    # --- searching ---

    def _middle(self, lo: int, hi: int) -> int | None:
        """The rung strictly between lo and hi nearest the middle that is not known to be broken."""
        mid = (lo + hi) / 2
        free = [k for k in range(lo + 1, hi) if k not in self.broken]
        return min(free, key=lambda k: (abs(k - mid), k)) if free else None

    def _first_slower(self, lo: int, hi: int, bench: str) -> tuple[int, int] | str:
        """Narrow (lo, hi], where hi is slower than lo, to adjacent rungs, probing the middle against the
        lower end (so the last probe of a search is often the culprit pair itself, and its confirmation
        costs nothing); or the word that stopped it (AMBIGUOUS)."""
        while True:
            mid = self._middle(lo, hi)
            if mid is None:
                return (lo, hi)
            a = self.answer(lo, mid, bench)
            if a == BROKEN:
                continue  # _middle now skips it
            if a.word == AMBIGUOUS:
                self._stopped = (lo, hi, mid)
                return AMBIGUOUS
            if a.word == SLOWER:
                hi = mid
            else:
                lo = mid

    def search(self, bench: str) -> Outcome:
        last = len(self.rungs) - 1
        a = self.answer(0, last, bench)
        if a == BROKEN:
            return Outcome(bench, UNDECIDED, note=f"an end of the ladder cannot be measured: "
                                                 f"{'; '.join(self.broken.values())}", range=(0, last))
        if a.word == SAME:
            return Outcome(bench, NO_REGRESSION)
        if a.word == AMBIGUOUS:
            return Outcome(bench, UNDECIDED, note=f"the last rung against the first stayed ambiguous with "
                                                 f"{self._runs_at(0, last)} runs a side", range=(0, last))
        out = Outcome(bench, FOUND)
        lo = 0
        for _ in range(self.max_steps):
            got = self._first_slower(lo, last, bench)
            if got == AMBIGUOUS:
                lo_, hi_, mid = self._stopped
                out.status, out.range = UNDECIDED, (lo_, hi_)
                out.note = (f"the probe of {self.rungs[mid]} stayed ambiguous with {self._runs_at(lo_, mid)} runs a side; "
                            f"the step lies after {self.rungs[lo_]} and at or before {self.rungs[hi_]}")
                return out
            before, rung = got
            if rung - before > 1:  # only broken rungs between
                out.status, out.range = UNDECIDED, (before, rung)
                out.note = (f"the step lies after {self.rungs[before]} and at or before {self.rungs[rung]}; "
                            f"the rungs between are broken")
                return out
            confirm = self.answer(before, rung, bench)
            confirmed = confirm != BROKEN and confirm.word == SLOWER
            out.culprits.append(Culprit(before, rung, confirmed, None if confirm == BROKEN else confirm))
            if not confirmed:
                out.status = UNDECIDED
                out.note = (f"the direct probe of {self.rungs[rung]} against {self.rungs[before]} said "
                            f"{confirm if confirm == BROKEN else confirm.word}, not slower")
                return out
            if rung == last or explains(confirm, a):
                return out
            more = self.answer(rung, last, bench)
            if more == BROKEN or more.word != SLOWER:
                return out
            lo, a = rung, more  # a second step after the culprit: what is left to explain
        return out

    def run(self) -> list[Outcome]:
        return [self.search(b) for b in self.benchmarks]


def explains(step: Answer, whole: Answer) -> bool:
    """Whether one step's ratio can be the whole ladder's: their intervals overlap."""
    if None in (step.low, step.high, whole.low, whole.high):
        return False
    return step.low <= whole.high and whole.low <= step.high


def probes_bound(rungs: int) -> int:
    """The probes the issue allows on average: ceil(log2(N)) + 2."""
    return math.ceil(math.log2(rungs)) + 2
