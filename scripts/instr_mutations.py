"""A pytest plugin (``-p scripts.instr_mutations``) that gives some rows real extra work of a known size, for
measuring what the instruction counts can see (results/instructions.md: power).

``NPTBENCH_EXTRA_WORK=<percent>``: the numpy and torch CPU products of the experiments with at least
:data:`MIN_ROWS` rows (mnist-full, abt, square: ``a @ b`` and ``a @ b.T``) compute ``round(percent / 100 *
rows)`` more rows of ``a`` and return only the real ones. The extra rows are a copy of the first ones, made
once per operand outside the counted calls (cached by identity), so the work added is the product's own:
BLAS multiplies more rows, nothing spins. The result is the same product, so every correctness check still
runs and passes.

Only those rows' variants are swapped (at collection, in their test's parameters): every other row runs the
code it always runs, not even a wrapper (a first version wrapped the shared function, and the counts called
the 5-row products slower by the wrapper's own Python: they were right).
"""
from __future__ import annotations

import dataclasses
import os

PERCENT = float(os.environ.get("NPTBENCH_EXTRA_WORK", "0"))
#: The experiments whose numpy and torch CPU products get the extra work.
AFFECTED = {"mnist-full", "abt", "square"}
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
        return fn(padded(a), b)[: a.shape[0]]
    product.__name__ = fn.__name__
    return product


def pytest_collection_modifyitems(items):
    if PERCENT <= 0:
        return
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        row = params.get("variant")
        if (params.get("experiment") in AFFECTED and getattr(row, "id", None) in ("numpy", "torch")
                and row.device == "cpu" and row.fn is not None):
            params["variant"] = dataclasses.replace(row, fn=with_extra_work(row.fn))
