"""Count ratios between torch releases beside the wall-time verdicts of results/torch-versions.md
(results/instructions.md: real changes).

    python scripts/instr_torch.py BISECT_OUT RUNG_NAMES PAIR... [--md results/torch-versions.md]

BISECT_OUT: a ``bisect --instrument instructions --envs ...`` folder (``probe-NN_<i>-<j>_x1/{A,B}/counts``);
RUNG_NAMES: the rungs' names in ladder order, comma-separated (2.12.1,2.13.0,...); PAIR: ``i-j`` (rung
indices) to tabulate. Each rung's count run is taken from any probe that ran it. The wall-time column is
the verdict and ratio ``ab`` gave the same rows between the same releases, read from the markdown tables
(made on this machine class in an earlier session: other days, the same commands).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from nptbench.analysis import counts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from instr_table import side_table, spearman  # noqa: E402


def rung_runs(out: Path) -> dict:
    """rung index -> its count runs, from the probe folders."""
    found: dict = {}
    for probe in sorted(out.glob("probe-*")):
        m = re.match(r"probe-\d+_(\d+)-(\d+)_x\d+", probe.name)
        if not m:
            continue
        for side, index in (("A", int(m.group(1))), ("B", int(m.group(2)))):
            folder = probe / side / "counts"
            if folder.is_dir() and any(folder.glob("*.json")) and index not in found:
                found[index] = counts.load(folder)
    return found


def wall_tables(md: Path) -> dict:
    """(old version, new version) -> {row: (ratio, verdict)} from torch-versions.md's tables."""
    out, key = {}, None
    for line in md.read_text().splitlines():
        m = re.match(r"## torch (\S+?)(?:\+\S+)? \(A\) against torch (\S+?)(?:\+\S+)? \(B\)", line)
        if m:
            key = (m.group(1), m.group(2))
            out[key] = {}
        elif key and line.startswith("| test_"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            try:
                out[key][cells[0]] = (float(cells[6]), cells[10].split(" (")[0].strip("*"))
            except (ValueError, IndexError):
                continue
    return out


def main(argv: list[str]) -> None:
    md = Path("results/torch-versions.md")
    if "--md" in argv:
        md = Path(argv[argv.index("--md") + 1])
        argv = argv[:argv.index("--md")]
    out, names, pairs = Path(argv[0]), argv[1].split(","), argv[2:]
    runs, walls = rung_runs(out), wall_tables(md)
    for pair in pairs:
        i, j = (int(x) for x in pair.split("-"))
        old, new = names[i], names[j]
        if i not in runs or j not in runs:
            print(f"\n{old} -> {new}: no count run of {old if i not in runs else new} among the probes")
            continue
        p = counts.judge(runs[i], runs[j], across_kernels=True)
        wall = walls.get((old, new), {})
        print(f"\n### torch {old} -> {new}\n")
        both = side_table(p.rows, wall, digits=2)
        called = [r for r in p.rows if r.verdict != "same"]
        uncertain = [r for r in called if wall.get(r.name, (0, ""))[1] == "uncertain"]
        print(f"\n{len(p.rows)} rows; counts call {len(called)} changed "
              f"({sum(r.verdict == 'slower' for r in p.rows)} slower, {sum(r.verdict == 'faster' for r in p.rows)} "
              f"faster); of those, wall time left {len(uncertain)} uncertain")
        if len(both) > 2:
            print(f"rank correlation (Spearman) of count ratio and wall-time ratio over {len(both)} rows: "
                  f"{spearman([a for a, _ in both], [b for _, b in both]):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
