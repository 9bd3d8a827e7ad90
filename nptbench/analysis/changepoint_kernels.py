"""The change-point detector's loops over stretches, compiled (numba): what nptbench.analysis.changepoints
runs on long segments and in its null simulations, imported by it only there (numba's import and the
first compile cost about a second; compiled code is cached next to this file where it is writable).

Both take the cumulative sums of the scores and of their squares (``s1``, ``s2``: one row a series, from
0) and visit the stretches of nptbench.analysis.changepoints.pairs in its order: every single split
``[0, j)`` and ``[i, n)``, and every stretch inside of ``min_size`` to ``max_inside`` runs with at least
``min_size`` runs on each side.
"""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def _abs_t(in1, in2, m, n, s1n, s2n):
    """|t| of a stretch of ``m`` runs whose sums are ``in1``, ``in2`` (totals ``s1n``, ``s2n``): the
    operations of changepoints._t, in its order, so the same number to the bit."""
    out1, out2 = s1n - in1, s2n - in2
    within = (in2 - in1 * in1 / m) + (out2 - out1 * out1 / (n - m))
    sd = math.sqrt(max(within, 0.0) / (n - 2) * (1 / m + 1 / (n - m)))
    diff = in1 / m - out1 / (n - m)
    if sd > 1e-12:
        return abs(diff / sd)
    return np.inf if abs(diff) > 1e-12 else 0.0


@numba.njit(cache=True)
def best(s1, s2, min_size, max_inside):
    """The largest |t| of each family of one series (``s1``, ``s2`` 1-D) and where: ``(edge t, i, j,
    inside t, i, j)``, the first stretch in :func:`pairs`' order on a tie (as ``np.argmax``); an inside
    ``i`` of -1 where the segment holds none."""
    n = s1.shape[0] - 1
    s1n, s2n = s1[n], s2[n]
    e_t, e_i, e_j = -1.0, -1, -1
    n_t, n_i, n_j = -1.0, -1, -1
    for j in range(min_size, n - min_size + 1):  # [0, j)
        t = _abs_t(s1[j], s2[j], j, n, s1n, s2n)
        if t > e_t:
            e_t, e_i, e_j = t, 0, j
    for i in range(min_size, n - min_size + 1):
        for j in range(i + min_size, min(i + max_inside, n - min_size) + 1):
            t = _abs_t(s1[j] - s1[i], s2[j] - s2[i], j - i, n, s1n, s2n)
            if t > n_t:
                n_t, n_i, n_j = t, i, j
        t = _abs_t(s1n - s1[i], s2n - s2[i], n - i, n, s1n, s2n)  # [i, n)
        if t > e_t:
            e_t, e_i, e_j = t, i, n
    return e_t, e_i, e_j, n_t, n_i, n_j


@numba.njit(cache=True)
def maxima(s1, s2, min_size, max_inside, edge, inside):
    """Each row's largest |t| over single splits into ``edge`` and over stretches inside into ``inside``
    (``s1``, ``s2`` 2-D: many series of one length). Each statistic is the square root of ``diff^2 /
    var``, one division a stretch: equal to :func:`best`'s to rounding (about 1e-15 relative), several
    times faster."""
    n = s1.shape[1] - 1
    for r in range(s1.shape[0]):
        a, b = s1[r], s2[r]
        s1n, s2n = a[n], b[n]
        top = 0.0
        for j in range(min_size, n - min_size + 1):  # [0, j) against [j, n): one split, either way
            top = max(top, _square(a[j], b[j], s1n, s2n, 1 / j, 1 / (n - j), (1 / j + 1 / (n - j)) / (n - 2)))
        edge[r] = math.sqrt(top)
        top = 0.0
        for m in range(min_size, min(max_inside, n - 2 * min_size) + 1):
            inv_in, inv_out = 1 / m, 1 / (n - m)
            scale = (inv_in + inv_out) / (n - 2)
            for i in range(min_size, n - min_size - m + 1):
                top = max(top, _square(a[i + m] - a[i], b[i + m] - b[i], s1n, s2n, inv_in, inv_out, scale))
        inside[r] = math.sqrt(top)


@numba.njit(cache=True)
def _square(in1, in2, s1n, s2n, inv_in, inv_out, scale):
    """t^2 of a stretch whose sums are ``in1``, ``in2``, from the reciprocals of its two sides' run counts."""
    out1, out2 = s1n - in1, s2n - in2
    var = max((in2 - in1 * in1 * inv_in) + (out2 - out1 * out1 * inv_out), 0.0) * scale
    diff = in1 * inv_in - out1 * inv_out
    if var > 1e-24:
        return diff * diff / var
    return np.inf if abs(diff) > 1e-12 else 0.0
