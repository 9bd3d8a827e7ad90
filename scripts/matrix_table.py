"""Markdown tables from ``python -m nptbench matrix --json FILE``: per configuration and family the benchmark
whose error came closest to its tolerance (err, tol, err/tol), and per benchmark its largest err/tol over
the configurations. Usage: python scripts/matrix_table.py FILE"""
from __future__ import annotations

import json
import sys

from nptbench.tools.matrix import Outcome

#: How a check other than the result's own is named in the table.
LABELS = {"max_pointwise_rel_err": " (pointwise)", "loss_rel_err": " (first loss)"}


def main(path: str) -> None:
    data = json.load(open(path))
    print("| configuration | family | closest benchmark | error | tolerance | err/tol |")
    print("|---|---|---|---:|---:|---:|")
    per_row: dict[str, tuple] = {}
    for cfg in data:
        if not cfg["applies"]:
            print(f"| {cfg['config']} | - | does not apply: {cfg['why'][:90]} | | | |")
            continue
        ran = Outcome(None, True, cfg["why"], cfg["returncode"], cfg["checks"])
        for fam, c in sorted(ran.worst_by_family().items()):
            print(f"| {cfg['config']} | {fam} | {c.name + LABELS.get(c.kind, '')} | {c.err:.3g} | {c.tol:.3g} "
                  f"| {c.ratio:.3f} |")
        for c in ran.checks():
            if c.name not in per_row or c.ratio > per_row[c.name][0]:
                per_row[c.name] = (c.ratio, cfg["config"], c.rule)
    print()
    print("| benchmark | largest err/tol | under | tolerance's rule |")
    print("|---|---:|---|---|")
    for name, (ratio, cfg, rule) in sorted(per_row.items(), key=lambda kv: -kv[1][0]):
        print(f"| {name} | {ratio:.3g} | {cfg} | {rule} |")


if __name__ == "__main__":
    main(sys.argv[1])
