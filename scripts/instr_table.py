"""The tables of results/instructions.md, from count runs (``pytest bench --instrument instructions``).

    python scripts/instr_table.py aa DIR                 per row: the largest spread between DIR's count runs
    python scripts/instr_table.py outside DIR            per row: that spread of the whole count beside the
                                                         spread of its instructions outside the allocators,
                                                         and its allocator share
    python scripts/instr_table.py power BASE PCT=DIR ... per extra-work size: affected rows called slower,
                                                         unaffected rows called (nptbench.analysis.counts)
    python scripts/instr_table.py sides AB_OUT            an ``ab --instrument both`` folder: per row the count
                                                         ratio and verdict beside the wall-time ratio and verdict,
                                                         and the rank correlation of the two ratios
    python scripts/instr_table.py wall LABEL=AB_OUT[:N][@MIN] ...
                                                         ``ab`` (timed) folders of extra work: affected rows
                                                         called slower, unaffected rows called (``:N``: judged
                                                         on each side's first N runs only; ``@MIN``: with that
                                                         minimum effect, as ``ab --min-effect MIN``)
    python scripts/instr_table.py gate GATE_OUT [ROUND ...] scripts/power_measure.sh's gate sessions (only the
                                                         rounds named, e.g. r3 r4): per session, affected rows
                                                         the gate called slower, unaffected rows called

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


def _timed(out: str, across: bool = True) -> dict:
    """name -> (wall-time ratio, verdict) of an ab folder's timed runs, judged as ab judges them (compare
    --same-session, pyproject.toml's minimum effects); ``OUT:N`` judges each side's first N runs (the order ab
    ran them in), ``OUT@MIN`` with the minimum effect MIN (a fraction), as ``ab --min-effect MIN`` would."""
    from pathlib import Path

    from nptbench.analysis.comparison import Effects, compare_runs
    from nptbench.schema.runs import load_runs, run_files

    out, _, least = out.partition("@")
    folder, _, first = out.partition(":")

    def side(name: str) -> list:
        files = sorted(run_files(Path(folder) / name), key=lambda f: f.name)
        return load_runs(files[:int(first)] if first else files)

    effects = Effects.from_pyproject(Path("pyproject.toml"), float(least) if least else None)
    pairings = compare_runs(side("A"), side("B"), effects, across=across, mode="session")
    return {r.bench or r.name: (r.result.ratio, r.verdict) for p in pairings for r in p.rows}


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return num / den if den else float("nan")


def side_table(rows: list, timed: dict, digits: int = 3) -> list[tuple[float, float]]:
    """Print each count row (nptbench.analysis.counts.CountRow) beside its wall-time (ratio, verdict) in
    ``timed``; return the (count ratio, wall-time ratio) pairs of the rows that have both."""
    print("| row | count ratio | count verdict | wall-time ratio | wall-time verdict |")
    print("|---|---:|---|---:|---|")
    pairs = []
    for r in sorted(rows, key=lambda r: -r.ratio):
        t = timed.get(r.name)
        if t:
            pairs.append((r.ratio, t[0]))
        print(f"| {r.name} | {r.ratio:.4f} | {r.verdict} | " + (f"{t[0]:.{digits}f} | {t[1]} |" if t else "- | - |"))
    return pairs


def sides(out: str) -> None:
    from pathlib import Path

    p = counts.judge(counts.load(Path(out) / "A-counts" / "counts"), counts.load(Path(out) / "B-counts" / "counts"),
                     across_kernels=True)
    timed = _timed(out)
    pairs = side_table(p.rows, timed)
    only_counts = [r.name for r in p.rows if r.verdict != "same" and timed.get(r.name, (0, "same"))[1] not in
                   ("slower", "faster")]
    print(f"\n{len(p.rows)} rows counted; count verdicts: " + ", ".join(
        f"{sum(r.verdict == w for r in p.rows)} {w}" for w in ("slower", "faster", "same")))
    print(f"wall-time verdicts of the same rows: " + ", ".join(
        f"{sum(timed.get(r.name, (0, ''))[1] == w for r in p.rows)} {w}" for w in ("slower", "faster", "same", "uncertain")))
    print(f"rows the counts call changed and wall time does not: {len(only_counts)}")
    if len(pairs) > 2:
        print(f"rank correlation (Spearman) of count ratio and wall-time ratio over {len(pairs)} rows: "
              f"{spearman([a for a, _ in pairs], [b for _, b in pairs]):.2f}")


def wall(pairs: list[str]) -> None:
    print("| extra work, runs a side | affected rows called slower | wall-time ratios (affected) | unaffected rows called |")
    print("|---|---|---|---|")
    for pair in pairs:
        label, _, out = pair.partition("=")
        timed = _timed(out, across=False)
        hit = {k: v for k, v in timed.items() if k in AFFECTED}
        rest = {k: v for k, v in timed.items() if k not in AFFECTED}
        called = [k for k, v in hit.items() if v[1] == "slower"]
        wrong = [k for k, v in rest.items() if v[1] == "slower"]
        ratios = ", ".join(f"{hit[k][0]:.3f}" for k in sorted(hit))
        print(f"| {label} | {len(called)} of {len(hit)} | {ratios} | {len(wrong)} of {len(rest)}"
              + (f" ({', '.join(wrong)})" if wrong else "") + " |")


def gate(out: str, rounds: list[str] = ()) -> None:
    """The gate sessions of scripts/power_measure.sh (OUT/rR-pPCT.log): per session, the rows it called slower
    (its lines under the table, after the second timing: scripts/gate_rates.py reads them), the affected rows'
    ratios from its table, and its exit status (OUT/../progress.log)."""
    import re
    from pathlib import Path

    from gate_rates import slower_rows

    status = dict(re.findall(r"gate (r\d+-p\d+) exit (\d+)", (Path(out).parent / "progress.log").read_text()))
    print("| session (round, extra work) | exit | affected rows called slower | their ratios | unaffected rows called |")
    print("|---|---:|---|---|---|")
    tally: dict = {}  # extra work -> [affected called, affected judged, unaffected called, unaffected judged]
    logs = sorted(Path(out).glob("r*-p*.log"), key=lambda f: [int(x) for x in re.findall(r"\d+", f.stem)])
    for log in logs:
        if rounds and log.stem.split("-")[0] not in rounds:
            continue
        text = log.read_text()
        ratios = {cells[0]: cells[6] for cells in (line.strip("| ").split(" | ") for line in text.splitlines()
                                                   if line.startswith("| test_")) if len(cells) > 6}
        slower = set(slower_rows(text))
        hit, wrong, rest = slower & AFFECTED, sorted(slower - AFFECTED), len(ratios.keys() - AFFECTED)
        counted = tally.setdefault(int(log.stem.split("-p")[1]), [0, 0, 0, 0])
        for i, n in enumerate((len(hit), len(AFFECTED), len(wrong), rest)):
            counted[i] += n
        print(f"| {log.stem} | {status.get(log.stem, '-')} | {len(hit)} of {len(AFFECTED)} | "
              f"{', '.join(ratios.get(k, '-') for k in sorted(AFFECTED))} | {len(wrong)} of {rest}"
              + (f" ({', '.join(wrong)})" if wrong else "") + " |")
    print("\n| extra work | affected rows called slower | unaffected rows called |\n|---|---|---|")
    for pct, (hit, of, wrong, rest) in sorted(tally.items()):
        print(f"| {pct} % | {hit} of {of} | {wrong} of {rest} |")


def outside(folder: str) -> None:
    rows = counts.counts_of(counts.load(folder))
    found = []
    for name, recs in rows.items():
        whole = counts.spread([r["instructions_per_call"] for r in recs])
        rest = counts.spread([r["instructions_per_call"] - r["allocator_instructions_per_call"] for r in recs
                              if isinstance(r.get("allocator_instructions_per_call"), (int, float))])
        if whole is not None and rest is not None:
            found.append((whole, rest, counts.allocator_share(recs), name))
    print("| row | spread, whole count | spread outside the allocators | allocator share |")
    print("|---|---:|---:|---:|")
    for whole, rest, share, name in sorted(found, reverse=True):
        print(f"| {name} | {whole:.4%} | {rest:.4%} | {share:.2%} |")
    mid = len(found) // 2
    print(f"\n{len(found)} rows; above 0.1 %: {sum(f[0] > 0.001 for f in found)} whole, "
          f"{sum(f[1] > 0.001 for f in found)} outside; median {sorted(f[0] for f in found)[mid]:.4%} whole, "
          f"{sorted(f[1] for f in found)[mid]:.4%} outside")


if __name__ == "__main__":
    if sys.argv[1:2] == ["aa"]:
        aa(sys.argv[2])
    elif sys.argv[1:2] == ["outside"]:
        outside(sys.argv[2])
    elif sys.argv[1:2] == ["power"]:
        power(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:2] == ["sides"]:
        sides(sys.argv[2])
    elif sys.argv[1:2] == ["wall"]:
        wall(sys.argv[2:])
    elif sys.argv[1:2] == ["gate"]:
        gate(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
