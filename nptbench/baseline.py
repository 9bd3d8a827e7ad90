"""Baselines: saved runs promoted into ``results/<fingerprint>/``, named by the hardware that measured them.

No seed experiment of its own: this is how the suite keeps the numbers of every seed comparable over time.
A run saved by ``pytest bench`` (with raw per-round data, see pyproject.toml) lands in ``results/runs/``,
which is never committed; ``python -m nptbench promote RUN.json`` copies it into the baseline folder of
the machine that measured it, which is committed. The fingerprint names the hardware only (CPU model,
usable cores, GPU or "nogpu"), never software versions: comparing torch 2.12 with 2.13 on one machine is
exactly what a baseline is for. Nothing here overwrites a file.

The suite's pytest plugin (nptbench.plugin.PytestBaseline) makes ``pytest --benchmark-compare`` use this
machine's baseline and turns ``--benchmark-compare-fail`` into a readable summary.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from . import machine

#: Where baselines live, relative to the checkout's root (the CLI's working directory).
RESULTS = Path("results")
#: Raw runs, ignored by git (results/.gitignore).
RUNS = "runs"


class BaselineError(ValueError):
    """A saved run or baseline cannot be used; the message names the file and why."""


# --- fingerprint ---------------------------------------------------------------------------------------

def slug(text: str) -> str:
    """``text`` as a lower-case, filesystem-safe name: letters, digits, dots and single dashes."""
    text = re.sub(r"\((r|tm|c)\)", "", text, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "unknown"


def make_fingerprint(cpu_model: str, cores: int, gpu_names: list[str]) -> str:
    """``<cpu>_<cores>cores_<gpus>``, e.g. ``intel-xeon-processor-2.50ghz_2cores_nogpu``."""
    if gpu_names:
        counts = {name: gpu_names.count(name) for name in gpu_names}
        gpus = "+".join(slug(n) if c == 1 else f"{c}x-{slug(n)}" for n, c in counts.items())
    else:
        gpus = "nogpu"
    return f"{slug(cpu_model)[:60]}_{int(cores)}cores_{gpus[:60]}"


def fingerprint() -> str:
    """This machine's fingerprint (the GPU part asks torch, like the rest of the suite)."""
    return make_fingerprint(machine.cpu_model(), machine.usable_cores(), [g["name"] for g in machine.gpu_info()])


def nptbench_info(run: dict) -> dict:
    """What the plugin (nptbench.plugin) saved about the machine (``machine_info["nptbench"]``), or {} for a
    foreign run."""
    info = (run.get("machine_info") or {}).get("nptbench")
    return info if isinstance(info, dict) else {}


def run_fingerprint(run: dict) -> str:
    """The fingerprint of the machine that measured a saved run ("unknown" when it was not recorded)."""
    info = nptbench_info(run)
    if "cpu_model" not in info or "cpu_cores" not in info:
        return "unknown"
    return make_fingerprint(info["cpu_model"], info["cpu_cores"], [g.get("name", "?") for g in info.get("gpus") or []])


def run_profile(run: dict) -> str:
    return nptbench_info(run).get("profile", "unknown")


def run_time(run: dict) -> str:
    return str(run.get("datetime", ""))


# --- reading runs ----------------------------------------------------------------------------------------

def load_run(path) -> dict:
    """A saved pytest-benchmark run, checked enough to be compared; :class:`BaselineError` names a bad file."""
    path = Path(path)
    try:
        run = json.loads(path.read_text(encoding="utf8"))
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: corrupt, not valid JSON ({exc})") from None
    if not isinstance(run, dict) or not isinstance(run.get("benchmarks"), list):
        raise BaselineError(f"{path}: corrupt, not a pytest-benchmark run (no 'benchmarks' list)")
    for i, bench in enumerate(run["benchmarks"]):
        stats = bench.get("stats") if isinstance(bench, dict) else None
        if not isinstance(stats, dict) or not isinstance(bench.get("fullname"), str) or "median" not in stats:
            raise BaselineError(f"{path}: corrupt, benchmark #{i} lacks fullname or stats")
        data = stats.get("data")
        if data is not None and not (isinstance(data, list) and all(_is_time(t) for t in data)):
            raise BaselineError(f"{path}: corrupt, raw round times of {bench['fullname']} are not positive "
                                "finite numbers")
        device = (bench.get("extra_info") or {}).get("device_times_s")
        if device is not None and not (isinstance(device, list) and all(_is_time(t, zero_ok=True) for t in device)):
            raise BaselineError(f"{path}: corrupt, device_times_s of {bench['fullname']} are not non-negative "
                                "finite numbers")
        if not _is_time(stats["median"]):
            raise BaselineError(f"{path}: corrupt, median of {bench['fullname']} is not a positive finite number")
    return run


def _is_time(t, zero_ok: bool = False) -> bool:
    """A positive finite number (or zero, for a device time below the events' resolution)."""
    return (isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
            and (t > 0 or (zero_ok and t == 0)))


def has_raw_data(run: dict) -> bool:
    return bool(run["benchmarks"]) and all(b["stats"].get("data") for b in run["benchmarks"])


def baseline_dir(fp: str, results: Path = RESULTS) -> Path:
    return Path(results) / fp


#: JSON files a baseline folder holds beside its runs (python -m nptbench calibrate writes it).
CEILINGS_FILE = "ceilings.json"


def is_run_file(path: Path) -> bool:
    """A saved run, by its name: any .json but a baseline folder's stored ceilings."""
    return path.suffix == ".json" and path.name != CEILINGS_FILE


def baselines(fp: str, results: Path = RESULTS) -> list[Path]:
    folder = baseline_dir(fp, results)
    return sorted(p for p in folder.glob("*.json") if is_run_file(p)) if folder.is_dir() else []


def find_baseline(fp: str, profile: str, results: Path = RESULTS, select: str | None = None) -> Path | None:
    """The newest baseline of this machine and profile (every file is read: a corrupt one is an error).

    ``select`` (the value given to ``--benchmark-compare``) keeps only files whose name contains it.
    """
    found = []
    for path in baselines(fp, results):
        if select and select not in path.name:
            continue
        run = load_run(path)
        if run_profile(run) == profile:
            found.append((run_time(run), path.name, path))
    return max(found)[2] if found else None


# --- promote -------------------------------------------------------------------------------------------

#: Raw rounds a committed baseline keeps per benchmark. Microsecond benchmarks run 10^5 rounds, which
#: would make a baseline tens of MB; an evenly spaced subsample of this many keeps the distribution (and
#: its bursts, which come in time order) for compare's bootstrap. pytest-benchmark's stats stay as measured.
MAX_ROUNDS = 2000


def thin_rounds(run: dict, keep: int = MAX_ROUNDS) -> None:
    """Keep at most ``keep`` evenly spaced raw rounds of each benchmark; say so in its extra_info."""
    for bench in run["benchmarks"]:
        data = bench["stats"].get("data") or []
        if len(data) > keep:
            step = (len(data) - 1) / (keep - 1)
            bench["stats"]["data"] = [data[round(i * step)] for i in range(keep)]
            bench.setdefault("extra_info", {})["raw_rounds_kept"] = f"{keep} of {len(data)}"


#: Where ``--report-only`` puts a run: a subfolder, so ``--benchmark-compare`` (which reads only the
#: fingerprint folder's own *.json) never takes it as a baseline. For runs the report needs that must not
#: be a baseline: one saved without raw round times, or a partial run (a ``-k`` subset, a cold-L2 pass)
#: that would otherwise be the newest of its profile and shadow the whole-suite baseline.
REPORT_ONLY = "report-inputs"

_COMMIT = re.compile(r"[0-9a-f]{40}")


def set_commit(run: dict, commit: str, note: str) -> None:
    """Name the project commit that measured ``run``, keeping what pytest-benchmark saved beside it.

    pytest-benchmark records the commit of the git repository it finds around the working directory,
    which is not this project's when the checkout sits inside another repository. The replacement says
    who set it and why (``note``); the saved ``commit_info`` stays in ``commit_info["as_saved"]``.
    """
    if not _COMMIT.fullmatch(commit or ""):
        raise BaselineError(f"--commit must be a full 40-character lower-case commit hash, got {commit!r}")
    if not (note or "").strip():
        raise BaselineError("--commit needs --note saying why the saved commit is not the one that measured")
    run["commit_info"] = {"id": commit, "project": "nptbench", "set_by": "nptbench promote --commit",
                          "note": note.strip(), "as_saved": run.get("commit_info")}


def commit_label(run: dict) -> str:
    """The commit a run names, short, as the report prints it: ``(set at promote)`` when promote set it."""
    info = run.get("commit_info") or {}
    label = (info.get("id") or "?")[:10]
    if info.get("dirty"):
        label += " (dirty)"
    if info.get("set_by"):
        label += " (set at promote; saved: " + ((info.get("as_saved") or {}).get("id") or "?")[:10] + ")"
    return label


def promote(run_path, results: Path = RESULTS, commit: str | None = None, note: str = "",
            report_only: bool = False) -> Path:
    """Copy a saved run into the baseline folder of the machine that measured it; never overwrite.

    The copy is named ``<profile>-<original name>`` so one folder can hold the smoke, default and seed
    baselines; the newest of a profile is the one ``--benchmark-compare`` uses. ``commit`` (with ``note``)
    names the project commit that measured the run (:func:`set_commit`). ``report_only`` puts the run in
    the :data:`REPORT_ONLY` subfolder, where ``--benchmark-compare`` never looks, and accepts one saved
    without raw round times.
    """
    src = Path(run_path)
    run = load_run(src)
    if not run["benchmarks"]:
        raise BaselineError(f"{src}: holds no benchmark (was it run with --benchmark-disable?)")
    if not report_only and not has_raw_data(run):
        raise BaselineError(f"{src}: saved without raw round times; re-run with --benchmark-save-data "
                            "(on by default in pyproject.toml) so compare can judge noise")
    fp = run_fingerprint(run)
    if fp == "unknown":
        raise BaselineError(f"{src}: says nothing about its machine (no machine_info.nptbench): not a run of this suite")
    if commit is not None:
        set_commit(run, commit, note)
    folder = baseline_dir(fp, results) / (REPORT_ONLY if report_only else "")
    dest = folder / f"{run_profile(run)}-{src.name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    thin_rounds(run)
    try:
        with open(dest, "x") as f:  # "x": fail rather than overwrite
            json.dump(run, f, indent=1)
    except FileExistsError:
        raise BaselineError(f"{dest} already exists; baselines are never overwritten") from None
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench promote",
        description="Promote a saved run (results/runs/...json) to a baseline in results/<fingerprint>/, the "
                    "folder of the machine that measured it. Existing files are never overwritten.",
    )
    parser.add_argument("run", help="a run saved by pytest bench (with raw data)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (default: ./results)")
    parser.add_argument("--commit", help="the project commit (full hash) that measured the run, when the "
                                         "run's own commit_info names another repository; needs --note")
    parser.add_argument("--note", default="", help="why --commit replaces the saved commit (kept in the run)")
    parser.add_argument("--report-only", action="store_true",
                        help=f"the run goes to <fingerprint>/{REPORT_ONLY}/, read by the report, never a baseline "
                             "for --benchmark-compare (a partial run; raw round times not required)")
    args = parser.parse_args(argv)
    if args.note and args.commit is None:
        parser.error("--note goes with --commit")
    try:
        dest = promote(args.run, args.results, args.commit, args.note, args.report_only)
    except BaselineError as exc:
        print(f"nptbench promote: {exc}", file=sys.stderr)
        return 1
    here = fingerprint()
    print(f"promoted {args.run} -> {dest}")
    measured_on = (dest.parent.parent if args.report_only else dest.parent).name
    if measured_on != here:
        print(f"note: the run was measured on {measured_on}, not on this machine ({here})")
    return 0
