"""Saved runs: one model of a run saved by ``pytest bench``, and the one way to read it.

A run is the JSON file pytest-benchmark saves (``--benchmark-autosave``, with raw round times by default,
see pyproject.toml), with what the suite's plugin (nptbench.plugin) adds: ``machine_info["nptbench"]``
(the machine, its profile, versions, thread settings, ceilings), the skipped benchmarks, and each
benchmark's record in its ``extra_info`` (nptbench.record). ``compare``, ``report``, ``promote`` and the
baseline lookup all read runs through :func:`load_run`, so a corrupt file is refused the same way
everywhere, and they all name the machine that measured a run by its hardware fingerprint
(:func:`make_fingerprint`).

The fingerprint names the hardware only (CPU model, usable cores, GPU or "nogpu"), never software
versions: comparing torch 2.12 with 2.13 on one machine is exactly what a baseline is for.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from . import machine
from .record import conditions


class RunError(ValueError):
    """A saved run cannot be read or used; the message names the file and why (``BaselineError`` in
    nptbench.baseline is this class)."""


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


# --- what a saved run says about itself ------------------------------------------------------------------

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


def run_profile(run: dict, default: str = "unknown") -> str:
    return nptbench_info(run).get("profile", default)


def run_time(run: dict) -> str:
    return str(run.get("datetime", ""))


def has_raw_data(run: dict) -> bool:
    return bool(run["benchmarks"]) and all(b["stats"].get("data") for b in run["benchmarks"])


def commit_label(run: dict) -> str:
    """The commit a run names, short, as the report prints it: ``(set at promote)`` when promote set it
    (nptbench.baseline.set_commit)."""
    info = run.get("commit_info") or {}
    label = (info.get("id") or "?")[:10]
    if info.get("dirty"):
        label += " (dirty)"
    if info.get("set_by"):
        label += " (set at promote; saved: " + ((info.get("as_saved") or {}).get("id") or "?")[:10] + ")"
    return label


# --- reading runs ----------------------------------------------------------------------------------------

def load_run(path) -> dict:
    """A saved pytest-benchmark run, checked enough to be compared; :class:`RunError` names a bad file."""
    path = Path(path)
    try:
        run = json.loads(path.read_text(encoding="utf8"))
    except OSError as exc:
        raise RunError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: corrupt, not valid JSON ({exc})") from None
    if not isinstance(run, dict) or not isinstance(run.get("benchmarks"), list):
        raise RunError(f"{path}: corrupt, not a pytest-benchmark run (no 'benchmarks' list)")
    for i, bench in enumerate(run["benchmarks"]):
        stats = bench.get("stats") if isinstance(bench, dict) else None
        if not isinstance(stats, dict) or not isinstance(bench.get("fullname"), str) or "median" not in stats:
            raise RunError(f"{path}: corrupt, benchmark #{i} lacks fullname or stats")
        data = stats.get("data")
        if data is not None and not (isinstance(data, list) and all(_is_time(t) for t in data)):
            raise RunError(f"{path}: corrupt, raw round times of {bench['fullname']} are not positive "
                           "finite numbers")
        device = (bench.get("extra_info") or {}).get("device_times_s")
        if device is not None and not (isinstance(device, list) and all(_is_time(t, zero_ok=True) for t in device)):
            raise RunError(f"{path}: corrupt, device_times_s of {bench['fullname']} are not non-negative "
                           "finite numbers")
        if not _is_time(stats["median"]):
            raise RunError(f"{path}: corrupt, median of {bench['fullname']} is not a positive finite number")
    return run


def _is_time(t, zero_ok: bool = False) -> bool:
    """A positive finite number (or zero, for a device time below the events' resolution)."""
    return (isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
            and (t > 0 or (zero_ok and t == 0)))


#: JSON files a baseline folder holds beside its runs (python -m nptbench calibrate writes it).
CEILINGS_FILE = "ceilings.json"


def is_run_file(path: Path) -> bool:
    """A saved run, by its name: any .json but a baseline folder's stored ceilings."""
    return path.suffix == ".json" and path.name != CEILINGS_FILE


def run_files(path) -> list[Path]:
    """The saved runs at ``path``: the file itself, or every run file under a folder (sorted, maybe none)."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if is_run_file(p))
    if path.is_file():
        return [path]
    raise RunError(f"{path}: no such file or folder")


@dataclass
class Run:
    """A saved run and where it was read from; what it says about itself, by the functions above."""
    path: Path
    data: dict

    @property
    def machine_info(self) -> dict:
        return self.data.get("machine_info") or {}

    @property
    def info(self) -> dict:
        """``machine_info["nptbench"]``, {} for a foreign run."""
        return nptbench_info(self.data)

    @property
    def fingerprint(self) -> str:
        return run_fingerprint(self.data)

    @property
    def profile(self) -> str:
        return run_profile(self.data)

    @property
    def time(self) -> str:
        return run_time(self.data)

    @property
    def versions(self) -> dict:
        return self.info.get("versions") or {}

    @property
    def commit(self) -> str:
        return commit_label(self.data)

    @property
    def benchmarks(self) -> list:
        return self.data["benchmarks"]

    @property
    def has_raw_data(self) -> bool:
        return has_raw_data(self.data)

    @property
    def cpu(self) -> str:
        mi = self.machine_info
        return self.info.get("cpu_model") or mi.get("cpu", {}).get("brand_raw") or mi.get("processor") or "?"

    @property
    def gpus(self) -> tuple:
        return tuple(g.get("name", "?") for g in self.info.get("gpus", []) or [])

    @property
    def node(self) -> str:
        return self.machine_info.get("node", "?")

    @property
    def machine_key(self) -> str:
        """The machine that measured the run: its hardware fingerprint, as baselines and ``compare`` name
        it (two hosts of the same hardware are one machine); a run that did not record one falls back to
        its host name and CPU."""
        fp = self.fingerprint
        return fp if fp != "unknown" else f"{self.node} / {self.cpu}"

    def conditions(self, record: dict | None = None) -> tuple:
        """The conditions (nptbench.record.conditions) of one of its records, or with none those of the
        run itself (its thread variables)."""
        return conditions(record or {}, self.info)

    @property
    def cold_l2(self) -> bool:
        """Whether its GPU benchmarks flushed the L2 before every round (``--gpu-cold-l2``)."""
        return any((b.get("extra_info") or {}).get("gpu_cold_l2") for b in self.benchmarks)


def load(path) -> Run:
    return Run(Path(path), load_run(path))


def load_runs(paths) -> list[Run]:
    """Every saved run at ``paths`` (files, or folders of them); :class:`RunError` when there is none."""
    runs = [load(p) for path in paths for p in run_files(path)]
    if not runs:
        raise RunError(f"no saved run (*.json) in {', '.join(map(str, paths))}")
    return runs
