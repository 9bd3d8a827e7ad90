"""The variant row and its param builder (fixtures/variants.py): the ids and marks every bench file gets."""
from __future__ import annotations

from fixtures.variants import Variant, param, params


def _marks(p):
    return sorted((m.name, m.args) for m in p.marks)


def test_the_id_is_variant_experiment_dtype():
    assert param("abt", Variant("numpy", None, "numpy")).id == "numpy-abt-float32"
    assert param("twolayer", Variant("numpy", None, "numpy", dtype="float64"), "manual").id == "numpy-twolayer-float64"


def test_marks_follow_backend_device_and_slowness():
    assert _marks(param("e", Variant("torch", None, "torch"))) == []
    assert _marks(param("e", Variant("torch-cuda", None, "torch", "cuda"))) == [("gpu", ())]
    assert _marks(param("e", Variant("numba", None, "numba"))) == [("needs", ("numba",))]
    assert _marks(param("e", Variant("numba-cuda", None, "numba", "cuda"))) == \
        [("needs", ("numba",)), ("numba_cuda", ())]
    assert _marks(param("e", Variant("x", None, "torch", needs=("fastcore",), slow=True))) == \
        [("needs", ("fastcore",)), ("slow", ())]
    assert _marks(param("e", Variant("x", None, "numpy"), slow=True)) == [("slow", ())]  # a slow experiment


def test_rows_with_columns_and_the_record_they_fix():
    v = Variant("numba-cuda", None, "numba", "cuda", out_dtype="float64", copy_back=True)
    (p,) = params("mnist-full", [(v, 1, "x")])
    assert p.values == (v, 1, "x") and v.out == "float64" and v.out_itemsize == 8
    assert Variant("numpy", None, "numpy").out == "float32"
    assert v.record("mnist-full", shape=[[1]], flops=None) == dict(
        experiment="mnist-full", variant="numba-cuda", backend="numba", device="cuda", dtype="float32",
        shape=[[1]], flops=None)
