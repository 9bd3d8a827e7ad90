"""What a report is made of: the results of saved runs, grouped by context, with their machines and skips.

Results are grouped by *context*: one machine at one size profile, and results under other conditions
(nptbench.record.conditions: a cold L2, the run's thread variables) in a context of their own
(``M1/default/cold-L2``). Ratios are only taken within a context. Several runs of one benchmark in one
context are pooled (:func:`pool`), never replaced, and each row says how many runs and rounds it rests on.
Runs are read by nptbench.runs, as compare and promote read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import roofline
from .record import DEVICE_TIME_LABEL, conditions_label, lead_time
from .runs import RunError, load, run_files, run_profile


class ReportError(Exception):
    """A run cannot be read or the report cannot be made; the message says why."""


@dataclass
class Machine:
    key: str  # the hardware fingerprint (nptbench.runs.Run.machine_key)
    label: str  # M1, M2 ...
    nodes: list  # host names of the runs from this hardware
    cpu: str
    cores: object
    gpus: list
    info: dict  # machine_info of the latest run from this machine
    ceilings: dict = field(default_factory=dict)


@dataclass
class Result:
    context: str
    experiment: str
    variant: str
    record: dict
    median: float
    q1: float | None
    q3: float | None
    rounds: int
    roof: dict
    roof_time: str
    run: str
    host_rounds: list | None = None
    runs: int = 1  # runs of the same context and conditions pooled into this result

    @property
    def lead(self) -> float:
        """The time this result is read by: device time on a GPU where recorded, else the host median."""
        return lead_time(self.record, self.median)[0]

    @property
    def on_device(self) -> bool:
        return lead_time(self.record, self.median)[1] == DEVICE_TIME_LABEL

    def per_unit(self, seconds: float) -> float:
        """``seconds`` per unit of the experiment's work: per iteration where a call runs several
        (``iterations`` in the record), so that variants running different counts compare."""
        its = self.record.get("iterations")
        return seconds / its if isinstance(its, (int, float)) and its > 0 else seconds

    @property
    def unit_time(self) -> float:
        return self.per_unit(self.lead)


@dataclass
class Skip:
    context: str
    name: str
    experiment: str | None
    variant: str | None
    reason: str


@dataclass
class Runs:
    files: list = field(default_factory=list)  # (path, datetime, machine label, profile, commit)
    machines: dict = field(default_factory=dict)  # key -> Machine
    results: dict = field(default_factory=dict)  # (context, experiment, variant) -> Result
    skips: list = field(default_factory=list)
    pooled: int = 0  # results resting on several runs
    ignored: list = field(default_factory=list)  # benchmarks without an nptbench record


def _use_stored_ceilings(runs: Runs, results: Path) -> None:
    from . import ceilings as stored

    for m in runs.machines.values():
        doc = stored.read(stored.stored_path(m.key, results))
        threads = m.info.get("nptbench", {}).get("threads", {})
        if doc is None or stored.usable(doc, {"env": threads.get("env", {}), "torch": threads.get("torch")}):
            continue
        # per device: a stored file without GPU ceilings (calibrated without one) keeps the runs' own
        m.ceilings = {**m.ceilings, **doc}
        for dev in ("cpu", "cuda"):
            if dev in doc:
                m.ceilings[dev] = {**doc[dev], "source": f"stored {str(doc.get('date', '?'))[:10]}"}
            elif dev in m.ceilings:
                m.ceilings[dev] = {**m.ceilings[dev], "source": m.ceilings[dev].get("source") or "quick"}
        for r in runs.results.values():
            if r.context.startswith(m.label + "/"):
                seconds, r.roof_time = roofline.roofline_time(r.record, r.median)
                r.roof = roofline.annotate(r.record, seconds, m.ceilings)


def expand(paths) -> list[Path]:
    """Run files: each path itself, or the run files under a directory (sorted; nptbench.runs.run_files)."""
    out = []
    for p in map(Path, paths):
        if not (p.is_dir() or p.is_file()):
            raise ReportError(f"{p}: no such file or directory")
        found = run_files(p)
        if not found:
            raise ReportError(f"{p}: no .json runs in this directory")
        out += found
    return out


def load_runs(paths, results: Path | None = None) -> Runs:
    """The runs at ``paths``. With ``results``, a machine whose fingerprint has stored ceilings there
    (``python -m nptbench calibrate``) measured with the runs' thread settings is held against those, and
    its roofline columns are computed again from them."""
    raw = []
    for path in expand(paths):
        try:
            run = load(path)  # the same reading and checks as compare and promote
        except RunError as exc:
            raise ReportError(str(exc)) from None
        if not isinstance(run.data.get("machine_info"), dict):
            raise ReportError(f"{path}: not a run of this suite (no 'machine_info')")
        raw.append(run)
    raw.sort(key=lambda r: r.time)  # later runs replace earlier results of the same benchmark
    runs = Runs()
    for run in raw:
        mi, path = run.machine_info, str(run.path)
        key = run.machine_key
        if key not in runs.machines:
            runs.machines[key] = Machine(key, f"M{len(runs.machines) + 1}", [], run.cpu,
                                         run.info.get("cpu_cores", "?"), list(run.gpus), mi)
        m = runs.machines[key]
        if run.node not in m.nodes:
            m.nodes.append(run.node)
        m.info = mi
        m.ceilings = run.info.get("ceilings") or m.ceilings
        profile = run_profile(run.data, "?")
        context = f"{m.label}/{profile}"
        run_label = conditions_label(run.conditions())  # the run's thread variables
        context += f"/{run_label}" if run_label else ""
        runs.files.append((path, run.time, m.label, profile, run.commit))
        for b in run.benchmarks:
            rec = b.get("extra_info", {}) or {}
            stats = b.get("stats", {}) or {}
            if not rec.get("experiment") or not rec.get("variant") or not stats.get("median"):
                runs.ignored.append(b.get("fullname", b.get("name", "?")))
                continue
            if "pct_of_ceiling" in rec:
                roof = {k: rec.get(k) for k in roofline.FIELDS}
                roof_time = rec.get("roofline_time", "median")
                if roof["bound"] == "memory" and (roof["pct_of_ceiling"] or 0) > 100 and not roof["ceiling_note"]:
                    # saved before records explained this: the reason from the run's own ceilings
                    dev = m.ceilings.get(rec.get("device")) or {}
                    roof["ceiling_note"] = roofline.above_memory_ceiling(rec.get("bytes") or 0, dev.get("cache_bytes"),
                                                                         m.ceilings.get("source"))
            else:  # a run saved without the roofline hook: derive from its ceilings, if any
                seconds, roof_time = roofline.roofline_time(rec, stats["median"])
                roof = roofline.annotate(rec, seconds, m.ceilings)
            # Other conditions (a cold L2) time other work: a context of their own, never a replacement.
            label = conditions_label(run.conditions(rec))
            where = f"{m.label}/{profile}" + (f"/{label}" if label else "")
            result = Result(where, rec["experiment"], rec["variant"], rec, stats["median"], stats.get("q1"),
                            stats.get("q3"), stats.get("rounds") or len(stats.get("data") or []), roof, roof_time,
                            path, stats.get("data"))
            k = (where, rec["experiment"], rec["variant"])
            if k in runs.results:
                runs.pooled += runs.results[k].runs == 1
                result = pool(runs.results[k], result, m.ceilings)
            runs.results[k] = result
        for s in run.data.get("nptbench_skipped", []) or []:
            runs.skips.append(Skip(context, s.get("nodeid", "?"), s.get("experiment"), s.get("variant"),
                                   s.get("reason", "")))
    if not runs.results and not runs.skips:
        raise ReportError("the runs hold no nptbench benchmarks (no records in extra_info)")
    if results is not None:
        _use_stored_ceilings(runs, Path(results))
    return runs


def pool(a: Result, b: Result, ceilings: dict) -> Result:
    """One result from two runs of the same benchmark under the same conditions, neither dropped: their
    rounds joined (host rounds and, for a GPU record, per-call device times) where both runs saved all of
    them, else every time the mean of the two medians, weighted by how many runs each rests on. The record
    is the later run's, with the pooled device and kernel times; the roofline columns are taken again."""
    runs = a.runs + b.runs
    gpu = b.record.get("device") == "cuda"
    raw = all(r.host_rounds and (not gpu or r.record.get("device_times_s")) for r in (a, b))

    def weighted(name):
        x, y = a.record.get(name), b.record.get(name)
        return (x * a.runs + y * b.runs) / runs if x and y else None

    rec = dict(b.record)
    if raw:
        rounds = a.host_rounds + b.host_rounds
        median, (q1, q3) = float(np.median(rounds)), map(float, np.percentile(rounds, [25, 75]))
        device = a.record.get("device_times_s", []) + b.record.get("device_times_s", [])
        pooled = {"device_times_s": device or None, "device_time_s": float(np.median(device)) if device else None}
    else:
        rounds, median, q1, q3 = None, (a.median * a.runs + b.median * b.runs) / runs, None, None
        pooled = {"device_times_s": None, "device_time_s": weighted("device_time_s")}
    pooled["kernel_time_s"] = weighted("kernel_time_s")
    for name, value in pooled.items():
        if value is None:
            rec.pop(name, None)
        else:
            rec[name] = value
    seconds, roof_time = roofline.roofline_time(rec, median)
    return Result(b.context, b.experiment, b.variant, rec, median, q1, q3, a.rounds + b.rounds,
                  roofline.annotate(rec, seconds, ceilings), roof_time, f"{a.run}; {b.run}", rounds, runs)


def contexts(runs: Runs) -> list[str]:
    return sorted({r.context for r in runs.results.values()} | {s.context for s in runs.skips})


def times_by_context(runs: Runs, host: bool = False) -> dict:
    """context -> {(experiment, variant): time per unit}: the leading time (device time on a GPU), or with
    ``host`` the host median."""
    out: dict = {}
    for r in runs.results.values():
        out.setdefault(r.context, {})[(r.experiment, r.variant)] = r.per_unit(r.median) if host else r.unit_time
    return out


def skip_reasons(runs: Runs) -> dict:
    return {(s.experiment, s.variant): s.reason for s in runs.skips if s.experiment and s.variant}
