"""The gate on counts: ``pytest bench --instrument instructions --benchmark-compare-fail`` judges the count run
it just made against this machine's **count set**, and ``--baseline-grow`` grows that set.

A count set is a folder of count runs (``results/count-sets/<fingerprint>/``, nptbench.schema.layout), kept
apart from the timed baselines: counts and times are different instruments and never share a set or a
statistic. It is judged by nptbench.analysis.counts, the rule ``compare`` applies to count runs:

- a row is called slower when its count grew beyond the minimum effect (0.5 %) and beyond 3x the spread its
  count showed between the set's runs;
- a set of **one** run can judge: counts repeat between sessions to a few parts per million on most rows
  (results/instructions.md), so the minimum effect judges, with 3x the spread of a row's windows within a
  session for the rows whose count moves and the row's allocator share (the part of its count the
  allocators' state moves between sessions), and each row says so. A timed set needs 3
  runs made at different times; a count set grows to measure each row's own spread (the rows of many small
  torch calls move by up to 0.8 % between sessions, and a set of several runs holds them to 3x that);
- ``--baseline-grow``: a run that passed (nothing slower, every benchmark counted) joins the set; the first
  count run of a machine starts it. A run called slower never joins: the set stays the code it was.

Exit statuses: nptbench.schema.status.Status (0 passed, 1 slower, 4 nothing to judge against).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from nptbench.analysis import counts
from nptbench.schema import layout
from nptbench.schema.runs import RunError
from nptbench.schema.status import Status
from nptbench.tools.verdict_text import show_counts

#: Gate options of a timed session, which the counted sessions must not see (the gate is judged once, by
#: the process that started them).
GATE_OPTIONS = ("--benchmark-compare", "--benchmark-compare-fail", "--baseline-grow")


def without_gate_options(args: list[str]) -> list[str]:
    """``args`` (a pytest command line) without the gate's options and their values
    (``--benchmark-compare-fail`` takes one or more ``EXPR``, ``--benchmark-compare`` an optional run number)."""
    out, i = [], 0
    while i < len(args):
        name, eq, _ = str(args[i]).partition("=")
        i += 1
        if name not in GATE_OPTIONS:
            out.append(args[i - 1])
            continue
        if eq:
            continue
        if name == "--benchmark-compare-fail":
            while i < len(args) and ":" in str(args[i]) and not str(args[i]).startswith("-"):
                i += 1
        elif name == "--benchmark-compare" and i < len(args) and str(args[i]).isdigit():
            i += 1
    return out


def set_runs(folder: Path, profile: str) -> list:
    """The count runs of ``folder`` (a count set) of one size profile."""
    if not folder.is_dir() or not any(folder.glob("*.json")):
        return []
    return [r for r in counts.load(folder) if r.profile == profile]


def gate(run_path: Path, results: Path, fingerprint: str, profile: str, grow: bool, fail: bool) -> Status:
    """Judge the count run at ``run_path`` against the machine's count set (printing the count table and how
    thin the set is), grow the set where asked, and return the session's status from the gate's side:
    FAILED where a row is called slower and ``fail`` (``--benchmark-compare-fail``), CANNOT_JUDGE where
    there is no set to judge against and none is started, else PASSED."""
    folder = layout.count_set_dir(fingerprint, results)
    try:
        new = counts.load(run_path)
        base = set_runs(folder, profile)
    except RunError as exc:
        print(f"nptbench gate: {exc}", file=sys.stderr)
        return Status.BAD_INPUT
    complete = (new[0].data.get("nptbench_session") or {}).get("complete", True)
    if not base:
        if grow and complete:
            join(run_path, folder, "no count set for this machine and profile yet: this run starts it")
            return Status.PASSED
        print(f"nptbench gate: no count set for {fingerprint} ({profile}) in {folder}: nothing judged "
              "(--baseline-grow starts one with this run)")
        return Status.CANNOT_JUDGE
    print(f"nptbench gate: counts judged against the count set {folder} ({len(base)} run"
          f"{'s' if len(base) > 1 else ''} of {profile}). {thin_note(len(base))}")
    status = show_counts(counts.judge(base, new), None, "gate", "SET", "NEW")
    if grow:
        if status == Status.PASSED and complete:
            join(run_path, folder, "passed")
        else:
            print("nptbench gate: --baseline-grow: not joined (" + ("called slower" if status == Status.FAILED else
                  "nothing compared" if status != Status.PASSED else "not every benchmark was counted") + ")")
    return status if fail or status != Status.FAILED else Status.PASSED


def thin_note(runs: int) -> str:
    """Why a count set of ``runs`` runs can judge."""
    if runs == 1:
        return ("One run judges: a count repeats between sessions (results/instructions.md), so each row is held to "
                f"the larger of the minimum effect, {counts.SPREAD_MULTIPLE}x the spread of its windows within a "
                "session and the share of its count spent in the memory allocators; no row's spread between runs is "
                "measured yet (--baseline-grow adds runs that measure it).")
    return (f"Each row is held to the larger of the minimum effect and {counts.SPREAD_MULTIPLE}x the spread of its "
            f"count over these {runs} runs.")


def join(run_path: Path, folder: Path, why: str) -> None:
    """Copy a count run into the set's folder (its name kept; never overwriting one)."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / run_path.name
    n = 1
    while dest.exists():
        dest = folder / f"{run_path.stem}-{n}{run_path.suffix}"
        n += 1
    shutil.copyfile(run_path, dest)
    json.loads(dest.read_text())  # a torn copy fails here, not at the next gate
    print(f"nptbench gate: --baseline-grow: {why}; joined the count set as {dest}")
