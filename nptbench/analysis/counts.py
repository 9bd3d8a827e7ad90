"""Judging instruction counts (``pytest bench --instrument instructions``) between runs: their own rule,
never mixed with the wall-time statistics (nptbench.analysis.gate, nptbench.analysis.verdict).

A count run (nptbench.measure.instruments; saved in ``results/counts/``) holds one count per benchmark
(``instructions_per_call``, nptbench.schema.record.INSTRUMENT_FIELDS) and no times. Counted in one valgrind
process with one thread and address randomization off, a count repeats between sessions to a few parts
per million on most rows (results/instructions.md), so a count ratio needs no significance test. The rule
(:func:`judge`):

- a row's **A/A spread** is how far its count moved between the runs of one side, ``max / min - 1`` (the
  larger of BASE's and NEW's where both hold several runs); its side's count is the median of its runs;
- **slower** when NEW / BASE - 1 exceeds both the minimum effect (:data:`MIN_EFFECT`, 0.5 %) and
  :data:`SPREAD_MULTIPLE` times that spread; **faster** the same way down; else **same**;
- with one run a side no spread is measured: the minimum effect alone judges, and the row says so;
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


def _refusal(base: list[Run], new: list[Run]) -> str:
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
    return ""


def judge(base: list[Run], new: list[Run], min_effect: float = MIN_EFFECT,
          multiple: float = SPREAD_MULTIPLE) -> CountPairing:
    """Judge NEW's counts against BASE's, row by row (the rule in this module's docstring)."""
    pairing = CountPairing(base, new, refused=_refusal(base, new))
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
        threshold = max(min_effect, multiple * aa) if aa is not None else min_effect
        row = CountRow(name, now[name][-1].get("experiment", ""), statistics.median(b), statistics.median(n), (len(b), len(n)), aa,
                       threshold, "", record=now[name][-1])
        row.verdict = verdict_of(row.ratio, threshold)
        if aa is None:
            row.notes.append("one run a side: no A/A spread measured, the minimum effect alone judges")
        if memory_bound(row.record):
            row.notes.append("memory-bound: bandwidth, not instructions, sets its time")
        pairing.rows.append(row)
    pairing.rows.sort(key=lambda r: (-r.ratio if math.isfinite(r.ratio) else 0, r.name))
    return pairing


def slower(pairing: CountPairing) -> list[str]:
    return [r.name for r in pairing.rows if r.verdict == SLOWER]


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
            "between its runs; nptbench.analysis.counts)."]
    if time_col:
        out.append("'wall time' is the verdict of the timed runs on the same row, judged on its own statistics: "
                   "the two are shown side by side, never combined.")
    out += [f"- {c}" for c in CAVEATS]
    if pairing.only_base:
        out.append(f"Only in {base_label}: {', '.join(pairing.only_base)}.")
    if pairing.only_new:
        out.append(f"Only in {new_label}: {', '.join(pairing.only_new)}.")
    return "\n".join(out) + "\n"
