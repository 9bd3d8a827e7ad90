"""Unit tests of the tensor-operations family (seeds 001 and 003): the memory accounting behind
``peak_bytes``, seed 003's "Saving Memory" claim, and the checks the benchmarks rely on."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from nptbench.measure import memory
from nptbench.families import ops

MIB = 2 ** 20
N = MIB // 4  # float32 elements in 1 MiB


# --- the memory method sees each allocator -----------------------------------------------------------

def test_tracemalloc_sees_numpy_buffers():
    peak = memory.peak_bytes(np.ones, (MIB,))  # float64: 8 MiB
    assert 8 * MIB <= peak["peak_bytes_tracemalloc"] < 8 * MIB + 4096
    assert peak["peak_bytes_torch_cpu"] == 0


def test_torch_cpu_method_sees_a_torch_allocation_of_known_size():
    peak = memory.peak_bytes(torch.ones, (MIB,))  # float32: 4 MiB from torch's CPU allocator
    assert 4 * MIB <= peak["peak_bytes_torch_cpu"] < 4 * MIB + 4096
    # ... which tracemalloc alone would have missed: that is why torch needs its own method.
    assert peak["peak_bytes_tracemalloc"] < 64 * 1024
    assert peak["peak_bytes"] == peak["peak_bytes_torch_cpu"] + peak["peak_bytes_tracemalloc"]


def test_peak_includes_temporaries_freed_before_the_call_returns():
    # Each call returns one scalar, but holds two n-element buffers at its highest point.
    torch_peak = memory.peak_bytes(lambda: (torch.ones(MIB) + torch.ones(MIB)).sum())
    assert torch_peak["peak_bytes_torch_cpu"] >= 8 * MIB
    numpy_peak = memory.peak_bytes(lambda: (np.ones(MIB) + np.ones(MIB)).sum())
    assert numpy_peak["peak_bytes_tracemalloc"] >= 16 * MIB


def test_peak_counts_only_what_the_call_allocates():
    held = torch.ones(4 * MIB), np.ones(MIB)  # allocated before: not the call's
    peak = memory.peak_bytes(lambda: held[0][:10].sum())
    assert peak["peak_bytes"] < 64 * 1024


def test_leaves_an_outer_tracemalloc_session_running():
    tracemalloc.start()
    try:
        memory.peak_bytes(np.ones, (10,))
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    memory.peak_bytes(np.ones, (10,))
    assert not tracemalloc.is_tracing()


@pytest.mark.gpu
def test_cuda_peak_sees_a_device_allocation_of_known_size():
    peak = memory.peak_bytes(lambda: torch.ones(MIB, device="cuda"), device="cuda")
    assert 4 * MIB <= peak["peak_bytes_cuda"] < 4 * MIB + 4096


# --- seed 003 "Saving Memory": in-place allocates far less than out-of-place -------------------------

def test_inplace_allocates_far_less_than_out_of_place():
    x, y = np.ones(N, dtype=np.float32), np.ones(N, dtype=np.float32)
    new = memory.peak_bytes(ops.add_new, (x, y))["peak_bytes"]
    inplace = memory.peak_bytes(ops.add_inplace_numpy, (x, y.copy()))["peak_bytes"]
    assert new >= MIB and inplace * 100 < new

    tx, ty = torch.ones(N), torch.ones(N)
    new = memory.peak_bytes(ops.add_new, (tx, ty))["peak_bytes"]
    inplace = memory.peak_bytes(ops.add_inplace_torch, (tx, ty.clone()))["peak_bytes"]
    out = memory.peak_bytes(ops.add_out_torch, (tx, ty, torch.empty(N)))["peak_bytes"]
    assert new >= MIB and inplace * 100 < new and out * 100 < new


def test_slice_assignment_still_allocates_a_temporary():
    # The seed calls z[:] = x + y in-place; the result lands in z, but x + y is made first.
    x, y, z = (np.ones(N, dtype=np.float32) for _ in range(3))
    assert memory.peak_bytes(ops.add_into_slice, (x, y, z))["peak_bytes"] >= MIB


def test_inplace_functions_keep_their_buffer():
    x, y = torch.ones(5), torch.ones(5)
    address = ops.data_address(y)
    assert ops.add_inplace_torch(x, y) is y and ops.data_address(y) == address
    assert ops.data_address(ops.add_new(x, y)) != address
    a, b = np.ones(5), np.ones(5)
    address = ops.data_address(b)
    assert ops.add_inplace_numpy(a, b) is b and ops.data_address(b) == address
    assert ops.data_address(ops.add_new(a, b)) != address


# --- checks the benchmarks rely on --------------------------------------------------------------------

def test_shares_memory_tells_views_from_copies_and_restores_the_value():
    a = np.arange(4, dtype=np.float32)
    assert ops.shares_memory(a, ops.from_numpy(a))
    assert not ops.shares_memory(a, ops.torch_tensor(a))
    t = torch.arange(4.0)
    assert ops.shares_memory(t, ops.to_numpy(t))
    assert a[0] == 0 and t[0] == 0


def test_normal_stats_accept_a_sum_of_normals_and_reject_wrong_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 256, 256))
    assert ops.normal_stats_problem(a + b, 0.0, 2.0) is None
    assert ops.normal_stats_problem(a, 0.0, 2.0) is not None  # one operand dropped
    assert ops.normal_stats_problem(a + a, 0.0, 2.0) is not None  # one operand twice
    assert ops.normal_stats_problem(rng.random((256, 256)) * 2, 0.0, 2.0) is not None  # rand, not randn


def test_as_seed_variants_repeat_the_same_work_each_call():
    # Re-seeded inside each call, so a result can be regenerated as the benchmark's reference.
    gen = torch.Generator()
    assert torch.equal(ops.big_add_torch_as_seed(8, gen, 1), ops.big_add_torch_as_seed(8, gen, 1))
    np.testing.assert_array_equal(ops.big_add_numpy_as_seed(8, 1), ops.big_add_numpy_as_seed(8, 1))
    first = ops.small_matmul_loop_numpy_as_seed(3, 8, 1)
    np.testing.assert_array_equal(first, ops.small_matmul_loop_numpy_as_seed(3, 8, 1))
    assert not np.array_equal(first, ops.small_matmul_loop_numpy_as_seed(2, 8, 1))


@pytest.mark.parametrize("fn_name", ["square", "sigmoid"])
def test_autograd_reference_matches_torch(fn_name):
    x64 = np.linspace(-3, 3, 7)
    for stage in ("forward", "forward-backward"):
        x = torch.tensor(x64, requires_grad=True)
        got = ops.AUTOGRAD[fn_name, stage](x).detach().numpy()
        np.testing.assert_allclose(got, ops.autograd_reference(fn_name, stage, x64), rtol=1e-12)


def test_sizes_table_has_every_experiment_in_every_profile():
    experiments = set(ops.SIZES["seed"])
    assert experiments == {"small-matmul-loop", "big-add", "inplace", "broadcast", "reduce", "interop",
                           "autograd"}
    assert all(set(ops.SIZES[p]) == experiments for p in ("smoke", "default"))
