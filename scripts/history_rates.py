"""False alarms and detections of `python -m nptbench history` on a real history made by
scripts/history-measure.sh (results/history-rates.md):

    .venv/bin/python scripts/history_rates.py RUNS_FOLDER [--otava-python OTAVA_VENV/bin/python] [--json OUT]

The runs are told apart by name: ``hist-aa-*`` (nothing changed), ``hist-sse-*`` (OpenBLAS held to its
SSE kernels: numpy's products slower), ``hist-back-*`` (back to normal). Every benchmark's series is
built by nptbench.analysis.history like the command builds it. Trials:

- **A/A**: the A/A runs in their real order; then every rotation of that order (run r first, the runs
  before it moved to the end): each keeps the runs' neighbours, and so the machine's drift, but for one
  seam; then every window of 20 consecutive runs. The figure: the share of series with any step.
- **Steps**: for every rotation of the A/A runs, followed by ``m`` consecutive SSE runs (every start
  among the SSE runs, m = 1 ... 6): is a slower step found (within m runs of its start), and is its first
  run the first SSE run? Affected rows: numpy's products (:data:`AFFECTED`), counted together and each
  alone; on every other row any step is a false alarm.

Every trial is judged twice: as the command judges (the run level of the trial's rows, every row of the
subset; a step taken with it is the machine's unless it lies next to a run where the environment changed:
the first SSE run, and in the real history the first normal run after them), and with every step found
(the command before it had a run level). Every row must hold every run: rotations move all rows together.
- **The real history**: A/A, SSE, back, in the order they were made.
- **Apache Otava 0.8.0** at its defaults (window 50, p 0.001), on the same series, through
  scripts/otava_points.py in a venv of its own (``--otava-python``): every A/A rotation, and for the
  steps every 4th rotation (its figures sit beside ours on exactly those trials).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from nptbench.analysis import changepoints
from nptbench.analysis.history import NEAR, series
from nptbench.schema.runs import load_runs

#: Rows whose time is numpy's matrix product through OpenBLAS: what the SSE kernels slow.
AFFECTED = ("numpy-square-float32", "numpy-abt-float32", "numpy-mnist5-float32")
WINDOW = 20
MAX_AFTER = 6


def kind(path: Path) -> str | None:
    m = re.search(r"hist-(aa|sse|back)-\d+", path.name)
    return m.group(1) if m else None


def affected(name: str) -> bool:
    return any(f"[{a}]" in name for a in AFFECTED)


def judge(X: np.ndarray, changes: tuple = (), level: bool = True) -> list[list]:
    """Each row's own steps in a trial, as the command finds them: ``X`` is rows x runs of times (every
    row of the trial's runs, so that the run level is theirs); ``changes``: the runs where the environment
    changed (the first SSE or normal run after the other kind: their BLAS kernels differ), where a step
    taken with the run level stays the row's (nptbench.analysis.history.Series.detect). ``level=False``:
    every step found, the run level not consulted (the command before it had one)."""
    if not level:
        return [changepoints.detect(row) for row in X]
    lv = changepoints.run_level(np.log(X))
    out = []
    for row in X:
        own, shared = changepoints.against_level(row, lv)
        kept = [s for s in shared if any(abs(s.index - c) <= NEAR for c in changes)]
        out.append(sorted(own + kept, key=lambda s: s.index))
    return out


def otava(python: str, batch: dict) -> dict:
    done = subprocess.run([python, str(Path(__file__).with_name("otava_points.py"))], input=json.dumps(batch),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--otava-python", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    runs = [r for r in load_runs([args.runs]) if kind(r.path)]
    by_kind = {k: sorted((r for r in runs if kind(r.path) == k), key=lambda r: r.time) for k in ("aa", "sse", "back")}
    print(f"runs: {', '.join(f'{k} {len(v)}' for k, v in by_kind.items())}")
    table = {}
    for k, rs in by_kind.items():
        for s in series(rs):
            table.setdefault(s.name, {})[k] = np.array(s.values)
    names = sorted(n for n in table if all(k in table[n] for k in ("aa", "sse")))
    short = [f"{n} ({k}: {len(table[n][k])} of {len(by_kind[k])})" for n in names for k in table[n]
             if len(table[n][k]) != len(by_kind[k])]
    if short:
        sys.exit("history_rates: every row must hold every run; these do not: " + "; ".join(short))
    aa_n = len(by_kind["aa"])
    result = {"runs": {k: len(v) for k, v in by_kind.items()}, "benchmarks": len(names)}
    print(f"{len(names)} benchmarks; affected: {', '.join(n for n in names if affected(n))}")
    print("\nrun-to-run σ of log median (A/A) and SSE/A-A ratio of medians per row:")
    for n in names:
        x = np.log(table[n]["aa"])
        print(f"  {n:58s} σ {np.std(x, ddof=1):.3f}  sse/aa {np.median(table[n]['sse']) / np.median(table[n]['aa']):.2f}"
              + ("  (affected)" if affected(n) else ""))

    started = time.monotonic()
    A = np.array([table[n]["aa"] for n in names])
    S = np.array([table[n]["sse"] for n in names])
    hit_rows = np.array([affected(n) for n in names])
    aa_n, sse_n = A.shape[1], S.shape[1]
    full = np.array([np.concatenate([table[n][k] for k in ("aa", "sse", "back") if k in table[n]]) for n in names])
    result["readings"] = {}
    for level in (True, False):
        label = "with the run level" if level else "without the run level (every step found)"
        got = result["readings"]["with_run_level" if level else "without_run_level"] = {}
        print(f"\n=== {label}")
        # A/A
        real = judge(A, level=level)
        rot = [judge(np.roll(A, -r, axis=1), level=level) for r in range(aa_n)]
        win = [judge(A[:, s:s + WINDOW], level=level) for s in range(aa_n - WINDOW + 1)]
        count = lambda trials: [sum(bool(st) for t in trials for st in t), sum(len(t) for t in trials)]
        aa = got["aa"] = {"real_order": count([real]), "rotations": count(rot), f"windows_of_{WINDOW}": count(win),
                          "series_with_steps_real_order": {n: [s.index for s in st] for n, st in zip(names, real) if st}}
        print(f"A/A, series with any step: real order {aa['real_order'][0]}/{aa['real_order'][1]}, "
              f"rotations {aa['rotations'][0]}/{aa['rotations'][1]} ({aa['rotations'][0] / aa['rotations'][1]:.2%}), "
              f"windows {aa[f'windows_of_{WINDOW}'][0]}/{aa[f'windows_of_{WINDOW}'][1]}")
        for n, v in aa["series_with_steps_real_order"].items():
            print(f"  real order: {n} steps at {v}")
        # steps: rotations of A/A, then m SSE runs
        found = {m: [0, 0, 0] for m in range(1, MAX_AFTER + 1)}  # found, located, trials (affected rows)
        unaffected = {m: [0, 0] for m in range(1, MAX_AFTER + 1)}  # any step, trials
        by_row = {m: {n: [0, 0, 0] for n in names if affected(n)} for m in range(1, MAX_AFTER + 1)}
        fourth = {m: [0, 0, 0] for m in range(1, MAX_AFTER + 1)}  # the trials Otava judges too
        for r in range(aa_n):
            pre = np.roll(A, -r, axis=1)
            for j in range(sse_n - MAX_AFTER + 1):
                for m in range(1, MAX_AFTER + 1):
                    trial = judge(np.concatenate([pre, S[:, j:j + m]], axis=1), (aa_n,), level)
                    for n, is_hit, steps in zip(names, hit_rows, trial):
                        if is_hit:
                            hit = [s for s in steps if s.slower and s.index >= aa_n - 1]
                            for tally in (found[m], by_row[m][n], *([fourth[m]] if r % 4 == 0 else [])):
                                tally[0] += bool(hit)
                                tally[1] += any(s.index == aa_n for s in hit)
                                tally[2] += 1
                        else:
                            unaffected[m][0] += bool(steps)
                            unaffected[m][1] += 1
        got["steps"] = {"affected": {m: dict(zip(("found", "located", "trials"), v)) for m, v in found.items()},
                        "affected_every_4th_rotation": {m: dict(zip(("found", "located", "trials"), v))
                                                        for m, v in fourth.items()},
                        "affected_by_row": {m: {n: dict(zip(("found", "located", "trials"), v)) for n, v in rows.items()}
                                            for m, rows in by_row.items()},
                        "unaffected_any_step": {m: dict(zip(("any_step", "trials"), v)) for m, v in unaffected.items()}}
        print("A/A rotations + m SSE runs, affected rows: found (a slower step) / at the first SSE run / trials;"
              " unaffected rows: any step / trials")
        for m in range(1, MAX_AFTER + 1):
            f, loc, t = found[m]
            u, ut = unaffected[m]
            print(f"  m={m}: affected found {f}/{t} ({f / t:.1%}), located {loc}/{t} ({loc / t:.1%});"
                  f" unaffected {u}/{ut} ({u / ut:.2%})")
            for n, (f, loc, t) in by_row[m].items():
                print(f"        {n:50s} found {f}/{t} ({f / t:.1%}), located {loc}/{t} ({loc / t:.1%})")
        # the real history, in order
        steps = judge(full, (aa_n, aa_n + sse_n), level)
        real_steps = {n: [(s.index, round(s.ratio, 2)) for s in st] for n, st in zip(names, steps)}
        got["real_history"] = {"boundaries": [aa_n, aa_n + sse_n], "steps": real_steps}
        print(f"the real history (A/A, SSE from run {aa_n + 1}, back from run {aa_n + sse_n + 1}): steps (index, ratio)")
        for n, v in real_steps.items():
            print(f"  {n:58s} {v}")
    result["seconds"] = round(time.monotonic() - started, 1)
    full = dict(zip(names, full))

    if args.otava_python:
        batch = {f"rot|{n}|{r}": np.roll(table[n]["aa"], -r).tolist() for n in names for r in range(aa_n)}
        batch.update({f"real|{n}": v.tolist() for n, v in full.items()})
        batch.update({f"step|{n}|{r}|{j}|{m}": np.concatenate([np.roll(table[n]["aa"], -r), table[n]["sse"][j:j + m]]).tolist()
                      for n in names if affected(n) for r in range(0, aa_n, 4)
                      for j in range(sse_n - MAX_AFTER + 1) for m in range(1, MAX_AFTER + 1)})
        t0 = time.monotonic()
        got = otava(args.otava_python, batch)
        o_rot = [bool(got[k]) for k in got if k.startswith("rot|")]
        o_found = {m: [0, 0, 0] for m in range(1, MAX_AFTER + 1)}
        for k, idx in got.items():
            if k.startswith("step|"):
                m = int(k.split("|")[-1])
                o_found[m][0] += any(i >= aa_n - 1 for i in idx)
                o_found[m][1] += aa_n in idx
                o_found[m][2] += 1
        result["otava"] = {"aa_rotations": [sum(o_rot), len(o_rot)],
                           "steps": {m: dict(zip(("found", "located", "trials"), v)) for m, v in o_found.items()},
                           "real_history": {k[5:]: v for k, v in got.items() if k.startswith("real|")},
                           "seconds": round(time.monotonic() - t0, 1)}
        print(f"\nApache Otava 0.8.0 (defaults), {result['otava']['seconds']} s: A/A rotations with any change point "
              f"{sum(o_rot)}/{len(o_rot)} ({sum(o_rot) / len(o_rot):.2%}); affected rows, every 4th rotation + m SSE runs:")
        ours = result["readings"]["with_run_level"]["steps"]["affected_every_4th_rotation"]
        for m in range(1, MAX_AFTER + 1):
            f, loc, t = o_found[m]
            print(f"  m={m}: found {f}/{t} ({f / t:.1%}), located {loc}/{t} ({loc / t:.1%});  nptbench history on "
                  f"the same trials: found {ours[m]['found']}, located {ours[m]['located']}")
        print("  Otava on the real history (indices):")
        for n, v in result["otava"]["real_history"].items():
            print(f"    {n:56s} {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
