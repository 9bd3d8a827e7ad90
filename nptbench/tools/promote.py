"""``python -m nptbench promote RUN.json``: a saved run becomes a baseline of the machine that measured it.

A run saved by ``pytest bench`` (with raw per-round data, see pyproject.toml) lands in ``results/runs/``,
which is never committed; promote copies it into the folder of the machine that measured it
(``results/<fingerprint>/``, nptbench.schema.layout), which is committed. The fingerprint names the
hardware only (nptbench.schema.runs.make_fingerprint). Nothing here overwrites a file. Runs are read by
nptbench.schema.runs, which also finds a machine's baseline for ``--benchmark-compare``.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from nptbench.env import machine
from nptbench.schema import layout, store
from nptbench.schema.runs import Run, RunError, load


# --- promote -------------------------------------------------------------------------------------------

_COMMIT = re.compile(r"[0-9a-f]{40}")


def set_commit(run: dict, commit: str, note: str) -> None:
    """Name the project commit that measured ``run``, keeping what pytest-benchmark saved beside it.

    pytest-benchmark records the commit of the git repository it finds around the working directory,
    which is not this project's when the checkout sits inside another repository. The replacement says
    who set it and why (``note``); the saved ``commit_info`` stays in ``commit_info["as_saved"]``.
    """
    if not _COMMIT.fullmatch(commit or ""):
        raise RunError(f"--commit must be a full 40-character lower-case commit hash, got {commit!r}")
    if not (note or "").strip():
        raise RunError("--commit needs --note saying why the saved commit is not the one that measured")
    run["commit_info"] = {"id": commit, "project": "nptbench", "set_by": "nptbench promote --commit",
                          "note": note.strip(), "as_saved": run.get("commit_info")}


def promote(run_path, results=layout.RESULTS, commit: str | None = None, note: str = "",
            report_only: bool = False, allow_partial: bool = False) -> Path:
    """Copy a saved run into the baseline folder of the machine that measured it; never overwrite.

    The copy is named ``<profile>-<original name>`` so one folder can hold the smoke, default and seed
    baselines; the runs of a profile form its baseline set (nptbench.schema.runs.baseline_set), which
    ``--benchmark-compare`` judges against. A partial run (an interrupted session, failed benchmarks:
    nptbench.schema.runs.Run.partial) is refused unless ``allow_partial``. ``commit`` (with ``note``)
    names the project commit that measured the run (:func:`set_commit`). ``report_only`` puts the run in
    the report-only subfolder (nptbench.schema.layout.REPORT_ONLY), where ``--benchmark-compare`` never looks, and accepts one saved
    without raw round times.
    """
    src = Path(run_path)
    return promote_run(load(src), src.name, results, commit, note, report_only, allow_partial)


def promote_run(run: Run, name: str, results=layout.RESULTS, commit: str | None = None, note: str = "",
                report_only: bool = False, allow_partial: bool = False, unique: bool = False) -> Path:
    """:func:`promote` of a run already read (``run.path`` names it in errors), saved as ``name``: the gate
    adds a session that passed this way (``--baseline-grow``). With ``unique``, a name already taken (two
    sessions finishing in the same second) gets ``-2``, ``-3`` ... before its suffix instead of an error.
    ``results`` is a folder or a store's URL (nptbench.schema.store.open_store); in a folder the run's file
    is returned, in a database where it went (``URL#<fingerprint>/<name>``)."""
    src = run.path
    if not run.benchmarks:
        raise RunError(f"{src}: holds no benchmark (was it run with --benchmark-disable?)")
    if not report_only and not run.has_raw_data:
        raise RunError(f"{src}: saved without raw round times; re-run with --benchmark-save-data "
                       "(on by default in pyproject.toml) so compare can judge noise")
    if run.partial and not allow_partial and not report_only:
        raise RunError(f"{src}: a partial run ({run.partial}), no baseline: re-run the session, or promote it "
                       "anyway with --allow-partial")
    fp = run.fingerprint
    if fp == "unknown":
        raise RunError(f"{src}: says nothing about its machine (no machine_info.nptbench): not a run of this suite")
    if commit is not None:
        set_commit(run.data, commit, note)
    rel = layout.promoted_path(fp, run.profile, name, Path(), report_only).as_posix()
    target = store.open_store(results)
    try:
        path = store.add_run(target, run, rel, unique)
    finally:
        target.close()
    return Path(target.where(path)) if isinstance(target, store.FolderStore) else target.where(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench promote",
        description="Promote a saved run (results/runs/...json) to a baseline in results/<fingerprint>/, the "
                    "folder of the machine that measured it. Existing files are never overwritten.",
    )
    parser.add_argument("run", help="a run saved by pytest bench (with raw data)")
    parser.add_argument("--results", default=store.locate(),
                        help=f"results folder or postgresql:// URL (default: ${store.ENV}, else ./results)")
    parser.add_argument("--commit", help="the project commit (full hash) that measured the run, when the "
                                         "run's own commit_info names another repository; needs --note")
    parser.add_argument("--note", default="", help="why --commit replaces the saved commit (kept in the run)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="promote a run whose session was interrupted or had failed benchmarks (refused "
                             "otherwise: such a run is no baseline)")
    parser.add_argument("--report-only", action="store_true",
                        help=f"the run goes to <fingerprint>/{layout.REPORT_ONLY}/, read by the report, never a baseline "
                             "for --benchmark-compare (a partial run; raw round times not required)")
    args = parser.parse_args(argv)
    if args.note and args.commit is None:
        parser.error("--note goes with --commit")
    try:
        dest = promote(args.run, args.results, args.commit, args.note, args.report_only, args.allow_partial)
    except RunError as exc:
        print(f"nptbench promote: {exc}", file=sys.stderr)
        return 1
    here = machine.fingerprint()
    print(f"promoted {args.run} -> {dest}")
    measured_on = load(args.run).fingerprint
    if measured_on != here:
        print(f"note: the run was measured on {measured_on}, not on this machine ({here})")
    return 0
