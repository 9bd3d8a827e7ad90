"""Markdown tables from ``python -m nptbench matrix --json FILE``: per configuration and family the benchmark
whose error came closest to its tolerance (err, tol, err/tol), and per benchmark its largest err/tol over
the configurations. Usage: python scripts/matrix_table.py FILE"""
from __future__ import annotations

import json
import sys

from nptbench.tools.matrix import CHECK_PAIRS, family_of


def ratios(check: dict):
    for err, tol in CHECK_PAIRS:
        if check.get(err) is not None and check.get(tol):
            yield check[err], check[tol], check[err] / check[tol], err


def main(path: str) -> None:
    data = json.load(open(path))
    print("| configuration | family | closest benchmark | error | tolerance | err/tol |")
    print("|---|---|---|---:|---:|---:|")
    per_row: dict[str, tuple] = {}
    for cfg in data:
        if not cfg["applies"]:
            print(f"| {cfg['config']} | - | does not apply: {cfg['why'][:90]} | | | |")
            continue
        worst: dict[str, tuple] = {}
        for c in cfg["checks"]:
            name = c["nodeid"].split("::")[-1]
            for err, tol, ratio, kind in ratios(c):
                fam = family_of(c["nodeid"])
                if fam not in worst or ratio > worst[fam][3]:
                    label = {"max_pointwise_rel_err": " (pointwise)", "loss_rel_err": " (first loss)"}.get(kind, "")
                    worst[fam] = (name + label, err, tol, ratio)
                if name not in per_row or ratio > per_row[name][0]:
                    per_row[name] = (ratio, cfg["config"], c.get("rtol_rule", ""))
        for fam, (name, err, tol, ratio) in sorted(worst.items()):
            print(f"| {cfg['config']} | {fam} | {name} | {err:.3g} | {tol:.3g} | {ratio:.3f} |")
    print()
    print("| benchmark | largest err/tol | under | tolerance's rule |")
    print("|---|---:|---|---|")
    for name, (ratio, cfg, rule) in sorted(per_row.items(), key=lambda kv: -kv[1][0]):
        print(f"| {name} | {ratio:.3g} | {cfg} | {rule} |")


if __name__ == "__main__":
    main(sys.argv[1])
