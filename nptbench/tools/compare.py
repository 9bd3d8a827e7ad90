"""``python -m nptbench compare BASE NEW``: did NEW get slower than BASE, beyond noise and beyond a minimum effect?

No seed experiment of its own: this judges every seed's benchmarks between two saved runs (or folders of
runs, from one or many machines). For each benchmark present on both sides, from the raw round times:

- the ratio of medians, NEW / BASE (above 1: NEW is slower), an interval, a p-value and a verdict
  (slower, faster, same, uncertain) that needs both significance and a minimum effect (10 % unless
  pyproject.toml's ``[tool.nptbench.min-effect]`` says otherwise for the experiment): the statistics are
  nptbench.analysis.verdict's.

GPU records (``device == "cuda"``) are judged on their per-call device times (CUDA events, record field
``device_times_s``) when both sides have them, with the host medians shown beside: the host time of a
short GPU call also holds the per-call synchronization and event cost. Otherwise the host rounds are
judged and the row says so.

Benchmarks are matched, kept apart by their conditions and pooled over several runs of one side (a
folder) as nptbench.analysis.across says, like everywhere in the suite; interleaved repeats (A B B A ...,
as ``python -m nptbench ab`` makes them) let the differences between runs count as noise. Runs are
grouped by hardware fingerprint: each machine is judged against its own BASE runs and all machines are laid side by
side; comparing across fingerprints prints a loud warning. The exit status is 1 when any benchmark is
``slower``, 2 when a run cannot be read, 3 when nothing was compared.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is a dependency there (pyproject.toml)
    import tomli as tomllib

from nptbench.analysis.across import Bench, Times, benches
from nptbench.analysis.verdict import (CONFIDENCE, DEFAULT_MIN_EFFECT, Verdict, hierarchical_verdict,
                                       verdict)
from nptbench.schema.record import conditions_label
from nptbench.schema.runs import Run, RunError, load_runs


# --- configuration ---------------------------------------------------------------------------------------

@dataclass
class Effects:
    """Minimum effect sizes: a default and per-experiment overrides (pyproject.toml [tool.nptbench.min-effect])."""
    default: float = DEFAULT_MIN_EFFECT
    experiments: dict = field(default_factory=dict)

    def __call__(self, experiment: str) -> float:
        return float(self.experiments.get(experiment, self.default))

    @classmethod
    def from_pyproject(cls, path: Path, default: float | None = None) -> "Effects":
        table = {}
        if Path(path).is_file():
            with open(path, "rb") as f:
                table = dict(tomllib.load(f).get("tool", {}).get("nptbench", {}).get("min-effect", {}))
        base = table.pop("default", DEFAULT_MIN_EFFECT)
        return cls(base if default is None else default, table)


# --- comparing and printing ------------------------------------------------------------------------------

@dataclass
class Row:
    name: str
    experiment: str
    shape: str
    base_median: float  # of the times judged: device times where both sides have them, else host
    new_median: float
    min_effect: float
    result: Verdict
    timer: str = "host"  # "device" (CUDA events) or "host" (pytest-benchmark's wall time)
    base_host: float | None = None  # host medians, shown beside device medians
    new_host: float | None = None

    @property
    def verdict(self) -> str:
        return self.result.verdict

    def ratio_text(self) -> str:
        r = self.result
        if r.verdict == NOT_COMPARED:
            return r.note
        ci = f" [{r.low:.3f}, {r.high:.3f}]" if r.low is not None else ""
        return f"ratio {r.ratio:.3f}{ci}" + (" on device times" if self.timer == "device" else "")


@dataclass
class Pairing:
    """One machine's (or one pair of machines') comparison."""
    base_fp: str
    new_fp: str
    base_runs: list
    new_runs: list
    rows: list = field(default_factory=list)
    only_base: list = field(default_factory=list)
    only_new: list = field(default_factory=list)

    @property
    def same_hardware(self) -> bool:
        return self.base_fp == self.new_fp and self.base_fp != "unknown"

    @property
    def label(self) -> str:
        return self.new_fp if self.same_hardware else f"{self.base_fp} -> {self.new_fp}"


def _by_fingerprint(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run.fingerprint, []).append(run)
    return out


def judged_times(b: Bench, n: Bench) -> tuple[Times, Times, str, str]:
    """What a pair is judged on: per-call device times when both sides saved them (a GPU record's host
    time also holds the per-call synchronization and event cost), else host rounds, with a note when a
    GPU record lacked them. Returns (BASE times, NEW times, "device" or "host", note)."""
    def raw_device(x: Bench) -> bool:
        return x.device is not None and x.device.rounds is not None

    if raw_device(b) and raw_device(n):
        return b.device, n.device, "device", ""
    missing = [side for side, x in (("BASE", b), ("NEW", n)) if not raw_device(x)]
    note = f"host rounds: no per-call device times in {' and '.join(missing)}" if b.gpu or n.gpu else ""
    return b.host, n.host, "host", note


#: The verdict of a pair measured under different conditions, unless compare is asked to judge it anyway.
NOT_COMPARED = "not compared"


def _conditions_text(conds: tuple) -> str:
    return conditions_label(conds) or "usual conditions"


def _named(bench: Bench, with_conditions: bool) -> str:
    """A benchmark's name, with its conditions where the name alone would not tell it apart."""
    label = conditions_label(bench.conds)
    return f"{bench.name} [{label}]" if with_conditions and label else bench.name


def judge(b: Bench, n: Bench, effect: float) -> tuple[Verdict, str]:
    """The verdict on one pair and which times it was taken on ("device" or "host")."""
    bt, nt, timer, note = judged_times(b, n)
    if bt.rounds is not None and nt.rounds is not None and len(bt.run_times) > 1 and len(nt.run_times) > 1:
        result = hierarchical_verdict(bt.run_times, nt.run_times, effect)
    elif bt.rounds is not None and nt.rounds is not None:
        result = verdict(bt.rounds, nt.rounds, effect)
    else:
        result = Verdict(nt.median / bt.median, note="saved without raw round times")
    if note:
        result.note = "; ".join(x for x in (result.note, note) if x)
    return result, timer


def compare_pair(base_runs: list[Run], new_runs: list[Run], effects: Effects, across: bool = False) -> Pairing:
    """Judge each benchmark of NEW against the same benchmark of BASE under the same conditions. One found
    in BASE only under other conditions is refused (verdict "not compared", with the reason), or with
    ``across`` judged and marked."""
    pairing = Pairing(base_runs[0].fingerprint, new_runs[0].fingerprint, base_runs, new_runs)
    old, new = benches(base_runs), benches(new_runs)
    # a side holding one benchmark under several conditions names each with them
    mixed_old, mixed_new = (len({x.conds for x in side.values()}) > 1 for side in (old, new))
    old_by_work: dict = {}
    for key in sorted(old, key=str):
        old_by_work.setdefault(key[0], []).append(key)
    used_old, used_new = set(), set()
    for key, n in new.items():
        if key in old:
            b, differ = old[key], ""
        elif key[0] in old_by_work:
            b = old[old_by_work[key[0]][0]]
            differ = (f"measured under different conditions: BASE {_conditions_text(b.conds)}, "
                      f"NEW {_conditions_text(n.conds)}")
        else:
            continue
        used_old.add(b.key)
        used_new.add(key)
        effect = effects(n.experiment)
        name = _named(n, mixed_new or bool(differ))
        if differ and not across:
            pairing.rows.append(Row(name, n.experiment, n.shape, b.host.median, n.host.median, effect,
                                    Verdict(float("nan"), verdict=NOT_COMPARED,
                                            note=differ + " (--across-conditions judges them anyway)"),
                                    "host", b.host.median, n.host.median))
            continue
        result, timer = judge(b, n, effect)
        if differ:
            result.note = "; ".join(x for x in (result.note, f"**{differ}**") if x)
        pairing.rows.append(Row(name, n.experiment, n.shape, *(
            (b.device.median, n.device.median) if timer == "device" else (b.host.median, n.host.median)),
            effect, result, timer, b.host.median, n.host.median))
    pairing.rows.sort(key=lambda r: (r.verdict == NOT_COMPARED, -np.nan_to_num(r.result.ratio), r.name))
    pairing.only_base = sorted(_named(b, mixed_old) for k, b in old.items() if k not in used_old)
    pairing.only_new = sorted(_named(n, mixed_new) for k, n in new.items() if k not in used_new)
    return pairing


def compare_runs(base: list[Run], new: list[Run], effects: Effects | None = None,
                 across: bool = False) -> list[Pairing]:
    """Pair runs by hardware fingerprint; a lone BASE machine is paired with every NEW machine. ``across``:
    also judge benchmarks measured under different conditions (marked), instead of refusing them."""
    effects = effects or Effects()
    base_fp, new_fp = _by_fingerprint(base), _by_fingerprint(new)
    pairings = []
    for fp, runs in new_fp.items():
        if fp in base_fp:
            pairings.append(compare_pair(base_fp[fp], runs, effects, across))
        elif len(base_fp) == 1:
            pairings.append(compare_pair(next(iter(base_fp.values())), runs, effects, across))
        else:
            pairings.append(Pairing("none", fp, [], runs))
    return pairings


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


#: How many unmatched benchmarks are named before the rest is only counted (a ``-k`` subset compared
#: with a whole-suite baseline leaves most of the baseline unmatched).
LIST_LIMIT = 10


def _names(names: list[str], limit: int = LIST_LIMIT) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return f"{len(names)} benchmarks, {', '.join(names[:limit])} and {len(names) - limit} more"


def _versions(runs: list[Run]) -> str:
    keys = ("torch", "numpy", "numba")
    seen = sorted({" ".join(f"{k} {r.versions.get(k)}" for k in keys if r.versions.get(k)) for r in runs})
    return "; ".join(s for s in seen if s) or "versions not recorded"


def render(pairings: list[Pairing], base_label: str = "BASE", new_label: str = "NEW") -> str:
    out = []
    for p in pairings:
        out.append(f"### {p.label}")
        out.append("")
        if not p.base_runs:
            out.append(f"No {base_label} run from this machine: nothing to compare with.")
            out.append("")
            continue
        if not p.same_hardware:
            out.append(f"> **WARNING: different hardware.** {base_label} ran on `{p.base_fp}`, {new_label} on "
                       f"`{p.new_fp}`: these ratios compare machines, not code.")
            out.append("")
        out.append(f"{base_label}: {len(p.base_runs)} run(s), {_versions(p.base_runs)}, profile "
                   f"{', '.join(sorted({r.profile for r in p.base_runs}))}  ")
        out.append(f"{new_label}: {len(p.new_runs)} run(s), {_versions(p.new_runs)}, profile "
                   f"{', '.join(sorted({r.profile for r in p.new_runs}))}")
        out.append("")
        out.append(f"| benchmark | shape | timed by | {base_label} median (us) | {new_label} median (us) | "
                   f"host medians (us) | ratio | {CONFIDENCE:.0%} CI | p | min effect | verdict |")
        out.append("|---|---|---|---:|---:|---:|---:|---|---:|---:|---|")
        for r in p.rows:
            v = r.result
            ci = f"{v.low:.3f}-{v.high:.3f}" if v.low is not None else "-"
            pv = f"{v.p:.2g}" if v.p is not None else "-"
            word = f"**{v.verdict}**" if v.verdict in ("slower", "faster") else v.verdict
            if v.note:
                word += f" ({v.note})"
            timer, host = "host", "-"
            if r.timer == "device":
                timer, host = "device (CUDA events)", f"{_us(r.base_host)} → {_us(r.new_host)}"
            ratio = "-" if r.verdict == NOT_COMPARED else f"{v.ratio:.2f}"
            out.append(f"| {r.name} | {r.shape} | {timer} | {_us(r.base_median)} | {_us(r.new_median)} | {host} | "
                       f"{ratio} | {ci} | {pv} | {r.min_effect:.0%} | {word} |")
        counts = {w: sum(r.verdict == w for r in p.rows) for w in ("slower", "faster", "same", "uncertain",
                                                                     NOT_COMPARED)}
        out.append("")
        out.append("Verdicts: " + ", ".join(f"{n} {w}" for w, n in counts.items()) + ".")
        if p.only_base:
            out.append(f"Only in {base_label}: {_names(p.only_base)}.")
        if p.only_new:
            out.append(f"Only in {new_label}: {_names(p.only_new)}.")
        out.append("")
    if len(pairings) > 1:
        out.append(side_by_side(pairings))
    return "\n".join(out).rstrip() + "\n"


def side_by_side(pairings: list[Pairing]) -> str:
    """One row per benchmark, one column per machine: ratio and verdict."""
    cols = [p for p in pairings if p.rows]
    names = sorted({r.name for p in cols for r in p.rows})
    cells = {(i, r.name): r.verdict if r.verdict == NOT_COMPARED else f"{r.result.ratio:.2f} {r.verdict}"
             for i, p in enumerate(cols) for r in p.rows}
    lines = ["### All machines side by side (ratio NEW/BASE and verdict)", "",
             "| benchmark | " + " | ".join(f"`{p.label}`" for p in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cells.get((i, name), "-") for i in range(len(cols))) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench compare",
        description="Compare saved runs (files or folders, from one or many machines): ratio of medians with a "
                    "confidence interval and a verdict per benchmark. Exit status 1 when anything is slower, "
                    "2 when a run cannot be read, 3 when nothing was compared.",
    )
    parser.add_argument("base", type=Path, help="saved run(s): a .json file or a folder of them")
    parser.add_argument("new", type=Path, help="saved run(s) to judge against BASE")
    parser.add_argument("--min-effect", type=float, default=None,
                        help="smallest ratio change that counts, as a fraction (default: pyproject.toml "
                             f"[tool.nptbench.min-effect] default, else {DEFAULT_MIN_EFFECT})")
    parser.add_argument("--across-conditions", action="store_true",
                        help="also judge benchmarks measured under different conditions (a cold L2, thread "
                             "variables), marking each such row; by default they are not compared")
    parser.add_argument("--config", type=Path, default=Path("pyproject.toml"),
                        help="where [tool.nptbench.min-effect] is read (default: ./pyproject.toml)")
    args = parser.parse_args(argv)
    try:
        base, new = load_runs([args.base]), load_runs([args.new])
    except RunError as exc:
        print(f"nptbench compare: {exc}", file=sys.stderr)
        return 2
    try:  # pooling runs can find one saved without raw rounds: a reason, not a traceback
        pairings = compare_runs(base, new, Effects.from_pyproject(args.config, args.min_effect), args.across_conditions)
    except RunError as exc:
        print(f"nptbench compare: {exc}", file=sys.stderr)
        return 2
    for p in pairings:
        if p.base_runs and not p.same_hardware:
            print(f"WARNING: comparing different hardware: {p.base_fp} vs {p.new_fp}", file=sys.stderr)
    print(render(pairings))
    slower = [r.name for p in pairings for r in p.rows if r.verdict == "slower"]
    if slower:
        print(f"nptbench compare: {len(slower)} benchmark(s) slower: {', '.join(slower)}", file=sys.stderr)
        return 1
    empty = [p.label for p in pairings if all(r.verdict == NOT_COMPARED for r in p.rows)]
    if empty:  # a gate that compared nothing must not pass quietly
        print(f"nptbench compare: nothing was compared for {', '.join(empty)} (no benchmark on both sides)",
              file=sys.stderr)
        return 3
    return 0
