"""The tables of results/instructions.md, from count runs (``pytest bench --instrument instructions``).

    python scripts/instr_table.py aa DIR                 per row: the largest spread between DIR's count runs
    python scripts/instr_table.py power BASE PCT=DIR ... per extra-work size: affected rows called slower,
                                                         unaffected rows called (nptbench.analysis.counts)

The affected rows are the products scripts/instr_mutations.py gives extra work (numpy and torch ``a @ b``
and ``a @ b.T`` of at least 100 rows: mnist-full, abt, square).
"""
from __future__ import annotations

import sys

from nptbench.analysis import counts

AFFECTED = {f"test_matmul[{v}-{e}-float32]" for v in ("numpy", "torch") for e in ("mnist-full", "abt", "square")}


def aa(folder: str) -> None:
    runs = counts.load(folder)
    rows = counts.counts_of(runs)
    spreads = {name: counts.spread([r["instructions_per_call"] for r in recs]) for name, recs in rows.items()}
    spreads = {k: v for k, v in spreads.items() if v is not None}
    print(f"{len(runs)} count runs, {len(rows)} rows counted; rows in every run: "
          f"{sum(len(r) == len(runs) for r in rows.values())}")
    print("| row | instructions/call (median) | largest spread between sessions |")
    print("|---|---:|---:|")
    for name, s in sorted(spreads.items(), key=lambda kv: -kv[1]):
        values = sorted(r["instructions_per_call"] for r in rows[name])
        print(f"| {name} | {values[len(values) // 2]:,.0f} | {s:.4%} |")
    ordered = sorted(spreads.values())
    over = [k for k, v in spreads.items() if v > 0.001]
    print(f"\nlargest {ordered[-1]:.4%}, median {ordered[len(ordered) // 2]:.5%}; rows above 0.1 %: {len(over)}"
          + (f" ({', '.join(sorted(over))})" if over else ""))


def power(base: str, pairs: list[str]) -> None:
    base_runs = counts.load(base)
    print("| extra work | affected rows called slower | realized count ratios (affected) | unaffected rows called |")
    print("|---|---|---|---|")
    per_row: dict = {}
    for pair in pairs:
        label, _, folder = pair.partition("=")
        p = counts.judge(base_runs, counts.load(folder))
        hit = [r for r in p.rows if r.name in AFFECTED]
        rest = [r for r in p.rows if r.name not in AFFECTED]
        called = [r for r in hit if r.verdict == "slower"]
        wrong = [r for r in rest if r.verdict != "same"]
        ratios = ", ".join(f"{r.ratio:.4f}" for r in sorted(hit, key=lambda r: r.name))
        for r in hit:
            per_row.setdefault(r.name, {})[label] = f"{r.ratio:.4f} {r.verdict} (beyond {r.threshold:.2%})"
        print(f"| {label} % | {len(called)} of {len(hit)} | {ratios} | {len(wrong)} of {len(rest)}"
              + (f" ({', '.join(f'{r.name} {r.verdict} {r.ratio:.4f}' for r in wrong)})" if wrong else "") + " |")
    labels = [pair.partition("=")[0] for pair in pairs]
    print("\n| affected row | " + " | ".join(f"{x} %" for x in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name in sorted(per_row):
        print(f"| {name} | " + " | ".join(per_row[name].get(x, "-") for x in labels) + " |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["aa"]:
        aa(sys.argv[2])
    elif sys.argv[1:2] == ["power"]:
        power(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
