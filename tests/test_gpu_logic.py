"""The GPU measurement logic (nptbench.measure.devicetime and nptbench.families.gpu, their use in nptbench.measure.harness and
nptbench.plugin) checked without a GPU: CUDA events, synchronization and memory statistics are replaced
by a fake clock that logs what is called when. Seeds 000/001/003/004 time GPU work; this is what makes
those timings sound.

The one test that needs a real card (asking for more memory than it has) is marked ``gpu``.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import types
import weakref
from pathlib import Path

import numpy as np
import pytest

from nptbench.schema import runs as runs_model
from nptbench import __main__ as cli
from nptbench.analysis import gpu_records
from nptbench.tools import fractions
from nptbench.env import backends
from nptbench.families import cuda_kernels, gpu
from nptbench.measure import devicetime, harness
from nptbench import plugin
from nptbench.measure.check import RTOL

ROOT = Path(__file__).resolve().parents[1]


# --- fakes -------------------------------------------------------------------------------------------

class FakeEvent:
    def __init__(self, clock):
        self.clock, self.t = clock, None

    def record(self):
        self.clock.log.append("record")
        self.t = self.clock.now


class FakeClock:
    """Stands in for TorchClock: time advances only when the benchmarked function says so."""

    name = "fake"

    def __init__(self, allocated=None, peak=None):
        self.now, self.log = 0.0, []
        self._allocated, self._peak = allocated, peak

    def event(self):
        return FakeEvent(self)

    @staticmethod
    def elapsed_s(start, end):
        return end.t - start.t

    def sync(self):
        self.log.append("sync")

    def allocated(self):
        return self._allocated

    def reset_peak(self):
        self.log.append("reset_peak")

    def peak(self):
        return self._peak

    def prepare_flush(self):
        self.log.append("prepare_flush")

    def flush_l2(self):
        self.log.append("flush")


class FakeBenchmark:
    """pytest-benchmark's fixture, reduced to what the harness calls."""

    def __init__(self, calibrated_calls=3):
        self.extra_info, self.group, self.calibrated_calls = {}, None, calibrated_calls

    def __call__(self, fn, *args):
        for _ in range(self.calibrated_calls):
            out = fn(*args)
        return out

    def pedantic(self, target, args=(), kwargs=None, setup=None, rounds=1, iterations=1):
        assert iterations == 1
        for _ in range(rounds):
            a, k = setup() if setup is not None else (args, kwargs or {})
            out = target(*a, **k)
        return out


def fake_item(size):
    """A test item of a session at profile ``size``, reduced to what the plugin's hooks read."""
    config = types.SimpleNamespace(stash={plugin.PROFILE_KEY: plugin.Profile(size=size)})
    return types.SimpleNamespace(config=config)


class FakeDeviceArray:
    """Looks like a numba device array to :func:`nptbench.measure.devicetime.device_bytes`."""

    def __init__(self, nbytes):
        self.nbytes = nbytes

    def copy_to_host(self):
        return np.zeros(self.nbytes // 4, dtype=np.float32)


def timed_work(clock, durations, result):
    """A benchmarked function whose device work lasts ``durations[i]`` seconds on its i-th call."""
    calls = iter(durations)

    def work(*args):
        clock.log.append("fn")
        clock.now += next(calls)
        return result

    return work


def record(device="cuda", **extra):
    return dict(experiment="unit", variant="fake", backend="torch", device=device, dtype="float32",
                shape=[[2, 2]], flops=4000, bytes=2000, dataset="random", **extra)


# --- out of memory -----------------------------------------------------------------------------------

class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which the check recognises by name (no torch CUDA here)."""


@pytest.mark.parametrize("exc", [
    OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 139 GiB"),
    RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"),
    RuntimeError("[2] Call to cuMemAlloc results in CUDA_ERROR_OUT_OF_MEMORY"),
    RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
], ids=["torch-class", "torch-message", "numba-driver", "cublas"])
def test_cuda_oom_becomes_a_skip_reason(exc):
    reason = devicetime.oom_skip_reason(exc, "seed")
    assert reason.startswith("CUDA out of memory at the seed profile: ")
    assert str(exc).splitlines()[0][:40] in reason


@pytest.mark.parametrize("exc", [MemoryError("host is full"), ValueError("out of memory"),
                                 AssertionError("rel_err 1 > tolerance"), KeyboardInterrupt()])
def test_other_errors_are_not_oom(exc):
    assert devicetime.oom_skip_reason(exc) is None


class Held:
    """Stands in for a device tensor that the failed benchmark's frame still references."""


def _fail_holding(kind, ref_box):
    held = Held()
    ref_box.append(weakref.ref(held))
    raise kind("CUDA out of memory. Tried to allocate 512.00 GiB")


def test_pyfunc_hook_turns_oom_into_skip_and_frees(monkeypatch):
    emptied = []
    monkeypatch.setattr(devicetime, "_empty_caches", lambda: emptied.append(True))
    item = fake_item("seed")
    refs = []
    try:
        _fail_holding(OutOfMemoryError, refs)
    except OutOfMemoryError as exc:
        err = exc
    hook = plugin.pytest_pyfunc_call(item)
    next(hook)
    with pytest.raises(pytest.skip.Exception, match="CUDA out of memory at the seed profile") as skipped:
        hook.throw(err)
    assert skipped.value.__context__ is None  # the skip does not chain the OOM (it would keep its frames)
    assert emptied == [True]
    # the traceback still exists, but the frame that held the "tensor" was cleared
    gc.collect()
    assert refs[0]() is None


def test_pyfunc_hook_lets_other_errors_through(monkeypatch):
    monkeypatch.setattr(devicetime, "_empty_caches", lambda: pytest.fail("must not free on a non-OOM error"))
    item = fake_item("smoke")
    hook = plugin.pytest_pyfunc_call(item)
    next(hook)
    with pytest.raises(AssertionError, match="wrong result"):
        hook.throw(AssertionError("wrong result"))
    hook = plugin.pytest_pyfunc_call(item)
    next(hook)
    with pytest.raises(StopIteration) as done:
        hook.send(True)
    assert done.value.value is True


# --- DeviceRun ---------------------------------------------------------------------------------------

def test_events_bracket_each_timed_call_and_median_is_recorded():
    clock = FakeClock(allocated=1000, peak=1600)
    run = devicetime.DeviceRun(clock=clock, max_samples=10)
    run.start()
    assert clock.log[-2:] == ["sync", "reset_peak"]  # the peak is of this benchmark alone
    clock.log.clear()
    work = run.wrap(timed_work(clock, [3e-3, 1e-3, 2e-3, 9e-3], "out"))
    for _ in range(4):
        assert work(FakeDeviceArray(400), FakeDeviceArray(100)) == "out"
    assert clock.log == ["record", "fn", "record"] * 4
    f = run.fields(record())
    assert f["device_time_s"] == pytest.approx(2.5e-3)
    assert f["device_time_min_s"] == pytest.approx(1e-3)
    assert f["device_time_rounds"] == 4
    assert f["gpu_cold_l2"] is False
    assert f["peak_device_bytes"] == 500 + 600  # operands + what was allocated on top of the start
    assert f["device_gbps"] == pytest.approx(2000 / 2.5e-3 / 1e9)
    assert f["device_tflops"] == pytest.approx(4000 / 2.5e-3 / 1e12)


def test_device_time_uses_the_first_samples_and_keeps_the_call_cost_after():
    clock = FakeClock()
    run = devicetime.DeviceRun(clock=clock, max_samples=2)
    run.start()
    work = run.wrap(timed_work(clock, [1.0, 3.0, 100.0], None))
    clock.log.clear()
    for _ in range(3):
        work()
    assert clock.log == ["record", "fn", "record"] * 3  # the third call still records (into the spare pair)
    assert run.device_times() == [1.0, 3.0]
    assert run.fields(record())["peak_device_bytes"] == 0  # no allocator statistics, no device operands


def test_cold_setup_flushes_and_waits_outside_the_timed_call():
    clock = FakeClock()
    run = devicetime.DeviceRun(clock=clock, cold_l2=True)
    run.start()
    assert "prepare_flush" in clock.log and clock.log.index("prepare_flush") < clock.log.index("reset_peak")
    clock.log.clear()
    setup = run.cold_setup(None, ("a",))
    assert setup() == ("a",)
    assert clock.log == ["flush", "sync"]
    fresh = run.cold_setup(lambda: ("fresh",), ("a",))
    assert fresh() == ("fresh",)


# --- harness -----------------------------------------------------------------------------------------

def test_cpu_records_are_untouched(monkeypatch):
    def no_gpu(*a, **k):
        raise AssertionError("a CPU record must not touch the GPU machinery")

    monkeypatch.setattr(devicetime, "make_clock", no_gpu)
    bench = FakeBenchmark()
    out = harness.measure(bench, lambda: np.eye(2), record=record("cpu"), reference=np.eye(2), cold_l2=True)
    assert np.array_equal(out, np.eye(2))
    assert not any(k.startswith(("device_", "peak_device", "gpu_")) for k in bench.extra_info)
    assert bench.extra_info["rel_err"] == 0.0


@pytest.fixture
def fake_cuda(monkeypatch):
    clock = FakeClock(allocated=0, peak=256)
    monkeypatch.setattr(devicetime, "make_clock", lambda: clock)
    monkeypatch.setattr(backends, "sync", lambda device: clock.log.append("sync"))
    return clock


def test_cuda_record_gets_device_time_of_timed_calls_only(fake_cuda):
    bench = FakeBenchmark(calibrated_calls=3)
    # warm-up call (2 s, not timed), then three timed calls
    work = timed_work(fake_cuda, [2.0, 0.004, 0.001, 0.002], np.eye(2))
    harness.measure(bench, work, record=record(), reference=np.eye(2))
    info = bench.extra_info
    assert info["device_time_s"] == pytest.approx(0.002)
    assert info["device_time_rounds"] == 3
    assert info["device_times_s"] == pytest.approx([0.004, 0.001, 0.002])  # every timed call, in order
    assert info["gpu_cold_l2"] is False
    assert info["peak_device_bytes"] == 256
    assert info["rel_err"] == 0.0 and info["rtol"] == RTOL["float32"]
    timed = fake_cuda.log[fake_cuda.log.index("reset_peak") + 1:]
    assert timed[:4] == ["record", "fn", "record", "sync"]  # the harness still waits inside the timed call


def test_cold_l2_flushes_before_every_round(fake_cuda):
    bench = FakeBenchmark()
    work = timed_work(fake_cuda, [1.0] + [0.001] * 5, np.eye(2))
    harness.measure(bench, work, record=record(), reference=np.eye(2), cold_l2=True)
    timed = fake_cuda.log[fake_cuda.log.index("reset_peak") + 1:]
    assert timed[:30] == ["flush", "sync", "record", "fn", "record", "sync"] * 5
    assert timed[30:] == ["sync"]  # before the events are read
    assert bench.extra_info["gpu_cold_l2"] is True
    assert bench.extra_info["device_time_rounds"] == 5


class AllocClock(FakeClock):
    """A FakeClock with a caching allocator's statistics: live bytes and the peak since the last reset."""

    def __init__(self):
        super().__init__()
        self.live = self.high = 0

    def allocated(self):
        return self.live

    def reset_peak(self):
        super().reset_peak()
        self.high = self.live

    def peak(self):
        return self.high


class TrackedArray(FakeDeviceArray):
    """A device array whose bytes are live in ``clock`` until Python frees it."""

    def __init__(self, clock, nbytes):
        super().__init__(nbytes)
        self.clock = clock
        clock.live += nbytes
        clock.high = max(clock.high, clock.live)

    def __del__(self):
        self.clock.live -= self.nbytes


def test_peak_with_fresh_inputs_every_round_counts_them_once(monkeypatch):
    """Training on CUDA makes new device inputs before every round while the last round's are alive."""
    clock = AllocClock()
    monkeypatch.setattr(devicetime, "make_clock", lambda: clock)
    monkeypatch.setattr(backends, "sync", lambda device: clock.log.append("sync"))
    bench = FakeBenchmark()

    def setup():
        return (TrackedArray(clock, 1000),)

    def work(inputs):
        clock.log.append("fn")
        scratch = TrackedArray(clock, 300)  # what the call allocates on top, freed when it returns
        del scratch
        return np.eye(2)

    harness.measure(bench, work, record=record(), reference=np.eye(2), setup=setup, rounds=4)
    info = bench.extra_info
    assert info["peak_device_bytes"] == 1000 + 300  # inputs once, plus the call's own allocation
    assert "one untimed call on fresh inputs" in info["peak_device_note"]
    assert info["device_time_rounds"] == 4  # the extra call is not among the timed ones
    last_timed = len(clock.log) - 1 - clock.log[::-1].index("record")
    assert clock.log[last_timed + 1:].count("fn") == 1  # one more call, after the timed ones, no events
    assert clock.live == 0


class BusyClock(FakeClock):
    """A FakeClock with a spin kernel: the stream is busy until the spin's cycles have passed."""

    def busy(self, cycles):
        self.log.append(f"busy {cycles}")


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold-l2"])
def test_kernel_time_spins_the_stream_before_each_untimed_call(monkeypatch, cold):
    clock = BusyClock()
    monkeypatch.setattr(devicetime, "make_clock", lambda: clock)
    monkeypatch.setattr(backends, "sync", lambda device: clock.log.append("sync"))
    bench = FakeBenchmark(calibrated_calls=3)
    timed = 5 if cold else 3  # cold L2: pedantic one-call rounds (5 by default)
    samples = devicetime.KERNEL_TIME_SAMPLES
    # warm-up, the timed calls (launch cost included: 50 us more each), then the kernel-time samples
    work = timed_work(clock, [1.0] + [60e-6] * timed + [10e-6] * (samples - 1) + [30e-6], np.eye(2))
    harness.measure(bench, work, record=record(), reference=np.eye(2), kernel_time=True, cold_l2=cold)
    info = bench.extra_info
    assert info["device_time_s"] == pytest.approx(60e-6) and info["device_time_rounds"] == timed
    assert info["kernel_time_s"] == pytest.approx(10e-6) and info["kernel_time_rounds"] == samples
    assert info["kernel_time_min_s"] == pytest.approx(10e-6)
    first_spin = clock.log.index(f"busy {devicetime.BUSY_CYCLES}")
    assert clock.log[:first_spin].count("fn") == 1 + timed  # the samples come after the timed calls
    one = (["flush"] if cold else []) + [f"busy {devicetime.BUSY_CYCLES}", "record", "fn", "record"]
    tail = clock.log[first_spin - (1 if cold else 0):]
    assert tail[:len(one) * samples] == one * samples  # spin, then the events around the call, every time
    assert tail[len(one) * samples] == "sync"  # waited for once, after all samples were queued


def test_torch_still_has_the_spin_kernel_the_torch_clock_uses():
    import torch

    assert callable(getattr(torch.cuda, "_sleep", None)), "torch.cuda._sleep is gone: TorchClock.busy needs another spin"


def test_kernel_time_is_absent_without_a_spin_kernel(fake_cuda):
    bench = FakeBenchmark()
    harness.measure(bench, timed_work(fake_cuda, [1.0] + [1e-3] * 40, np.eye(2)), record=record(),
                    reference=np.eye(2), kernel_time=True)
    assert "kernel_time_s" not in bench.extra_info and bench.extra_info["device_time_s"] == pytest.approx(1e-3)


class AllocBusyClock(AllocClock, BusyClock):
    """Allocator statistics and a spin kernel."""


class OutArray(TrackedArray):
    """A device result of ``nbytes`` whose host copy is the 2x2 identity; copying it allocates on the device
    first, as ``.float()`` does for a bf16 result."""

    def copy_to_host(self):
        TrackedArray(self.clock, 4 * self.nbytes)  # a temporary, freed at once
        return np.eye(2)


@pytest.mark.parametrize("kernel_time", [False, True])
def test_peak_is_read_before_checks_and_kernel_time_allocate(monkeypatch, kernel_time):
    clock = AllocBusyClock()
    monkeypatch.setattr(devicetime, "make_clock", lambda: clock)
    monkeypatch.setattr(backends, "sync", lambda device: clock.log.append("sync"))
    inputs = TrackedArray(clock, 1000)
    bench = FakeBenchmark(calibrated_calls=3)
    harness.measure(bench, lambda a: OutArray(clock, 100), (inputs,), record=record(), reference=np.eye(2),
                    kernel_time=kernel_time)
    # inputs + the result being made while the last one is still held: never the check's copy, never
    # the kernel-time calls' outputs on top
    assert bench.extra_info["peak_device_bytes"] == 1000 + 2 * 100
    assert ("kernel_time_s" in bench.extra_info) is kernel_time


def test_also_against_is_recorded_even_when_the_check_fails(fake_cuda):
    bench = FakeBenchmark()
    work = timed_work(fake_cuda, [1.0] + [0.001] * 3, np.eye(2) * 2)
    with pytest.raises(AssertionError, match="is wrong"):
        harness.measure(bench, work, record=record(), reference=np.eye(2), also_against={"other": np.eye(2) * 2})
    assert bench.extra_info["rel_err_vs_other"] == 0.0 and bench.extra_info["rel_err"] > 0


def test_a_wrong_cuda_result_still_fails_and_is_recorded(fake_cuda):
    bench = FakeBenchmark()
    work = timed_work(fake_cuda, [1.0] + [0.001] * 3, np.eye(2) * 2)
    with pytest.raises(AssertionError, match="is wrong"):
        harness.measure(bench, work, record=record(), reference=np.eye(2))
    assert bench.extra_info["device_time_s"] == pytest.approx(0.001)


@pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")  # only the binding is checked
def test_measure_fixture_binds_cold_l2(measure):
    expected = os.environ.get("NPTBENCH_EXPECT_COLD_L2") == "1"
    assert measure.keywords["cold_l2"] is expected


def test_gpu_cold_l2_option_reaches_measure():
    env = {**os.environ, "NPTBENCH_EXPECT_COLD_L2": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"tests/{Path(__file__).name}::test_measure_fixture_binds_cold_l2",
         "--gpu-cold-l2", "-q", "-p", "no:cacheprovider", "--benchmark-disable"],
        cwd=Path(__file__).parents[1], env=env, capture_output=True, text=True, timeout=120)  # no stray results/
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


# --- precision modes: the tolerances fit -------------------------------------------------------------

def _round_to_tf32(x: np.ndarray, nearest: bool = True) -> np.ndarray:
    """float32 values cut to TF32's 10 mantissa bits, to nearest or by truncation: which one a GPU's tensor
    cores do is the hardware's business, so the tolerance must fit both."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    if nearest:
        u = u + np.uint32(0x1000)
    return (u & np.uint32(0xFFFFE000)).view(np.float32)


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((192, 256)).astype(np.float32)
    b = rng.standard_normal((160, 256)).astype(np.float32)
    return a, b, a.astype(np.float64) @ b.astype(np.float64).T


def _rel(out, ref):
    return float(np.linalg.norm(np.asarray(out, np.float64) - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("nearest", [True, False], ids=["to-nearest", "truncated"])
def test_tf32_tolerance_fits_tensor_core_rounding(operands, nearest):
    a, b, ref = operands
    err = _rel(_round_to_tf32(a, nearest).astype(np.float64) @ _round_to_tf32(b, nearest).astype(np.float64).T,
               ref)
    assert 1e-4 < err < RTOL["tf32"] / 3  # really lossy (the fp32 tolerance would fail it), well inside its own


@pytest.mark.parametrize("mode", ["bf16", "fp16", "fp32"])
def test_reduced_precision_tolerances_fit(operands, mode):
    import torch

    a, b, ref32 = operands
    ta, tb = (gpu.cast_operand(torch.from_numpy(t), mode) for t in (a, b))
    assert ta.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[mode]
    ref = gpu.precision_reference(a, b, mode)
    err = _rel(backends.to_numpy(ta @ tb.T), ref)
    assert err < RTOL[gpu.PRECISIONS[mode]] / 3
    if mode in gpu.ROUNDED_INPUTS:
        # the reference really is of the rounded inputs: it differs from the fp32 inputs' product
        assert _rel(ref, ref32) > 10 * _rel(gpu.precision_reference(a, b, "fp32"), ref32)
        assert np.array_equal(ref, ta.double().numpy() @ tb.double().numpy().T)


@pytest.mark.parametrize("mode,parts", [("bf16", 16), ("fp16", 64)])
def test_a_reduction_in_the_narrow_type_fits_the_tolerance(operands, mode, parts):
    """cuBLAS may sum split-K partial products in bf16/fp16 (torch allows it by default). Emulated the
    coarsest way: each part's exact sum rounded to the narrow type, and every running sum rounded too."""
    import torch

    a, b, _ = operands
    ta, tb = (gpu.cast_operand(torch.from_numpy(t), mode) for t in (a, b))
    partial = [(ta[:, i::parts].double() @ tb[:, i::parts].double().T).to(ta.dtype) for i in range(parts)]
    acc = partial[0]
    for p in partial[1:]:
        acc = (acc.double() + p.double()).to(ta.dtype)
    err = _rel(acc.double().numpy(), gpu.precision_reference(a, b, mode))
    assert 2 * _rel(backends.to_numpy(ta @ tb.T), gpu.precision_reference(a, b, mode)) < err  # coarser ...
    assert err < RTOL[gpu.PRECISIONS[mode]]  # ... and still inside the tolerance


@pytest.mark.parametrize("mode", list(gpu.PRECISIONS))
def test_a_dropped_term_fails_every_precision_mode_at_the_seed_size(mode):
    """A kernel that loses one of seed 003's K = 10^4 terms must fail, even in bf16."""
    import torch

    rng = np.random.default_rng(11)
    x = rng.standard_normal((48, 10_000)).astype(np.float32)
    w = rng.standard_normal((32, 10_000)).astype(np.float32)
    out_dtype = gpu.cast_operand(torch.zeros(1), mode).dtype  # the result comes back in the operands' type
    tx, tw = (gpu.cast_operand(torch.from_numpy(t), mode).double() for t in (x, w))
    if mode == "tf32":  # what a TF32 product is given: its inputs cut to 10 mantissa bits
        tx, tw = (torch.from_numpy(_round_to_tf32(t)).double() for t in (x, w))
    ref = gpu.precision_reference(x, w, mode)

    def product():  # exact sums, then the output rounded as the GPU returns it
        return (tx @ tw.T).to(out_dtype).double().numpy()

    honest = _rel(product(), ref)
    assert 0 < honest < RTOL[gpu.PRECISIONS[mode]] / 2  # the honest product passes ...
    tx[:, 4321] = 0.0
    assert _rel(product(), ref) > RTOL[gpu.PRECISIONS[mode]]  # ... and one lost term fails


def test_precision_reference_rejects_an_unknown_mode(operands):
    a, b, _ = operands
    with pytest.raises(ValueError, match="unknown precision"):
        gpu.precision_reference(a, b, "fp8")


def test_matmul_precision_switches_tf32_and_restores():
    import torch

    before = torch.get_float32_matmul_precision()
    with gpu.matmul_precision("tf32") as flags:
        assert flags["float32_matmul_precision"] == "high" and flags["allow_tf32"] is True
    assert torch.get_float32_matmul_precision() == before
    with gpu.matmul_precision("fp32") as flags:
        assert flags["allow_tf32"] is False
    with pytest.raises(ValueError, match="unknown precision"):
        with gpu.matmul_precision("fp8"):
            pass
    assert torch.get_float32_matmul_precision() == before


# --- kernels' launch geometry and the cuBLAS fraction --------------------------------------------------

def test_tiled_grid_covers_non_multiples():
    assert cuda_kernels.tiled_grid((17, 19), 16) == ((2, 2), (16, 16))
    assert cuda_kernels.tiled_grid((5120, 5120), 32) == ((160, 160), (32, 32))
    assert cuda_kernels.tiled_grid((50000, 10), 16) == ((1, 3125), (16, 16))  # x: columns, y: rows
    with pytest.raises(ValueError, match="tile must be one of"):
        cuda_kernels.tiled_kernel(8)


def test_device_bytes_counts_device_operands_once():
    import torch

    dev = FakeDeviceArray(1024)
    assert devicetime.device_bytes([dev, dev, FakeDeviceArray(8), torch.ones(100), np.ones(100), 3]) == 1032


def _rec(variant, t, experiment="square-k256", device="cuda"):
    return {**record(device), "experiment": experiment, "variant": variant, "device_time_s": t,
            "shape": [[5120, 256], [256, 5120]]}


def test_cublas_fraction_prefers_kernel_time_when_both_have_it():
    ceiling, kernel = _rec("torch-cublas", 1.0), _rec("numba-cuda-tiled32", 4.0)
    rows = fractions.cublas_fractions([{**ceiling, "kernel_time_s": 0.8}, {**kernel, "kernel_time_s": 1.6}])
    assert [(r["time_field"], r["time_s"], r["fraction_of_cublas"]) for r in rows] == [("kernel_time_s", 1.6, 0.5)]
    rows = fractions.cublas_fractions([{**ceiling, "kernel_time_s": 0.8}, kernel])  # one side only: event time
    assert [(r["time_field"], r["fraction_of_cublas"]) for r in rows] == [("device_time_s", 0.25)]


def test_cublas_fraction_from_records(tmp_path, capsys):
    records = [_rec("torch-cublas", 1.0), _rec("numba-cuda-tiled32", 4.0), _rec("numba-cuda-naive", 20.0),
               _rec("numba-cuda", 1.0, experiment="mnist-full"),  # the seed's launch + copy back: not a kernel
               _rec("torch-cublas", 0.5, experiment="mnist-full"),
               {**_rec("numba-cuda-tiled16", None)}]
    rows = fractions.cublas_fractions(records)
    assert [(r["variant"], r["fraction_of_cublas"]) for r in rows] == [
        ("numba-cuda-naive", 0.05), ("numba-cuda-tiled32", 0.25)]
    def saved(recs):  # a run as pytest-benchmark saves it, read through nptbench.schema.runs
        return json.dumps({"benchmarks": [{"fullname": f"b.py::t[{i}]", "stats": {"median": 1e-3}, "extra_info": r}
                                          for i, r in enumerate(recs)]})

    run = tmp_path / "run.json"
    run.write_text(saved(records))
    assert fractions.main([str(run)]) == 0
    assert "25.0 % of cuBLAS" in capsys.readouterr().out
    assert cli.main(["fractions", str(run)]) == 0  # the same, as a listed command of python -m nptbench
    assert "25.0 % of cuBLAS" in capsys.readouterr().out
    empty = tmp_path / "cpu.json"
    empty.write_text(saved([_rec("torch-cublas", 1.0, device="cpu")]))
    assert fractions.main([str(empty)]) == 1


# --- on a real GPU only --------------------------------------------------------------------------------

@pytest.mark.gpu
def test_asking_for_more_than_the_card_has_skips_and_frees():
    import torch

    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    allocated = torch.cuda.memory_allocated()
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory

    def greedy():
        held = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda")  # kept alive by this frame
        return held, torch.empty(total + 2**30, dtype=torch.uint8, device="cuda")

    try:
        greedy()
    except Exception as exc:
        err = exc
    else:
        pytest.fail("allocating more than the card's memory succeeded")
    item = fake_item("seed")
    hook = plugin.pytest_pyfunc_call(item)
    next(hook)
    with pytest.raises(pytest.skip.Exception, match="CUDA out of memory at the seed profile"):
        hook.throw(err)
    assert torch.cuda.memory_allocated() == allocated  # the 512 MiB held by the failed frame is freed
    assert torch.cuda.memory_reserved() - allocated < 512 * 2**20  # ... and given back to the device
    nxt = torch.ones(256 * 2**20, dtype=torch.uint8, device="cuda")  # the next benchmark starts clean
    assert int(nxt.sum()) == 256 * 2**20


# --- compare judges GPU records on their device rounds --------------------------------------------------

def saved_gpu_run(clock, device_s, host_s, when) -> dict:
    """A saved run of one GPU benchmark: its record made by the harness on the fake clock (device times
    ``device_s``, one per timed call), its host rounds ``host_s`` as pytest-benchmark would save them."""
    bench = FakeBenchmark(calibrated_calls=len(device_s))
    harness.measure(bench, timed_work(clock, [1.0, *device_s], np.eye(2)), record=record(), reference=np.eye(2))
    info = {"cpu_model": "Fake CPU", "cpu_cores": 2, "gpus": [{"name": "Fake GPU"}], "profile": "default"}
    return {"machine_info": {"nptbench": info}, "datetime": when, "benchmarks": [{
        "name": "test_unit[fake]", "fullname": "bench/x.py::test_unit[fake]",
        "extra_info": json.loads(json.dumps(bench.extra_info)),  # as saved: JSON
        "stats": {"median": float(np.median(host_s)), "data": [float(t) for t in host_s]}}]}


def test_compare_judges_gpu_records_on_device_rounds(fake_cuda):
    from nptbench.analysis import comparison
    from nptbench.tools import verdict_text

    rng = np.random.default_rng(0)
    noise = lambda: rng.lognormal(0.0, 0.01, 60)  # noqa: E731
    # The device work doubles, but each host round is dominated by a 50 ms wait that hides it.
    base = saved_gpu_run(fake_cuda, 1e-3 * noise(), 50e-3 * noise(), "2026-01-01T00:00:00")
    new = saved_gpu_run(fake_cuda, 2e-3 * noise(), 50e-3 * noise(), "2026-01-02T00:00:00")
    assert len(base["benchmarks"][0]["extra_info"]["device_times_s"]) == 60

    def judged():
        [pairing] = comparison.compare_runs([runs_model.Run(Path("b"), base)], [runs_model.Run(Path("n"), new)], mode="session")
        [row] = pairing.rows
        return row, verdict_text.render([pairing])

    row, table = judged()
    assert row.timer == "device" and row.verdict == "slower" and row.result.ratio == pytest.approx(2.0, rel=0.05)
    assert row.base_host == pytest.approx(50e-3, rel=0.05) and row.new_host == pytest.approx(50e-3, rel=0.05)
    assert "| device (CUDA events) |" in table and "on device times" in row.ratio_text()
    # Without per-call device times the same runs can only be judged on the host rounds, and say so.
    del new["benchmarks"][0]["extra_info"]["device_times_s"]
    row, table = judged()
    assert row.timer == "host" and row.verdict == "same"
    assert "host rounds: no per-call device times in NEW" in row.result.note


# --- the timer floor -------------------------------------------------------------------------------------

def test_timer_floor_times_an_empty_call_as_the_harness_times_one(fake_cuda):
    ticks = iter(range(10**6))
    floor = devicetime.timer_floor(fake_cuda, calls=7, now=lambda: next(ticks) * 15e-6)  # each call: 15 us on the host
    assert floor["host_s"] == pytest.approx(15e-6) and floor["device_s"] == 0.0
    assert floor["calls"] == 7 and floor["timer"] == "fake"
    timed = fake_cuda.log[fake_cuda.log.index("reset_peak") + 1:]
    assert timed == ["record", "record", "sync"] * 7 + ["sync"]  # as in measure(); then the events are read


def test_timer_floor_is_recorded_in_machine_info_only_with_a_gpu(fake_cuda, monkeypatch):
    from nptbench.measure import ceilings

    monkeypatch.setattr(ceilings, "session_ceilings", lambda results=None: {"cpu": {}})
    config = types.SimpleNamespace(_benchmarksession=types.SimpleNamespace(disabled=False, skip=False))
    monkeypatch.setattr(devicetime, "_FLOOR", {})
    info = {}
    plugin.add_ceilings(config, info)
    floor = info["nptbench"]["timer_floor"]
    assert floor["calls"] == devicetime.TIMER_FLOOR_CALLS and floor["timer"] == "fake" and floor["host_s"] > 0
    assert fake_cuda.log.count("sync") >= devicetime.TIMER_FLOOR_CALLS
    assert "timer floor: " in gpu_records.describe_timer_floor(floor)

    def no_gpu():
        raise RuntimeError("no CUDA device to time on")

    monkeypatch.setattr(devicetime, "make_clock", no_gpu)
    monkeypatch.setattr(devicetime, "_FLOOR", {})
    info = {}
    plugin.add_ceilings(config, info)
    assert "timer_floor" not in info["nptbench"] and gpu_records.describe_timer_floor(None) is None


# --- the invariant kernel_time_s <= device_time_s --------------------------------------------------------

def test_kernel_time_above_device_time_is_flagged_with_the_spread_it_falls_in():
    rec = record(device_time_s=0.0380, kernel_time_s=0.0370)
    assert gpu_records.kernel_time_excess(rec) is None and gpu_records.kernel_time_flag("x", rec) is None  # holds
    assert gpu_records.kernel_time_excess(record(device="cpu", device_time_s=1.0, kernel_time_s=2.0)) is None
    rec = record(device_time_s=0.0380, kernel_time_s=0.0386)
    assert gpu_records.kernel_time_excess(rec) == pytest.approx(0.0386 / 0.0380 - 1)
    host = [0.0378, 0.0379, 0.0381, 0.0390, 0.0420, 0.0450]  # a slow spell in the rounds
    flag = gpu_records.kernel_time_flag("x", rec, host)
    assert flag.startswith("x: kernel_time_s 38.6 ms > device_time_s 38 ms (+1.6 %)")
    assert "within the spread of the 6 host rounds" in flag
    tight = dict(rec, device_times_s=[0.0379, 0.0380, 0.0380, 0.0381])  # device rounds win over host rounds
    assert "beyond the spread of the 4 device times" in gpu_records.kernel_time_flag("x", tight, host)
