"""Summarize scripts/gate-measure.sh's sessions: the gate's false alarms (A/A) and detections (SSE-only
OpenBLAS), and the same two figures for the gate before the baseline set (one baseline run, failing when a
benchmark's median is more than 10 % above it: pytest-benchmark's --benchmark-compare-fail=median:10%).

    python scripts/gate_rates.py OUT RESULTS_FOLDER [--statistic min|median]

OUT: the folder gate-measure.sh wrote; RESULTS_FOLDER: the checkout's results/ it ran in (the baseline set
in results/<fingerprint>/, the sessions' runs in results/runs/). Each session's verdicts are compare's on
its saved run against the set (what the gate computes; this code's compare, with --statistic), beside the
gate's exit status as the session ran it.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from nptbench.env import machine
from nptbench.schema.runs import load
from nptbench.analysis import comparison
from nptbench.analysis.verdict import SLOWER

AFFECTED = re.compile(r"numpy-(square|abt|mnist5)")  # numpy's products: what the SSE kernels slow


def sessions(out: Path) -> list[tuple[str, int]]:
    rows = []
    for line in (out / "sessions.txt").read_text().splitlines():
        name, rc, _ = line.split()
        rows.append((name, int(rc)))
    return rows


def slower_rows(log: str) -> list[str]:
    """The rows the gate called slower (its regression lines)."""
    return re.findall(r"nptbench: (test_\w+\[[^\]]+\]): slower", log)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    statistic = argv[argv.index("--statistic") + 1] if "--statistic" in argv else comparison.STATISTIC
    out, results = Path(argv[0]), Path(argv[1])
    fp_dir = results / machine.fingerprint()
    base = [load(p) for p in sorted(fp_dir.glob("default-*.json"))]
    newest = max(base, key=lambda r: r.time)
    old = {b["fullname"]: b["stats"]["median"] for b in newest.benchmarks}
    saved = sorted((results / "runs").rglob("*.json"))
    saved = [p for p in saved if "baseline-" not in str(p)]
    table = []
    for (name, rc), path in zip(sessions(out), saved):
        log = (out / f"{name}.log").read_text()
        run = load(path)
        pairing = comparison.compare_runs(base, [run], comparison.Effects(), statistic=statistic)
        status, _ = comparison.outcome(pairing)
        called = [r.name for p in pairing for r in p.rows if r.verdict == SLOWER]
        detects = {r.name: r.min_detectable for p in pairing for r in p.rows}
        ratios = {b["name"]: b["stats"]["median"] / old[b["fullname"]] for b in run.benchmarks if b["fullname"] in old}
        over = [n for n, r in ratios.items() if r > 1.10]
        table.append({"session": name, "exit_as_run": rc, "gate_exit": int(status), "called_slower": called,
                      "slower_as_run": slower_rows(log), "detects": detects, "judged": len(ratios),
                      "old_gate_over_10pct": over, "run": path.name,
                      "numpy_square_ratio": next((r for n, r in ratios.items() if "numpy-square" in n), None)})
    (out / f"rates-{statistic}.json").write_text(json.dumps(table, indent=1))
    print(f"verdicts by compare --statistic {statistic} on each session's saved run against the set of "
          f"{len(base)} runs")
    for kind in ("aa", "sse"):
        rows = [t for t in table if t["session"].startswith(kind)]
        if not rows:
            continue
        judged = sum(t["judged"] for t in rows)
        failed = sum(t["gate_exit"] == 1 for t in rows)
        as_run = sum(t["exit_as_run"] == 1 for t in rows)
        calls = sum(len(t["called_slower"]) for t in rows)
        old_failed = sum(bool(t["old_gate_over_10pct"]) for t in rows)
        old_calls = sum(len(t["old_gate_over_10pct"]) for t in rows)
        print(f"{kind}: {len(rows)} sessions, {judged} judgements")
        print(f"  new gate: {failed} sessions failed; {calls} judgements called slower ({calls / judged:.1%}); "
              f"exit statuses {sorted(t['gate_exit'] for t in rows)}; as run (the gate at the time): {as_run} failed")
        print(f"  old gate: {old_failed} sessions failed; {old_calls} judgements over 10 % ({old_calls / judged:.1%})")
        if kind == "sse":
            named = sum(any(AFFECTED.search(c) for c in t["called_slower"]) for t in rows)
            unaffected = [sum(not AFFECTED.search(c) for c in t["called_slower"]) for t in rows]
            print(f"  new gate: numpy product rows named in {named} of {len(rows)}; unaffected rows called slower "
                  f"per session: max {max(unaffected)}, total {sum(unaffected)}")
            old_named = sum(any(AFFECTED.search(c) for c in t["old_gate_over_10pct"]) for t in rows)
            old_unaff = [sum(not AFFECTED.search(c) for c in t["old_gate_over_10pct"]) for t in rows]
            print(f"  old gate: numpy product rows over 10 % in {old_named} of {len(rows)}; unaffected rows over "
                  f"10 % per session: max {max(old_unaff)}, total {sum(old_unaff)}")
    yardstick_link(base, [load(p) for p in saved[:len(table)]], table)
    return 0


def yardstick_link(base, runs, table) -> None:
    """Would normalizing by the yardsticks help? Across the A/A sessions: the correlation between a
    yardstick's log ratio (session / set) and the log ratios of the rows of the kind it could explain, and
    how much of those rows' variance it would remove."""
    import math

    import numpy as np

    from nptbench.analysis import drift

    set_state = drift.side_state([drift.run_state(r.info) for r in base])
    med = {}
    for r in base:
        for b in r.benchmarks:
            med.setdefault(b["fullname"], []).append(math.log(b["stats"]["median"]))
    center = {k: float(np.mean(v)) for k, v in med.items()}
    for name, kind in drift.KIND.items():
        xs, ys = [], []
        for run, t in zip(runs, table):
            if not t["session"].startswith("aa"):
                continue
            state = drift.run_state(run.info)
            if not state or name not in state or name not in set_state:
                continue
            x = math.log(state[name] / set_state[name])
            for b in run.benchmarks:
                rec = {**b["extra_info"], "median": b["stats"]["median"]}
                if kind in drift.kinds(rec) and b["fullname"] in center:
                    xs.append(x)
                    ys.append(math.log(b["stats"]["median"]) - center[b["fullname"]])
        if len(xs) > 3:
            r = float(np.corrcoef(xs, ys)[0, 1])
            print(f"yardstick {name} vs {kind} rows over the A/A sessions: {len(xs)} row-sessions, "
                  f"correlation of log ratios {r:+.2f} (normalizing would remove {100 * r * r:.0f} % of their "
                  f"variance at best); yardstick log ratio sd {np.std(xs):.3f}, rows' {np.std(ys):.3f}")


if __name__ == "__main__":
    sys.exit(main())
