"""Simulated bisections whose probes draw from real runs (results/bisect.md):

    .venv/bin/python scripts/bisect_sim.py LADDER OUT [--trials 200] [--step 20]

OUT holds the runs of scripts/bisect-measure.sh on the ladder LADDER (scripts/bisect-ladder.sh): every run
names the ladder commit it ran (its commit id), so it belongs to the good side (before the step commit) or
the bad side (the step and after). A simulated ladder has 16 rungs with its step at a random rung (or none,
A/A); each probe draws its runs a side at random, without replacement, from the real runs of the side
each rung belongs to, and is judged exactly as the command judges by default (each run's fastest round,
a Welch t test on their logs: nptbench.analysis.bisect.probe_answers); the search is
nptbench.analysis.bisect's. Runs drawn from the whole
measurement, not interleaved in one probe, so a probe here sees more of the machine's drift than a real
one.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from nptbench.analysis.bisect import Probe, Search, probe_answers, probes_bound
from nptbench.analysis.comparison import Effects
from nptbench.schema.runs import load
from nptbench.tools.bisect import RUNS


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ladder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rungs", type=int, default=16)
    parser.add_argument("--step", type=int, default=20, help="the ladder commit that made it slower")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--statistic", default="min", help="as bisect's --statistic")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs a side per probe (as bisect's --runs), doubled once")
    args = parser.parse_args()
    ids = subprocess.run(["git", "-C", str(args.ladder), "rev-list", "--reverse", "HEAD~31..HEAD"],
                         capture_output=True, text=True, check=True).stdout.split()
    base = subprocess.run(["git", "-C", str(args.ladder), "rev-parse", "HEAD~31"], capture_output=True, text=True,
                          check=True).stdout.strip()
    index = {c: i for i, c in enumerate([base, *ids])}
    pools = {"good": [], "bad": []}
    for f in sorted(args.out.glob("*/probe-*/[AB]/**/*.json")):
        run = load(f)
        commit = (run.data.get("commit_info") or {}).get("id")
        if commit in index:
            pools["good" if index[commit] < args.step else "bad"].append(run)
    print(f"real runs: good side {len(pools['good'])}, bad side {len(pools['bad'])}")
    name = pools["good"][0].benchmarks[0].get("name")  # the one benchmark the ladder's runs hold
    rng = np.random.default_rng(20261203)
    effects = Effects()
    results = {"step": [], "aa": []}
    for kind, trials in (("step", args.trials), ("aa", args.trials // 2)):
        for _ in range(trials):
            k = int(rng.integers(1, args.rungs)) if kind == "step" else None

            def side(rung):
                return "bad" if k is not None and rung >= k else "good"

            def probe(first, second, runs):
                a_pool, b_pool = pools[side(first)], pools[side(second)]
                a_pick = list(rng.choice(len(a_pool), runs, replace=False))
                rest = [i for i in range(len(b_pool)) if not (b_pool is a_pool and i in a_pick)]
                b_pick = list(rng.choice(rest, runs, replace=False))
                p = Probe(first, second, runs)
                p.answers = probe_answers([a_pool[i] for i in a_pick], [b_pool[i] for i in b_pick], effects, args.statistic)
                return p

            search = Search([f"r{i}" for i in range(args.rungs)], [name], probe, runs=args.runs, max_runs=2 * args.runs)
            (o,) = search.run()
            results[kind].append({"step": k, "status": o.status, "probes": len(search.probes),
                                  "pairs": len({(p.first, p.second) for p in search.probes}),
                                  "sessions": sum(2 * p.runs for p in search.probes),
                                  "culprits": [(c.before, c.rung, c.confirmed) for c in o.culprits]})
    step, aa = results["step"], results["aa"]
    exact = sum(1 for r in step if r["status"] == "found" and [c[1] for c in r["culprits"]] == [r["step"]])
    wrong = sum(1 for r in step if r["status"] == "found" and [c[1] for c in r["culprits"]] != [r["step"]])
    undecided = sum(1 for r in step if r["status"] == "ambiguous")
    print(f"step ladders: exact culprit {exact}/{len(step)}, wrong culprit without 'ambiguous' {wrong}, "
          f"ambiguous {undecided}, no regression {sum(1 for r in step if r['status'] == 'no regression')}")
    print(f"A/A ladders: no regression {sum(1 for r in aa if r['status'] == 'no regression')}/{len(aa)}, "
          f"ambiguous {sum(1 for r in aa if r['status'] == 'ambiguous')}, culprit {sum(1 for r in aa if r['status'] == 'found')}")
    for kind, rows in (("step", step), ("A/A", aa)):
        print(f"{kind}: probes per bisection (reruns counted), mean {np.mean([r['probes'] for r in rows]):.2f}, max "
              f"{max(r['probes'] for r in rows)}; pairs of rungs probed, mean {np.mean([r['pairs'] for r in rows]):.2f}, "
              f"max {max(r['pairs'] for r in rows)} (bound ceil(log2 {args.rungs}) + 2 = {probes_bound(args.rungs)}); "
              f"sessions, mean {np.mean([r['sessions'] for r in rows]):.0f}")
    if args.json:
        args.json.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
