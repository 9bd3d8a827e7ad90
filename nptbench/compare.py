"""``python -m nptbench compare BASE NEW``: did NEW get slower than BASE, beyond noise and beyond a minimum effect?

No seed experiment of its own: this judges every seed's benchmarks between two saved runs (or folders of
runs, from one or many machines). For each benchmark present on both sides, from the raw round times:

- the ratio of medians, NEW / BASE (above 1: NEW is slower), taken over the batch medians below;
- a 95 % confidence interval of that ratio, from scipy's bootstrap of the median ratio, and a two-sided
  Mann-Whitney U test. Both work on the medians of consecutive batches of rounds (when there are enough
  rounds), because noise on a shared machine comes in bursts: rounds next to each other are not
  independent, and treating thousands of them as such would give intervals far too narrow. With several
  runs on both sides the interval comes from a two-level bootstrap instead (runs, then batch medians
  within each run: :func:`hierarchical_verdict`), so that a run that drifted as a whole counts as noise;
- a verdict that needs both significance and size: ``slower`` when the whole interval lies above 1 + e
  (e: the minimum effect, 10 % unless pyproject.toml's ``[tool.nptbench.min-effect]`` says otherwise for
  the experiment) and the test rejects "same distribution"; ``faster`` likewise below 1 / (1 + e);
  ``same`` when the whole interval lies within [1 / (1 + e), 1 + e]; ``uncertain`` otherwise.

GPU records (``device == "cuda"``) are judged on their per-call device times (CUDA events, record field
``device_times_s``) when both sides have them, with the host medians shown beside: the host time of a
short GPU call also holds the per-call synchronization and event cost. Otherwise the host rounds are
judged and the row says so.

Benchmarks are matched by their record (experiment, variant, backend, device, dtype, shape), not by test
name: the same work at the same shape matches across profiles and renamed files. A benchmark without a
record is matched by its full pytest name. Several runs on one side (a folder) are pooled per benchmark,
so interleaved repeats (A B B A ..., as ``python -m nptbench ab`` makes them) let the differences between
runs count as noise. Runs are grouped by
hardware fingerprint: each machine is judged against its own BASE runs and all machines are laid side by
side; comparing across fingerprints prints a loud warning. The exit status is 1 when any benchmark is
``slower``, 2 when a run cannot be read, 3 when nothing was compared.
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli is a dependency there (pyproject.toml)
    import tomli as tomllib

from .record import conditions_label
from .runs import Run, RunError, load_runs

DEFAULT_MIN_EFFECT = 0.10
CONFIDENCE = 0.95
#: Rounds are grouped into at most this many consecutive batches (at least MIN_BATCH rounds each).
BATCHES = 20
MIN_BATCH = 3
#: Fewest rounds a side for any verdict but "uncertain" (Mann-Whitney needs 4 vs 4 to reach p < 0.05).
MIN_ROUNDS = 5
RESAMPLES = 2000


# --- runs and their benchmarks ---------------------------------------------------------------------------

#: Record fields that, besides the shapes, fix how much work one call does (a training run's length).
WORK_FIELDS = ("iterations", "steps", "epochs", "repetitions")


def match_key(bench: dict) -> tuple:
    rec = bench.get("extra_info") or {}
    if all(k in rec for k in ("experiment", "variant", "dtype", "shape")):
        work = json.dumps({k: rec[k] for k in WORK_FIELDS if k in rec}, sort_keys=True)
        return ("record", rec["experiment"], rec["variant"], rec.get("backend"), rec.get("device"),
                rec["dtype"], json.dumps(rec["shape"]), work)
    return ("name", bench["fullname"])


@dataclass
class Times:
    """One side's round times of a benchmark, pooled over its runs."""
    rounds: np.ndarray | None  # per-round times (s), None when saved without them
    median: float
    run_times: list = field(default_factory=list)  # each pooled run's rounds: the independent units

    @classmethod
    def of(cls, data, median: float | None = None) -> "Times":
        rounds = np.asarray(data, dtype=float) if data else None
        med = float(np.median(rounds)) if rounds is not None else float(median)
        return cls(rounds, med, [rounds] if rounds is not None else [])

    def pool(self, other: "Times") -> None:
        self.rounds = np.concatenate([self.rounds, other.rounds])
        self.median = float(np.median(self.rounds))
        self.run_times += other.run_times


@dataclass
class Bench:
    key: tuple
    name: str
    experiment: str
    shape: str
    host: Times  # pytest-benchmark's rounds: wall time on the host
    device: Times | None = None  # per-call CUDA-event times (record field device_times_s), GPU records only
    gpu: bool = False  # the record says device == "cuda"
    conds: tuple = ()  # nptbench.record.conditions: part of the identity, () for the usual ones
    runs: int = 1


def device_times(rec: dict):
    """A GPU record's per-call device times (nptbench.record.GPU_FIELDS), or None."""
    times = rec.get("device_times_s") if rec.get("device") == "cuda" else None
    return times if times and float(np.median(times)) > 0 else None


def benches(runs: list[Run]) -> dict[tuple, Bench]:
    """Every benchmark of these runs by (match key, conditions). Several runs of one benchmark under the
    same conditions are pooled: their rounds are joined in the order the runs were made, so that the
    difference between runs counts as noise. Device rounds are pooled alike, and dropped when one of the
    runs has none (host rounds remain). Under other conditions (nptbench.record.conditions: a cold L2,
    thread variables) it is another benchmark."""
    out: dict[tuple, Bench] = {}
    for run in sorted(runs, key=lambda r: (r.time, str(r.path))):
        for b in run.benchmarks:
            rec = b.get("extra_info") or {}
            conds = run.conditions(rec)
            key = (match_key(b), conds)
            host = Times.of(b["stats"].get("data"), b["stats"]["median"])
            dev = device_times(rec)
            device = Times.of(dev) if dev else None
            if key in out:
                prev = out[key]
                if prev.host.rounds is None or host.rounds is None:  # a median alone cannot be pooled with rounds
                    raise RunError(f"{run.path}: {b['fullname']} is in several runs but not every one "
                                        "holds raw round times (--benchmark-save-data), so they cannot be pooled")
                prev.runs += 1
                prev.host.pool(host)
                if prev.device is not None and device is not None:
                    prev.device.pool(device)
                else:
                    prev.device = None
                continue
            out[key] = Bench(key, b.get("name") or b["fullname"], rec.get("experiment") or b.get("group") or "",
                             "·".join("x".join(map(str, s)) for s in rec.get("shape") or []), host, device,
                             rec.get("device") == "cuda", conds)
    return out


# --- the verdict -----------------------------------------------------------------------------------------

def batch_medians(times: np.ndarray) -> np.ndarray:
    """Medians of consecutive batches of rounds (the rounds themselves when there are too few)."""
    k = min(BATCHES, len(times) // MIN_BATCH)
    if k < 5:
        return times
    return np.array([np.median(part) for part in np.array_split(times, k)])


def _median_ratio(base, new, axis=-1):
    return np.median(new, axis=axis) / np.median(base, axis=axis)


def _bootstrap_ci(base, new, confidence, seed):
    from scipy import stats

    kwargs = dict(n_resamples=RESAMPLES, confidence_level=confidence, method="percentile", vectorized=True)
    params = inspect.signature(stats.bootstrap).parameters
    kwargs["rng" if "rng" in params else "random_state"] = np.random.default_rng(seed)
    res = stats.bootstrap((base, new), _median_ratio, **kwargs)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass
class Verdict:
    ratio: float
    low: float | None = None
    high: float | None = None
    p: float | None = None
    verdict: str = "uncertain"
    note: str = ""


def verdict(base: np.ndarray, new: np.ndarray, min_effect: float = DEFAULT_MIN_EFFECT,
            confidence: float = CONFIDENCE, seed: int = 0) -> Verdict:
    """Ratio of medians NEW/BASE, its bootstrap interval, the Mann-Whitney p-value and the verdict."""
    from scipy import stats

    base, new = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if len(base) < MIN_ROUNDS or len(new) < MIN_ROUNDS:
        # With 4 rounds a side the smallest Mann-Whitney p is 0.03, with 3 it is 0.1: too few to call
        # slower, and a bootstrap of a median of 3 values is too coarse to call same.
        return Verdict(float(np.median(new) / np.median(base)),
                       note=f"fewer than {MIN_ROUNDS} rounds a side: too few to call")
    xb, xn = batch_medians(base), batch_medians(new)
    ratio = float(_median_ratio(xb, xn))  # the statistic the interval is about (medians of batch medians)
    low, high = _bootstrap_ci(xb, xn, confidence, seed)
    p = float(stats.mannwhitneyu(xn, xb, alternative="two-sided").pvalue)
    return Verdict(ratio, low, high, p, _word(low, high, p, min_effect, confidence))


def _word(low: float, high: float, p: float, min_effect: float, confidence: float) -> str:
    """slower / faster: the whole interval beyond the minimum effect, and significant; same: the whole
    interval within it; uncertain otherwise."""
    alpha, up, down = 1 - confidence, 1 + min_effect, 1 / (1 + min_effect)
    if low > up and p < alpha:
        return "slower"
    if high < down and p < alpha:
        return "faster"
    if low >= down and high <= up:
        return "same"
    return "uncertain"


def _padded(groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged groups as one NaN-padded matrix and their lengths."""
    sizes = np.array([len(g) for g in groups])
    out = np.full((len(groups), sizes.max()), np.nan)
    for i, g in enumerate(groups):
        out[i, :len(g)] = g
    return out, sizes


def _two_level_medians(runs: list[np.ndarray], resamples: int, rng) -> np.ndarray:
    """``resamples`` bootstrap medians of one side: draw its runs with replacement, then within each drawn
    run draw its values with replacement, the same number from every run (each run weighs the same)."""
    values, sizes = _padded(runs)
    per_run = int(sizes.max())
    picked = rng.integers(0, len(runs), size=(resamples, len(runs)))
    within = (rng.random((resamples, len(runs), per_run)) * sizes[picked][:, :, None]).astype(int)
    drawn = values[picked[:, :, None], within]
    return np.median(drawn.reshape(resamples, -1), axis=1)


def small_sample_widening(n_base: int, n_new: int, confidence: float = CONFIDENCE) -> float:
    """How much to widen resampled log-ratios drawn from few runs. Resampling n runs spreads their mean by
    sqrt((n - 1) / n) of its true spread (the plug-in variance), and with a handful of runs the tails are
    those of Student's t with n_base + n_new - 2 degrees of freedom, not the normal's: widen by both,
    n being the fewer runs of the two sides (2 and 2: 3.1x; 3 and 3: 1.7x; 5 and 5: 1.3x)."""
    from scipy import stats

    n, df, q = min(n_base, n_new), n_base + n_new - 2, 1 - (1 - confidence) / 2
    return float(np.sqrt(n / (n - 1)) * stats.t.ppf(q, df) / stats.norm.ppf(q))


def hierarchical_verdict(base_runs: list, new_runs: list, min_effect: float = DEFAULT_MIN_EFFECT,
                         confidence: float = CONFIDENCE, seed: int = 0) -> Verdict:
    """The verdict for several runs a side, each a list of round times.

    A whole run can drift (a shared machine slows down for a minute) and its rounds drift with it, so the
    run, not the round, is the independent unit. A two-level bootstrap keeps both levels of noise: each
    resample draws the runs of a side with replacement, then the batch medians within each drawn run;
    the ratio of the two sides' pooled medians over 4000 resamples gives the interval, and the share of
    resampled ratios on the far side of 1 gives a two-sided p. The verdict rule is that of
    :func:`verdict`. Unlike a rank test on the run medians, whose p cannot go below 0.1 with 3 runs a
    side (nor below 0.33 with 2), a large effect that every run shows clearly is called from 2 or 3 runs
    a side (2.8x, say). A bootstrap of so few runs understates the spread between them, so the resampled
    log-ratios are widened (:func:`small_sample_widening`): without that, 2 runs a side called A/A pairs
    slower or faster about 6 % of the time each, in simulation, with it under 1.5 %. The measured false
    alarms and detections are in results/README.md.
    """
    if len(base_runs) < 2 or len(new_runs) < 2:
        raise ValueError("a two-level bootstrap needs at least 2 runs a side")
    base = [batch_medians(np.asarray(r, dtype=float)) for r in base_runs]
    new = [batch_medians(np.asarray(r, dtype=float)) for r in new_runs]
    ratio = float(np.median(np.concatenate(new)) / np.median(np.concatenate(base)))
    if min(map(len, base + new)) < MIN_BATCH:
        return Verdict(ratio, note=f"a run with fewer than {MIN_BATCH} rounds: too few to call")
    rng = np.random.default_rng(seed)
    resamples = 2 * RESAMPLES
    ratios = _two_level_medians(new, resamples, rng) / _two_level_medians(base, resamples, rng)
    ratios = ratio * (ratios / ratio) ** small_sample_widening(len(base), len(new), confidence)
    alpha = 1 - confidence
    low, high = (float(q) for q in np.quantile(ratios, [alpha / 2, 1 - alpha / 2]))
    p = float(min(1.0, max(2 * min(np.mean(ratios <= 1), np.mean(ratios >= 1)), 1 / resamples)))
    return Verdict(ratio, low, high, p, _word(low, high, p, min_effect, confidence),
                   note=f"{len(base_runs)} and {len(new_runs)} runs, two-level bootstrap")


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
    """What a pair is judged on: per-round device times when both sides have them (a GPU record's host
    time also holds the per-call synchronization and event cost), else host rounds, with a note when a
    GPU record lacked them. Returns (BASE times, NEW times, "device" or "host", note)."""
    if b.device is not None and n.device is not None:
        return b.device, n.device, "device", ""
    missing = [side for side, x in (("BASE", b), ("NEW", n)) if x.device is None]
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
    pairings = compare_runs(base, new, Effects.from_pyproject(args.config, args.min_effect), args.across_conditions)
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
