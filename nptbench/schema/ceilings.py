"""Stored ceilings: the file ``python -m nptbench calibrate`` writes per hardware fingerprint
(``results/<fingerprint>/ceilings.json``), read back, and whether this process may use it.

A CPU ceiling holds only for the thread settings it was measured with, so the file keeps them and a
session (nptbench.measure.ceilings.session_ceilings) or a report uses it only where they match (the
settings are given: this module reads files and never asks the machine). Measuring is
nptbench.measure.ceilings', writing nptbench.tools.calibrate's; where the file lies,
nptbench.schema.layout.ceilings_path.
"""
from __future__ import annotations

import json
from pathlib import Path



def read(path: Path) -> dict | None:
    """A stored ceilings file, or None where there is none; a broken one is an error naming it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{path}: cannot read stored ceilings ({exc})") from None
    if not (isinstance(doc, dict) and isinstance(doc.get("cpu"), dict)):
        raise RuntimeError(f"{path}: holds no ceilings (write it with python -m nptbench calibrate)")
    return {**doc, "source": "stored", "path": _shown(path)}


def _shown(path: Path) -> str:
    """``path`` relative to the working folder where it lies below it (a saved run names the checkout's
    ``results/<fingerprint>/ceilings.json``, not the folder the checkout happened to sit in)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def usable(doc: dict, threads: dict) -> str | None:
    """None when stored ceilings hold for a session with these thread settings, else why not (a CPU
    ceiling measured with 2 threads is no ceiling for a session pinned to one)."""
    mine = doc.get("threads") or {}
    if mine.get("env", {}) != threads.get("env", {}) or mine.get("torch") != threads.get("torch"):
        return f"the stored ceilings of {doc.get('path')} were measured with threads {mine}, not {threads}"
    return None
