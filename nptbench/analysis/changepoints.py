"""Change points in one benchmark's series of runs: where its level stepped, by how much, and how sure.

The series is one time per run (a run's median; for a GPU row its device median), in the order the runs
were made. On a shared machine those times scatter from run to run by 4-29 % (σ of log median 0.04-0.29
on a 2-core VM), with now and then a run far off (a neighbour's spell), so the detector works from that
scatter between runs and from nothing inside one run:

- **Statistic**: the series' logs become robust z-scores (:func:`scores`: centred on the median, scaled by
  the scatter from one run to the next, which a step does not inflate, and clipped to ±:data:`CLIP`, so a
  single wild run weighs as much as ``CLIP`` and never more). For every stretch of :func:`pairs` (at least
  ``min_size`` runs inside it; outside, nothing on one side and at least ``min_size`` runs on the other,
  or at least ``min_size`` runs on each side), the two-sample t statistic (pooled variance) of the scores
  inside against outside (:func:`scan`); the largest |t| is the segment's statistic. Two families of
  stretches are searched (:func:`split`): those reaching an end of the segment (one step) and those inside
  it (a level that came and went: two steps).
- **Significance**: each family's largest |t| is held against its distribution with no change point:
  the largest |t| of :data:`DRAWS` series (seeded: the same series always gets the same answer) whose logs
  scatter as Student's t with :data:`NULL_DF` degrees of freedom (heavier-tailed than normal, as a shared
  machine's runs are), scored and searched the same way (:func:`null_max`). It is simulated at the
  segment's own length up to :data:`EXACT_UPTO` runs and, above, at the next of :data:`BUCKETS` lengths a
  doubling, which errs on the safe side (:func:`null_length`); the package ships the top of every such
  distribution at the default settings (:func:`table`, ``nulls.npz``, made by scripts/history_nulls.py),
  so a history at the defaults simulates nothing. Each family's p-value (the share of draws whose largest
  |t| reaches the series') is divided by its share of the test (:data:`EDGE_SHARE`, Bonferroni) and the
  smaller wins. A segment whose p-value is at most ``alpha`` is split there (the cut moved to where the
  two sides differ most, :func:`refine`, and kept only where each side holds a level of its own,
  :func:`holds`), and each side is searched again (binary segmentation), so ``alpha`` is the chance that a
  series with no step gets one (each deeper search happens only after a step was found).
- **Size**: each step's ratio of levels (right / left) is the Hodges-Lehmann estimate over the two
  neighbouring segments (the median of every right/left ratio of a run on each side), with its
  distribution-free 95 % interval (the Mann-Whitney interval: order statistics of those ratios;
  :func:`shift`). Steps whose ratio lies within ``min_step`` of 1 are not reported (asv leaves out steps
  under 5 % likewise) and their segments merge.
- **Cost**: a scan of a segment of ``n`` runs is ``O(n max_inside)`` (:func:`pairs`: every single split,
  and stretches inside up to :data:`MAX_INSIDE` runs long; all of them while ``n <= MAX_INSIDE + 2
  min_size``), from cumulative sums; binary segmentation scans segments that together hold the series once
  per depth, so a series of ``n`` runs with ``k`` steps costs ``O(n max_inside (k + 1))``, plus the
  Hodges-Lehmann sizes (``O(a b log(a b))`` for a step between segments of ``a`` and ``b`` runs). The
  nulls cost nothing at the defaults (tabulated); under other settings each null length is simulated
  once per process, ``DRAWS`` scans of that length (compiled: :func:`fast_maxima`).

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

import json
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np

#: Defaults: the chance that a series with no step gets one; the fewest runs on either side of a step;
#: the smallest step reported (|ratio - 1|); series drawn for each null distribution (:func:`null_max`).
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
#: Seed of the null distributions' draws: the same series always gets the same answer.
SEED = 20261203
#: The fewest rows a run's level is made from (:func:`run_level`): with fewer, no run level.
LEVEL_ROWS = 5
#: A row's step is its own when its time relative to the run level steps the same way within this many
#: runs of it (:func:`against_level`).
LEVEL_NEAR = 2
#: Stretches inside a segment are searched up to this many runs long (:func:`pairs`): every one while a
#: segment has at most ``MAX_INSIDE + 2 min_size`` runs; a longer level that came and went is two single
#: splits' worth of evidence, found by them.
MAX_INSIDE = 200
#: The null distribution is simulated at a segment's own length up to this many runs, above at the next
#: of ``BUCKETS`` lengths a doubling (:func:`null_length`).
EXACT_UPTO = 256
BUCKETS = 4
#: The tabulated nulls (:func:`table`): the largest ``TABLE_TOP`` maxima of each family, for every length
#: up to ``EXACT_UPTO`` and every bucket up to ``TABLE_UPTO`` runs, at the default settings. ``TABLE_TOP``
#: decides every p-value exactly for ``alpha`` up to 0.0109 (the single splits': 41 / 5001 / 0.75).
TABLE = Path(__file__).with_name("nulls.npz")
TABLE_TOP = 40
TABLE_UPTO = 4096


@dataclass
class Step:
    """A change point: runs from ``index`` on (0-based, in the series' order) sit at a new level."""
    index: int
    ratio: float  # new level / old level (Hodges-Lehmann), > 1 slower for times
    low: float  # the ratio's 95 % interval
    high: float
    p: float  # the p-value of the split when it was found (against the null of its segment's length)
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
def pairs(n: int, min_size: int = MIN_SIZE, max_inside: int = MAX_INSIDE) -> tuple[np.ndarray, np.ndarray]:
    """Every stretch ``[i, j)`` a segment of ``n`` runs can hold as a level of its own: at least
    ``min_size`` runs inside, and outside either nothing on one side (a single split: every one is held)
    or at least ``min_size`` runs on each side (a stretch inside: those of at most ``max_inside`` runs,
    which is all of them while ``n <= max_inside + 2 min_size``). Ordered by ``i``, then ``j``. They number
    about ``n (max_inside + 2)``: linear in ``n``."""
    ends = np.arange(min_size, n - min_size + 1)  # i = 0: a single split; and every i that leaves j = n
    lo = ends + min_size
    inside = np.maximum(0, np.minimum(ends + max_inside, n - min_size) - lo + 1)
    counts = inside + 1  # each i's stretches inside, then its single split [i, n)
    starts = np.cumsum(counts) - counts
    within = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    i = np.repeat(ends, counts)
    j = np.repeat(lo, counts) + within
    j[starts + counts - 1] = n
    return np.concatenate([np.zeros(len(ends), dtype=int), i]), np.concatenate([ends, j])


def scan(u: np.ndarray, min_size: int = MIN_SIZE, max_inside: int = MAX_INSIDE
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two-sample t statistic (pooled variance), inside minus outside, of every stretch of
    :func:`pairs` in the scores ``u`` (one series, 1-D, or many of the same length, 2-D); returns the
    statistics (last axis: the stretches) and the stretches' ``i`` and ``j``. Its cost is that of
    :func:`pairs`: ``O(n max_inside)`` a series, from cumulative sums."""
    n = u.shape[-1]
    i, j = pairs(n, min_size, max_inside)
    s1, s2 = _sums(u)
    return _t(s1, s2, s1[..., j] - s1[..., i], s2[..., j] - s2[..., i], j - i, n), i, j


def _sums(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums of the scores and of their squares, from 0: a stretch's sums are two differences."""
    zero = np.zeros(u.shape[:-1] + (1,))
    return (np.concatenate([zero, np.cumsum(u, axis=-1)], axis=-1),
            np.concatenate([zero, np.cumsum(u * u, axis=-1)], axis=-1))


def _t(s1: np.ndarray, s2: np.ndarray, in1: np.ndarray, in2: np.ndarray, m, n: int) -> np.ndarray:
    """The pooled two-sample t of stretches of ``m`` runs whose sums (scores, squares) are ``in1``, ``in2``,
    against the rest of the ``n`` runs (totals: the last of ``s1``, ``s2``)."""
    out1, out2 = s1[..., -1:] - in1, s2[..., -1:] - in2
    within = (in2 - in1 * in1 / m) + (out2 - out1 * out1 / (n - m))
    sd = np.sqrt(np.maximum(within, 0) / (n - 2) * (1 / m + 1 / (n - m)))
    diff = in1 / m - out1 / (n - m)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 1e-12, diff / np.where(sd > 1e-12, sd, 1.0),
                        # two levels without any scatter: an infinite t where they differ, none where not
                        np.where(np.abs(diff) > 1e-12, np.sign(diff) * np.inf, 0.0))


def maxima(u: np.ndarray, min_size: int = MIN_SIZE, max_inside: int = MAX_INSIDE
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """For each series (row) of scores ``u``, the largest |t| of :func:`scan` over single splits and over
    stretches inside (None where there are none): the same numbers, computed one stretch length at a time
    from contiguous slices instead of gathered stretch by stretch (what the null's draws need, several
    times faster)."""
    n = u.shape[-1]
    s1, s2 = _sums(u)
    j = np.arange(min_size, n - min_size + 1)
    first = _t(s1, s2, s1[..., j] - s1[..., :1], s2[..., j] - s2[..., :1], j, n)  # [0, j)
    last = _t(s1, s2, s1[..., -1:] - s1[..., j], s2[..., -1:] - s2[..., j], n - j, n)  # [j, n)
    edge = np.maximum(np.abs(first).max(axis=-1), np.abs(last).max(axis=-1))
    inside = None
    for m in range(min_size, min(max_inside, n - 2 * min_size) + 1):  # stretches [i, i + m), i >= min_size
        lo, hi = slice(min_size, n - min_size - m + 1), slice(min_size + m, n - min_size + 1)
        t = np.abs(_t(s1, s2, s1[..., hi] - s1[..., lo], s2[..., hi] - s2[..., lo], m, n)).max(axis=-1)
        inside = t if inside is None else np.maximum(inside, t)
    return edge, inside


def split(x: np.ndarray, min_size: int = MIN_SIZE, draws: int = DRAWS, clip: float = CLIP,
          alpha: float | None = None) -> tuple[int, int, float] | None:
    """The stretch ``[i, j)`` of a segment of logs most unlike the rest, and its p-value; None when the
    segment is too short to hold a step.

    Two families are searched, each against its own null distribution (:func:`nulls`): single splits
    (the stretch reaches an end of the segment: one step) and stretches inside it (a level that came and
    went: two steps). The p-value is each family's own, divided by its share of the test
    (:data:`EDGE_SHARE`; Bonferroni), and the smaller one wins: a step at the end of a history is found as
    readily as without the second family, and a short-lived level is found at all.

    With ``alpha``, a p-value the table of nulls (:func:`table`) can only bound from below, by more than
    ``alpha``, is that bound (the split is not taken either way); otherwise every p-value is exact (the
    null simulated where the table does not reach)."""
    n = len(x)
    if n < 2 * min_size:
        return None
    found = largest(scores(x, clip), min_size)
    best, bound = _best(found, nulls(n, min_size, draws, clip), draws)
    if bound is not None and (alpha is None or bound <= alpha):  # the bound decides nothing: every null whole
        best, _ = _best(found, null_max(null_length(n), min_size, draws, clip), draws)
    return best


def largest(u: np.ndarray, min_size: int = MIN_SIZE) -> list[tuple[float, int, int] | None]:
    """The largest |t| of :func:`scan` in a series of scores and its stretch, ``(|t|, i, j)``, of each
    family: single splits, then stretches inside (None where there are none); the first in :func:`pairs`'
    order on a tie. A series longer than :data:`EXACT_UPTO` runs is scanned compiled
    (nptbench.analysis.changepoint_kernels.best: the same numbers to the bit, without the arrays)."""
    n = len(u)
    if n > EXACT_UPTO:
        from nptbench.analysis import changepoint_kernels  # numba: imported where it pays

        s1, s2 = _sums(np.asarray(u, dtype=float))
        e_t, e_i, e_j, n_t, n_i, n_j = changepoint_kernels.best(s1, s2, min_size, MAX_INSIDE)
        return [(e_t, e_i, e_j), (n_t, n_i, n_j) if n_i >= 0 else None]
    t, i, j = scan(u, min_size)
    t = np.abs(t)
    edge = (i == 0) | (j == n)
    out = []
    for family in (edge, ~edge):
        k = int(np.flatnonzero(family)[np.argmax(t[family])]) if family.any() else None
        out.append(None if k is None else (float(t[k]), int(i[k]), int(j[k])))
    return out


def _best(found: list, null: tuple, draws: int) -> tuple[tuple[int, int, float], float | None]:
    """:func:`split`'s choice of the two families (:func:`largest`) against these nulls (their largest |t|
    sorted: every draw's, or the table's top): ``(i, j, p)``, and the smallest p-value that is only a lower
    bound (None when all are exact). A family whose bound exceeds ``alpha`` loses to one at or below it
    either way."""
    best, bound = None, None
    for top_found, top, share in zip(found, null, (EDGE_SHARE, 1 - EDGE_SHARE)):
        if top_found is None or top is None:
            continue
        t, i, j = top_found
        exceed = len(top) - int(np.searchsorted(top, t - 1e-9, side="left"))
        p = min(1.0, (1 + exceed) / (1 + draws) / share)
        if exceed == len(top) < draws:  # every tabulated maximum reaches it: more may, untabulated
            bound = p if bound is None else min(bound, p)
        if best is None or p < best[2]:
            best = (int(i), int(j), p)
    return best, bound


def null_length(n: int) -> int:
    """The length whose null distribution a segment of ``n`` runs is held against: ``n`` itself up to
    :data:`EXACT_UPTO` runs, else the next of the lengths ``EXACT_UPTO 2^(k / BUCKETS)`` (k = 1, 2, ...): a
    longer series has more stretches, so its largest |t| is no smaller, and the p-value errs on the safe
    side by a bucket's width at most."""
    if n <= EXACT_UPTO:
        return n
    k = math.ceil(BUCKETS * math.log2(n / EXACT_UPTO) - 1e-9)
    while round(EXACT_UPTO * 2 ** (k / BUCKETS)) < n:
        k += 1
    return round(EXACT_UPTO * 2 ** (k / BUCKETS))


@lru_cache(maxsize=512)
def null_max(n: int, min_size: int = MIN_SIZE, draws: int = DRAWS, clip: float = CLIP,
             df: float = NULL_DF) -> tuple[np.ndarray, np.ndarray | None]:
    """The sorted max |t| of :func:`scan` over ``draws`` series of ``n`` runs with no change point, whose
    logs scatter as Student's t with ``df`` degrees of freedom (heavier-tailed than normal, as a shared
    machine's runs are), scored like a real series (:func:`scores`): over single splits, and over stretches
    inside (None where a segment this short holds none). Seeded by ``n`` and ``min_size``: the same
    arguments always give the same values. Cost: ``draws`` scans of ``n`` runs (:func:`scan`)."""
    rng = np.random.default_rng(SEED + 1000 * n + min_size)
    chunk = max(1, 2_000_000 // n)
    found = []
    for start in range(0, draws, chunk):
        found.append(fast_maxima(scores(rng.standard_t(df, size=(min(chunk, draws - start), n)), clip), min_size))
    inside = None if found[0][1] is None else np.sort(np.concatenate([m[1] for m in found]))
    return np.sort(np.concatenate([m[0] for m in found])), inside


def fast_maxima(u: np.ndarray, min_size: int = MIN_SIZE, max_inside: int = MAX_INSIDE
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`maxima` compiled (nptbench.analysis.changepoint_kernels.maxima): the same statistics to
    rounding (about 1e-15 relative), not bit for bit; many times faster."""
    from nptbench.analysis import changepoint_kernels  # numba: imported where it pays (its module docstring)

    s1, s2 = _sums(np.ascontiguousarray(u, dtype=float))
    edge, inside = np.zeros(len(s1)), np.zeros(len(s1))
    changepoint_kernels.maxima(s1, s2, min_size, max_inside, edge, inside)
    return edge, (inside if u.shape[-1] >= 3 * min_size else None)


def nulls(n: int, min_size: int = MIN_SIZE, draws: int = DRAWS, clip: float = CLIP
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """The null distributions a segment of ``n`` runs is held against (:func:`null_length`): the top
    :data:`TABLE_TOP` of each from the table shipped with the package (:func:`table`) where it holds these
    settings and this length, else every draw's (:func:`null_max`, simulated once per length in a
    process)."""
    length = null_length(n)
    held = table(min_size, draws, clip)
    if length in held:
        return held[length]
    return null_max(length, min_size, draws, clip)


def table_key(min_size: int = MIN_SIZE, draws: int = DRAWS, clip: float = CLIP, df: float = NULL_DF) -> str:
    """Every setting the tabulated nulls depend on, as one string: a table made under others is not read."""
    return json.dumps({"min_size": min_size, "draws": draws, "clip": clip, "df": df, "seed": SEED,
                       "max_inside": MAX_INSIDE, "exact_upto": EXACT_UPTO, "buckets": BUCKETS,
                       "top": TABLE_TOP, "statistic": "pooled t of clipped robust z-scores"}, sort_keys=True)


def table_entry(n: int, min_size: int = MIN_SIZE, draws: int = DRAWS, clip: float = CLIP
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """What the table holds for a null length ``n``: the top :data:`TABLE_TOP` of :func:`null_max`'s two
    families (scripts/history_nulls.py writes every length a history uses up to :data:`TABLE_UPTO`)."""
    edge, inside = null_max(n, min_size, draws, clip)
    return edge[-TABLE_TOP:], None if inside is None else inside[-TABLE_TOP:]


@lru_cache(maxsize=8)
def table(min_size: int = MIN_SIZE, draws: int = DRAWS, clip: float = CLIP) -> dict:
    """The tabulated nulls (:data:`TABLE`; length -> :func:`table_entry`), {} where the file is missing or
    was made under other settings (:func:`table_key`): then every null is simulated."""
    try:
        with np.load(TABLE) as data:
            if str(data["key"]) != table_key(min_size, draws, clip):
                return {}
            return {int(n): (edge, None if np.isnan(inside).all() else inside)
                    for n, edge, inside in zip(data["lengths"], data["edge"], data["inside"])}
    except OSError:
        return {}


def write_table(path: Path, lengths) -> None:
    """Tabulate :func:`table_entry` of every length at ``path`` (the format :func:`table` reads)."""
    entries = [table_entry(n) for n in lengths]
    none = np.full(TABLE_TOP, np.nan)
    np.savez_compressed(path, key=np.array(table_key()), lengths=np.asarray(lengths),
                        edge=np.array([e for e, _ in entries]),
                        inside=np.array([none if i is None else i for _, i in entries]))


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
    z = NormalDist().inv_cdf(0.5 + level / 2)  # not scipy's: its import is a second of every history
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
        best = split(x[lo:hi], min_size, draws, clip, alpha)
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
