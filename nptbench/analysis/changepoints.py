"""Change points in one benchmark's series of runs: where its level stepped, by how much, and how sure.

The series is one time per run (a run's median; for a GPU row its device median), in the order the runs
were made. On a shared machine those times scatter from run to run by 4-29 % (σ of log median 0.04-0.29
on a 2-core VM), with now and then a run far off (a neighbour's spell), so the detector works from that
scatter between runs and from nothing inside one run:

- **Statistic**: the series' logs become robust z-scores (:func:`scores`: centred on the median, scaled by
  the scatter from one run to the next, which a step does not inflate, and clipped to ±:data:`CLIP`, so a
  single wild run weighs as much as ``CLIP`` and never more). For every stretch of at least ``min_size``
  runs with at least ``min_size`` runs outside it, the two-sample t statistic (pooled variance) of the
  scores inside against outside (:func:`scan`); the largest |t| is the segment's statistic. Two families of
  stretches are searched (:func:`split`): those reaching an end of the segment (one step) and those inside
  it (a level that came and went: two steps).
- **Significance**: each family's largest |t| is held against its distribution with no change point,
  simulated once per segment length from series whose logs scatter as Student's t with :data:`NULL_DF`
  degrees of freedom (heavier-tailed than normal, as a shared machine's runs are), scored the same way
  (:func:`null_max`, :data:`DRAWS` series, seeded: the same series always gets the same answer). Each
  family's p-value is divided by its share of the test (:data:`EDGE_SHARE`, Bonferroni) and the smaller
  wins. A segment whose p-value is at most ``alpha`` is split there (the cut moved to where the two sides
  differ most, :func:`refine`, and kept only where each side holds a level of its own, :func:`holds`), and
  each side is searched again (binary segmentation), so ``alpha`` is the chance that a series with no step
  gets one (each deeper search happens only after a step was found).
- **Size**: each step's ratio of levels (right / left) is the Hodges-Lehmann estimate over the two
  neighbouring segments (the median of every right/left ratio of a run on each side), with its
  distribution-free 95 % interval from the same rank statistic (:func:`shift`). Steps whose ratio lies
  within ``min_step`` of 1 are not reported (asv leaves out steps under 5 % likewise) and their segments
  merge.

A machine's own level moves too: on a shared VM every memory-bound row has been seen to step 1.2-1.4x
together for a quarter of an hour, with nothing changed in the code under benchmark. A series alone cannot
tell that from a change of its software; the other rows of the same runs can. The **run level**
(:func:`run_level`) is, for each run, the median over the rows it holds of each row's time relative to
that row's usual time: how slow the machine ran everything in that run. A step of a row is **its own**
only where the row's time relative to the run level steps too, the same way within :data:`LEVEL_NEAR`
runs (:func:`against_level`); where it does not, the row moved with the whole run and the step is the
machine's. This can only take steps away, never add one, and it takes away nothing where fewer than
:data:`LEVEL_ROWS` rows make the level. Being a median, the level follows a move of the machine only when
it moves more than half the rows; a move of fewer stays each row's own step. A change of software that
moves most rows alike moves the level with it and reads as the machine's here; nptbench.analysis.history keeps such a step as the row's where
its environment changed there.

What a rate of false alarms and a rate of detection this gives on real runs of a shared machine is
measured in results/history-rates.md, with the commands.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps

#: Defaults: the chance that a series with no step gets one; the fewest runs on either side of a step;
#: the smallest step reported (|ratio - 1|); random orders drawn for the null distribution.
ALPHA = 0.002
MIN_SIZE = 3
MIN_STEP = 0.05
DRAWS = 5000
#: The share of ``alpha`` spent on single splits; the rest goes to stretches inside a segment (:func:`split`).
EDGE_SHARE = 0.75
#: Robust z-scores are clipped to this many (:func:`scores`).
CLIP = 8.0
#: Degrees of freedom of the scatter the null distribution is drawn from (:func:`null_max`).
NULL_DF = 3.0
#: Seed of the random orders: the same series always gets the same answer.
SEED = 20261203
#: The fewest rows a run's level is made from (:func:`run_level`): with fewer, no run level.
LEVEL_ROWS = 5
#: A row's step is its own when its time relative to the run level steps the same way within this many
#: runs of it (:func:`against_level`).
LEVEL_NEAR = 2


@dataclass
class Step:
    """A change point: runs from ``index`` on (0-based, in the series' order) sit at a new level."""
    index: int
    ratio: float  # new level / old level (Hodges-Lehmann), > 1 slower for times
    low: float  # the ratio's 95 % interval
    high: float
    p: float  # the p-value of the split when it was found (random orders of its segment)
    before: int  # runs at the old level used for the ratio (back to the previous step)
    after: int  # runs at the new level (up to the next step)

    @property
    def slower(self) -> bool:
        return self.ratio > 1


def scores(x: np.ndarray, clip: float = CLIP) -> np.ndarray:
    """Robust z-scores of a series of logs (1-D, or many series as rows), clipped to ±``clip``: centred on
    its median and scaled by the scatter from one run to the next (1.4826 x the median absolute successive
    difference / √2, which a step does not inflate). A run far off counts as ``clip``, never more."""
    x = np.asarray(x, dtype=float)
    scale = 1.4826 * np.median(np.abs(np.diff(x, axis=-1)), axis=-1, keepdims=True) / math.sqrt(2)
    # constant, or nearly: any positive scale keeps the order
    scale = np.where(scale > 0, scale, np.where(np.std(x, axis=-1, keepdims=True) > 0,
                                                np.std(x, axis=-1, keepdims=True), 1.0))
    return np.clip((x - np.median(x, axis=-1, keepdims=True)) / scale, -clip, clip)


@lru_cache(maxsize=512)
def pairs(n: int, min_size: int = MIN_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Every stretch ``[i, j)`` a segment of ``n`` runs can hold as a level of its own: at least
    ``min_size`` runs inside, and outside either nothing or at least ``min_size`` runs on each side."""
    i, j = np.triu_indices(n + 1, k=min_size)
    ok = ((i == 0) | (i >= min_size)) & ((j == n) | (n - j >= min_size)) & ~((i == 0) & (j == n))
    return i[ok], j[ok]


def scan(u: np.ndarray, min_size: int = MIN_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two-sample t statistic (pooled variance), inside minus outside, of every stretch of
    :func:`pairs` in the scores ``u`` (one series, 1-D, or many of the same length, 2-D); returns the
    statistics (last axis: the stretches) and the stretches' ``i`` and ``j``."""
    n = u.shape[-1]
    i, j = pairs(n, min_size)
    zero = np.zeros(u.shape[:-1] + (1,))
    s1 = np.concatenate([zero, np.cumsum(u, axis=-1)], axis=-1)
    s2 = np.concatenate([zero, np.cumsum(u * u, axis=-1)], axis=-1)
    m = j - i
    in1, in2 = s1[..., j] - s1[..., i], s2[..., j] - s2[..., i]
    out1, out2 = s1[..., -1:] - in1, s2[..., -1:] - in2
    within = (in2 - in1 * in1 / m) + (out2 - out1 * out1 / (n - m))
    sd = np.sqrt(np.maximum(within, 0) / (n - 2) * (1 / m + 1 / (n - m)))
    diff = in1 / m - out1 / (n - m)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(sd > 1e-12, diff / np.where(sd > 1e-12, sd, 1.0),
                     # two levels without any scatter: an infinite t where they differ, none where not
                     np.where(np.abs(diff) > 1e-12, np.sign(diff) * np.inf, 0.0))
    return t, i, j


def split(x: np.ndarray, min_size: int = MIN_SIZE, draws: int = DRAWS,
          clip: float = CLIP) -> tuple[int, int, float] | None:
    """The stretch ``[i, j)`` of a segment of logs most unlike the rest, and its p-value; None when the
    segment is too short to hold a step.

    Two families are searched, each against its own null distribution (:func:`null_max`): single splits
    (the stretch reaches an end of the segment: one step) and stretches inside it (a level that came and
    went: two steps). The p-value is each family's own, divided by its share of the test
    (:data:`EDGE_SHARE`; Bonferroni), and the smaller one wins: a step at the end of a history is found as
    readily as without the second family, and a short-lived level is found at all."""
    n = len(x)
    if n < 2 * min_size:
        return None
    t, i, j = scan(scores(x, clip), min_size)
    t = np.abs(t)
    edge = (i == 0) | (j == n)
    null_edge, null_inside = null_max(n, min_size, draws, clip)
    best = None
    for family, null, share in ((edge, null_edge, EDGE_SHARE), (~edge, null_inside, 1 - EDGE_SHARE)):
        if not family.any() or null is None:
            continue
        k = int(np.flatnonzero(family)[np.argmax(t[family])])
        exceed = len(null) - int(np.searchsorted(null, t[k] - 1e-9, side="left"))
        p = min(1.0, (1 + exceed) / (1 + len(null)) / share)
        if best is None or p < best[2]:
            best = (int(i[k]), int(j[k]), p)
    return best


@lru_cache(maxsize=512)
def null_max(n: int, min_size: int = MIN_SIZE, draws: int = DRAWS, clip: float = CLIP,
             df: float = NULL_DF) -> tuple[np.ndarray, np.ndarray | None]:
    """The sorted max |t| of :func:`scan` over ``draws`` series of ``n`` runs with no change point, whose
    logs scatter as Student's t with ``df`` degrees of freedom (heavier-tailed than normal, as a shared
    machine's runs are), scored like a real series (:func:`scores`): over single splits, and over stretches
    inside (None where a segment this short holds none)."""
    rng = np.random.default_rng(SEED + 1000 * n + min_size)
    i, j = pairs(n, min_size)
    edge = (i == 0) | (j == n)
    chunk = max(1, 2_000_000 // max(1, len(i)))
    maxima = []
    for start in range(0, draws, chunk):
        t = np.abs(scan(scores(rng.standard_t(df, size=(min(chunk, draws - start), n)), clip), min_size)[0])
        maxima.append((t[:, edge].max(axis=1), t[:, ~edge].max(axis=1) if (~edge).any() else None))
    inside = np.sort(np.concatenate([m[1] for m in maxima])) if (~edge).any() else None
    return np.sort(np.concatenate([m[0] for m in maxima])), inside


def refine(x: np.ndarray, a: int, cut: int, b: int, min_size: int = MIN_SIZE, radius: int = 2) -> int:
    """The cut between ``x[a:cut]`` and ``x[cut:b]`` moved by up to ``radius`` runs to where the two
    stretches sit closest to their own medians (least absolute deviations, on the logs themselves): the
    clipped scores find a step, the values place it (a slow run just before a large step belongs to the
    old level when it is nearer to it)."""
    def cost(c: int) -> float:
        left, right = x[a:c], x[c:b]
        return float(np.abs(left - np.median(left)).sum() + np.abs(right - np.median(right)).sum())

    options = range(max(a + min_size, cut - radius), min(b - min_size, cut + radius) + 1)
    return min(options, key=lambda c: (cost(c), abs(c - cut))) if len(options) else cut


def holds(left: np.ndarray, right: np.ndarray, min_size: int = MIN_SIZE) -> bool:
    """Whether each side of a cut holds a level of its own: at least ``min_size`` of its runs lie nearer
    its own median than the other side's. Two slow runs and a normal one at the end are not a new level."""
    ml, mr = np.median(left), np.median(right)
    return (int(np.sum(np.abs(left - ml) < np.abs(left - mr))) >= min_size
            and int(np.sum(np.abs(right - mr) < np.abs(right - ml))) >= min_size)


def shift(left: np.ndarray, right: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Hodges-Lehmann shift of ``right`` over ``left`` (logs in, logs out) and its distribution-free
    interval (the Mann-Whitney confidence interval: order statistics of the pairwise differences)."""
    diffs = np.sort(np.subtract.outer(right, left).ravel())
    m, n_l, n_r = len(diffs), len(left), len(right)
    z = sps.norm.ppf(0.5 + level / 2)
    c = int(math.floor(m / 2 - z * math.sqrt(n_l * n_r * (n_l + n_r + 1) / 12)))
    c = max(0, min(c, m - 1))
    return float(np.median(diffs)), float(diffs[c]), float(diffs[m - 1 - c])


def detect(values, alpha: float = ALPHA, min_size: int = MIN_SIZE, min_step: float = MIN_STEP,
           draws: int = DRAWS, clip: float = CLIP) -> list[Step]:
    """The steps of a series of positive times (module docstring), oldest first."""
    x = np.log(np.asarray(values, dtype=float))
    found: dict[int, float] = {}
    todo = [(0, len(x))]
    while todo:
        lo, hi = todo.pop()
        best = split(x[lo:hi], min_size, draws, clip)
        if best is None or best[2] > alpha:
            continue
        i, j, p = best
        cuts = [c for c in (i, j) if 0 < c < hi - lo]
        edges = [0, *cuts, hi - lo]
        cuts = [refine(x[lo:hi], edges[k - 1], c, edges[k + 1], min_size) for k, c in enumerate(cuts, 1)]
        edges = [0, *cuts, hi - lo]
        if not all(holds(x[lo + a:lo + b], x[lo + b:lo + c], min_size) for a, b, c in zip(edges, edges[1:], edges[2:])):
            continue
        found.update({lo + c: p for c in cuts})
        edges = [0, *cuts, hi - lo]
        todo += [(lo + a, lo + b) for a, b in zip(edges, edges[1:])]
    cuts = sorted(found)
    while True:
        steps = _sized(x, cuts, found)
        small = [s for s in steps if abs(s.ratio - 1) < min_step]
        if not small:
            return steps
        cuts.remove(min(small, key=lambda s: abs(math.log(s.ratio))).index)


def _sized(x: np.ndarray, cuts: list[int], p: dict[int, float]) -> list[Step]:
    """Each cut sized against its neighbouring segments."""
    bounds = [0, *cuts, len(x)]
    out = []
    for i, cut in enumerate(cuts):
        left, right = x[bounds[i]:cut], x[cut:bounds[i + 2]]
        est, lo, hi = shift(left, right)
        out.append(Step(cut, math.exp(est), math.exp(lo), math.exp(hi), p[cut], len(left), len(right)))
    return out


def run_level(logs, rounds: int = 20) -> np.ndarray:
    """The run level of each run (module docstring), as a log: ``logs`` is rows x runs of log times, NaN
    where a row has no time in a run. A run's level is the median over its rows of each row's time less
    that row's usual time, and a row's usual time is the median over its runs of its time less their
    level (a two-way median polish, ``rounds`` at most): so rows that joined later or left earlier, whose
    own medians sit at another level of the machine, do not bias it. NaN where a run holds fewer than
    :data:`LEVEL_ROWS` rows; the levels' median is 0."""
    logs = np.asarray(logs, dtype=float)
    if logs.ndim != 2:
        raise ValueError("run_level wants rows x runs")
    level = np.full(logs.shape[1], np.nan)
    ok = np.sum(~np.isnan(logs), axis=0) >= LEVEL_ROWS
    if not ok.any():
        return level
    inside = logs[:, ok]
    inside = inside[~np.isnan(inside).all(axis=1)]  # rows with no time in a run that has a level
    current = np.zeros(inside.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(rounds):
            usual = np.nanmedian(inside - current, axis=1, keepdims=True)
            new = np.nanmedian(inside - usual, axis=0)
            new -= np.median(new)
            done = np.max(np.abs(new - current)) < 1e-9
            current = new
            if done:
                break
    level[ok] = current
    return level


def against_level(values, level, **options) -> tuple[list[Step], list[Step]]:
    """The steps of a series (:func:`detect`, with ``options``) split in two: its own, and those it took
    with the run level (``level``: one log per run, :func:`run_level`, NaN where a run has none; ``None``
    means no level, so every step is its own). A step is its own where the series divided by its run
    level, over the runs that have one, has a step the same way within :data:`LEVEL_NEAR` runs of it, or
    where the level is missing at any of the ``min_size`` runs on either side of it (what cannot be
    checked stays the row's)."""
    steps = detect(values, **options)
    if level is None or not steps:
        return steps, []
    level = np.asarray(level, dtype=float)
    ok = ~np.isnan(level)
    where = np.flatnonzero(ok)
    relative = detect(np.asarray(values, dtype=float)[ok] / np.exp(level[ok]), **options)
    size = options.get("min_size", MIN_SIZE)

    def machines(s: Step) -> bool:
        return (ok[max(0, s.index - size):s.index + size].all()
                and not any(abs(int(where[r.index]) - s.index) <= LEVEL_NEAR and r.slower == s.slower
                            for r in relative))

    shared = [s for s in steps if machines(s)]
    return [s for s in steps if s not in shared], shared
