"""The regression gate (:mod:`nptbench.analysis.gate`): between-run prediction test, moderation, Holm,
minimum effect, thin baselines.

The simulations are synthetic but shaped on the shared 2-core VMs: 25 benchmarks per session, each with a
between-run sigma of log-median drawn from 0.04-0.29, a factor shared by all benchmarks of a run that
explains a quarter of each benchmark's variance, a baseline of k = 5 runs made at different times and one
new run. Fixed seeds, so the numbers are reproducible.
"""
from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from nptbench.analysis import gate, verdict
from nptbench.analysis.gate import Judgement, holm, holm_adjusted, judge_session, session_drift, summarize
from nptbench.analysis.verdict import CANNOT_JUDGE, FASTER, SAME, SLOWER, UNCERTAIN

B = 25
SHARED = 0.25  # share of each benchmark's between-run variance explained by the run-level factor


def simulate(rng, k=5, n=1, slow=None, factor=1.0, sigma=None):
    """One session: name -> (baseline run medians, new run medians).

    log median = mu_i + sigma_i * (sqrt(.25) f_run + sqrt(.75) e_i,run): the run factor f is shared by
    all benchmarks of the run. ``slow``: ratios applied to the first benchmarks (which are then given a
    low sigma, 0.04-0.1); ``factor``: a whole-level drift of the new run(s).
    """
    sig = rng.uniform(0.04, 0.29, B) if sigma is None else np.asarray(sigma, float)
    if slow is not None:
        sig[:len(slow)] = rng.uniform(0.04, 0.10, len(slow))
    a, b = math.sqrt(SHARED), math.sqrt(1 - SHARED)
    mu = rng.uniform(-9, -2, B)  # 0.1 ms .. 0.1 s
    base = mu[:, None] + sig[:, None] * (a * rng.standard_normal(k)[None] + b * rng.standard_normal((B, k)))
    new = mu[:, None] + sig[:, None] * (a * rng.standard_normal(n)[None] + b * rng.standard_normal((B, n)))
    new += math.log(factor)
    if slow is not None:
        new[:len(slow)] += np.log(slow)[:, None]
    return {f"bench_{i:02d}": (np.exp(base[i]), np.exp(new[i])) for i in range(B)}


def exact(sigma, k, shift=0.0):
    """k baseline medians whose log has sample sd exactly ``sigma`` (mean 0), and one new median at
    exp(shift)."""
    z = np.linspace(-1.0, 1.0, k)
    z = (z - z.mean()) / z.std(ddof=1)
    return np.exp(sigma * z), np.array([math.exp(shift)])


# ----------------------------------------------------------------------------------------------------
# the session-level error rates


def test_aa_sessions_rarely_fail():
    """A/A: new run from the same machine. Holm at alpha = 0.05 over 25 benchmarks: at most ~5 % of
    sessions show any "slower" (assert <= 8 % for simulation noise), and <= 1 % of judgements."""
    rng = np.random.default_rng(20240601)
    sessions, any_slower, slower, total = 400, 0, 0, 0
    for _ in range(sessions):
        js = judge_session(simulate(rng, k=5, n=1))
        v = [j.verdict for j in js]
        any_slower += SLOWER in v
        slower += v.count(SLOWER)
        total += len(v)
        assert CANNOT_JUDGE not in v
    assert any_slower / sessions <= 0.08, any_slower / sessions
    assert slower / total <= 0.01, slower / total


def test_a_real_slowdown_on_quiet_benchmarks_is_caught():
    """2.5x on 3 low-noise benchmarks (sigma 0.04-0.1): all three called slower in >= 95 % of sessions,
    at most one unaffected benchmark called slower per session on average."""
    rng = np.random.default_rng(7)
    sessions, caught, others = 400, 0, 0
    for _ in range(sessions):
        js = judge_session(simulate(rng, k=5, n=1, slow=[2.5, 2.5, 2.5]))
        caught += all(j.verdict == SLOWER for j in js[:3])
        others += sum(j.verdict == SLOWER for j in js[3:])
        assert all(j.min_detectable < 2.5 for j in js[:3])
    assert caught / sessions >= 0.95, caught / sessions
    assert others / sessions <= 1.0, others / sessions


def test_a_drifted_machine_is_reported_not_hidden():
    """The whole new run 1.3x slower on every benchmark (a drifted machine, or a real global slowdown:
    the gate cannot tell them apart). Documented behaviour:

    * the drift is reported: ``session_drift`` ~ 1.3;
    * by default it is NOT divided out: a benchmark is called "slower" when 1.3x lies beyond its own
      prediction interval, which happens only for the quieter ones (moderation raises a quiet
      benchmark's sd toward the pooled one, so even they need ~1.25-1.35x at k = 5, n = 1). Measured
      here: about 40 % of drifted sessions fail, on ~5 % of their benchmarks; the rest are "uncertain",
      nothing is "same". So a whole-machine 1.3x is NOT reliably caught per benchmark -- the reported
      drift is the signal to read;
    * with ``adjust_drift=True`` the drift is divided out and the session behaves like an A/A session
      (this is for diagnosis: "which benchmarks moved relative to the rest").
    """
    rng = np.random.default_rng(99)
    sessions = 100
    failed = failed_adjusted = 0
    drifts, slower_share, s_called, s_other = [], [], [], []
    for _ in range(sessions):
        data = simulate(rng, k=5, n=1, factor=1.3)
        js = judge_session(data)
        drifts.append(session_drift(js))
        v = [j.verdict for j in js]
        failed += SLOWER in v
        slower_share.append(v.count(SLOWER) / len(v))
        assert SAME not in v and FASTER not in v
        s_called += [j.s for j in js if j.verdict == SLOWER]
        s_other += [j.s for j in js if j.verdict != SLOWER]
        adj = judge_session(data, adjust_drift=True)
        failed_adjusted += any(j.verdict == SLOWER for j in adj)
        assert "drift" in adj[0].basis
    assert abs(np.exp(np.mean(np.log(drifts))) - 1.3) < 0.03
    assert 0.2 <= failed / sessions <= 0.7          # the gate fails the drifted session often ...
    assert 0.01 < np.mean(slower_share) < 0.15      # ... on a few benchmarks only:
    assert np.median(s_called) < np.median(s_other)  # the quiet ones
    assert failed_adjusted / sessions <= 0.10       # divided out, it is an A/A session again


# ----------------------------------------------------------------------------------------------------
# Holm


def test_holm_hand_example():
    # sorted: 0.005 <= .05/4 = .0125 yes; 0.01 <= .05/3 = .0167 yes; 0.03 <= .05/2 = .025 no -> stop
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p, 0.05).tolist() == [True, False, False, True]
    # adjusted: 4*.005 = .02, 3*.01 = .03, 2*.03 = .06, max(.06, 1*.04) = .06
    np.testing.assert_allclose(holm_adjusted(p), [0.03, 0.06, 0.06, 0.02])
    assert (holm_adjusted(p) <= 0.05).tolist() == holm(p, 0.05).tolist()


def test_holm_steps_down_where_bonferroni_stops():
    p = [0.012, 0.02, 0.04]  # Bonferroni (.0167) rejects only the first; Holm: .0167, .025, .05 -> all
    assert holm(p, 0.05).tolist() == [True, True, True]
    assert holm([0.02, 0.012, 0.04], 0.05).tolist() == [True, True, True]
    assert holm([0.02, 0.03, 0.04], 0.05).tolist() == [False, False, False]  # first fails: none


def test_holm_edge_cases():
    assert holm([], 0.05).tolist() == []
    assert holm([0.05], 0.05).tolist() == [True]
    # NaN (a benchmark that cannot be judged) is never rejected and does not count in m
    assert holm([0.02, math.nan, 0.03], 0.05).tolist() == [True, False, True]
    assert holm([0.01, 0.01], 0.05).tolist() == [True, True]  # ties


# ----------------------------------------------------------------------------------------------------
# the test itself


def test_single_benchmark_is_the_plain_prediction_t_test():
    base = np.exp([0.00, 0.10, -0.05, 0.07, -0.02])
    new = np.exp([0.30])
    (j,) = judge_session({"x": (base, new)})
    lb = np.log(base)
    d = 0.30 - lb.mean()
    se = lb.std(ddof=1) * math.sqrt(1 / 5 + 1)
    assert j.ratio == pytest.approx(math.exp(d))
    assert j.p_slower == pytest.approx(stats.t.sf(d / se, 4))
    assert j.p_faster == pytest.approx(stats.t.cdf(d / se, 4))
    q = stats.t.ppf(0.95, 4)  # m = 1: Bonferroni level = alpha
    assert (j.low, j.high) == pytest.approx((math.exp(d - q * se), math.exp(d + q * se)))
    assert j.min_detectable == pytest.approx(max(1.1, math.exp(q * se)))
    assert j.df == 4 and j.k == 5 and j.n == 1
    assert j.basis == "between-run, 5 runs vs 1"


def test_new_passes_pool_as_runs():
    base = np.exp([0.00, 0.10, -0.05, 0.07, -0.02])
    (one,) = judge_session({"x": (base, [1.0])})
    (three,) = judge_session({"x": (base, [1.0, 1.0, 1.0])})
    assert three.n == 3 and three.min_detectable < one.min_detectable
    assert three.high / three.low < one.high / one.low


def test_verdicts_same_faster_uncertain():
    data = {f"q{i}": exact(0.03, 8, shift) for i, shift in enumerate([0.0, 0.01, -0.01, 0.0, 0.005])}
    data["fast"] = exact(0.03, 8, math.log(0.5))
    data["slow"] = exact(0.03, 8, math.log(2.0))
    js = {j.name: j for j in judge_session(data)}
    assert js["q0"].verdict == SAME and 1 / 1.1 <= js["q0"].low <= js["q0"].high <= 1.1
    assert js["fast"].verdict == FASTER
    assert js["slow"].verdict == SLOWER
    (noisy,) = judge_session({"noisy": exact(0.25, 8, 0.0)})
    assert noisy.verdict == UNCERTAIN and noisy.low < 1 / 1.1 and noisy.high > 1.1  # no evidence either way


def test_significant_but_small_is_not_slower():
    """Holm rejects, but the ratio is below 1 + e: not "slower"."""
    data = {f"q{i}": exact(0.01, 8, 0.0) for i in range(5)}
    data["small"] = exact(0.01, 8, math.log(1.06))
    (j,) = [j for j in judge_session(data, s_floor=0.0) if j.name == "small"]
    assert j.p_slower < 1e-4 and j.verdict != SLOWER
    (j,) = [j for j in judge_session(data, min_effect=0.05, s_floor=0.0) if j.name == "small"]
    assert j.verdict == SLOWER


def test_min_effect_per_benchmark():
    data = {f"q{i}": exact(0.02, 8, 0.0) for i in range(5)}
    data["a"] = exact(0.02, 8, math.log(1.3))
    by_dict = {j.name: j for j in judge_session(data, min_effect={"a": 0.5})}
    by_call = {j.name: j for j in judge_session(data, min_effect=lambda name: 0.5 if name == "a" else 0.1)}
    plain = {j.name: j for j in judge_session(data)}
    assert plain["a"].verdict == SLOWER
    for js in (by_dict, by_call):
        assert js["a"].verdict != SLOWER and js["a"].effect == 0.5 and js["q0"].effect == 0.1
        assert js["a"].min_detectable >= 1.5


def test_the_floor_guards_identical_medians():
    data = {"flat": (np.ones(5), np.array([1.02]))}
    (j,) = judge_session(data)
    assert j.s == pytest.approx(0.01) and math.isfinite(j.p_slower) and j.verdict != SLOWER


def test_bad_medians_are_refused():
    with pytest.raises(ValueError):
        judge_session({"x": ([1.0, -1.0, 1.0], [1.0])})
    with pytest.raises(ValueError):
        judge_session({"x": ([1.0, 1.0, 1.0], [])})
    with pytest.raises(ValueError):
        judge_session({"x": exact(0.1, 5)}, moderation="maybe")


# ----------------------------------------------------------------------------------------------------
# thin baselines


@pytest.mark.parametrize("k", [1, 2])
def test_thin_baseline_never_says_slower(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        data = simulate(rng, k=k, n=1, slow=[5.0, 5.0, 5.0])
        for j in judge_session(data):
            assert j.verdict == CANNOT_JUDGE and j.basis == "thin baseline" and j.k == k
            assert "several runs" in j.message and "different times" in j.message
            assert math.isfinite(j.ratio)
            if k == 1:  # nothing but the ratio
                assert all(math.isnan(x) for x in (j.low, j.high, j.p_slower, j.p_faster, j.min_detectable))
            else:  # shown for information, 1 df
                assert math.isfinite(j.p_slower) and j.df == 1
    assert summarize(judge_session(simulate(rng, k=k))).passed


def test_thin_benchmarks_stay_out_of_the_family():
    data = {f"q{i}": exact(0.05, 5, 0.0) for i in range(5)}
    full = {j.name: j for j in judge_session(data)}
    data["thin"] = (np.array([1.0, 1.1]), np.array([3.0]))
    mixed = {j.name: j for j in judge_session(data)}
    assert mixed["thin"].verdict == CANNOT_JUDGE
    assert mixed["q0"].min_detectable == pytest.approx(full["q0"].min_detectable)  # m unchanged
    assert judge_session(data, min_runs=2)[-1].verdict != CANNOT_JUDGE


# ----------------------------------------------------------------------------------------------------
# honest limits


def test_min_detectable_grows_with_sigma():
    sigmas = [0.04, 0.08, 0.12, 0.18, 0.24, 0.29]
    data = {f"s{s}": exact(s, 5) for s in sigmas}
    for moderation in ("raise", "full", "none"):
        mdd = [j.min_detectable for j in judge_session(data, moderation=moderation)]
        assert all(a <= b for a, b in zip(mdd, mdd[1:])), (moderation, mdd)
        assert mdd[-1] > mdd[0] and mdd[-1] > 2.0


def test_min_detectable_shrinks_with_k():
    sigmas = [0.04, 0.08, 0.12, 0.18, 0.24, 0.29]
    for moderation in ("raise", "none"):
        by_k = [[j.min_detectable for j in judge_session({f"s{s}": exact(s, k) for s in sigmas},
                                                          moderation=moderation)]
                for k in (3, 5, 8)]
        for bench in zip(*by_k):
            assert bench[0] >= bench[1] >= bench[2], (moderation, bench)
        assert by_k[0][-1] > by_k[2][-1]


def test_min_detectable_is_the_bonferroni_boundary():
    """A new median just above min_detectable is called slower, even as the only slow benchmark."""
    data = {f"s{i}": exact(s, 5) for i, s in enumerate([0.05, 0.1, 0.15, 0.2, 0.25])}
    for j in judge_session(data):
        probe = dict(data)
        probe[j.name] = (data[j.name][0], np.array([j.min_detectable * 1.001]))
        verdict = {x.name: x.verdict for x in judge_session(probe)}
        assert verdict[j.name] == SLOWER
        # the s of the other benchmarks is unchanged by the probe (only the new side moved)


# ----------------------------------------------------------------------------------------------------
# moderation and the module's shape


def test_prior_estimate_recovers_a_known_prior():
    rng = np.random.default_rng(3)
    d, d0, s0 = 4, 6.0, 0.15
    sig2 = s0 ** 2 * d0 / rng.chisquare(d0, 4000)  # scaled inverse chi-square prior
    s2 = sig2 * rng.chisquare(d, 4000) / d
    prior = gate.estimate_prior(s2, np.full(4000, float(d)), max_prior_df=1e9)
    assert prior.df == pytest.approx(d0, rel=0.25) and prior.s0 == pytest.approx(s0, rel=0.1)
    same = gate.estimate_prior(np.full(50, 0.01), np.full(50, 4.0), max_prior_df=10)
    assert same.df == 10  # no spread beyond chance: capped


def test_raise_moderation_never_lowers_a_benchmarks_spread():
    data = {f"s{i}": exact(s, 4) for i, s in enumerate([0.04, 0.06, 0.1, 0.15, 0.2, 0.29])}
    raised = judge_session(data, moderation="raise")
    full = judge_session(data, moderation="full")
    for r, f, s in zip(raised, full, [0.04, 0.06, 0.1, 0.15, 0.2, 0.29]):
        assert r.s >= s - 1e-12 and r.df == f.df and r.df > 3
    assert full[-1].s < 0.29 and full[0].s > 0.04  # plain limma pulls both ends in


def test_summary_and_drift():
    data = {f"q{i}": exact(0.03, 8, math.log(1.2)) for i in range(5)}
    js = judge_session(data)
    summ = summarize(js)
    assert summ.drift == pytest.approx(1.2) and not summ.passed and summ.counts[SLOWER] == 5
    assert any("drift" in line for line in summ.lines)
    assert isinstance(js[0], Judgement)


def test_gate_imports_nothing_from_nptbench_but_the_verdict_words():
    tree = ast.parse(Path(gate.__file__).read_text(encoding="utf8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "nptbench.analysis.verdict":
            assert {a.name for a in node.names} <= set(verdict.__dict__) and all(
                getattr(verdict, a.name) in verdict.WORDS for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("nptbench")
            assert node.module.split(".")[0] in {"__future__", "math", "dataclasses", "datetime", "typing", "numpy", "scipy"}
        elif isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in {"math", "numpy", "scipy"} for a in node.names)


def test_the_span_of_a_set():
    span = gate.set_span(["2026-01-01T10:00:00+00:00", "2026-01-01T10:50:00+00:00", "2026-01-01T10:10:00",
                          "not a time"])
    assert span.first.startswith("2026-01-01T10:00") and span.last.startswith("2026-01-01T10:50")
    assert span.minutes == 50 and span.median_gap == 25 and not span.short
    assert gate.set_span(["2026-01-01T10:00:00", "2026-01-01T10:05:00"]).short
    assert gate.set_span(["2026-01-01T10:00:00"]) is None and gate.set_span([]) is None
