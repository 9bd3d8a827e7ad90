"""The variant row and its param builder (fixtures/variants.py): the ids and marks every bench file gets."""
from __future__ import annotations

import pytest

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


# --- operand placement: the row puts its operands on its backend and device, so no bench body branches on it

def test_numpy_rows_place_numpy_arrays():
    import numpy as np

    from fixtures import tensors

    v = Variant("numpy", None, "numpy", dtype="float64")
    a = tensors.array((3, 4), "float64", seed=7, dist="normal")
    assert v.operand((3, 4), seed=7, dist="normal") is a  # the cached operand itself, read-only
    assert v.operand((3,), seed=7, dtype="float32").dtype == np.float32
    p = v.place(a)
    assert isinstance(p, np.ndarray) and p.flags.writeable and not np.shares_memory(p, a)
    np.testing.assert_array_equal(p, a)
    assert v.place(a, dtype="float32").dtype == np.float32
    assert Variant("numba", None, "numba").holder == "numpy"  # numba's CPU functions take numpy arrays
    # the seed's random source: its function takes the seed and makes its RandomState; the replay draws the same
    assert v.seeded_args(5) == (5,)
    draw, rng = v.replay_randn(5), np.random.RandomState(5)
    for shape in ((2, 3), (4,)):
        np.testing.assert_array_equal(draw(shape), rng.randn(*shape))


def _check_torch_placement(device):
    import numpy as np
    import torch

    from fixtures import tensors

    v = Variant("torch", None, "torch", device)
    a = tensors.array((3, 4), "float32", seed=7, dist="normal")
    t = v.operand((3, 4), seed=7, dist="normal")
    assert isinstance(t, torch.Tensor) and t.device.type == device and t.dtype == torch.float32
    assert t is tensors.tensor((3, 4), "float32", seed=7, dist="normal", device=device)  # cached, shared
    np.testing.assert_array_equal(t.cpu().numpy(), a)
    assert v.operand((3,), seed=7, dtype="float64").dtype == torch.float64
    p, q = v.place(a), v.place(a)
    assert isinstance(p, torch.Tensor) and p.device.type == device and p.data_ptr() != q.data_ptr()
    np.testing.assert_array_equal(p.cpu().numpy(), a)
    p += 1  # writable, and a copy: the read-only source is untouched
    np.testing.assert_array_equal(a, tensors.array((3, 4), "float32", seed=7, dist="normal"))
    assert v.place(a, dtype="float64").dtype == torch.float64
    # the seed's random source: a generator on the row's device, and the replay of what it draws
    gen, seed = v.seeded_args(11)
    assert isinstance(gen, torch.Generator) and gen.device.type == device and seed == 11
    draw, ref = v.replay_randn(11), torch.Generator(device=device).manual_seed(11)
    for shape in ((2, 3), (4,)):
        got = draw(shape)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        np.testing.assert_array_equal(got, torch.randn(list(shape), generator=ref, device=device).cpu().numpy())


def test_torch_rows_place_tensors_on_the_cpu():
    _check_torch_placement("cpu")


@pytest.mark.gpu  # skipped without a CUDA device (the plugin gives the reason), a failure with --require-gpu
def test_torch_cuda_rows_place_tensors_on_the_gpu():
    _check_torch_placement("cuda")


def test_rows_without_a_placement_say_so():
    for v in (Variant("numba-cuda", None, "numba", "cuda"), Variant("python-lists", None, "python")):
        with pytest.raises(ValueError, match="no operand placement"):
            v.operand((2,), seed=1)
