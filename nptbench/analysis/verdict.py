"""Verdict statistics on round times: did NEW get slower than BASE, beyond noise and a minimum effect?

For two sides' raw round times of one benchmark (nptbench.analysis.across.Times):

- the ratio of medians, NEW / BASE (above 1: NEW is slower), taken over batch medians: rounds are grouped
  into consecutive batches, because noise on a shared machine comes in bursts and rounds next to each
  other are not independent (:func:`batch_medians`);
- one run a side: a 95 % bootstrap interval of that ratio and a two-sided Mann-Whitney U test
  (:func:`verdict`); several runs a side: a two-level bootstrap, runs then batch medians within each run,
  so that a run that drifted as a whole counts as noise (:func:`hierarchical_verdict`);
- a word that needs both significance and size (:func:`_word`): ``slower`` when the whole interval lies
  above 1 + e (e: the minimum effect) and the test rejects "same distribution"; ``faster`` likewise below
  1 / (1 + e); ``same`` when the whole interval lies within [1 / (1 + e), 1 + e]; ``uncertain`` otherwise.

These intervals are built from rounds measured in the same session (``ab``'s interleaved runs), where they
are right; they cannot see how a machine moves between sessions.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import math

import numpy as np

#: The words of a verdict, one for each, in the order a summary counts them: NEW slower or faster than BASE
#: (significant and beyond the minimum effect), the same (within it), uncertain (neither can be said),
#: cannot judge (a baseline too thin to know its between-run spread, nptbench.analysis.gate) and not
#: compared (the two sides were measured under different conditions).
SLOWER, FASTER, SAME, UNCERTAIN = "slower", "faster", "same", "uncertain"
CANNOT_JUDGE, NOT_COMPARED = "cannot judge", "not compared"
WORDS = (SLOWER, FASTER, SAME, UNCERTAIN, CANNOT_JUDGE, NOT_COMPARED)

DEFAULT_MIN_EFFECT = 0.10
CONFIDENCE = 0.95
#: Rounds are grouped into at most this many consecutive batches (at least MIN_BATCH rounds each).
BATCHES = 20
MIN_BATCH = 3
#: Fewest rounds a side for any verdict but "uncertain" (Mann-Whitney needs 4 vs 4 to reach p < 0.05).
MIN_ROUNDS = 5
RESAMPLES = 2000


def batch_medians(times: np.ndarray) -> np.ndarray:
    """Medians of consecutive batches of rounds (the rounds themselves when there are too few)."""
    k = min(BATCHES, len(times) // MIN_BATCH)
    if k < 5:
        return times
    return np.array([np.median(part) for part in np.array_split(times, k)])


def _median_ratio(base, new, axis=-1):
    return np.median(new, axis=axis) / np.median(base, axis=axis)


def _bootstrap_ci(base, new, confidence, seed):
    from scipy import stats

    kwargs = dict(n_resamples=RESAMPLES, confidence_level=confidence, method="percentile", vectorized=True)
    params = inspect.signature(stats.bootstrap).parameters
    kwargs["rng" if "rng" in params else "random_state"] = np.random.default_rng(seed)
    res = stats.bootstrap((base, new), _median_ratio, **kwargs)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass
class Verdict:
    """A verdict on one benchmark, NEW against BASE: the ratio NEW/BASE, its interval (``low``, ``high``:
    a confidence interval within a session, a prediction interval between runs), the p-value the word
    rests on, the word (:data:`WORDS`) and a note in words (what it lacked, how it was taken)."""
    ratio: float
    low: float | None = None
    high: float | None = None
    p: float | None = None
    verdict: str = UNCERTAIN
    note: str = ""


def verdict(base: np.ndarray, new: np.ndarray, min_effect: float = DEFAULT_MIN_EFFECT,
            confidence: float = CONFIDENCE, seed: int = 0) -> Verdict:
    """Ratio of medians NEW/BASE, its bootstrap interval, the Mann-Whitney p-value and the verdict."""
    from scipy import stats

    base, new = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if len(base) < MIN_ROUNDS or len(new) < MIN_ROUNDS:
        # With 4 rounds a side the smallest Mann-Whitney p is 0.03, with 3 it is 0.1: too few to call
        # slower, and a bootstrap of a median of 3 values is too coarse to call same.
        return Verdict(float(np.median(new) / np.median(base)),
                       note=f"fewer than {MIN_ROUNDS} rounds a side: too few to call")
    xb, xn = batch_medians(base), batch_medians(new)
    ratio = float(_median_ratio(xb, xn))  # the statistic the interval is about (medians of batch medians)
    low, high = _bootstrap_ci(xb, xn, confidence, seed)
    p = float(stats.mannwhitneyu(xn, xb, alternative="two-sided").pvalue)
    return Verdict(ratio, low, high, p, _word(low, high, p, min_effect, confidence))


def _word(low: float, high: float, p: float, min_effect: float, confidence: float) -> str:
    """slower / faster: the whole interval beyond the minimum effect, and significant; same: the whole
    interval within it; uncertain otherwise."""
    alpha, up, down = 1 - confidence, 1 + min_effect, 1 / (1 + min_effect)
    if low > up and p < alpha:
        return SLOWER
    if high < down and p < alpha:
        return FASTER
    if low >= down and high <= up:
        return SAME
    return UNCERTAIN


def fastest_verdict(base_mins, new_mins, min_effect: float = DEFAULT_MIN_EFFECT,
                    confidence: float = CONFIDENCE) -> Verdict:
    """The verdict on each run's fastest round, the run as the unit: the ratio of the geometric means of
    NEW's and BASE's fastest rounds, a Welch t interval on their logs, and the rule of :func:`verdict`.

    A neighbour on a shared core makes a run's rounds slower, never faster, and a busy minute moves a
    run's median far more than its fastest round (results/bisect.md), so where runs
    are interleaved side by side this separates two setups with fewer runs than the medians need."""
    from scipy import stats

    lb, ln = np.log(np.asarray(base_mins, float)), np.log(np.asarray(new_mins, float))
    ratio = float(np.exp(ln.mean() - lb.mean()))
    if len(lb) < 2 or len(ln) < 2:
        return Verdict(ratio, note="fewer than 2 runs a side: too few to call")
    vb, vn = lb.var(ddof=1) / len(lb), ln.var(ddof=1) / len(ln)
    se = math.sqrt(vb + vn)
    if se == 0:
        return Verdict(ratio, ratio, ratio, 0.0 if ratio != 1 else 1.0,
                       _word(ratio, ratio, 0.0 if ratio != 1 else 1.0, min_effect, confidence))
    df = (vb + vn) ** 2 / ((vb ** 2 / (len(lb) - 1)) + (vn ** 2 / (len(ln) - 1)))
    t = stats.t.ppf(0.5 + confidence / 2, df)
    d = float(ln.mean() - lb.mean())
    low, high = math.exp(d - t * se), math.exp(d + t * se)
    p = float(2 * stats.t.sf(abs(d) / se, df))
    return Verdict(ratio, low, high, p, _word(low, high, p, min_effect, confidence),
                   f"{len(lb)} and {len(ln)} runs, fastest round of each, Welch t")


def _padded(groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged groups as one NaN-padded matrix and their lengths."""
    sizes = np.array([len(g) for g in groups])
    out = np.full((len(groups), sizes.max()), np.nan)
    for i, g in enumerate(groups):
        out[i, :len(g)] = g
    return out, sizes


def _two_level_medians(runs: list[np.ndarray], resamples: int, rng) -> np.ndarray:
    """``resamples`` bootstrap medians of one side: draw its runs with replacement, then within each drawn
    run draw its values with replacement, the same number from every run (each run weighs the same)."""
    values, sizes = _padded(runs)
    per_run = int(sizes.max())
    picked = rng.integers(0, len(runs), size=(resamples, len(runs)))
    within = (rng.random((resamples, len(runs), per_run)) * sizes[picked][:, :, None]).astype(int)
    drawn = values[picked[:, :, None], within]
    return np.median(drawn.reshape(resamples, -1), axis=1)


def small_sample_widening(n_base: int, n_new: int, confidence: float = CONFIDENCE) -> float:
    """How much to widen resampled log-ratios drawn from few runs. Resampling n runs spreads their mean by
    sqrt((n - 1) / n) of its true spread (the plug-in variance), and with a handful of runs the tails are
    those of Student's t with n_base + n_new - 2 degrees of freedom, not the normal's: widen by both,
    n being the fewer runs of the two sides (2 and 2: 3.1x; 3 and 3: 1.7x; 5 and 5: 1.3x)."""
    from scipy import stats

    n, df, q = min(n_base, n_new), n_base + n_new - 2, 1 - (1 - confidence) / 2
    return float(np.sqrt(n / (n - 1)) * stats.t.ppf(q, df) / stats.norm.ppf(q))


def hierarchical_verdict(base_runs: list, new_runs: list, min_effect: float = DEFAULT_MIN_EFFECT,
                         confidence: float = CONFIDENCE, seed: int = 0) -> Verdict:
    """The verdict for several runs a side, each a list of round times.

    A whole run can drift (a shared machine slows down for a minute) and its rounds drift with it, so the
    run, not the round, is the independent unit. A two-level bootstrap keeps both levels of noise: each
    resample draws the runs of a side with replacement, then the batch medians within each drawn run;
    the ratio of the two sides' pooled medians over 4000 resamples gives the interval, and the share of
    resampled ratios on the far side of 1 gives a two-sided p. The verdict rule is that of
    :func:`verdict`. Unlike a rank test on the run medians, whose p cannot go below 0.1 with 3 runs a
    side (nor below 0.33 with 2), a large effect that every run shows clearly is called from 2 or 3 runs
    a side (2.8x, say). A bootstrap of so few runs understates the spread between them, so the resampled
    log-ratios are widened (:func:`small_sample_widening`): without that, 2 runs a side called A/A pairs
    slower or faster about 6 % of the time each, in simulation, with it under 1.5 %. The measured false
    alarms and detections are in results/ab.md.
    """
    if len(base_runs) < 2 or len(new_runs) < 2:
        raise ValueError("a two-level bootstrap needs at least 2 runs a side")
    base = [batch_medians(np.asarray(r, dtype=float)) for r in base_runs]
    new = [batch_medians(np.asarray(r, dtype=float)) for r in new_runs]
    ratio = float(np.median(np.concatenate(new)) / np.median(np.concatenate(base)))
    if min(map(len, base + new)) < MIN_BATCH:
        return Verdict(ratio, note=f"a run with fewer than {MIN_BATCH} rounds: too few to call")
    rng = np.random.default_rng(seed)
    resamples = 2 * RESAMPLES
    ratios = _two_level_medians(new, resamples, rng) / _two_level_medians(base, resamples, rng)
    ratios = ratio * (ratios / ratio) ** small_sample_widening(len(base), len(new), confidence)
    alpha = 1 - confidence
    low, high = (float(q) for q in np.quantile(ratios, [alpha / 2, 1 - alpha / 2]))
    p = float(min(1.0, max(2 * min(np.mean(ratios <= 1), np.mean(ratios >= 1)), 1 / resamples)))
    return Verdict(ratio, low, high, p, _word(low, high, p, min_effect, confidence),
                   note=f"{len(base_runs)} and {len(new_runs)} runs, two-level bootstrap")
