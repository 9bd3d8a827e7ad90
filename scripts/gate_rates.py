"""Summarize scripts/gate-measure.sh's sessions: the gate's false alarms (A/A) and detections (SSE-only
OpenBLAS), and the same two figures for the gate before the baseline set (one baseline run, failing when a
benchmark's median is more than 10 % above it: pytest-benchmark's --benchmark-compare-fail=median:10%).

    python scripts/gate_rates.py OUT RESULTS_FOLDER

OUT: the folder gate-measure.sh wrote; RESULTS_FOLDER: the checkout's results/ it ran in (the baseline set
in results/<fingerprint>/, the sessions' runs in results/runs/).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from nptbench.schema.runs import load

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
    out, results = Path(argv[0]), Path(argv[1])
    [fp_dir] = [p for p in results.iterdir() if p.is_dir() and p.name != "runs" and list(p.glob("default-*.json"))]
    base = [load(p) for p in sorted(fp_dir.glob("default-*.json"))]
    newest = max(base, key=lambda r: r.time)
    old = {b["fullname"]: b["stats"]["median"] for b in newest.benchmarks}
    saved = sorted((results / "runs").rglob("*.json"))
    saved = [p for p in saved if "baseline-" not in str(p)]
    table = []
    for (name, rc), path in zip(sessions(out), saved):
        log = (out / f"{name}.log").read_text()
        called = slower_rows(log)
        run = load(path)
        ratios = {b["name"]: b["stats"]["median"] / old[b["fullname"]] for b in run.benchmarks if b["fullname"] in old}
        over = [n for n, r in ratios.items() if r > 1.10]
        table.append({"session": name, "gate_exit": rc, "called_slower": called, "judged": len(ratios),
                      "old_gate_over_10pct": over, "run": path.name,
                      "numpy_square_ratio": next((r for n, r in ratios.items() if "numpy-square" in n), None)})
    print(json.dumps(table, indent=1))
    for kind in ("aa", "sse"):
        rows = [t for t in table if t["session"].startswith(kind)]
        if not rows:
            continue
        judged = sum(t["judged"] for t in rows)
        failed = sum(t["gate_exit"] == 1 for t in rows)
        calls = sum(len(t["called_slower"]) for t in rows)
        old_failed = sum(bool(t["old_gate_over_10pct"]) for t in rows)
        old_calls = sum(len(t["old_gate_over_10pct"]) for t in rows)
        print(f"{kind}: {len(rows)} sessions, {judged} judgements")
        print(f"  new gate: {failed} sessions failed; {calls} judgements called slower ({calls / judged:.1%})")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
