"""What a report is made of: the results of saved runs, grouped by context, with their machines and skips.

Results are grouped by *context*: one machine at one size profile, and results under other conditions
(nptbench.schema.record.conditions: a cold L2, the run's thread variables) in a context of their own
(``M1/default/cold-L2``). Ratios are only taken within a context. Several runs of one benchmark in one
context are pooled as compare and the gate pool them (nptbench.analysis.across), never replaced, and each
row says how many runs and rounds it rests on. Runs are read by nptbench.schema.runs, as compare and
promote read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nptbench.analysis import across, roofline
from nptbench.schema import ceilings
from nptbench.schema import layout
from nptbench.schema.record import DEVICE_TIME_LABEL, conditions_label, lead_time
from nptbench.schema.runs import RunError, load, run_files


class ReportError(Exception):
    """A run cannot be read or the report cannot be made; the message says why."""


@dataclass
class Machine:
    key: str  # the hardware fingerprint (nptbench.schema.runs.Run.machine_key)
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
    for m in runs.machines.values():
        doc = ceilings.read(layout.ceilings_path(m.key, results))
        threads = m.info.get("nptbench", {}).get("threads", {})
        if doc is None or ceilings.usable(doc, {"env": threads.get("env", {}), "torch": threads.get("torch")}):
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
                seconds, r.roof_time = lead_time(r.record, r.median)
                r.roof = roofline.annotate(r.record, seconds, m.ceilings)


def expand(paths) -> list[Path]:
    """Run files: each path itself, or the run files under a directory (sorted; nptbench.schema.runs.run_files)."""
    out = []
    for p in map(Path, paths):
        if not (p.is_dir() or p.is_file()):
            raise ReportError(f"{p}: no such file or directory")
        found = run_files(p)
        if not found:
            raise ReportError(f"{p}: no .json runs in this directory")
        out += found
    return out


def gather(paths, results: Path | None = None) -> Runs:
    """The runs at ``paths``. Runs of one machine and profile are taken together: each benchmark pooled
    over them as nptbench.analysis.across says (the same model as compare and the gate). With
    ``results``, a machine whose fingerprint has stored ceilings there (``python -m nptbench calibrate``)
    measured with the runs' thread settings is held against those, and its roofline columns are computed
    again from them."""
    raw = []
    for path in expand(paths):
        try:
            run = load(path)  # the same reading and checks as compare and promote
        except RunError as exc:
            raise ReportError(str(exc)) from None
        raw.append(run)
    return gather_runs(raw, results)


def gather_runs(raw: list, results: Path | None = None) -> Runs:
    """:func:`gather` of runs already read (nptbench.schema.runs.Run): a session's own run, for one."""
    for run in raw:
        if not isinstance(run.data.get("machine_info"), dict):
            raise ReportError(f"{run.path}: not a run of this suite (no 'machine_info')")
    raw = sorted(raw, key=lambda r: r.time)
    runs = Runs()
    groups: dict[tuple, list] = {}  # (machine key, profile) -> its runs
    order: dict[tuple, int] = {}  # (context, experiment, variant) -> when first seen
    held: dict[str, dict] = {}  # run path -> the ceilings its results are held against: its machine's so far
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
        held[path] = m.ceilings
        profile = run.info.get("profile", "?")
        context = f"{m.label}/{profile}"
        run_label = conditions_label(run.conditions())  # the run's thread variables
        context += f"/{run_label}" if run_label else ""
        runs.files.append((path, run.time, m.label, profile, run.commit))
        groups.setdefault((key, profile), []).append(run)
        for b in run.benchmarks:
            rec = b.get("extra_info", {}) or {}
            if not _reportable(b):
                runs.ignored.append(b.get("fullname", b.get("name", "?")))
                continue
            order.setdefault((_context(m.label, profile, run.conditions(rec)), rec["experiment"], rec["variant"]),
                             len(order))
        for s in run.data.get("nptbench_skipped", []) or []:
            runs.skips.append(Skip(context, s.get("nodeid", "?"), s.get("experiment"), s.get("variant"),
                                   s.get("reason", "")))
    found = {}
    for (key, profile), group in groups.items():
        m = runs.machines[key]
        for bench in across.benches(group).values():
            if not _reportable({"extra_info": bench.record, "stats": bench.stats}):
                continue
            # the ceilings of the latest run it rests on (a run saved without ceilings: its machine's before)
            result = _result(bench, _context(m.label, profile, bench.conds), held[str(bench.paths[-1])])
            found[(result.context, result.experiment, result.variant)] = result
    for k in sorted(found, key=order.__getitem__):
        runs.results[k] = found[k]
    runs.pooled = sum(r.runs > 1 for r in runs.results.values())
    if not runs.results and not runs.skips:
        raise ReportError("the runs hold no nptbench benchmarks (no records in extra_info)")
    if results is not None:
        _use_stored_ceilings(runs, Path(results))
    return runs


def _reportable(bench: dict) -> bool:
    rec = bench.get("extra_info", {}) or {}
    return bool(rec.get("experiment") and rec.get("variant") and (bench.get("stats", {}) or {}).get("median"))


def _context(label: str, profile: str, conds: tuple) -> str:
    """``M1/default``, with the conditions where there are any (``M1/default/cold-L2``): other conditions
    time other work, so they are a context of their own, never a replacement."""
    conditions = conditions_label(conds)
    return f"{label}/{profile}" + (f"/{conditions}" if conditions else "")


def _result(bench: across.Bench, context: str, held: dict) -> Result:
    """A report row from one benchmark pooled over its runs (nptbench.analysis.across). One run keeps the
    roofline columns it saved; pooled runs have them taken again from the pooled time."""
    rec, stats = bench.record, bench.stats
    if bench.runs == 1:
        if "pct_of_ceiling" in rec:
            roof = {k: rec.get(k) for k in roofline.FIELDS}
            roof_time = rec.get("roofline_time", "median")
            if roof["bound"] == "memory" and (roof["pct_of_ceiling"] or 0) > 100 and not roof["ceiling_note"]:
                # saved before records explained this: the reason from the run's own ceilings
                dev = held.get(rec.get("device")) or {}
                roof["ceiling_note"] = roofline.above_memory_ceiling(rec.get("bytes") or 0, dev.get("cache_bytes"),
                                                                     held.get("source"))
        else:  # a run saved without the roofline hook: derive from its ceilings, if any
            seconds, roof_time = lead_time(rec, stats["median"])
            roof = roofline.annotate(rec, seconds, held)
        return Result(context, rec["experiment"], rec["variant"], rec, stats["median"], stats.get("q1"),
                      stats.get("q3"), stats.get("rounds") or len(stats.get("data") or []), roof, roof_time,
                      str(bench.paths[0]), stats.get("data"))
    rec = bench.pooled_record()
    host = bench.host
    q1 = q3 = None
    if host.rounds is not None:
        q1, q3 = map(float, np.percentile(host.rounds, [25, 75]))
    seconds, roof_time = lead_time(rec, host.median)
    return Result(context, rec["experiment"], rec["variant"], rec, host.median, q1, q3, host.count,
                  roofline.annotate(rec, seconds, held), roof_time, "; ".join(map(str, bench.paths)),
                  [float(t) for t in host.rounds] if host.rounds is not None else None, bench.runs)


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
