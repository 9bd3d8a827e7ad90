"""A gate measurement's runs as a history (results/history-rates.md, "A second history"):

    python scripts/gate_history.py DEST OUT RESULTS_FOLDER [OUT RESULTS_FOLDER ...]

OUT and RESULTS_FOLDER as for scripts/gate_rates.py, one pair per measurement. Every run the measurements
saved -- the baseline set's runs (``results/runs/baseline-*``) and each session's run, a run found twice
read once -- is written to DEST in the order it was made,
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
    dest, pairs = Path(argv[0]), argv[1:]
    kinds, seen = [], set()
    for out, results in zip(map(Path, pairs[::2]), map(Path, pairs[1::2])):
        names = [line.split()[0] for line in (out / "sessions.txt").read_text().splitlines()]
        saved = sorted((results / "runs").rglob("*.json"))
        sessions = [load(p) for p in saved if "baseline-" not in str(p)]
        found = [("aa", load(p)) for p in saved if "baseline-" in str(p)]
        found += [(n.split("-")[0], r) for n, r in zip(names, sessions)]
        kinds += [(k, r) for k, r in found if r.time not in seen]
        seen |= {r.time for _, r in found}
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
