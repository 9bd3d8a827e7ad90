"""Stored ceilings: the file ``python -m nptbench calibrate`` writes per hardware fingerprint
(``results/<fingerprint>/ceilings.json``), read back, and whether this process may use it.

A CPU ceiling holds only for the thread settings it was measured with, so the file keeps them and a
session (nptbench.roofline.session_ceilings) or a report uses it only where they match. Measuring and
writing is nptbench.calibrate's; this module only reads, so that the roofline, which measures quick
ceilings itself, can prefer stored ones without importing the command that measures careful ones.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import baseline
from .record import THREAD_VARIABLES
from .runs import CEILINGS_FILE as FILE

THREAD_VARS = THREAD_VARIABLES  # the variables the conditions of a result name too


def thread_settings() -> dict:
    """The settings a CPU ceiling depends on: the thread variables and torch's thread count."""
    out = {"env": {k: os.environ[k] for k in THREAD_VARS if k in os.environ}}
    try:
        import torch

        out["torch"] = torch.get_num_threads()
    except Exception:
        out["torch"] = None
    return out


def stored_path(fp: str, results: Path = baseline.RESULTS) -> Path:
    return baseline.baseline_dir(fp, results) / FILE


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


def load(fp: str, results: Path = baseline.RESULTS) -> tuple[dict | None, str]:
    """The stored ceilings of fingerprint ``fp`` if this process may use them, and why (not)."""
    path = stored_path(fp, results)
    doc = read(path)
    if doc is None:
        return None, f"no stored ceilings for {fp} ({path})"
    why = usable(doc, thread_settings())
    if why:
        return None, why
    return doc, f"stored {doc.get('date', '?')} ({path})"
