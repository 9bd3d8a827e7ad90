"""The claims ledger: every claim names benchmarks the suite has, and the verdicts follow the numbers."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nptbench.analysis import claims as cl

ROOT = Path(__file__).resolve().parents[1]

#: The claims the seeds make that the ledger must hold (one id each).
REQUIRED = {
    "000-numpy-vs-torch-cpu", "000-gpu-copyback",
    "001-small-loop-numpy-vs-torch", "001-big-add-numpy-vs-torch", "001-big-add-gpu-vs-torch",
    "001-big-add-gpu-vs-numpy", "001-linreg-large-cpu-vs-gpu",
    "002-lists-vs-numpy", "002-numpy-vs-torch-cpu",
    "003-square-cpu-vs-gpu",
    "004-loop-to-numba", "004-loop-to-broadcast", "004-full-broadcast-vs-einsum", "004-einsum-vs-torch",
    "004-cuda-kernel-vs-torch",
}

# Collects the suite in a fresh interpreter and prints every benchmark's (experiment, variant) from its
# parameters, plus the bracketed ids (which read variant-experiment-dtype) for tests parametrized otherwise.
COLLECT = textwrap.dedent("""
    import json, sys
    import pytest

    class Collect:
        pairs, ids = set(), []
        def pytest_collection_finish(self, session):
            for item in session.items:
                params = getattr(getattr(item, "callspec", None), "params", {})
                if isinstance(params.get("experiment"), str) and isinstance(params.get("variant"), str):
                    self.pairs.add((params["experiment"], params["variant"]))
                if "[" in item.nodeid:
                    self.ids.append(item.nodeid.rsplit("[", 1)[1].rstrip("]"))

    c = Collect()
    rc = pytest.main(["bench", "--collect-only", "-q", "-p", "no:cacheprovider", "--bench-size", "smoke"],
                     plugins=[c])
    print("@@" + json.dumps({"rc": int(rc), "pairs": sorted(c.pairs), "ids": c.ids}))
""")


@pytest.fixture(scope="module")
def suite():
    env = {**os.environ, "NPTBENCH_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", COLLECT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@")), None)
    assert line, f"collection printed nothing:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data = json.loads(line[2:])
    assert data["rc"] == 0, f"collecting bench/ failed:\n{proc.stdout[-3000:]}"
    return {tuple(p) for p in data["pairs"]}, data["ids"]


def exists(pair, suite) -> bool:
    pairs, ids = suite
    experiment, variant = pair
    # Fallback for tests that do not parametrize experiment and variant by name: ids read variant-experiment-dtype.
    return pair in pairs or any(re.match(rf"{re.escape(variant)}-{re.escape(experiment)}(-|$)", i) for i in ids)


def test_ledger_loads_and_holds_every_required_claim():
    claims, tolerance = cl.load()
    ids = [c.id for c in claims]
    assert len(ids) == len(set(ids))
    assert REQUIRED <= set(ids), f"missing claims: {sorted(REQUIRED - set(ids))}"
    assert tolerance >= 1
    for c in claims:
        assert c.quote and c.seed_figures and c.hardware, c.id
        assert c.seed in {"000", "001", "002", "003", "004"}, c.id
        assert c.baseline != c.contender, c.id


def test_every_claim_names_benchmarks_that_exist(suite):
    claims, _ = cl.load()
    missing = sorted({f"{c.id}: {e}/{v}" for c in claims for (e, v) in (*c.pairs, *c.evidence)
                      if not exists((e, v), suite)})
    assert not missing, "claims name benchmarks the suite does not have:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("seed_ratio,ours,expected", [
    ((10.0, 10.0), 10.0, cl.REPRODUCED),
    ((10.0, 10.0), 14.9, cl.REPRODUCED),      # within the factor 1.5
    ((10.0, 10.0), 15.1, cl.LARGER),
    ((10.0, 10.0), 6.6, cl.SMALLER),
    ((10.0, 10.0), 0.5, cl.SMALLER),          # reversed: the contender is slower here
    ((4.0, 5.0), 7.4, cl.REPRODUCED),         # a range widens by the factor at each end
    ((4.0, 5.0), 2.7, cl.REPRODUCED),
    ((4.0, 5.0), 7.6, cl.LARGER),
    ((50.0, math.inf), 1e6, cl.REPRODUCED),   # "50x or greater"
    ((50.0, math.inf), 30.0, cl.SMALLER),
    (None, 3.0, cl.NO_FIGURE),
    ((10.0, 10.0), None, cl.NOT_MEASURABLE),
    ((10.0, 10.0), float("nan"), cl.NOT_MEASURABLE),
])
def test_verdict(seed_ratio, ours, expected):
    assert cl.verdict(seed_ratio, ours, 1.5) == expected


def claim_data(**kw):
    base = dict(id="x", seed="001", quote="q", seed_figures="f", hardware="h", baseline=["e", "slow"],
                contender=["e", "fast"], seed_ratio=10.0)
    return {"tolerance": 1.5, "claim": [{**base, **kw}]}


@pytest.mark.parametrize("bad,message", [
    (dict(seed_ratio=-1.0), "seed_ratio"),
    (dict(seed_ratio=[5.0, 4.0]), "seed_ratio"),
    (dict(seed_ratio=True), "seed_ratio"),
    (dict(baseline=["e"]), "baseline"),
    (dict(fair_baseline=["e", "a"]), "both"),
    (dict(fair_baseline=["e", "a"], fair_contender=["e", "b"]), "unfair"),
    (dict(surprise=1), "unknown"),
])
def test_malformed_claims_are_refused(bad, message):
    with pytest.raises(cl.ClaimsError, match=message):
        cl.parse(claim_data(**bad))


def test_evaluate_per_context_with_fair_ratio_and_reasons():
    claims, tol = cl.parse(claim_data(unfair="u", fair_baseline=["e", "slow-fair"], fair_contender=["e", "fast"]))
    times = {
        "M1/default": {("e", "slow"): 1.0, ("e", "fast"): 0.1, ("e", "slow-fair"): 0.5},
        "M2/default": {("e", "slow"): 3.0, ("e", "fast"): 0.1},
    }
    rows = cl.evaluate(claims, times, tol)
    assert [(r.context, r.verdict) for r in rows] == [("M1/default", cl.REPRODUCED), ("M2/default", cl.LARGER)]
    assert rows[0].ours == pytest.approx(10) and rows[0].fair == pytest.approx(5)
    assert rows[1].ours == pytest.approx(30) and rows[1].fair is None
    assert "e/slow-fair not in these runs" in rows[1].why


def test_not_measurable_says_why():
    claims, tol = cl.parse(claim_data(contender=["e", "gpu"]))
    rows = cl.evaluate(claims, {"M1/smoke": {("e", "slow"): 1.0}}, tol, {("e", "gpu"): "no CUDA device"})
    assert len(rows) == 1 and rows[0].verdict == cl.NOT_MEASURABLE and rows[0].ours is None
    assert rows[0].why == "e/gpu skipped: no CUDA device"
    # Both measured, but on different machines: no ratio across machines.
    rows = cl.evaluate(claims, {"M1/x": {("e", "slow"): 1.0}, "M2/x": {("e", "gpu"): 0.1}}, tol)
    assert rows[0].verdict == cl.NOT_MEASURABLE and "different machines" in rows[0].why
    assert rows[0].measured == [(("e", "slow"), "M1/x"), (("e", "gpu"), "M2/x")]  # what did run, and where


def test_host_ratio_beside_the_device_time_ratio():
    claims, tol = cl.parse(claim_data(contender=["e", "gpu"], evidence=[["t", "copy"]]))
    assert claims[0].evidence == (("t", "copy"),)
    lead = {"M1/x": {("e", "slow"): 1.0, ("e", "gpu"): 0.010}}  # the GPU side read by its device time
    host = {"M1/x": {("e", "slow"): 1.0, ("e", "gpu"): 0.0125}}
    [row] = cl.evaluate(claims, lead, tol, host=host)
    assert row.ours == pytest.approx(100) and row.host == pytest.approx(80)


def test_ratio_formatting():
    assert cl.fmt_seed_ratio((4.0, 5.0)) == "4-5x"
    assert cl.fmt_seed_ratio((50.0, math.inf)) == ">= 50x"
    assert cl.fmt_seed_ratio(None) == "none given"
    assert cl.fmt_ratio(2349.2) == "2,349x" and cl.fmt_ratio(1.014) == "1.01x"
