"""Long histories made from the committed runs, to measure what `python -m nptbench history` costs as runs
accumulate (results/history-scale.md):

    .venv/bin/python scripts/history_scale.py make OUT --runs 1000 [--rows 100] [--source FOLDER]
    .venv/bin/python scripts/history_scale.py time OUT [--python PY] [--cwd DIR] [--timeout S] [-- HISTORY ARGS]

``make`` writes ``--runs`` runs into OUT (emptied first), one a day from 2027-01-01, each made from the
committed history's runs (default results/amd-epyc_2cores_nogpu/history: 194 runs of 24 rows, in their
order, started again after the last). A row is a committed row; to reach ``--rows`` rows, copies of every
row are added, the copy ``k`` taken from the run ``37 k`` places further on (so copies are not the same
series) and named apart (``-copy<k>`` after its name and its experiment). The run's machine, commit and
environment are those of the committed run its first rows came from, so the history's changes of BLAS
kernels stay in it. The runs keep no raw rounds (as committed).

``time`` runs the command (``--quiet``, its text to /dev/null) under ``/usr/bin/time -v`` and prints the
wall time, the CPU time (user + system), the peak resident memory and the 1-minute load average after it,
with the command's own stderr. ``--cwd`` runs it in another
checkout (``python -m`` imports the package of the folder it runs in: another commit's code).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

SOURCE = Path("results/amd-epyc_2cores_nogpu/history")
START = datetime(2027, 1, 1, 2, 0, tzinfo=timezone.utc)
OFFSET = 37


def source_runs(folder: Path) -> list[dict]:
    files = sorted(p for p in folder.rglob("*.json") if re.match(r"\d{4}_", p.name))
    runs = [json.loads(p.read_text()) for p in files]
    return sorted(runs, key=lambda r: r["datetime"])


def make(out: Path, n_runs: int, rows: int, source: Path) -> None:
    runs = source_runs(source)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    width = len(runs[0]["benchmarks"])
    for i in range(n_runs):
        run = copy.deepcopy(runs[i % len(runs)])
        benches = []
        for k in range(-(-rows // width)):
            for b in runs[(i + OFFSET * k) % len(runs)]["benchmarks"]:
                if len(benches) == rows:
                    break
                b = copy.deepcopy(b)
                if k:
                    tag = f"-copy{k}"
                    b["name"] += tag
                    b["fullname"] += tag
                    info = b.get("extra_info") or {}
                    if "experiment" in info:
                        info["experiment"] += tag
                    b["group"] = (b.get("group") or "") + tag
                benches.append(b)
        run["benchmarks"] = benches
        run["datetime"] = (START + timedelta(days=i)).isoformat()
        (out / f"{i + 1:04d}_nightly.json").write_text(json.dumps(run, indent=1))
    print(f"wrote {n_runs} runs of {rows} rows to {out}")


def timed(folder: Path, python: str, cwd: Path | None, timeout: float, extra: list[str]) -> int:
    cmd = ["/usr/bin/time", "-v", python, "-m", "nptbench", "history", str(folder.resolve()), "--quiet", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # time and the command under it
        proc.communicate()
        print(f"{folder}: over {timeout:.0f} s, stopped")
        return 124
    done = subprocess.CompletedProcess(cmd, proc.returncode, None, err)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", done.stderr).group(1)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): (\S+)", done.stderr).group(1)) for k in ("User", "System"))
    parts = [float(p) for p in wall.split(":")]
    seconds = sum(p * 60 ** k for k, p in enumerate(reversed(parts)))
    own = [line for line in done.stderr.splitlines() if not line.startswith("\t") and "Command" not in line]
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"{folder}: exit {done.returncode}, {seconds:.1f} s, cpu {cpu:.1f} s, peak {rss / 1024:.0f} MB, load {load}"
          + "".join(f"\n  {o}" for o in own))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("make")
    m.add_argument("out", type=Path)
    m.add_argument("--runs", type=int, required=True)
    m.add_argument("--rows", type=int, default=100)
    m.add_argument("--source", type=Path, default=SOURCE)
    t = sub.add_parser("time")
    t.add_argument("folder", type=Path)
    t.add_argument("--python", default=sys.executable)
    t.add_argument("--cwd", type=Path, default=None)
    t.add_argument("--timeout", type=float, default=600)
    t.add_argument("extra", nargs="*")
    args = parser.parse_args()
    if args.what == "make":
        make(args.out, args.runs, args.rows, args.source)
        return 0
    return timed(args.folder, args.python, args.cwd, args.timeout, args.extra)


if __name__ == "__main__":
    sys.exit(main())
