"""The shared record schema (nptbench/record.py) and the correctness check (nptbench/check.py)."""
import math

import numpy as np
import pytest

from nptbench import check, record

GOOD = dict(experiment="abt", variant="numpy", backend="numpy", device="cpu", dtype="float32",
            shape=[(4, 3), (2, 3)], flops=48, bytes=104, dataset="random", max_abs_err=0.0, rel_err=0.0)


def test_good_record_is_json_ready():
    rec = record.make_record(**GOOD, peak_bytes=10)
    assert rec["shape"] == [[4, 3], [2, 3]] and rec["peak_bytes"] == 10
    assert set(record.FIELDS) <= set(rec) and record.validate(rec) == []


@pytest.mark.parametrize("field", list(record.FIELDS))
def test_every_field_is_required(field):
    bad = {k: v for k, v in GOOD.items() if k != field}
    with pytest.raises(record.RecordError, match=field):
        record.make_record(**bad)


@pytest.mark.parametrize("field,value", [("backend", "jax"), ("device", "tpu"), ("dataset", "imagenet"),
                                         ("flops", -1), ("shape", [(2.5, 3)]), ("variant", "")])
def test_bad_values_are_refused(field, value):
    with pytest.raises(record.RecordError, match=field):
        record.make_record(**{**GOOD, field: value})


def test_errors_and_tolerance():
    ref = np.arange(1.0, 7.0).reshape(2, 3)
    err = check.errors(ref.astype(np.float32), ref)
    assert err == {"max_abs_err": 0.0, "rel_err": 0.0}
    off = ref.copy()
    off[0, 0] += 0.5
    err = check.errors(off, ref)
    assert err["max_abs_err"] == pytest.approx(0.5)
    assert err["rel_err"] == pytest.approx(0.5 / np.linalg.norm(ref))
    with pytest.raises(AssertionError, match="rel_err"):
        check.assert_close(err, check.tolerance("float32"))


def test_nan_and_shape_mismatch_fail():
    ref = np.ones((2, 2))
    err = check.errors(np.full((2, 2), np.nan), ref)
    assert math.isinf(err["rel_err"])
    with pytest.raises(AssertionError):
        check.assert_close(err, 1.0)
    with pytest.raises(AssertionError, match="shape"):
        check.errors(np.ones((2, 3)), ref)


def test_unknown_dtype_has_no_silent_tolerance():
    with pytest.raises(KeyError, match="int8"):
        check.tolerance("int8")
