"""``python -m nptbench matrix``: every CPU benchmark once (timing off, correctness on) under each
configuration the suite recommends or records (nptbench.env.configs): thread counts, OpenBLAS's and MKL's
kernel sets, torch's CPU capability.

Each configuration that applies on this CPU runs one pytest session of the suite in a fresh process with
its variables (``--benchmark-disable``, GPU benchmarks deselected), and its ``--check-log`` says what every
benchmark's check found. A configuration that does not apply (no wider kernels to hold back, MKL naming no
instruction set) is skipped with the reason. The table: per configuration, benchmarks passed, failed and
skipped, and per family the largest error against its tolerance (err / tol; 1 is the tolerance).

Exit status: 0 when every configuration that applies passed, 1 when a benchmark failed in one (each named
with its reason), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from nptbench.env import blas, configs
from nptbench.tools import split_pytest_args

#: Each check a benchmark records: its error and the tolerance it was held to (nptbench.schema.record).
CHECK_PAIRS = (("rel_err", "rtol"), ("max_pointwise_rel_err", "pointwise_rtol"), ("loss_rel_err", "loss_rtol"))

#: GPU benchmarks are not this command's: they skip here anyway, and would only slow the collection.
DESELECT_GPU = "not gpu and not numba_cuda"


@dataclass
class Outcome:
    """One configuration's session: what applied, its exit status and its check log."""

    config: configs.Config
    applies: bool
    why: str
    returncode: int | None = None
    lines: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    tail: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for ln in self.lines if ln.get("outcome") == outcome and ln.get("when") in ("call", "setup"))

    def failures(self) -> list[dict]:
        return [ln for ln in self.lines if ln.get("outcome") == "failed"]

    def checks(self):
        """Every check the log holds, as ``Check`` (one per error and tolerance pair of :data:`CHECK_PAIRS`)."""
        for ln in self.lines:
            for err, tol in CHECK_PAIRS:
                if ln.get(err) is not None and ln.get(tol):
                    yield Check(ln["nodeid"].split("::")[-1], family_of(ln["nodeid"]), err, float(ln[err]),
                                float(ln[tol]), ln.get("rtol_rule", ""))

    def worst_by_family(self) -> dict[str, "Check"]:
        """family -> its check whose error came closest to its tolerance."""
        out: dict[str, Check] = {}
        for c in self.checks():
            if c.family not in out or c.ratio > out[c.family].ratio:
                out[c.family] = c
        return out


@dataclass
class Check:
    """One check of one benchmark: its error against its tolerance."""

    name: str
    family: str
    kind: str  # the error's record field: rel_err, max_pointwise_rel_err or loss_rel_err
    err: float
    tol: float
    rule: str

    @property
    def ratio(self) -> float:
        return self.err / self.tol


def family_of(nodeid: str) -> str:
    """``bench/test_matmul.py::...`` -> ``matmul``."""
    return Path(nodeid.split("::")[0]).stem.removeprefix("test_")


def session_command(python: str, bench_size: str, log: Path, pytest_args: list[str]) -> list[str]:
    return [python, "-m", "pytest", *(pytest_args or ["bench"]), f"--bench-size={bench_size}", "--benchmark-disable",
            "-m", DESELECT_GPU, "-q", "-p", "no:cacheprovider", f"--check-log={log}"]


def run_config(config: configs.Config, native: dict, bench_size: str, python: str, pytest_args: list[str],
               base_env: dict | None = None) -> Outcome:
    """Run the suite under ``config`` where it applies; the skip reason where it does not."""
    ok, why = configs.applies(config, native)
    if not ok:
        return Outcome(config, False, why)
    with tempfile.TemporaryDirectory(prefix="nptbench-matrix-") as tmp:
        log = Path(tmp) / "checks.jsonl"
        start = time.perf_counter()
        proc = subprocess.run(session_command(python, bench_size, log, pytest_args), env=config.environ(base_env),
                              capture_output=True, text=True)
        took = time.perf_counter() - start
        lines = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()] if log.is_file() else []
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
    return Outcome(config, True, why, proc.returncode, lines, took, tail)


def render(outcomes: list[Outcome]) -> str:
    families = sorted({f for o in outcomes for f in o.worst_by_family()})
    head = ["configuration", "passed", "failed", "skipped", *[f"{f} err/tol" for f in families], "what it is"]
    rows = []
    for o in outcomes:
        if not o.applies:
            rows.append([o.config.name, "-", "-", "-", *["-"] * len(families), f"does not apply: {o.why}"])
            continue
        worst = o.worst_by_family()
        rows.append([o.config.name, str(o.count("passed")), str(o.count("failed")), str(o.count("skipped")),
                     *[f"{worst[f].ratio:.3f}" if f in worst else "-" for f in families], o.why])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def main(argv: list[str] | None = None) -> int:
    argv, pytest_args = split_pytest_args(argv)
    parser = argparse.ArgumentParser(
        prog="python -m nptbench matrix",
        description="Every CPU benchmark once, timing off and correctness on, under each configuration the suite "
                    "recommends or records (thread counts, OpenBLAS and MKL kernel sets, torch's CPU capability); "
                    "configurations that do not apply on this CPU are skipped with the reason. Pytest arguments "
                    "follow '--' (default: bench).",
        epilog="example: python -m nptbench matrix --bench-size default --only threads-1",
    )
    parser.add_argument("--bench-size", default="smoke", choices=("smoke", "default", "seed"),
                        help="the profile to run (default: smoke)")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="run only this configuration (repeatable); names: "
                             + ", ".join(c.name for c in configs.all_configs()))
    parser.add_argument("--json", type=Path, default=None, help="write every configuration's check log here")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs pytest (default: this one)")
    args = parser.parse_args(argv)
    chosen = configs.all_configs()
    if args.only:
        unknown = sorted(set(args.only) - {c.name for c in chosen})
        if unknown:
            parser.error(f"unknown configuration {', '.join(unknown)}; choose from {', '.join(c.name for c in chosen)}")
        chosen = [c for c in chosen if c.name in args.only]
    log = lambda msg: print(f"nptbench matrix: {msg}", file=sys.stderr, flush=True)
    native = blas.probe()
    outcomes = []
    for i, config in enumerate(chosen, 1):
        o = run_config(config, native, args.bench_size, args.python, pytest_args)
        outcomes.append(o)
        if not o.applies:
            log(f"[{i}/{len(chosen)}] {config.name}: does not apply: {o.why}")
            continue
        log(f"[{i}/{len(chosen)}] {config.name}: {o.count('passed')} passed, {o.count('failed')} failed, "
            f"{o.count('skipped')} skipped in {o.seconds:.0f} s (exit {o.returncode})")
        for f in o.failures():
            log(f"  FAILED {f['nodeid']}: {f.get('reason', '')}")
        if o.returncode not in (0, 5) and not o.failures():
            log(f"  the session failed without a failing benchmark: {o.tail}")
    print(render(outcomes))
    if args.json:
        args.json.write_text(json.dumps([{"config": o.config.name, "env": o.config.env, "unset": list(o.config.unset),
                                          "applies": o.applies, "why": o.why, "returncode": o.returncode,
                                          "seconds": round(o.seconds, 1), "checks": o.lines} for o in outcomes],
                                         indent=1))
    bad = [o for o in outcomes if o.applies and (o.failures() or o.returncode not in (0, 5))]
    if bad:
        print(f"failed under: {', '.join(o.config.name for o in bad)}", file=sys.stderr)
        return 1
    print(f"every configuration that applies passed (the {args.bench_size} profile)")
    return 0
