"""Judging instruction counts (``pytest bench --instrument instructions``) between runs: their own rule,
never mixed with the wall-time statistics (nptbench.analysis.gate, nptbench.analysis.verdict).

A count run (nptbench.measure.instruments; saved in ``results/counts/``) holds one count per benchmark
(``instructions_per_call``, nptbench.schema.record.INSTRUMENT_FIELDS) and no times. Counted in one valgrind
process with one thread and address randomization off, a count repeats between sessions to a few parts
per million on most rows (results/instructions.md), so a count ratio needs no significance test. The rule
(:func:`judge`):

- a row's **A/A spread** is how far its count moved between the runs of one side, ``max / min - 1`` (the
  larger of BASE's and NEW's where both hold several runs); its side's count is the median of its runs;
  its **window spread**, how far its windows moved within one session (``instructions_window_spread``, the
  largest of its records);
- **slower** when NEW / BASE - 1 exceeds both the minimum effect (:data:`MIN_EFFECT`, 0.5 %) and
  :data:`SPREAD_MULTIPLE` times the larger of the two spreads; **faster** the same way down; else **same**;
- with one run a side no A/A spread is measured: the minimum effect, the window spread and the row's
  **allocator share** judge (the part of its count spent in malloc and free, ``allocator_instructions_per_call``:
  the allocators' state, which the session's history sets, moves it between sessions), and the row says so
  (results/instructions.md);
- runs of different hardware (fingerprints), or of different simulated caches, are **not compared**:
  glibc and the libraries pick their code by CPU, so a count describes one CPU model's paths.

Where counts mislead, the table says so (:data:`CAVEATS`, and per row): a memory-bound row's time is set
by bandwidth, not instructions; valgrind 3.19 has no AVX-512, so OpenBLAS and torch run their AVX2 kernels
there; multi-threaded rows are counted with one thread.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from nptbench.analysis.verdict import FASTER, NOT_COMPARED, SAME, SLOWER
from nptbench.schema.runs import Run, RunError, run_files
from nptbench.schema.status import Status

#: The smallest count change called, as a fraction: half of the 1 % a count should see, so a 1 % change
#: whose realized count moves a little less is still called; 50 times the A/A spread of most rows here.
MIN_EFFECT = 0.005
#: A change is called only beyond this many times the row's measured A/A spread.
SPREAD_MULTIPLE = 3
#: Below this many flops per byte a row is memory-bound on any CPU here (a STREAM-like op is ~0.1): its
#: count says little about its time.
MEMORY_BOUND_INTENSITY = 1.0

CAVEATS = (
    "Counts are instructions (callgrind, valgrind's simulated CPU), not time: a count ratio predicts a "
    "time ratio only where the row is bound by its instructions.",
    "valgrind 3.19 has no AVX-512: OpenBLAS and torch's ATen run their AVX2 kernels under it, which may not "
    "be the ones a timed run on this machine takes (doctor shows both).",
    "Every thread pool held to one thread: a multi-threaded row is counted as one thread's work.",
    "Counts compare only within one fingerprint (CPU model): glibc's memcpy and the libraries' kernels are "
    "chosen per CPU.",
)


# --- reading count runs ---------------------------------------------------------------------------------

def is_count_run(data: dict) -> bool:
    info = (data.get("machine_info") or {}).get("nptbench") or {}
    return isinstance(info, dict) and info.get("instrument") == "instructions"


def holds_counts(path) -> bool:
    """Whether ``path`` (a run file, or a folder of them) holds count runs: its first run file is one."""
    try:
        files = run_files(path)
    except RunError:  # no such file: the timed reading says so
        return False
    if not files:
        return False
    try:
        return is_count_run(json.loads(Path(files[0]).read_text(encoding="utf8")))
    except (OSError, ValueError):
        return False


def load(path) -> list[Run]:
    """The count runs at ``path`` (a file or a folder); :class:`RunError` names a file that is not one."""
    out = []
    for file in run_files(path):
        try:
            data = json.loads(Path(file).read_text(encoding="utf8"))
        except (OSError, ValueError) as exc:
            raise RunError(f"{file}: cannot read it as JSON ({exc})") from None
        if not isinstance(data, dict) or not is_count_run(data) or not isinstance(data.get("benchmarks"), list):
            raise RunError(f"{file}: not a count run (pytest bench --instrument instructions saves them in "
                           "results/counts/)")
        out.append(Run(Path(file), data))
    if not out:
        raise RunError(f"{path}: no count run")
    return out


def counts_of(runs: list[Run]) -> dict[str, list[dict]]:
    """benchmark name -> its counted records, one per run that counted it."""
    out: dict[str, list[dict]] = {}
    for run in runs:
        for bench in run.data["benchmarks"]:
            info = bench.get("extra_info") or {}
            if isinstance(info.get("instructions_per_call"), (int, float)):
                out.setdefault(bench["name"], []).append(info)
    return out


# --- judging ----------------------------------------------------------------------------------------------

@dataclass
class CountRow:
    name: str
    experiment: str
    base: float  #: BASE's count (median of its runs), instructions per call
    new: float
    runs: tuple  #: (BASE runs, NEW runs) that counted it
    spread: float | None  #: the measured A/A spread (max / min - 1), None with one run a side
    threshold: float  #: the change it takes to call this row
    verdict: str
    notes: list = field(default_factory=list)
    record: dict = field(default_factory=dict)  #: NEW's record
    window: float = 0.0  #: the largest spread of its windows within a session (instructions_window_spread)
    allocator: float = 0.0  #: the largest share of its count spent in the memory allocators (allocator_share)

    @property
    def ratio(self) -> float:
        return self.new / self.base if self.base else math.nan


@dataclass
class CountPairing:
    base_runs: list
    new_runs: list
    rows: list = field(default_factory=list)
    only_base: list = field(default_factory=list)
    only_new: list = field(default_factory=list)
    refused: str = ""  #: why nothing was compared (other hardware, other caches)


def spread(values: list[float]) -> float | None:
    """max / min - 1 of a row's counts on one side; None for fewer than two."""
    if len(values) < 2:
        return None
    low = min(values)
    return max(values) / low - 1 if low > 0 else math.inf


def allocator_share(records: list[dict]) -> float:
    """The largest share of a row's count spent in the memory allocators (``allocator_instructions_per_call``
    / ``instructions_per_call``) over its records; 0 where none says. The allocators' state, set by all the
    session allocated before, moves that part of a count between sessions (results/instructions.md): with
    one run a side it is the change a call must exceed to be called."""
    shares = [r["allocator_instructions_per_call"] / r["instructions_per_call"] for r in records
              if isinstance(r.get("allocator_instructions_per_call"), (int, float)) and r.get("instructions_per_call")]
    return max(shares, default=0.0)


def verdict_of(ratio: float, threshold: float) -> str:
    if not math.isfinite(ratio):
        return NOT_COMPARED
    if ratio - 1 > threshold:
        return SLOWER
    if 1 - ratio > threshold:
        return FASTER
    return SAME


def memory_bound(record: dict) -> bool:
    """A row whose least bytes per call outweigh its flops (:data:`MEMORY_BOUND_INTENSITY`)."""
    flops, moved = record.get("flops"), record.get("bytes")
    return bool(moved) and (not flops or flops / moved < MEMORY_BOUND_INTENSITY)


def _refusal(base: list[Run], new: list[Run], across_kernels: bool = False) -> str:
    fps = {r.fingerprint for r in base + new}
    if len(fps) > 1:
        return ("not compared: the runs come from different hardware (" + ", ".join(sorted(fps)) + "); counts "
                "compare only within one CPU model")
    profiles = {r.profile for r in base + new}
    if len(profiles) > 1:
        return f"not compared: the runs are of different size profiles ({', '.join(sorted(map(str, profiles)))})"
    caches = {json.dumps(r.info.get("instrument_cache"), sort_keys=True) for r in base + new}
    if len(caches) > 1:
        return "not compared: the runs simulated different caches (instrument_cache)"
    kernels = {json.dumps(r.info.get("instrument_kernels"), sort_keys=True) for r in base + new}
    if len(kernels) > 1 and not across_kernels:
        return ("not compared: the runs were counted with different BLAS kernels (instrument_kernels: "
                + " vs ".join(sorted(kernels)) + "); a kernel change is what ab --b-env compares: judge it with "
                "--across-conditions")
    return ""


def judge(base: list[Run], new: list[Run], min_effect: float = MIN_EFFECT,
          multiple: float = SPREAD_MULTIPLE, across_kernels: bool = False) -> CountPairing:
    """Judge NEW's counts against BASE's, row by row (the rule in this module's docstring). Runs counted with
    different BLAS kernels (``instrument_kernels``) are compared only ``across_kernels`` (a kernel change
    asked for, as ab's sides set it)."""
    pairing = CountPairing(base, new, refused=_refusal(base, new, across_kernels))
    old, now = counts_of(base), counts_of(new)
    pairing.only_base = sorted(set(old) - set(now))
    pairing.only_new = sorted(set(now) - set(old))
    if pairing.refused:
        return pairing
    for name in sorted(set(old) & set(now)):
        b = [r["instructions_per_call"] for r in old[name]]
        n = [r["instructions_per_call"] for r in now[name]]
        measured = [s for s in (spread(b), spread(n)) if s is not None]
        aa = max(measured) if measured else None
        window = max((r.get("instructions_window_spread") or 0.0 for r in old[name] + now[name]), default=0.0)
        alloc = allocator_share(old[name] + now[name])
        threshold = max(min_effect, multiple * max(aa or 0.0, window), alloc if aa is None else 0.0)
        row = CountRow(name, now[name][-1].get("experiment", ""), statistics.median(b), statistics.median(n), (len(b), len(n)), aa,
                       threshold, "", record=now[name][-1], window=window, allocator=alloc)
        row.verdict = verdict_of(row.ratio, threshold)
        if aa is None:
            row.notes.append("one run a side: no A/A spread between runs measured"
                             + (f"; its windows moved {window:.2%} within a session" if multiple * window > min_effect
                                else "")
                             + (f"; {alloc:.1%} of its count is the allocator's, which moves between sessions"
                                if alloc > max(min_effect, multiple * window) else ""))
        if memory_bound(row.record):
            row.notes.append("memory-bound: bandwidth, not instructions, sets its time")
        pairing.rows.append(row)
    pairing.rows.sort(key=lambda r: (-r.ratio if math.isfinite(r.ratio) else 0, r.name))
    return pairing


def slower(pairing: CountPairing) -> list[str]:
    return [r.name for r in pairing.rows if r.verdict == SLOWER]


def status_of(pairing: CountPairing) -> Status:
    """The exit status of a count comparison: FAILED where a row is called slower, NOTHING where nothing was
    compared (other hardware, no common row), else PASSED."""
    if slower(pairing):
        return Status.FAILED
    return Status.NOTHING if pairing.refused or not pairing.rows else Status.PASSED


# --- history ----------------------------------------------------------------------------------------------

@dataclass
class CountStep:
    """Where a row's count left its level: ``index`` is the first run at the new count."""
    index: int
    level: float  #: the count before: the median of the runs since the last step
    count: float  #: the count of run ``index``
    threshold: float  #: the change it took (the minimum effect, or 3x the level's own spread)
    verdict: str  #: SLOWER or FASTER

    @property
    def ratio(self) -> float:
        return self.count / self.level if self.level else math.nan


@dataclass
class CountSeries:
    """One row's counts over count runs of one machine, profile and set of kernels, oldest first."""
    name: str
    experiment: str
    group: tuple  #: (fingerprint, profile, kernels and caches)
    runs: list = field(default_factory=list)  #: Run, oldest first
    values: list = field(default_factory=list)  #: instructions per call, one per run
    steps: list = field(default_factory=list)  #: CountStep, oldest first


def noise(values: list[float]) -> float:
    """A series' run-to-run noise: the median of its consecutive relative changes, which a few steps do not
    move (0 for fewer than two values)."""
    changes = [abs(b / a - 1) for a, b in zip(values, values[1:]) if a > 0]
    return statistics.median(changes) if changes else 0.0


def history(runs: list[Run], min_effect: float = MIN_EFFECT, multiple: float = SPREAD_MULTIPLE) -> list[CountSeries]:
    """Every row's series over count runs (oldest first), and its steps: a run whose count left the level of
    the runs since the last step (their median) by more than the minimum effect and ``multiple`` x the row's
    run-to-run noise (:func:`noise`, over its whole series) begins a new level. One run is enough: a count
    repeats between sessions, so no run of a new level needs another to confirm it. Runs of other machines,
    profiles, kernels or caches make series of their own: their counts are never compared."""
    out: dict[tuple, CountSeries] = {}
    for run in sorted(runs, key=lambda r: (r.time, str(r.path))):
        group = (run.fingerprint, run.profile, json.dumps([run.info.get("instrument_kernels"),
                                                           run.info.get("instrument_cache")], sort_keys=True))
        for bench in run.data["benchmarks"]:
            info = bench.get("extra_info") or {}
            value = info.get("instructions_per_call")
            if not isinstance(value, (int, float)) or value <= 0:
                continue
            key = (*group, bench["name"])
            s = out.setdefault(key, CountSeries(bench["name"], info.get("experiment", ""), group))
            s.runs.append(run)
            s.values.append(float(value))
    for s in out.values():
        threshold = max(min_effect, multiple * noise(s.values))
        start = 0
        for i in range(1, len(s.values)):
            level = statistics.median(s.values[start:i])
            word = verdict_of(s.values[i] / level, threshold)
            if word in (SLOWER, FASTER):
                s.steps.append(CountStep(i, level, s.values[i], threshold, word))
                start = i
    return sorted(out.values(), key=lambda s: (s.group, s.name))


def new_slower_steps(all_series: list[CountSeries], newest: int = 1) -> list[tuple[CountSeries, CountStep]]:
    """The slower steps that begin among each series' ``newest`` runs."""
    return [(s, st) for s in all_series for st in s.steps
            if st.verdict == SLOWER and st.index >= len(s.values) - newest]


def render_history(all_series: list[CountSeries], runs: int) -> str:
    """The count history as text: per row its runs, newest count and steps (run file, ratio, verdict)."""
    lines = [f"Count history: {runs} count runs, {len(all_series)} series (a step: the count left the level of "
             f"the runs since the last step by more than {MIN_EFFECT:.1%} and {SPREAD_MULTIPLE}x the row's run-to-run "
             "noise, the median of its consecutive changes; "
             "nptbench.analysis.counts)", "",
             "| benchmark | runs | newest instructions/call | steps |", "|---|---:|---:|---|"]
    for s in all_series:
        steps = "; ".join(f"{Path(s.runs[st.index].path).name}: x{st.ratio:.4f} {st.verdict}" for st in s.steps) or "none"
        lines.append(f"| {s.name} | {len(s.values)} | {s.values[-1]:,.0f} | {steps} |")
    lines += ["", *(f"- {c}" for c in CAVEATS)]
    return "\n".join(lines) + "\n"


# --- rendering ---------------------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.3%}"


def render(pairing: CountPairing, times: dict | None = None, base_label: str = "BASE", new_label: str = "NEW") -> str:
    """The count table (markdown). ``times``: benchmark name -> the wall-time verdict of the same row
    (from the timed runs of both sides), shown beside the count's, never combined with it."""
    out = [f"### Instruction counts ({len(pairing.base_runs)} {base_label} and {len(pairing.new_runs)} {new_label} "
           "count runs)", ""]
    if pairing.refused:
        return "\n".join(out + [pairing.refused, ""])
    time_col = times is not None
    out.append(f"| benchmark | {base_label} instructions/call | {new_label} instructions/call | ratio | A/A spread | "
               "called beyond | verdict | cycle estimate ratio | LL misses/call |" + (" wall time |" if time_col else ""))
    out.append("|---|---:|---:|---:|---:|---:|---|---:|---:|" + ("---|" if time_col else ""))
    cycles = {r.name: r for r in pairing.rows}
    old = counts_of(pairing.base_runs)
    for r in pairing.rows:
        word = f"**{r.verdict}**" if r.verdict in (SLOWER, FASTER) else r.verdict
        if r.notes:
            word += f" ({'; '.join(r.notes)})"
        base_cycles = old[r.name][-1].get("cycles_estimate_per_call")
        new_cycles = cycles[r.name].record.get("cycles_estimate_per_call")
        cyc = f"{new_cycles / base_cycles:.3f}" if base_cycles and new_cycles else "-"
        ll = r.record.get("ll_misses_per_call")
        line = (f"| {r.name} | {r.base:,.0f} | {r.new:,.0f} | {r.ratio:.4f} | {_pct(r.spread)} | {r.threshold:.2%} | "
                f"{word} | {cyc} | {'-' if ll is None else f'{ll:,.0f}'} |")
        out.append(line + (f" {times.get(r.name, '-')} |" if time_col else ""))
    words = (SLOWER, FASTER, SAME)
    out += ["", "Count verdicts: " + ", ".join(f"{sum(r.verdict == w for r in pairing.rows)} {w}" for w in words)
            + f" (slower or faster: beyond {MIN_EFFECT:.1%} and beyond {SPREAD_MULTIPLE}x the row's A/A spread "
            "between its runs; with one run a side, beyond the spread of its windows and its allocator share "
            "instead; nptbench.analysis.counts)."]
    if time_col:
        out.append("'wall time' is the verdict of the timed runs on the same row, judged on its own statistics: "
                   "the two are shown side by side, never combined.")
    out += [f"- {c}" for c in CAVEATS]
    if pairing.only_base:
        out.append(f"Only in {base_label}: {', '.join(pairing.only_base)}.")
    if pairing.only_new:
        out.append(f"Only in {new_label}: {', '.join(pairing.only_new)}.")
    return "\n".join(out) + "\n"
