"""The one record schema every benchmark writes into ``benchmark.extra_info``.

Report and compare tools read only these fields, so they are built and checked here and nowhere else.
Families may add fields of their own (``peak_bytes``, ``iterations`` ...) next to the shared ones.
"""
from __future__ import annotations

import numbers

BACKENDS = ("python", "numpy", "torch", "numba")
DEVICES = ("cpu", "cuda")
DATASETS = ("mnist", "synthetic", "random")

#: field -> what it holds. Every field is present in every record.
FIELDS = {
    "experiment": "experiment name, also the benchmark group (one printed table each)",
    "variant": "how this benchmark does the experiment's work, as in the test id",
    "backend": "one of " + "/".join(BACKENDS),
    "device": "one of " + "/".join(DEVICES),
    "dtype": "element type of the operands, e.g. float32",
    "shape": "list of the operands' shapes",
    "flops": "floating-point operations of one call (2*M*N*K for a product), or null",
    "bytes": "least bytes one call must move (inputs read once, output written once), or null",
    "dataset": "one of " + "/".join(DATASETS),
    "max_abs_err": "max |out - ref| against the float64 reference",
    "rel_err": "||out - ref|| / ||ref|| against the float64 reference",
}


class RecordError(ValueError):
    """A record does not follow the schema."""


def _shape(value) -> list[list[int]]:
    shapes = [list(s) for s in value]
    for s in shapes:
        if not all(isinstance(d, numbers.Integral) and d >= 0 for d in s):
            raise RecordError(f"shape must be a list of operand shapes of non-negative ints, got {value!r}")
    return [[int(d) for d in s] for s in shapes]


def _number_or_none(name, value):
    if value is None:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
        raise RecordError(f"{name} must be a non-negative number or None, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def make_record(**fields) -> dict:
    """A validated, JSON-ready record: all of :data:`FIELDS`, plus any extra fields given."""
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise RecordError(f"record lacks {', '.join(missing)}")
    rec = dict(fields)
    for name, allowed in (("backend", BACKENDS), ("device", DEVICES), ("dataset", DATASETS)):
        if rec[name] not in allowed:
            raise RecordError(f"{name} must be one of {allowed}, got {rec[name]!r}")
    for name in ("experiment", "variant", "dtype"):
        if not isinstance(rec[name], str) or not rec[name]:
            raise RecordError(f"{name} must be a non-empty string, got {rec[name]!r}")
    rec["shape"] = _shape(rec["shape"])
    for name in ("flops", "bytes", "max_abs_err", "rel_err"):
        rec[name] = _number_or_none(name, rec[name])
    return rec


def validate(extra_info: dict) -> list[str]:
    """Problems with a record read back from a saved run (empty list when it is sound)."""
    try:
        make_record(**extra_info)
    except RecordError as exc:
        return [str(exc)]
    return []
