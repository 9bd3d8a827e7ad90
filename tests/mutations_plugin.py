"""A pytest plugin (loaded with -p before collection, as a regression would be) that swaps code under
benchmark for a subtly wrong version: a result off by 0.1 %, a skipped row, a learning rate 1 % off."""
import functools
import inspect
import os

import nptbench.families.matmul as mm
import nptbench.families.ops as ops
import nptbench.families.training as tr

#: Set by tests/test_tolerances.py: which mutation to make.
kind = os.environ["MUTATION"]
if kind == "off-0.1%":
    honest = mm.matmul_operator
    mm.matmul_operator = lambda a, b: honest(a, b) * 1.001
    honest_sum = ops.sum_mean_numpy
    ops.sum_mean_numpy = lambda x: honest_sum(x) * 1.001
elif kind == "skipped-row":
    honest = mm.matmul_operator

    def skip(a, b):
        out = honest(a, b)
        out[-1] = 0
        return out
    mm.matmul_operator = skip
    honest_tl = tr.twolayer_numpy

    def skip_sample(x, y, w1, w2, iterations, lr=tr.LR_MANUAL):
        return honest_tl(x[:-1], y[:-1], w1, w2, iterations, lr)
    tr.twolayer_numpy = skip_sample
elif kind == "lr+1%":
    for name in ("linreg_small_numpy", "linreg_large_numpy", "twolayer_numpy"):
        fn = getattr(tr, name)
        lr = inspect.signature(fn).parameters["lr"].default
        setattr(tr, name, functools.partial(fn, lr=lr * 1.01))
