"""``python -m nptbench doctor``: what this machine can run, what it cannot, and why, on one screen.

It asks the same questions the suite asks before it runs a benchmark (the same functions, so the doctor and
the skips never disagree) and adds what a reader needs to trust the numbers: the versions, the BLAS
libraries and the kernels they run, thread counts, the GPU and its state through NVML (clocks, persistence
mode, power limit, whether it is throttling now), whether the numba CUDA kernels compile for it,
where MNIST would come from, and whether this machine has a baseline. With ``--require-gpu`` the exit
status is 1 when any GPU path is broken, as the benchmarks would fail under that option.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from nptbench.env import backends, machine, mnist_source
from nptbench.measure import gpustate, instruments
from nptbench.schema import layout
from nptbench.schema.record import GPU_THROTTLE_FLAGGED

#: The suite checks its kernels for the H100/H200 where no GPU says otherwise (tests/test_cuda_ptx.py).
DEFAULT_CC = (9, 0)
PACKAGES = ("numpy", "torch", "numba", "numba-cuda", "fastcore", "pytest", "pytest-benchmark", "scipy",
            "threadpoolctl", "matplotlib")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _blas() -> dict:
    """Each library's BLAS and kernels, asked of a fresh process (nptbench.env.blas), and the thread pools."""
    from nptbench.env import blas

    try:
        kernels = blas.probe()
    except Exception as exc:  # a broken torch or numpy install: say so, the rest of the screen still helps
        kernels = {"error": f"{type(exc).__name__}: {exc}"}
    return {"kernels": kernels, "pools": machine.blas_threads()}


def _mnist() -> str:
    offline = os.environ.get("NPTBENCH_OFFLINE", "0") not in ("", "0")
    return mnist_source.describe_source(download_ok=not offline) + (" (NPTBENCH_OFFLINE=1)" if offline else "")


def _results(fp: str, results: Path) -> dict:
    folder = layout.machine_dir(fp, results)
    ceilings = layout.ceilings_path(fp, results)
    runs = [p.name for p in layout.baseline_files(fp, results)]
    return {"folder": str(folder), "baselines": runs,
            "ceilings": str(ceilings) if ceilings.is_file() else None}


def gpu_state() -> dict:
    """The GPU's settings and one reading now, through NVML (nptbench.measure.gpustate): ``{"settings": ...,
    "now": ...}``, each ``{"note": why not}`` where NVML gives nothing."""
    return {"settings": gpustate.static_info(), "now": gpustate.sample()}


def examine(results: Path = layout.RESULTS, instrument: bool = False) -> dict:
    """Everything the doctor reports, as data. ``instrument``: also run the instrument (a tiny call counted
    twice under valgrind) and ask which kernels run under it (:func:`instrument_check`; a minute or so)."""
    info = machine.describe()
    gpus = info["gpus"]
    cc = tuple(int(x) for x in gpus[0]["capability"].split(".")) if gpus else DEFAULT_CC
    compile_problem = backends.numba_cuda_compile_problem(cc) if not backends.missing_package("numba") else \
        ("numba", backends.missing_package("numba"))
    fp = machine.fingerprint()
    paths = {
        "cpu": None,
        "numba-njit": backends.missing_package("numba"),
        "torch-cuda": backends.missing_cuda(),
        "numba-cuda": backends.missing_numba_cuda(),
        f"compile-sm_{cc[0]}{cc[1]}": compile_problem[1] if compile_problem else None,
        "fastcore": backends.missing_package("fastcore"),
        "instructions": instruments.missing(),
    }
    return {
        "fingerprint": fp,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": {"model": info["cpu_model"], "vendor": machine.cpu_vendor(), "cores": info["cpu_cores"]},
        "versions": {name: _version(name) for name in PACKAGES},
        "threads": info["threads"],
        "blas": _blas(),
        "gpus": gpus,
        "gpu_state": gpu_state(),
        "paths": paths,
        "mnist": _mnist(),
        "results": _results(fp, results),
        "instrument": instrument_check(paths) if instrument else None,
    }


def instrument_check(paths: dict) -> dict:
    """``--instrument``: run the instrument on a tiny call (nptbench.measure.instruments.probe); its verdict
    replaces the cheap one in ``paths``; where it runs, the kernels numpy's BLAS and torch take under it."""
    if paths["instructions"] is not None:
        return {}
    paths["instructions"] = instruments.probe()
    if paths["instructions"] is not None:
        return {}
    try:
        return {"kernels": instruments.kernels()}
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return {"kernels_error": str(exc)}


#: path -> what it runs, in words
RUNS = {
    "cpu": "numpy, torch CPU and pure-Python benchmarks",
    "numba-njit": "numba @njit benchmarks",
    "torch-cuda": "torch GPU benchmarks (-m gpu)",
    "numba-cuda": "numba CUDA benchmarks (-m numba_cuda)",
    "fastcore": "seed 004's test_close check",
    "instructions": "instruction counts (pytest bench --instrument instructions, docs/instructions.md)",
}
GPU_PATHS = ("torch-cuda", "numba-cuda")


def broken_gpu_paths(report: dict) -> list[str]:
    """The GPU paths that would fail under --require-gpu: torch and numba CUDA, and the kernel compile."""
    return [p for p, why in report["paths"].items() if why and (p in GPU_PATHS or p.startswith("compile-"))]


def render(report: dict) -> list[str]:
    v = report["versions"]
    lines = [f"nptbench doctor: {report['fingerprint']}", ""]
    lines.append(f"machine   {report['cpu']['model']} ({report['cpu']['vendor']}), {report['cpu']['cores']} usable "
                 f"cores, {report['platform']}, Python {report['python']}")
    lines.append("versions  " + ", ".join(f"{k} {v[k] or '-'}" for k in PACKAGES))
    t = report["threads"]
    lines.append(f"threads   torch {t.get('torch', '-')} (interop {t.get('torch_interop', '-')}); env "
                 f"{', '.join(f'{k}={x}' for k, x in t.get('env', {}).items()) or 'none set'}; BLAS pools "
                 f"{', '.join(f'{k} {x}' for k, x in (t.get('blas_pools') or {}).items()) or '-'}")
    kernels = report["blas"]["kernels"]
    if "error" in kernels:
        lines.append(f"BLAS      cannot tell: {kernels['error']}")
    for lib in ("numpy", "torch"):
        k = kernels.get(lib)
        if k:
            lines.append(f"BLAS      {lib}: {k.get('name') or '?'}, kernels {k.get('kernels') or 'not named'} "
                         f"({k.get('evidence')})")
    for g in report["gpus"] or [None]:
        lines.append("GPU       none seen by torch" if g is None else
                     f"GPU       {g['name']}, sm {g['capability']}, {g['memory_gib']} GiB, {g['multiprocessors']} SMs, "
                     f"driver {g['driver'] or '?'}, CUDA runtime {g['cuda_runtime']}")
    lines += render_gpu_state(report.get("gpu_state") or {}, bool(report["gpus"]))
    lines.append(f"MNIST     {report['mnist']}")
    r = report["results"]
    lines.append(f"baseline  {', '.join(r['baselines']) or 'none'} in {r['folder']}/")
    lines.append(f"ceilings  {r['ceilings'] or 'none stored: each timed session measures quick ceilings'}")
    lines.append("")
    lines.append("can run:")
    for path, why in report["paths"].items():
        what = RUNS.get(path) or f"numba CUDA kernels compiled for {path.split('-', 1)[1]} (no GPU needed)"
        lines.append(f"  {'yes' if why is None else 'no ':<4} {what}" + (f": {why}" if why else ""))
    lines += render_instrument(report)
    return lines


def render_instrument(report: dict) -> list[str]:
    """Under ``--instrument``: the kernels taken natively and under valgrind, side by side; without it, how
    to run the instrument's own check."""
    check = report.get("instrument")
    if check is None:
        return ["  (instruction counts: checked for valgrind and setarch only; python -m nptbench doctor "
                "--instrument counts a tiny call twice under valgrind)"] if report["paths"]["instructions"] is None \
            else []
    if "kernels_error" in check:
        return [f"kernels under valgrind: cannot tell: {check['kernels_error']}"]
    if "kernels" not in check:
        return []
    native, under = report["blas"]["kernels"], check["kernels"]
    lines = ["kernels   natively -> under valgrind (counts describe the latter: valgrind has no AVX-512)"]
    for lib in ("numpy", "torch"):
        a, b = (native.get(lib) or {}).get("kernels"), (under.get(lib) or {}).get("kernels")
        if a or b:
            lines.append(f"          {lib} BLAS: {a or '?'} -> {b or '?'}")
    lines.append(f"          torch operators: {native.get('torch_capability') or '?'} -> "
                 f"{under.get('torch_capability') or '?'}")
    return lines


def _mhz(value) -> str:
    return f"{value:.0f} MHz" if value is not None else "?"


def render_gpu_state(state: dict, gpu_seen: bool) -> list[str]:
    """The GPU state lines: clocks, persistence mode, power limit, driver, and whether it throttles now.
    Where NVML gives nothing, one line says why, but only where a GPU is seen (a CPU machine's screen is
    unchanged)."""
    settings, now = state.get("settings") or {}, state.get("now") or {}
    if "nvml_device" not in settings:
        why = settings.get("note") or now.get("note")
        return [f"GPU state {why}"] if gpu_seen and why else []
    s, n = settings, now
    onoff = {True: "on", False: "off", None: "?"}
    lines = [f"GPU state {s.get('name') or '?'} ({s['nvml_device']}), driver {s.get('driver') or '?'}: "
             f"SM clock {_mhz(n.get('sm_clock_mhz'))} now, application {_mhz(s.get('sm_clock_app_mhz'))}, "
             f"max {_mhz(s.get('sm_clock_max_mhz'))}; memory clock {_mhz(n.get('mem_clock_mhz'))} now, application "
             f"{_mhz(s.get('mem_clock_app_mhz'))}, max {_mhz(s.get('mem_clock_max_mhz'))}",
             f"GPU state persistence mode {onoff[s.get('persistence_mode')]}, power "
             + (f"{n['power_w']:.0f} W" if n.get("power_w") is not None else "?") + " of a "
             + (f"{s['power_limit_w']:.0f} W" if s.get("power_limit_w") is not None else "?") + " limit, "
             + (f"{n['temperature_c']} °C" if n.get("temperature_c") is not None else "? °C")
             + (", MIG on" if s.get("mig_mode") else "")]
    reasons = n.get("throttle_reasons")
    hit = [r for r in reasons or () if r in GPU_THROTTLE_FLAGGED]
    if reasons is None:
        lines.append("throttle  cannot tell: NVML refused the throttle reasons")
    elif hit:
        lines.append(f"throttle  THROTTLING NOW: {', '.join(hit)}"
                     + (f" (also {', '.join(r for r in reasons if r not in hit)})" if len(reasons) > len(hit) else ""))
    else:
        lines.append("throttle  no power or thermal throttling now" + (f" ({', '.join(reasons)})" if reasons else ""))
    if s.get("note"):
        lines.append(f"GPU state {s['note']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nptbench doctor",
                                     description="Say what this machine can run, what it cannot, and why.")
    parser.add_argument("--require-gpu", action="store_true",
                        help="exit 1 when any GPU path is broken (as the GPU benchmarks would fail)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--instrument", action="store_true",
                        help="also run --instrument instructions' own check: a tiny call counted twice under "
                             "valgrind, and the kernels numpy's BLAS and torch take under it (a minute or so)")
    parser.add_argument("--results", type=Path, default=layout.RESULTS, help="results folder (default: ./results)")
    args = parser.parse_args(argv)
    report = examine(args.results, args.instrument)
    broken = broken_gpu_paths(report)
    if args.json:
        print(json.dumps({**report, "broken_gpu_paths": broken}, indent=1))
    else:
        print("\n".join(render(report)))
    if args.require_gpu and broken:
        print(f"nptbench doctor: --require-gpu: broken GPU paths: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0
