"""The regression gate: judge a NEW run against a BASELINE made of several runs, on between-run spread.

Why between runs. On a shared VM the machine changes from run to run: a benchmark's median moves with a
sigma of log-median of 0.04-0.29 between runs, while the rounds inside one run scatter far less. An
interval built from the rounds of one run therefore calls A/A runs different (p ~ 1e-7). The only
spread that predicts the next run is the spread between runs, so the baseline must be a SET of ``k``
runs (same machine, profile and conditions, made at different times), each giving each benchmark one
median. The new side is one run, or ``n`` passes pooled as runs.

The model, per benchmark ``i`` (logs throughout)::

    log m_ij = mu_i + eps_ij      baseline runs j = 1..k,   eps ~ N(0, sigma_i^2), independent runs
    log y_il = mu_i + delta_i + eta_il   new runs l = 1..n, same spread

    d_i  = mean(log y) - mean(log m)            ratio_i = exp(d_i)
    se_i = s_i * sqrt(1/k + 1/n)                 t_i = d_i / se_i

``s_i`` is the between-run sd of the baseline log-medians. It is the prediction-interval t test for a
new observation mean (the new side contributes its own ``1/n`` of between-run variance).

Design decisions
----------------
Moderation (shrinkage of ``s_i``). With ``k = 3..6`` runs, ``s_i`` has 2..5 degrees of freedom: a 95 %
chi-square interval for sigma at 4 df runs from 0.6 s to 2.9 s, so a plain t test is both weak (t with
2-5 df has heavy tails) and, for the benchmark whose ``s_i`` happened to come out tiny, the source of
most false alarms in practice once the df are small and the test is run on 25 benchmarks. We use the
empirical-Bayes *moderated t* of limma (Smyth 2004): the ``s_i^2`` of all benchmarks judged in the
session are treated as draws around a common prior ``s0^2`` with prior df ``d0``, both estimated from the
session by the method of moments on ``log s_i^2`` (Smyth's trigamma equations), and each benchmark uses::

    s~_i^2 = (d0 * s0^2 + d_i * s_i^2) / (d0 + d_i)     with  d0 + d_i  degrees of freedom.

Because ``d0`` is estimated, the shrinkage is strong only when the benchmarks really have similar spread
and weak when they differ a lot (here sigma differs by 7x between benchmarks, which gives ``d0`` of about
3 df at k = 5: a useful gain in df).

One-sided ("raise") moderation, the default. The prior is an inverse chi-square; the VMs' spreads are
not (sigma is spread about uniformly over 0.04-0.29). Plain limma then pulls the noisiest benchmarks'
spread down toward the pooled value, and those produce the false alarms: in simulation (25 benchmarks,
k = 5) the share of A/A sessions with any "slower" was 6.5-7 % instead of 5 %. With
``moderation="raise"`` a benchmark's sd may be raised by the moderation but never lowered below its own
sample value (``s_i^2 <- max(s~_i^2, s_i^2)``), and the df ``d0 + d_i`` are kept: 4-6 % at k = 3..8
(1000 simulated sessions each, +-0.7 % noise) -- while the quiet benchmarks keep the power that moderation gives
(k = 3: a 2.5x slowdown of three quiet benchmarks is caught in ~92 % of sessions, against 11 % with the
plain t). ``"full"`` (plain limma) and ``"none"`` (plain t, exact under the model but nearly blind at
k = 3) remain available. Moderation needs enough benchmarks to estimate the prior (``min_moderate``,
default 5); below that the plain t is used. ``d0`` is capped (``max_prior_df``, default 10) so an
unlucky, too-homogeneous session (the shared run factor makes the ``s_i`` of one session correlated, so
``d0`` is often over-estimated at k = 3) never lets the pooled sd outweigh a benchmark's own runs by
much.

    Smyth, G. K. (2004). Linear models and empirical Bayes methods for assessing differential
    expression in microarray experiments. Statistical Applications in Genetics and Molecular Biology
    3(1), Article 3. (the ``limma`` moderated t.)

Floor. ``s_i`` is floored at ``s_floor`` (default 0.01, i.e. 1 % between-run spread) after moderation. The
floor is well below the smallest spread seen on the VMs (0.04), so it changes nothing when the model holds;
it only guards against identical medians (timer quantization, cached results, a copied run) that would
give ``s = 0`` and an infinite t. A floor makes the test more conservative, never less.

Multiplicity. Holm's step-down over the one-sided "slower" p-values of all benchmarks judged in the
session at family-wise ``alpha`` (default 0.05): when the model holds, the chance that an A/A session
shows any "slower" is at most ~alpha, whatever the dependence between benchmarks (Holm needs no
independence, which matters because a run-level factor shared by all benchmarks correlates the ``d_i``).
"faster" gets its own Holm family, symmetric. Benchmarks with a thin baseline are not in the families.

Minimum effect. A verdict needs both significance and size: "slower" when Holm rejects and
``ratio > 1 + e``; "faster" when Holm rejects for faster and ``ratio < 1/(1 + e)``; "same" when the whole
prediction interval lies within ``[1/(1+e), 1+e]``; otherwise "uncertain". ``e`` defaults to 0.10 and may
be a number, a dict name -> e (missing names get the default) or a callable name -> e.

Interval and honest limits at the Bonferroni level. ``low``/``high`` are the prediction interval of the
ratio with ``alpha/m`` in each tail (``m`` = number of benchmarks judged), and ``min_detectable`` is
``max(1+e, exp(t_{1-alpha/m, df} * se))``: the smallest ratio that is called slower whatever its Holm
rank. Holm's per-rank level is never smaller than ``alpha/m``, so these are the strict (safe) ends: a
slowdown at ``min_detectable`` is always caught, and "same" is only said when it is safe even at the
strictest level.

Whole-machine drift. A factor shared by all benchmarks of a run explains about a quarter of the
variance; ``exp(median_i d_i)`` estimates it (:func:`session_drift`). It is REPORTED, not subtracted by
default: a real global slowdown (a compiler flag, a library downgrade) looks exactly like a drifted
machine, and must not be hidden. ``adjust_drift=True`` divides it out (for diagnosis: "which benchmarks
got slower relative to the rest?"); the se is then not reduced, which is slightly conservative.

New passes. ``n`` new medians count as ``n`` independent runs (``1/n`` in the se). Passes made back to
back in one session share that session's machine state, so ``1/n`` then overstates the gain: in
simulation with the run factor shared by the passes, A/A sessions fail 6-9 % of the time at n = 2-3.
Prefer one pass per session, or passes at different times.

Thin baseline. With ``k < min_runs`` (default 3) baseline runs the between-run spread cannot be
estimated usefully: the verdict is "cannot judge", never "slower", with a message on how to build a
baseline. With ``k == 1`` only the ratio is given; with ``k == 2`` the (1-df, plain t) interval and
p-values are shown for information only.

Pure functions; numpy and scipy only (and the standard library: a set's span reads its runs' times), with the
verdict words of nptbench.analysis.verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence, Union

import numpy as np
from scipy import optimize, special, stats

from nptbench.analysis.verdict import CANNOT_JUDGE, FASTER, SAME, SLOWER, UNCERTAIN

#: The words the gate gives (nptbench.analysis.verdict's, of which "not compared" is never the gate's).
VERDICTS = (SLOWER, FASTER, SAME, UNCERTAIN, CANNOT_JUDGE)

THIN_MESSAGE = (
    "cannot judge: the baseline has {k} run(s) of this benchmark, and at least {min_runs} are needed to "
    "estimate how much its median moves between runs. Build the baseline from several runs "
    "(>= {min_runs}, better 5-8) of the same machine, profile and conditions, made at different times "
    "(different hours or days, not back to back), and save them together.")

MinEffect = Union[float, Mapping[str, float], Callable[[str], float]]


@dataclass(frozen=True)
class Judgement:
    """The gate's verdict on one benchmark.

    ``ratio`` is new/baseline (geometric means of the run medians); ``low``/``high`` its prediction
    interval at the Bonferroni level (``alpha/m`` per tail); ``p_slower``/``p_faster`` are raw one-sided
    p-values (the Holm decision is in ``verdict``); ``min_detectable`` is the smallest ratio this
    baseline would call slower; ``s`` the between-run sd of log used (after moderation and floor) and
    ``df`` its degrees of freedom; ``effect`` the minimum effect ``e`` applied.
    """

    name: str
    ratio: float
    low: float
    high: float
    p_slower: float
    p_faster: float
    verdict: str
    min_detectable: float
    basis: str
    k: int
    n: int
    s: float = math.nan
    df: float = math.nan
    effect: float = math.nan
    message: str = ""


@dataclass(frozen=True)
class Prior:
    """The empirical-Bayes prior of the between-run variances: ``s0^2`` with ``df`` degrees of freedom
    (``df == 0``: no moderation)."""

    s0: float
    df: float


# ----------------------------------------------------------------------------------------------------
# small building blocks


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> np.ndarray:
    """Holm's (1979) step-down test: a boolean array, True where the hypothesis is rejected at
    family-wise level ``alpha``.

    Sort the p-values ascending p_(1) <= ... <= p_(m); reject H_(1..j) while p_(j) <= alpha/(m - j + 1);
    stop at the first that fails (it and all larger are kept). NaN p-values are never rejected and do
    not count in ``m``.
    """
    p = np.asarray(pvalues, dtype=float)
    reject = np.zeros(p.shape, dtype=bool)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    for rank, idx in enumerate(order):  # rank 0 .. m-1
        if p[idx] <= alpha / (m - rank):
            reject[idx] = True
        else:
            break
    return reject


def holm_adjusted(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values: ``p~_(j) = max_{i<=j} min(1, (m-i+1) p_(i))``; reject where ``<= alpha``."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def _trigamma(x):
    return special.polygamma(1, x)


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (y > 0); trigamma is decreasing from +inf to 0."""
    lo, hi = 1e-8, 1.0
    while _trigamma(hi) > y:
        hi *= 2.0
        if hi > 1e12:
            return math.inf
    return optimize.brentq(lambda x: _trigamma(x) - y, lo, hi, xtol=1e-12, rtol=1e-10)


def estimate_prior(s2: Sequence[float], df: Sequence[float], max_prior_df: float = 10.0) -> Prior:
    """Smyth's (2004, section 6.2) moment estimates of the prior ``(s0^2, d0)`` from sample variances
    ``s2`` with ``df`` degrees of freedom each.

    ``z_i = log s_i^2`` has mean ``log s0^2 + digamma(d_i/2) - log(d_i/2) + [log(d0/2) - digamma(d0/2)]``
    and variance ``trigamma(d_i/2) + trigamma(d0/2)``; solve for ``d0`` from the excess variance of ``z``
    and then for ``s0``. ``d0`` is capped at ``max_prior_df``. Zero variances are lifted to 1e-4 of the
    median so that one ``log 0`` does not decide the prior.
    """
    s2 = np.asarray(s2, dtype=float)
    d = np.asarray(df, dtype=float)
    if s2.size < 2:
        return Prior(s0=math.sqrt(float(s2[0])) if s2.size else math.nan, df=0.0)
    pos = s2[s2 > 0]
    lift = 1e-4 * (np.median(pos) if pos.size else 1.0)
    z = np.log(np.maximum(s2, lift))
    e = z - special.digamma(d / 2) + np.log(d / 2)
    ebar = float(np.mean(e))
    excess = float(np.var(e, ddof=1) - np.mean(_trigamma(d / 2)))
    if excess > 0:
        d0 = 2.0 * _trigamma_inverse(excess)
    else:
        d0 = math.inf
    d0 = min(d0, max_prior_df)
    s02 = math.exp(ebar + special.digamma(d0 / 2) - math.log(d0 / 2))
    return Prior(s0=math.sqrt(s02), df=d0)


def moderate(s2: np.ndarray, df: np.ndarray, prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    """limma's posterior variances ``(d0 s0^2 + d s^2)/(d0 + d)`` and their df ``d0 + d``."""
    if prior.df <= 0 or not np.isfinite(prior.s0):
        return np.asarray(s2, float), np.asarray(df, float)
    d0 = prior.df
    return (d0 * prior.s0 ** 2 + df * s2) / (d0 + df), df + d0


def _effect_for(name: str, min_effect: MinEffect, default: float) -> float:
    if callable(min_effect):
        return float(min_effect(name))
    if isinstance(min_effect, Mapping):
        return float(min_effect.get(name, default))
    return float(min_effect)


def _logs(values: Sequence[float], what: str, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError(f"{name}: no {what} medians")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name}: {what} medians must be positive and finite, got {v.tolist()}")
    return np.log(v)


# ----------------------------------------------------------------------------------------------------
# the gate


@dataclass
class _Row:
    """One benchmark on its way through :func:`judge_session`: its runs a side, the mean log-ratio ``d``,
    the baseline's sample variance of log ``s2``, its minimum effect, then the sd used (``s``, after
    moderation and floor; NaN while it has none) with its df, the raw one-sided p-values, the interval and
    the smallest detectable ratio (``mdd``); NaN where a thin baseline gives none."""

    name: str
    k: int
    n: int
    d: float
    s2: float
    effect: float
    s: float = math.nan
    df: float = math.nan
    p_slower: float = math.nan
    p_faster: float = math.nan
    low: float = math.nan
    high: float = math.nan
    mdd: float = math.nan


def judge_session(
    benchmarks: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    min_effect: MinEffect = 0.10,
    alpha: float = 0.05,
    min_runs: int = 3,
    *,
    moderation: str = "raise",
    min_moderate: int = 5,
    max_prior_df: float = 10.0,
    s_floor: float = 0.01,
    adjust_drift: bool = False,
    default_effect: float = 0.10,
) -> list[Judgement]:
    """Judge every benchmark of a session: ``benchmarks`` maps name -> (baseline run medians, new run
    medians), one median per run (at least one on each side). Returns one :class:`Judgement` per name,
    in the mapping's order.

    ``min_effect``: the minimum effect ``e`` (number, dict name -> e, or callable name -> e; dict misses
    get ``default_effect``). ``alpha``: family-wise level of the session (Holm). ``min_runs``: fewer
    baseline runs than this gives "cannot judge". ``moderation``: "raise" (default: limma moderation
    that may only raise a benchmark's sd, keeping the df gain), "full" (plain limma) or "none" (plain
    t); used when at least ``min_moderate`` benchmarks can be judged; ``max_prior_df`` caps the prior
    df. ``s_floor``: lowest between-run sd of log used. ``adjust_drift``: divide out the session's
    whole-machine drift (off by default; see the module docstring).
    """
    names = list(benchmarks)
    rows = []
    for name in names:
        base, new = benchmarks[name]
        lb, ly = _logs(base, "baseline", name), _logs(new, "new", name)
        k, n = lb.size, ly.size
        d = float(ly.mean() - lb.mean())
        s2 = float(np.var(lb, ddof=1)) if k >= 2 else math.nan
        rows.append(_Row(name, k, n, d, s2, _effect_for(name, min_effect, default_effect)))

    judged = [r for r in rows if r.k >= min_runs]
    m = len(judged)

    drift = float(np.median([r.d for r in rows])) if rows else 0.0
    if adjust_drift:
        for r in rows:
            r.d -= drift

    # between-run sd: moderated across the judged benchmarks, then floored
    if judged:
        s2 = np.array([r.s2 for r in judged])
        dfs = np.array([r.k - 1 for r in judged], dtype=float)
        if moderation not in ("raise", "full", "none"):
            raise ValueError(f"moderation must be 'raise', 'full' or 'none', not {moderation!r}")
        if moderation != "none" and m >= min_moderate:
            prior = estimate_prior(s2, dfs, max_prior_df=max_prior_df)
            post, dfs = moderate(s2, dfs, prior)
            s2 = np.maximum(post, s2) if moderation == "raise" else post
        for r, v, df in zip(judged, s2, dfs):
            r.s, r.df = max(math.sqrt(v), s_floor), float(df)
    for r in rows:  # thin (k == 2): plain t with its 1 df, for information only
        if min_runs > r.k >= 2:
            r.s, r.df = max(math.sqrt(r.s2), s_floor), float(r.k - 1)

    level = alpha / max(m, 1)  # Bonferroni: the strictest level Holm uses
    have = [r for r in rows if not math.isnan(r.s)]  # the others keep NaN for every quantity
    if have:  # vectorised: one scipy call per quantity, not per benchmark
        d = np.array([r.d for r in have])
        df = np.array([r.df for r in have])
        se = np.array([r.s * math.sqrt(1.0 / r.k + 1.0 / r.n) for r in have])
        eff = np.array([r.effect for r in have])
        t = d / se
        q = stats.t.ppf(1.0 - level, df)
        p_slow, p_fast = stats.t.sf(t, df), stats.t.cdf(t, df)
        low, high = np.exp(d - q * se), np.exp(d + q * se)
        mdd = np.maximum(1.0 + eff, np.exp(q * se))
        for i, r in enumerate(have):
            r.p_slower, r.p_faster = float(p_slow[i]), float(p_fast[i])
            r.low, r.high, r.mdd = float(low[i]), float(high[i]), float(mdd[i])

    slow_reject = dict(zip([r.name for r in judged], holm([r.p_slower for r in judged], alpha)))
    fast_reject = dict(zip([r.name for r in judged], holm([r.p_faster for r in judged], alpha)))

    out = []
    for r in rows:
        e, ratio = r.effect, math.exp(r.d)
        msg = ""
        if r.k < min_runs:
            verdict = CANNOT_JUDGE
            basis = "thin baseline"
            msg = THIN_MESSAGE.format(k=r.k, min_runs=min_runs)
        else:
            basis = f"between-run, {r.k} runs vs {r.n}"
            if slow_reject[r.name] and ratio > 1.0 + e:
                verdict = SLOWER
            elif fast_reject[r.name] and ratio < 1.0 / (1.0 + e):
                verdict = FASTER
            elif r.low >= 1.0 / (1.0 + e) and r.high <= 1.0 + e:
                verdict = SAME
            else:
                verdict = UNCERTAIN
            if adjust_drift:
                basis += f", machine drift x{math.exp(drift):.3f} divided out"
        out.append(Judgement(
            name=r.name, ratio=ratio, low=r.low, high=r.high, p_slower=r.p_slower,
            p_faster=r.p_faster, verdict=verdict, min_detectable=r.mdd, basis=basis, k=r.k,
            n=r.n, s=r.s, df=r.df, effect=e, message=msg,
        ))
    return out


def session_drift(judgements: Sequence[Judgement]) -> float:
    """The whole-machine drift of the new side: the median over benchmarks of the ratio (a run-level
    factor shared by all benchmarks). Reported, not subtracted: a real global slowdown looks the same."""
    ratios = [j.ratio for j in judgements if np.isfinite(j.ratio)]
    return float(np.exp(np.median(np.log(ratios)))) if ratios else math.nan


@dataclass(frozen=True)
class SessionSummary:
    """Counts by verdict, the drift, and whether the gate passes (no "slower")."""

    counts: dict = field(default_factory=dict)
    drift: float = math.nan
    passed: bool = True
    lines: tuple = ()


def summarize(judgements: Sequence[Judgement]) -> SessionSummary:
    """One line per benchmark plus the session's drift; ``passed`` is False when any is "slower"."""
    counts = {v: sum(j.verdict == v for j in judgements) for v in VERDICTS}
    drift = session_drift(judgements)
    lines = []
    for j in judgements:
        if j.verdict == CANNOT_JUDGE:
            lines.append(f"{j.name}: x{j.ratio:.3f}  {j.verdict} ({j.basis}, k={j.k})")
        else:
            lines.append(
                f"{j.name}: x{j.ratio:.3f} [{j.low:.3f}, {j.high:.3f}]  {j.verdict}  "
                f"p_slower={j.p_slower:.2g}  detects >= x{j.min_detectable:.2f}  ({j.basis})")
    lines.append(f"whole-machine drift of the new side: x{drift:.3f} (median ratio; reported, not removed)")
    return SessionSummary(counts=counts, drift=drift, passed=counts[SLOWER] == 0, lines=tuple(lines))


# ----------------------------------------------------------------------------------------------------
# how long the baseline set took to make

#: A set whose runs all lie within this many minutes has seen one stretch of a shared machine only, and a
#: later stretch can sit beyond anything it saw. Said, not acted on: on the 2-core VM a 5-run set made
#: within 5 minutes failed 9 of 20 A/A gate sessions, a 6-run set spread over 33 minutes 5 of 20 later
#: sessions, and a 5-run set of 3 minutes 0 of the last 15 of those: which spells and modes
#: a set happens to contain decides more than its span (results/gate.md).
SHORT_SPAN_MINUTES = 30.0


@dataclass(frozen=True)
class Span:
    """When a baseline set's runs were made: the first and last (ISO times as saved), the minutes between
    them, and the median gap between consecutive runs."""

    first: str
    last: str
    minutes: float
    median_gap: float

    @property
    def short(self) -> bool:
        """All runs within :data:`SHORT_SPAN_MINUTES`: the set's spread is one stretch's spread."""
        return self.minutes < SHORT_SPAN_MINUTES


def set_span(times: Sequence[str]) -> Span | None:
    """The :class:`Span` of runs saved at ``times`` (ISO 8601, as pytest-benchmark writes ``datetime``; a
    time without a zone is taken as UTC); None with fewer than two readable times."""
    parsed = []
    for t in times:
        try:
            when = datetime.fromisoformat(str(t))
        except ValueError:
            continue
        parsed.append(when if when.tzinfo else when.replace(tzinfo=timezone.utc))  # naive: saved as UTC
    if len(parsed) < 2:
        return None
    parsed.sort()
    gaps = [(b - a).total_seconds() / 60.0 for a, b in zip(parsed, parsed[1:])]
    return Span(first=parsed[0].isoformat(), last=parsed[-1].isoformat(),
                minutes=(parsed[-1] - parsed[0]).total_seconds() / 60.0, median_gap=float(np.median(gaps)))
