"""One benchmark across runs: how runs are matched, which conditions keep them apart, and how they pool.

Every tool that reads more than one run of a benchmark (``compare``, the ``--benchmark-compare`` gate, the
report and its claims ledger) takes it from :func:`benches`, so the same runs give the same answer
everywhere.

- **Match key** (:func:`match_key`): a benchmark is its record's work (experiment, variant, backend,
  device, dtype, shapes, and the fields that fix how much work one call does: :data:`WORK_FIELDS`), not
  its test name, so the same work at the same shape matches across profiles and renamed files. A
  benchmark without a record is matched by its full pytest name.
- **Conditions** (nptbench.schema.record.conditions: a cold L2, the run's thread variables) are part of
  the identity: under other conditions it is another benchmark.
- **Pooling** (:meth:`Times.pool`): one run's time is the median it saved (pytest-benchmark's median of
  all its rounds; for GPU device times, the record's ``device_time_s``). Several runs of one benchmark are
  pooled, never replaced: where every run saved its raw times, they are joined in the order the runs were
  made (so that the difference between runs counts as noise) and the median is taken over them; where
  one did not, the pooled time is the mean of the runs' medians weighted by how many runs each rests on,
  and there are no raw times to judge noise by. Host rounds and device times pool separately. Each run's
  own median and fastest time are kept too (:attr:`Times.run_medians`, :attr:`Times.run_mins`): the
  between-run spread a saved baseline is judged on.
- ``kernel_time_s`` is the run-weighted mean of the runs' kernel times, where every run has one.
- A GPU record whose rounds ran throttled in any run (``gpu_throttled``) keeps that run's GPU state in the
  pooled record, so that the flag is not lost to a later, steady run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from nptbench.schema.record import GPU_STATE_FIELDS
from nptbench.schema.runs import Run

#: Record fields that, besides the shapes, fix how much work one call does (a training run's length).
WORK_FIELDS = ("iterations", "steps", "epochs", "repetitions")


def match_key(bench: dict) -> tuple:
    """What makes two saved benchmarks the same work (see the module's docstring)."""
    rec = bench.get("extra_info") or {}
    if all(k in rec for k in ("experiment", "variant", "dtype", "shape")):
        work = json.dumps({k: rec[k] for k in WORK_FIELDS if k in rec}, sort_keys=True)
        return ("record", rec["experiment"], rec["variant"], rec.get("backend"), rec.get("device"),
                rec["dtype"], json.dumps(rec["shape"]), work)
    return ("name", bench["fullname"])


@dataclass
class Times:
    """One kind of time (host rounds, or a GPU record's device times) of a benchmark, pooled over runs."""
    rounds: np.ndarray | None  # the raw times (s) of every pooled run, joined; None where one lacks them
    median: float  # see the module's docstring
    run_times: list = field(default_factory=list)  # each pooled run's raw times (empty without them)
    run_medians: list = field(default_factory=list)  # each pooled run's own median, in run order
    count: int = 0  # times measured in all (a baseline may keep fewer raw rounds than it measured)
    run_mins: list = field(default_factory=list)  # each pooled run's fastest time, in run order

    @classmethod
    def of(cls, data, median: float | None = None, count: int | None = None,
           minimum: float | None = None) -> "Times":
        """One run's times: its raw ``data`` (maybe None), the ``median`` it saved (else of ``data``) and its
        fastest time ``minimum`` (else of ``data``, else the median)."""
        rounds = np.asarray(data, dtype=float) if data else None
        med = float(median) if median is not None else float(np.median(rounds))
        n = count if count is not None else (len(rounds) if rounds is not None else 0)
        low = float(minimum) if minimum is not None else float(rounds.min()) if rounds is not None else med
        return cls(rounds, med, [rounds] if rounds is not None else [], [med], n, [low])

    def per_run(self, statistic: str) -> list:
        """Each run's time by ``statistic``: ``min`` (its fastest) or ``median``."""
        return self.run_mins if statistic == "min" else self.run_medians

    @property
    def runs(self) -> int:
        return len(self.run_medians)

    def pool(self, other: "Times") -> None:
        """Pool ``other`` (a later run) into these times."""
        if self.rounds is not None and other.rounds is not None:
            self.rounds = np.concatenate([self.rounds, other.rounds])
            self.median = float(np.median(self.rounds))
            self.run_times += other.run_times
        else:
            self.median = (self.median * self.runs + other.median * other.runs) / (self.runs + other.runs)
            self.rounds, self.run_times = None, []
        self.run_medians += other.run_medians
        self.run_mins += other.run_mins
        self.count += other.count


def device_times(rec: dict) -> Times | None:
    """A GPU record's device times (nptbench.schema.record.GPU_FIELDS): its per-call ``device_times_s``
    where saved, with its ``device_time_s`` as the median; None on the CPU or without a device time."""
    if rec.get("device") != "cuda":
        return None
    data = rec.get("device_times_s") or None
    if data and not float(np.median(data)) > 0:
        data = None
    median = rec.get("device_time_s")
    if not median:
        median = float(np.median(data)) if data else None
    if not median:
        return None
    return Times.of(data, median, len(data) if data else rec.get("device_time_rounds") or 0,
                    rec.get("device_time_min_s") or None)


@dataclass
class Bench:
    """One benchmark (match key and conditions) pooled over the runs that hold it."""
    key: tuple
    name: str
    experiment: str
    variant: str | None
    shape: str
    host: Times  # pytest-benchmark's rounds: wall time on the host
    device: Times | None = None  # CUDA-event times, GPU records only (None where a pooled run lacks them)
    gpu: bool = False  # the record says device == "cuda"
    conds: tuple = ()  # nptbench.schema.record.conditions: part of the identity, () for the usual ones
    record: dict = field(default_factory=dict)  # the latest run's record
    stats: dict = field(default_factory=dict)  # the latest run's pytest-benchmark stats
    paths: list = field(default_factory=list)  # the runs it rests on, in run order
    records: list = field(default_factory=list)  # each run's record, in run order

    @property
    def runs(self) -> int:
        return self.host.runs

    @property
    def kernel_time(self) -> float | None:
        """The run-weighted mean of the runs' kernel times, where every run has one."""
        times = [r.get("kernel_time_s") for r in self.records]
        if not times or not all(times):
            return None
        return float(sum(times) / len(times))

    def pooled_record(self) -> dict:
        """The latest record with the pooled device and kernel times in place of that run's own."""
        rec = dict(self.record)
        dev = self.device
        joined = dev is not None and dev.rounds is not None
        pooled = {"device_times_s": [float(t) for t in dev.rounds] if joined else None,
                  "device_time_s": dev.median if dev is not None else None,
                  "kernel_time_s": self.kernel_time}
        for name, value in pooled.items():
            if value is None:
                rec.pop(name, None)
            else:
                rec[name] = value
        # rounds that ran throttled in any run stay visible: that run's GPU state stands for the pool
        throttled = [r for r in self.records if r.get("gpu_throttled")]
        if throttled and not rec.get("gpu_throttled"):
            rec.update({k: v for k, v in throttled[-1].items() if k in GPU_STATE_FIELDS})
        return rec


def _shape(rec: dict) -> str:
    return "·".join("x".join(map(str, s)) for s in rec.get("shape") or [])


def benches(runs: list[Run]) -> dict[tuple, Bench]:
    """Every benchmark of these runs by (match key, conditions), pooled over the runs in the order they
    were made (their saved time, then their path)."""
    out: dict[tuple, Bench] = {}
    for run in sorted(runs, key=lambda r: (r.time, str(r.path))):
        for b in run.benchmarks:
            rec = b.get("extra_info") or {}
            stats = b["stats"]
            conds = run.conditions(rec)
            key = (match_key(b), conds)
            host = Times.of(stats.get("data"), stats["median"], stats.get("rounds") or len(stats.get("data") or []),
                            stats.get("min"))
            device = device_times(rec)
            if key in out:
                prev = out[key]
                prev.host.pool(host)
                if prev.device is not None and device is not None:
                    prev.device.pool(device)
                else:
                    prev.device = None
                prev.record, prev.stats = rec, stats
                prev.paths.append(run.path)
                prev.records.append(rec)
                continue
            out[key] = Bench(key, b.get("name") or b["fullname"], rec.get("experiment") or b.get("group") or "",
                             rec.get("variant"), _shape(rec), host, device, rec.get("device") == "cuda", conds,
                             rec, stats, [run.path], [rec])
    return out
