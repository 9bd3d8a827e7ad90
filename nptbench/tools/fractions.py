"""``python -m nptbench fractions RUN.json ...``: the hand-written CUDA kernels' share of cuBLAS, from saved runs.

Each kernel record's device time (kernel time where both records have it) against the ``torch-cublas``
record of the same experiment and shape (nptbench.families.gpu's kernel experiments).
"""
from __future__ import annotations

import argparse
import sys

from nptbench.families.gpu import CEILING, KERNELS
from nptbench.schema.runs import RunError, load

def cublas_fractions(records) -> list[dict]:
    """For each experiment with a cuBLAS record: each numba kernel's device time as a fraction of it.

    ``records`` are record dicts (a saved run's ``extra_info``); a fraction of 0.5 means the kernel reaches
    half of cuBLAS's speed. Kernel time (no launch cost) is used when both records have it, else the
    event time of the timed rounds. Records without device time (CPU, or failed) are ignored.
    """
    by_exp = {}
    for r in records:
        if r.get("device") == "cuda" and r.get("device_time_s"):
            by_exp.setdefault((r["experiment"], tuple(map(tuple, r["shape"]))), {})[r["variant"]] = r
    rows = []
    for (experiment, shape), variants in sorted(by_exp.items()):
        ceiling = variants.get(CEILING)
        if ceiling is None:
            continue
        for variant, r in sorted(variants.items()):
            if variant in KERNELS:
                field = "kernel_time_s" if r.get("kernel_time_s") and ceiling.get("kernel_time_s") else "device_time_s"
                rows.append({
                    "experiment": experiment, "variant": variant, "shape": [list(s) for s in shape],
                    "time_field": field, "time_s": r[field], "cublas_time_s": ceiling[field],
                    "fraction_of_cublas": ceiling[field] / r[field],
                })
    return rows


def main(argv=None) -> int:
    """``python -m nptbench fractions RUN.json ...``: print the kernels' fractions of cuBLAS in saved runs."""

    parser = argparse.ArgumentParser(prog="python -m nptbench fractions",
                                     description="The hand-written numba CUDA kernels' fractions of cuBLAS "
                                                 "(kernel time where recorded, else device time) in saved runs.")
    parser.add_argument("runs", nargs="+", help="saved runs (.json) holding kernel and torch-cublas records")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    records = []
    for path in args.runs:
        try:
            records += [b.get("extra_info", {}) for b in load(path).benchmarks]
        except RunError as exc:
            print(f"nptbench fractions: {exc}", file=sys.stderr)
            return 2
    rows = cublas_fractions(records)
    if not rows:
        print("no experiment has both a numba-cuda kernel and a torch-cublas record with device time")
        return 1
    for r in rows:
        print(f"{r['experiment']:<12} {r['variant']:<22} {r['time_s'] * 1e3:9.3f} ms  "
              f"cuBLAS {r['cublas_time_s'] * 1e3:9.3f} ms  {100 * r['fraction_of_cublas']:6.1f} % of cuBLAS"
              f"  ({r['time_field']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
