"""``python -m nptbench calibrate``: careful ceilings of this machine, stored per hardware fingerprint.

A timed session measures quick ceilings in a second or two (nptbench.measure.ceilings), from operands that can
be too small to reach the peak: on a 2-core Xeon they read 34 % (sgemm) and 60 % (copy) below careful
figures, which inflates every "% of ceiling". This command measures each ceiling with operands large
enough to reach it and stores the result in ``results/<fingerprint>/ceilings.json`` (committed, like the
baselines); sessions on a machine of that fingerprint then use the stored figures (``source: stored``) as
long as they run with the same thread settings.

What is measured (CPU with the suite's own thread settings, i.e. whatever this process has):

- fp32 and fp64 square products of 4096 (``--size``) by numpy's and by torch's BLAS, the faster of the two;
- a STREAM-like copy (numpy ``copyto`` and torch ``copy_``) and triad (torch ``add`` with ``alpha``, one
  pass) over arrays of 1 GiB each (``--gib``), bytes read plus written; the memory ceiling is the best of
  them;
- on a GPU, the ceilings of a session (cuBLAS with TF32 off, device copy, pinned transfers) at full size.

Stopping rule: each figure is the least time of repeated calls, repeated until the least time has not
improved by more than 1 % over the last 3 calls, with at least 5 and at most 30 calls, or until 60 s were
spent on that figure.

The stored file lies where nptbench.schema.layout.ceilings_path says; it is read back (and its thread
settings checked) by nptbench.schema.ceilings.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from nptbench.env import machine
from nptbench.measure import ceilings
from nptbench.schema import layout

MIN_REPS, MAX_REPS, PATIENCE, TOLERANCE, BUDGET_S = 5, 30, 3, 0.01, 60.0
STOPPING_RULE = (f"least time of repeated calls, repeated until it improved by no more than {TOLERANCE:.0%} over "
                 f"the last {PATIENCE} calls (at least {MIN_REPS}, at most {MAX_REPS} calls, at most "
                 f"{BUDGET_S:.0f} s a figure)")


def until_stable(fn, clock=time.perf_counter) -> tuple[float, int]:
    """Least wall time of calls of ``fn`` under the stopping rule, and how many calls it took."""
    fn()  # warm-up: thread pools, packing buffers, first touch
    best, since, reps, start = float("inf"), 0, 0, clock()
    while reps < MAX_REPS:
        t0 = clock()
        fn()
        t = clock() - t0
        reps += 1
        if t < best * (1 - TOLERANCE):
            since = 0
        else:
            since += 1
        best = min(best, t)
        if reps >= MIN_REPS and (since >= PATIENCE or clock() - start > BUDGET_S):
            break
    return best, reps


def _libraries():
    out = {"numpy": (np.matmul, lambda x: x)}
    try:
        import torch

        out["torch"] = (torch.mm, torch.from_numpy)
    except Exception:
        pass
    return out


def cpu_matmul(dtype: str, n: int) -> dict:
    """Best GFLOP/s of an n x n product in ``dtype`` by each BLAS here: ``{"gflops", "how", "tried"}``."""
    rng = np.random.default_rng(0)
    a0, b0 = (rng.random((n, n)).astype(dtype) for _ in range(2))
    tried = {}
    for lib, (mm, wrap) in _libraries().items():
        a, b = wrap(a0), wrap(b0)
        t, reps = until_stable(lambda: mm(a, b))
        tried[lib] = {"gflops": round(2 * n**3 / t / 1e9, 2), "calls": reps}
    best = max(tried, key=lambda k: tried[k]["gflops"])
    return {"gflops": tried[best]["gflops"], "how": f"{best} {n}x{n}", "tried": tried}


def cpu_memory(nbytes: int) -> dict:
    """Best GB/s (read + written) of a copy and a triad of arrays of ``nbytes`` each."""
    n = nbytes // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.zeros_like(src)  # zeros_like writes the pages: no first-touch faults inside the timing
    tried = {}
    t, reps = until_stable(lambda: np.copyto(dst, src))
    tried["numpy copyto"] = {"gbps": round(2 * nbytes / t / 1e9, 2), "calls": reps}
    try:
        import torch

        s, d = torch.from_numpy(src), torch.from_numpy(dst)
        t, reps = until_stable(lambda: d.copy_(s))
        tried["torch copy_"] = {"gbps": round(2 * nbytes / t / 1e9, 2), "calls": reps}
        c = torch.ones(n)
        t, reps = until_stable(lambda: torch.add(s, c, alpha=3.0, out=d))  # a = b + 3 c, one pass
        tried["torch triad"] = {"gbps": round(3 * nbytes / t / 1e9, 2), "calls": reps}
        del c
    except Exception:
        pass
    best = max(tried, key=lambda k: tried[k]["gbps"])
    return {"gbps": tried[best]["gbps"], "how": f"{best} of {nbytes / 2**30:.2g} GiB arrays", "tried": tried}


def measure(size: int = 4096, gib: float = 1.0, gpu: bool = True, log=print) -> dict:
    """Careful ceilings of this machine, in the layout of a session's (``{"cpu": {...}, "cuda": {...}}``)."""
    t0 = time.perf_counter()
    f32 = cpu_matmul("float32", size)
    log(f"cpu fp32 product: {f32['gflops']:,.1f} GFLOP/s ({f32['how']})")
    f64 = cpu_matmul("float64", size)
    log(f"cpu fp64 product: {f64['gflops']:,.1f} GFLOP/s ({f64['how']})")
    nbytes = int(min(gib * 2**30, ceilings.available_bytes() // 6)) // 4 * 4
    mem = cpu_memory(nbytes)
    log(f"cpu memory: {mem['gbps']:,.1f} GB/s ({mem['how']})")
    cpu = {
        "matmul_gflops": {"float32": f32["gflops"], "float64": f64["gflops"]},
        "copy_gbps": mem["gbps"],
        "cache_bytes": ceilings.last_level_cache_bytes(),
        "tried": {"float32": f32["tried"], "float64": f64["tried"], "memory": mem["tried"]},
        "method": (f"calibrate: fp32 {f32['how']}, fp64 {f64['how']} (the faster BLAS of numpy and torch); "
                   f"memory: {mem['how']}, the best of copy and triad, bytes read + written; {STOPPING_RULE}"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out = {"cpu": cpu}
    from nptbench.env.backends import missing_cuda

    if gpu and missing_cuda() is None:
        out["cuda"] = ceilings.cuda_ceilings(quick=False)
        log(f"cuda: {out['cuda']['method']}")
    return out


def write(measured: dict, fp: str, results: Path = layout.RESULTS) -> Path:
    info = machine.describe()
    doc = {
        **measured,
        "fingerprint": fp,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "threads": machine.thread_settings(),
        "versions": info["versions"],
        "blas": info["blas"],
        "cpu_model": info["cpu_model"],
        "stopping_rule": STOPPING_RULE,
    }
    path = layout.ceilings_path(fp, results)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nptbench calibrate",
        description="Measure this machine's ceilings carefully and store them in results/<fingerprint>/ceilings.json, "
                    "where timed sessions with the same thread settings find them.",
    )
    parser.add_argument("--size", type=int, default=4096, help="side of the square products (default 4096)")
    parser.add_argument("--gib", type=float, default=1.0, help="GiB per array of the copy and triad (default 1)")
    parser.add_argument("--no-gpu", action="store_true", help="CPU ceilings only")
    parser.add_argument("--results", type=Path, default=layout.RESULTS, help="results folder (default: ./results)")
    parser.add_argument("--dry-run", action="store_true", help="measure and print, store nothing")
    args = parser.parse_args(argv)
    fp = machine.fingerprint()
    print(f"calibrating {fp} with threads {machine.thread_settings()}; {STOPPING_RULE}", flush=True)
    measured = measure(args.size, args.gib, gpu=not args.no_gpu, log=lambda s: print(s, flush=True))
    if args.dry_run:
        print(json.dumps(measured, indent=1))
        return 0
    path = write(measured, fp, args.results)
    print(f"stored {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
