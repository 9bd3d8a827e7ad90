"""Saved runs: one model of a run saved by ``pytest bench``, and the one way to read it.

A run is the JSON file pytest-benchmark saves (``--benchmark-autosave``, with raw round times by default,
see pyproject.toml), with what the suite's plugin (nptbench.plugin) adds: ``machine_info["nptbench"]``
(the machine, its profile, versions, thread settings, ceilings), the skipped benchmarks, and each
benchmark's record in its ``extra_info`` (nptbench.schema.record). ``compare``, ``report``, ``promote`` and the
baseline lookup all read runs through :func:`load`, so a corrupt file is refused the same way
everywhere, and they all name the machine that measured a run by its hardware fingerprint
(:func:`make_fingerprint`). ``history``, which reads every run of years of them, reads their summaries
(:func:`read_summaries`: no rounds, each file checked by :func:`load` once, then kept in the folder's
index until it changes).

The fingerprint names the hardware only (CPU model, usable cores, GPU or "nogpu"), never software
versions: comparing torch 2.12 with 2.13 on one machine is exactly what a baseline is for.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from nptbench.schema import layout
from nptbench.schema.record import DEVICE_TIME, conditions


class RunError(ValueError):
    """A saved run cannot be read or used; the message names the file and why."""


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


# --- reading runs ----------------------------------------------------------------------------------------

def read_run(path) -> dict:
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


def run_files(path) -> list[Path]:
    """The saved runs at ``path``: the file itself, or every run file under a folder (sorted, maybe none)."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if layout.is_run_file(p))
    if path.is_file():
        return [path]
    raise RunError(f"{path}: no such file or folder")


@dataclass
class Run:
    """A saved run and where it was read from: the one model of a run every tool reads."""
    path: Path
    data: dict

    @property
    def machine_info(self) -> dict:
        return self.data.get("machine_info") or {}

    @property
    def info(self) -> dict:
        """What the plugin (nptbench.plugin) saved about the machine (``machine_info["nptbench"]``), {} for
        a foreign run."""
        info = self.machine_info.get("nptbench")
        return info if isinstance(info, dict) else {}

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the machine that measured it ("unknown" when it was not recorded)."""
        info = self.info
        if "cpu_model" not in info or "cpu_cores" not in info:
            return "unknown"
        return make_fingerprint(info["cpu_model"], info["cpu_cores"],
                                [g.get("name", "?") for g in info.get("gpus") or []])

    @property
    def profile(self) -> str:
        return self.info.get("profile", "unknown")

    @property
    def time(self) -> str:
        return str(self.data.get("datetime", ""))

    @property
    def versions(self) -> dict:
        return self.info.get("versions") or {}

    @property
    def commit(self) -> str:
        """The commit it names, short, as the report prints it: ``(set at promote)`` when promote set it
        (nptbench.tools.promote.set_commit)."""
        info = self.data.get("commit_info") or {}
        label = (info.get("id") or "?")[:10]
        if info.get("dirty"):
            label += " (dirty)"
        if info.get("set_by"):
            label += " (set at promote; saved: " + ((info.get("as_saved") or {}).get("id") or "?")[:10] + ")"
        return label

    @property
    def benchmarks(self) -> list:
        return self.data["benchmarks"]

    @property
    def has_raw_data(self) -> bool:
        return bool(self.benchmarks) and all(b["stats"].get("data") for b in self.benchmarks)

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
        """The conditions (nptbench.schema.record.conditions) of one of its records, or with none those of
        the run itself (its thread variables)."""
        return conditions(record or {}, self.info)

    @property
    def session(self) -> dict:
        """What the run says about its session (nptbench.schema.record.SESSION_FIELDS), {} for a run saved
        before runs recorded it."""
        session = self.data.get("nptbench_session")
        return session if isinstance(session, dict) else {}

    @property
    def partial(self) -> str | None:
        """Why the run is not a whole session, in words (interrupted, failed benchmarks), else None."""
        s = self.session
        if not s or s.get("complete", True):
            return None
        why = []
        if s.get("not_run"):
            why.append(f"{len(s['not_run'])} of {s.get('collected', '?')} benchmarks did not run")
        if s.get("failed"):
            why.append(f"{len(s['failed'])} failed ({', '.join(s['failed'][:3])}{' ...' if len(s['failed']) > 3 else ''})")
        status = s.get("exitstatus")
        return (f"session ended with exit status {status}" + (" (interrupted)" if status == 2 else "") +
                (": " + "; ".join(why) if why else ""))

    @property
    def cold_l2(self) -> bool:
        """Whether its GPU benchmarks flushed the L2 before every round (``--gpu-cold-l2``)."""
        return any((b.get("extra_info") or {}).get("gpu_cold_l2") for b in self.benchmarks)


def load(path) -> Run:
    """The saved run at ``path``; :class:`RunError` names a bad file."""
    return Run(Path(path), read_run(path))


# --- summaries: a run without its rounds, and a folder's index of them ---------------------------------------

#: What a summary of a run keeps (:func:`summary`): the run's date, commit and machine, and of every
#: benchmark its names, record and median: what the tools that follow runs over time read (history), and
#: none of the raw rounds, which make a saved run 10-100 times larger.
SUMMARY_MACHINE = ("nptbench", "node", "processor")
#: The record fields a summary keeps: what names the work (nptbench.analysis.across.match_key: its
#: experiment, variant, backend, device, dtype, shape and length of work), its conditions and its device
#: time (nptbench.schema.record.conditions, lead_time). tests/test_history_scale.py checks they cover
#: what those read.
SUMMARY_RECORD = ("experiment", "variant", "backend", "device", "dtype", "shape", "iterations", "steps", "epochs",
                  "repetitions", "gpu_cold_l2", DEVICE_TIME)
#: The index a folder of runs keeps of their summaries (:func:`read_summaries`); not a ``.json``: never a run.
INDEX_FILE = ".nptbench-index"
INDEX_VERSION = 3
#: A file changed less than this many seconds before the index is written is left out of it: a file
#: rewritten within one tick of the file system's clock could keep its size and time (git's "racy" files).
RACY_S = 2.0


def summary(run: Run) -> dict:
    """The saved run ``run`` as what its summary keeps (:data:`SUMMARY_MACHINE`, :data:`SUMMARY_RECORD`): a
    run's data, smaller."""
    mi = run.machine_info
    machine = {k: mi[k] for k in SUMMARY_MACHINE if k in mi}
    if isinstance(mi.get("cpu"), dict) and "brand_raw" in mi["cpu"]:
        machine["cpu"] = {"brand_raw": mi["cpu"]["brand_raw"]}
    benches = [{**{k: b[k] for k in ("name", "fullname", "group") if k in b},
                "extra_info": {k: v for k, v in (b.get("extra_info") or {}).items() if k in SUMMARY_RECORD},
                "stats": {"median": b["stats"]["median"]}} for b in run.benchmarks]
    return {**{k: run.data[k] for k in ("datetime", "commit_info") if k in run.data},
            "machine_info": machine, "benchmarks": benches}


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def read_summaries(path, progress=None, index: bool = True) -> list[Run]:
    """Every saved run at ``path`` (:func:`run_files`) as its summary (:func:`summary`; each a :class:`Run`
    of its file whose data holds only that), the files checked as :func:`load` checks them.

    With ``index``, a folder keeps its summaries in :data:`INDEX_FILE`, each under its file's name with
    the file's size, modification time (ns) and inode: a file whose three are unchanged is not read again;
    any other is read whole, and the index rewritten (atomically; not where the folder is read-only) without
    the files that left. Files changed in the last :data:`RACY_S` seconds are not indexed. ``progress(done,
    total)`` is called after each file read whole."""
    path = Path(path)
    files = run_files(path)
    folder = path if path.is_dir() else None
    where = folder / INDEX_FILE if (folder and index) else None
    known = _read_index(where) if where else {}
    kept, runs, read = {}, [], 0
    for f in files:
        name = f.relative_to(folder).as_posix() if folder else f.name
        stamp = _stamp(f)
        entry = known.get(name)
        if entry is None or entry.get("stamp") != stamp:
            entry = {"stamp": stamp, "run": summary(load(f))}
            read += 1
            if progress:
                progress(read, len(files))
        kept[name] = entry
        runs.append(Run(f, entry["run"]))
    if where and (read or set(known) != set(kept)):
        _write_index(where, kept)
    return runs


def _index_version() -> str:
    """The index's format and what its summaries keep: an index written under others is read as none."""
    return f"{INDEX_VERSION}: {','.join(SUMMARY_MACHINE)}; {','.join(SUMMARY_RECORD)}"


def _read_index(where: Path) -> dict:
    """The entries of a folder's index (name -> stamp and summary, :func:`_unpack`); {} where it is missing,
    unreadable or of another version (then every file is read again)."""
    try:
        data = json.loads(where.read_text(encoding="utf8"))
        if data.get("version") != _index_version():
            return {}
        return _unpack(data)
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}


def _write_index(where: Path, entries: dict) -> None:
    """Write a folder's index (a temporary file renamed over it: a reader sees the old or the new one),
    leaving out the racy files (:data:`RACY_S`); nothing where the folder cannot be written."""
    now = time.time_ns()
    fresh = {k: e for k, e in entries.items() if now - e["stamp"][1] > RACY_S * 1e9}
    tmp = where.with_name(f"{INDEX_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"version": _index_version(), **_pack(fresh)}, separators=(",", ":")),
                       encoding="utf8")
        os.replace(tmp, where)
    except OSError:
        tmp.unlink(missing_ok=True)


def _pack(entries: dict) -> dict:
    """The index's entries as written: what runs repeat (a machine's info, a benchmark's names and record
    without its device time) once in ``shared``, each run's benchmarks as ``[shared, median, device time]``."""
    shared, where = [], {}

    def ref(obj) -> int:
        key = json.dumps(obj, sort_keys=True)
        if key not in where:
            where[key] = len(shared)
            shared.append(obj)
        return where[key]

    files = {}
    for name, e in entries.items():
        run = e["run"]
        benches = []
        for b in run["benchmarks"]:
            rec = dict(b.get("extra_info") or {})
            device = rec.pop(DEVICE_TIME, None)
            desc = {k: b[k] for k in ("name", "fullname", "group") if k in b} | {"extra_info": rec}
            benches.append([ref(desc), b["stats"]["median"], device])
        files[name] = {"stamp": e["stamp"], "head": {k: run[k] for k in ("datetime", "commit_info") if k in run},
                       "machine_info": ref(run["machine_info"]), "benchmarks": benches}
    return {"shared": shared, "files": files}


def _unpack(data: dict) -> dict:
    """:func:`_pack` undone: name -> {"stamp", "run": summary}. Runs share the objects they repeat."""
    shared = data["shared"]
    out = {}
    for name, f in data["files"].items():
        benches = []
        for k, median, device in f["benchmarks"]:
            desc = shared[k]
            rec = desc["extra_info"] if device is None else {**desc["extra_info"], DEVICE_TIME: device}
            benches.append({**desc, "extra_info": rec, "stats": {"median": median}})
        out[name] = {"stamp": f["stamp"], "run": {**f["head"], "machine_info": shared[f["machine_info"]],
                                                  "benchmarks": benches}}
    return out


def load_runs(paths) -> list[Run]:
    """Every saved run at ``paths`` (files, or folders of them); :class:`RunError` when there is none."""
    runs = [load(p) for path in paths for p in run_files(path)]
    if not runs:
        raise RunError(f"no saved run (*.json) in {', '.join(map(str, paths))}")
    return runs


def baseline_set(fp: str, profile: str, results: Path = layout.RESULTS, select: str | None = None,
                 conditions: tuple | None = None, cold_l2: bool | None = None) -> list[Path]:
    """The baseline set of this machine and profile: every baseline run in its folder (``promote`` adds
    one; ``python -m nptbench baseline`` makes several at different times), oldest first. Every file is
    read: a corrupt one is an error.

    ``select`` (the value given to ``--benchmark-compare``) keeps only files whose name contains it.
    ``conditions`` (the run's thread variables, as nptbench.schema.record.conditions gives them) and
    ``cold_l2`` keep only runs measured under the same conditions, when given: a result's conditions are
    part of its identity, and a set never mixes them.

    A run of another machine in the folder (copied there by hand) is an error naming the file, as a corrupt
    one is: judging this machine against another's times would pass or fail on the hardware alone.
    """
    found = []
    for path in layout.baseline_files(fp, results):
        if select and select not in path.name:
            continue
        run = load(path)
        if run.fingerprint != fp:
            raise RunError(f"{path}: measured on {run.fingerprint}, not on this machine ({fp}); a baseline set "
                           f"holds this machine's runs only: move it to {layout.machine_dir(run.fingerprint, results)}/")
        if run.profile != profile:
            continue
        if conditions is not None and run.conditions() != tuple(conditions):
            continue
        if cold_l2 is not None and run.cold_l2 != cold_l2:
            continue
        found.append((run.time, path.name, path))
    return [path for _, _, path in sorted(found)]
