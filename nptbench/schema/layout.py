"""The results/ folder: where runs, baselines, stored ceilings and ab runs live. The one module that knows it.

::

    results/
      runs/                      runs saved by ``pytest bench`` (--benchmark-autosave), never committed
        ab-<time>/A, ab-<time>/B the runs of one ``python -m nptbench ab``
      counts/                    count runs (pytest bench --instrument instructions), never committed
      count-sets/<fingerprint>/  a machine's count set: the count runs the gate judges counts against
                                 (nptbench.tools.count_gate), committed
      <fingerprint>/             one machine (nptbench.schema.runs.make_fingerprint), committed
        <profile>-<run>.json     baseline runs (``python -m nptbench promote``)
        ceilings.json            its careful ceilings (``python -m nptbench calibrate``)
        report-inputs/           runs the report reads that are never a baseline (``promote --report-only``)
        report/                  its report

Paths are relative to the checkout's root (the CLI's working folder) unless a ``results`` folder is given.
"""
from __future__ import annotations

import time
from pathlib import Path

#: The results folder, relative to the checkout's root.
RESULTS = Path("results")
#: Raw runs, below RESULTS, ignored by git (results/.gitignore).
RUNS = "runs"
#: The stored ceilings of a machine, in its fingerprint folder.
CEILINGS_FILE = "ceilings.json"
#: Runs the report needs that must never be a baseline: a subfolder, since the baseline lookup reads only
#: the fingerprint folder's own *.json (a run without raw rounds, or a partial run that would otherwise be
#: the newest of its profile).
REPORT_ONLY = "report-inputs"


def runs_dir(results: Path = RESULTS) -> Path:
    return Path(results) / RUNS


def ab_dir(results: Path = RESULTS, stamp: str | None = None) -> Path:
    """Where one ``ab`` keeps its runs by default: ``runs/ab-<time>``."""
    return runs_dir(results) / ("ab-" + (stamp or time.strftime("%Y%m%d_%H%M%S")))


def machine_dir(fp: str, results: Path = RESULTS) -> Path:
    """The committed folder of one machine (hardware fingerprint)."""
    return Path(results) / fp


def count_set_dir(fp: str, results: Path = RESULTS) -> Path:
    """A machine's count set (nptbench.tools.count_gate): apart from its timed baselines."""
    return Path(results) / "count-sets" / fp


def ceilings_path(fp: str, results: Path = RESULTS) -> Path:
    return machine_dir(fp, results) / CEILINGS_FILE


def promoted_path(fp: str, profile: str, name: str, results: Path = RESULTS, report_only: bool = False) -> Path:
    """Where ``promote`` puts run file ``name`` of ``profile``: ``<fingerprint>/<profile>-<name>``, or in
    :data:`REPORT_ONLY` below it."""
    folder = machine_dir(fp, results) / (REPORT_ONLY if report_only else "")
    return folder / f"{profile}-{name}"


def is_run_file(path: Path) -> bool:
    """A saved run, by its name: any .json but a machine folder's stored ceilings."""
    return path.suffix == ".json" and path.name != CEILINGS_FILE


def baseline_files(fp: str, results: Path = RESULTS) -> list[Path]:
    """The baseline runs of a machine: its folder's own run files (sorted), not those of subfolders."""
    folder = machine_dir(fp, results)
    return sorted(p for p in folder.glob("*.json") if is_run_file(p)) if folder.is_dir() else []


def results_root(storage: str, invocation_dir: Path, rootpath: Path) -> Path:
    """The results folder of a pytest session: the parent of pytest-benchmark's storage when that is a
    ``file://.../runs`` folder (so pointing the storage elsewhere moves both), else the root's results/."""
    if storage.startswith("file://"):
        path = Path(storage[len("file://"):])
        if path.name == RUNS:
            return (Path(invocation_dir) / path).resolve().parent
    return Path(rootpath) / RESULTS
