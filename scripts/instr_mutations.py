"""A pytest plugin (``-p scripts.instr_mutations``, loaded before collection as a regression would be) that
gives some rows real extra work of a known size, for measuring what the instruction counts can see
(results/instructions.md: power).

``NPTBENCH_EXTRA_WORK=<percent>``: the library products ``a @ b`` and ``a @ b.T`` (numpy and torch, CPU)
with at least :data:`MIN_ROWS` rows of ``a`` compute ``round(percent / 100 * rows)`` more rows and return
only the real ones. The extra rows are a copy of the first ones, made once per operand outside the counted
call (cached by identity), so the work added is the product's own: BLAS multiplies more rows, nothing
spins. The result is the same product, so every correctness check still runs and passes. Rows with fewer
rows (the 5-row mnist5 product, the training loops) are unaffected: they are the rows a verdict must not
call.
"""
from __future__ import annotations

import os

import nptbench.families.matmul as mm

PERCENT = float(os.environ.get("NPTBENCH_EXTRA_WORK", "0"))
#: Products of fewer rows are left alone (1 % of 5 rows is no row).
MIN_ROWS = 100

_padded: dict = {}


def extra_rows(rows: int) -> int:
    return round(PERCENT / 100 * rows)


def padded(a):
    """``a`` with :func:`extra_rows` of its first rows appended, made once per operand."""
    hit = _padded.get(id(a))
    if hit is None or hit[0] is not a:
        k = extra_rows(a.shape[0])
        if hasattr(a, "detach"):  # torch
            import torch

            more = torch.cat([a, a[:k]])
        else:
            import numpy as np

            more = np.concatenate([a, a[:k]])
        hit = _padded[id(a)] = (a, more)
    return hit[1]


def with_extra_work(fn):
    def product(a, b):
        if PERCENT <= 0 or a.shape[0] < MIN_ROWS or getattr(a, "device", None) is not None and str(a.device) != "cpu":
            return fn(a, b)
        return fn(padded(a), b)[: a.shape[0]]
    product.__name__ = fn.__name__
    product.__doc__ = fn.__doc__
    return product


mm.matmul_operator = with_extra_work(mm.matmul_operator)
mm.matmul_abt = with_extra_work(mm.matmul_abt)
