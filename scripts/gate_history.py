"""A gate measurement's runs as a history (results/README.md, "History on a shared machine, measured"):

    python scripts/gate_history.py OUT RESULTS_FOLDER DEST

OUT and RESULTS_FOLDER as for scripts/gate_rates.py. Every run the measurement saved -- the baseline set's
runs (``results/runs/baseline-*``) and each session's run -- is written to DEST in the order it was made,
named as scripts/history_rates.py reads them: ``NNNN_hist-aa-*`` (the set's runs and the A/A sessions),
``hist-sse-*``, ``hist-back-*``, without raw round times (the history reads one time per run).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from nptbench.schema.runs import load


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out, results, dest = Path(argv[0]), Path(argv[1]), Path(argv[2])
    names = [line.split()[0] for line in (out / "sessions.txt").read_text().splitlines()]
    saved = sorted((results / "runs").rglob("*.json"))
    sets = [load(p) for p in saved if "baseline-" in str(p)]
    sessions = [load(p) for p in saved if "baseline-" not in str(p)]
    kinds = [("aa", r) for r in sets] + [(n.split("-")[0], r) for n, r in zip(names, sessions)]
    kinds.sort(key=lambda kr: kr[1].time)
    dest.mkdir(parents=True, exist_ok=True)
    count: dict = {}
    for i, (kind, run) in enumerate(kinds, 1):
        count[kind] = count.get(kind, 0) + 1
        data = run.data
        for bench in data["benchmarks"]:
            bench["stats"].pop("data", None)
        (dest / f"{i:04d}_hist-{kind}-{count[kind]:02d}.json").write_text(json.dumps(data, indent=1))
    print(f"{len(kinds)} runs into {dest}: " + ", ".join(f"{n} {k}" for k, n in count.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
