"""Tabulate the change-point detector's null distributions (nptbench/analysis/nulls.npz, read by
nptbench.analysis.changepoints.table): for the default settings, the top ``TABLE_TOP`` maxima of each
family at every segment length from ``2 MIN_SIZE`` to ``EXACT_UPTO`` runs and at every bucket length up to
``TABLE_UPTO`` (changepoints.null_length). Run it again whenever a setting in changepoints.table_key
changes (tests/test_history_scale.py fails until then):

    .venv/bin/python scripts/history_nulls.py [OUT]

About 4e10 stretch-draws: a few minutes on a 2-core VM.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from nptbench.analysis import changepoints as cp


def lengths() -> list[int]:
    out = list(range(2 * cp.MIN_SIZE, cp.EXACT_UPTO + 1))
    n = cp.EXACT_UPTO
    while n < cp.TABLE_UPTO:
        n = cp.null_length(n + 1)
        out.append(n)
    return out


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else cp.TABLE
    started = time.monotonic()
    todo = lengths()
    cp.write_table(out, todo)
    print(f"wrote {out}: {len(todo)} lengths ({todo[0]}-{todo[-1]}), {out.stat().st_size} bytes, "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
