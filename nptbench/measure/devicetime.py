"""Device time: how every benchmark on ``device == "cuda"`` is timed, whatever its family.

Infrastructure the harness (nptbench.measure.harness) uses for each GPU record, and the plugin (nptbench.plugin)
for the session; it knows no family. torch and numba are imported lazily: importing this module needs
neither, nor a GPU.

- **clocks**: CUDA events, synchronization and allocator statistics through torch (:class:`TorchClock`),
  else numba (:class:`NumbaClock`); :func:`make_clock` picks the session's;
- **device time**: CUDA events around each timed call (:class:`DeviceRun`), recorded as ``device_time_s``
  (median over the event-timed calls) next to pytest-benchmark's host wall time of the synchronized call,
  and ``kernel_time_s`` without the launch's host cost (:meth:`DeviceRun.kernel_times`);
- **cold L2** (``--gpu-cold-l2``): the L2 cache is flushed before every round, outside the timed region;
- **peak device memory** per benchmark (``peak_device_bytes``);
- **the timer floor**: what timing an empty call costs by itself (:func:`timer_floor`), once a session;
- **the invariant** ``kernel_time_s <= device_time_s``: checked in the records it writes by
  nptbench.analysis.gpu_records, which reads them;
- **out of memory**: :func:`oom_skip_reason` and :func:`release_after_oom` turn a CUDA OOM into a skip
  with a reason and free what the failed benchmark held (used by the plugin's ``pytest_pyfunc_call``).
"""
from __future__ import annotations

import gc
import statistics
import sys
import time
import traceback

from nptbench.env.backends import cudasim_enabled
from nptbench.schema.record import per_second

#: Device time comes from the first this-many timed calls of a benchmark (events are made beforehand,
#: so making them never lands in a timed call; later calls record into a spare pair at the same cost).
MAX_EVENT_SAMPLES = 1000
#: Kernel time (``kernel_time=True``): samples taken after the timed rounds, and the GPU cycles the stream
#: spins before each one (about 1 ms at 2 GHz), so that the host has queued the call before the start
#: event runs and the launch's host cost falls outside the two events.
KERNEL_TIME_SAMPLES = 25
BUSY_CYCLES = 2_000_000
#: Bytes written to evict the L2 when no size is reported (H100/H200 have 50 MiB of L2).
FALLBACK_FLUSH_BYTES = 256 * 2**20



# --- clocks: CUDA events, sync, memory statistics -----------------------------------------------------

class TorchClock:
    """CUDA events, synchronization and allocator statistics through torch (the default)."""

    name = "torch.cuda.Event"

    def __init__(self):
        import torch

        self.torch = torch
        self._flush = None

    def event(self):
        ev = self.torch.cuda.Event(enable_timing=True)
        ev.record()  # torch makes the CUDA event on first record: do it now, not inside a timed call
        return ev

    @staticmethod
    def elapsed_s(start, end) -> float:
        return start.elapsed_time(end) / 1e3

    def sync(self) -> None:
        self.torch.cuda.synchronize()

    def busy(self, cycles: int) -> None:
        """Queue a kernel that spins ``cycles`` GPU clock cycles on the current stream."""
        self.torch.cuda._sleep(int(cycles))

    def allocated(self) -> int:
        return self.torch.cuda.memory_allocated()

    def reset_peak(self) -> None:
        self.torch.cuda.reset_peak_memory_stats()

    def peak(self) -> int:
        return self.torch.cuda.max_memory_allocated()

    def prepare_flush(self) -> None:
        if self._flush is None:
            props = self.torch.cuda.get_device_properties(self.torch.cuda.current_device())
            l2 = getattr(props, "L2_cache_size", 0) or 0
            nbytes = 2 * l2 if l2 else FALLBACK_FLUSH_BYTES
            self._flush = self.torch.empty(nbytes, dtype=self.torch.uint8, device="cuda")

    def flush_l2(self) -> None:
        self.prepare_flush()
        self._flush.zero_()  # writing twice the L2's size evicts whatever the last round left there


class NumbaClock:
    """The same through numba, for a machine whose torch has no CUDA; it has no allocator statistics."""

    name = "numba.cuda.event"

    def __init__(self):
        from numba import cuda

        self.cuda = cuda
        self._flush = None

    def event(self):
        return self.cuda.event(timing=True)

    def elapsed_s(self, start, end) -> float:
        return self.cuda.event_elapsed_time(start, end) / 1e3

    def sync(self) -> None:
        self.cuda.synchronize()

    busy = None  # no spin kernel at hand: kernel time is not measured through numba alone

    def allocated(self):
        return None

    def reset_peak(self) -> None:
        pass

    def peak(self):
        return None

    def prepare_flush(self) -> None:
        if self._flush is None:
            self._flush = self.cuda.device_array(FALLBACK_FLUSH_BYTES, dtype="uint8")

    def flush_l2(self) -> None:
        from numba.cuda.cudadrv.driver import device_memset

        self.prepare_flush()
        device_memset(self._flush, 0, self._flush.nbytes)


_CLOCK = None


def make_clock():
    """The session's clock: torch's when torch sees a GPU, else numba's."""
    global _CLOCK
    if _CLOCK is None:
        from nptbench.env.backends import missing_cuda, missing_numba_cuda

        if missing_cuda() is None:
            _CLOCK = TorchClock()
        elif missing_numba_cuda() is None:
            _CLOCK = NumbaClock()
        else:
            raise RuntimeError(f"no CUDA device to time on: {missing_cuda()}; {missing_numba_cuda()}")
    return _CLOCK


def device_bytes(values) -> int:
    """Device memory held by the CUDA tensors and numba device arrays among ``values`` (each counted once)."""
    seen, total = set(), 0
    for v in values:
        if getattr(v, "is_cuda", False):  # torch tensor on a GPU: its whole storage
            storage = v.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
        elif hasattr(v, "copy_to_host") and hasattr(v, "nbytes"):  # numba device array
            key, size = ("numba", id(v)), int(v.nbytes)
        else:
            continue
        if key not in seen:
            seen.add(key)
            total += size
    return total


class DeviceRun:
    """Device time, peak device memory and the cold-L2 flush of one benchmark on ``device == "cuda"``.

    The harness (nptbench.measure.harness.measure) uses it so:
    ``start()`` after the warm-up; the timed callable is ``synced(run.wrap(fn))``, so each call is
    ``start.record(); fn(); end.record(); synchronize()`` -- the events bracket exactly the queued work and
    the host time still includes the wait; with ``cold_l2`` every round gets ``run.cold_setup(...)``, which
    flushes the L2 and waits before the round begins; ``fields(record)`` goes into the record afterwards.
    """

    def __init__(self, *, cold_l2: bool = False, clock=None, max_samples: int = MAX_EVENT_SAMPLES):
        self.clock = clock if clock is not None else make_clock()
        self.cold_l2 = bool(cold_l2)
        self.max_samples = max_samples
        self._pairs, self._used, self._spare = [], 0, None
        self._first_args = None
        self._base = None
        self._peak_from = None  # None: the timed calls themselves
        self._kernel_times = None
        self._frozen_peak = None

    def start(self) -> None:
        if self.cold_l2:
            self.clock.prepare_flush()  # allocated before the peak is reset: not the benchmark's memory
        self._pairs = [(self.clock.event(), self.clock.event()) for _ in range(self.max_samples)]
        self._spare = (self.clock.event(), self.clock.event())
        self._used = 0
        self.clock.sync()
        self._base = self.clock.allocated()
        self.clock.reset_peak()

    def wrap(self, fn):
        """``fn`` between two recorded CUDA events (the caller synchronizes after it)."""

        def call(*args, **kwargs):
            if self._used < len(self._pairs):
                start, end = self._pairs[self._used]
                self._used += 1
            else:
                start, end = self._spare
            start.record()
            out = fn(*args, **kwargs)
            end.record()
            if self._first_args is None:  # sized after the run, not inside a timed call
                self._first_args = [*args, *kwargs.values()]
            return out

        call.__name__ = getattr(fn, "__name__", "call")
        call.__wrapped__ = fn
        return call

    def cold_setup(self, setup, args):
        """A pedantic ``setup`` that flushes the L2 and waits, then returns the round's arguments."""

        def flush_then_args():
            fresh = setup() if setup is not None else args
            self.clock.flush_l2()
            self.clock.sync()
            return fresh

        return flush_then_args

    def peak_of_one_call(self, fn, setup) -> None:
        """Take the peak from one more, untimed call of ``fn`` on inputs fresh from ``setup``.

        For benchmarks whose ``setup`` makes new device inputs every round: while a round's inputs are
        made, the last round's are still alive, so the running peak of the timed rounds would count the
        inputs two or three times. Here the inputs exist before the base is read, so the peak is the
        operands (counted once) plus what the call itself allocates on top.
        """
        args = setup()
        self.clock.sync()
        self._base = self.clock.allocated()
        self.clock.reset_peak()
        fn(*args)
        self.clock.sync()
        self._first_args = list(args)
        self._peak_from = "one untimed call on fresh inputs"

    def kernel_times(self, fn, args=(), setup=None, samples: int = KERNEL_TIME_SAMPLES) -> None:
        """Device time of ``fn`` without the host's launch cost, from ``samples`` more, untimed calls.

        The events of the timed rounds start on an idle stream, so they also count the time the host takes
        to queue the call (tens of microseconds for a numba launch): a real share of a kernel that runs
        for a few. Here a spin kernel is queued before each call's start event; while the GPU spins the
        host queues the call, so the start event runs when the work is already waiting behind it. Only
        for calls of one or a few launches (the host must queue them within the spin).
        """
        busy = getattr(self.clock, "busy", None)
        if busy is None:
            return
        pairs = [(self.clock.event(), self.clock.event()) for _ in range(samples)]
        self.clock.sync()
        for start, end in pairs:
            call_args = setup() if setup is not None else args
            if self.cold_l2:
                self.clock.flush_l2()  # queued before the spin: the L2 is cold when the call starts
            busy(BUSY_CYCLES)
            start.record()
            fn(*call_args)
            end.record()
        self.clock.sync()
        self._kernel_times = [self.clock.elapsed_s(s, e) for s, e in pairs]

    def device_times(self) -> list[float]:
        self.clock.sync()  # an end event can be read only once the work before it is done
        return [self.clock.elapsed_s(s, e) for s, e in self._pairs[:self._used]]

    def freeze_peak(self) -> None:
        """Keep the peak as it is now (after the benchmark's calls): later checks and untimed calls may
        allocate, and are not the benchmark's memory."""
        self._frozen_peak = self.clock.peak()

    def peak_device_bytes(self):
        """The call's device operands plus the most it allocated on top of what was live at ``start``."""
        peak = self._frozen_peak if self._frozen_peak is not None else self.clock.peak()
        base = self._base
        extra = max(0, peak - base) if peak is not None and base is not None else 0
        return device_bytes(self._first_args or []) + extra

    def fields(self, record: dict) -> dict:
        """Record fields (nptbench.schema.record.GPU_FIELDS): device time (median, min, every call's), L2 mode,
        peak memory, rates."""
        times = self.device_times()
        med = statistics.median(times) if times else None
        out = {
            "device_time_s": med,
            "device_time_min_s": min(times) if times else None,
            "device_time_rounds": len(times),
            "device_times_s": [float(f"{t:.6g}") for t in times],  # events resolve ~0.5 us: 6 digits lose nothing
            "device_timer": self.clock.name,
            "gpu_cold_l2": self.cold_l2,
            "peak_device_bytes": self.peak_device_bytes(),
            "peak_device_note": "operands + most allocated on top"
                                + (f", from {self._peak_from}" if self._peak_from else "")
                                + ("" if self.clock.peak() is not None else " (no allocator statistics)"),
        }
        if self._kernel_times:
            out["kernel_time_s"] = statistics.median(self._kernel_times)
            out["kernel_time_min_s"] = min(self._kernel_times)
            out["kernel_time_rounds"] = len(self._kernel_times)
            out["kernel_time_note"] = "CUDA events with the stream kept busy before each call: no launch cost"
            kernel = per_second(record, out["kernel_time_s"])
            if "flops" in kernel:
                out["kernel_tflops"] = kernel["flops"] / 1e12
        device = per_second(record, med)
        if "bytes" in device:
            out["device_gbps"] = device["bytes"] / 1e9
        if "flops" in device:
            out["device_tflops"] = device["flops"] / 1e12
        return out


# --- the timer floor: what timing a call costs by itself -----------------------------------------------

#: Empty calls timed for the session's timer floor (a few milliseconds in all).
TIMER_FLOOR_CALLS = 200


def _empty():
    return None


def timer_floor(clock=None, calls: int = TIMER_FLOOR_CALLS, now=time.perf_counter) -> dict:
    """Host and device time of an empty call timed exactly as a benchmark's call is.

    The call is ``synced(run.wrap(fn))`` with ``fn`` doing nothing: two event records and a device-wide
    synchronize. Its median host time is the floor under every GPU benchmark's host median (on a call of
    tens of microseconds, a real share of it); the device time its events read is the floor under
    ``device_time_s``. ``now`` is the host clock (a fake one in the tests).
    """
    from nptbench.env.backends import synced

    run = DeviceRun(clock=clock, max_samples=calls)
    run.start()
    call = synced(run.wrap(_empty), "cuda")
    host = []
    for _ in range(calls):
        t0 = now()
        call()
        host.append(now() - t0)
    device = run.device_times()
    return {
        "host_s": statistics.median(host),
        "device_s": statistics.median(device),
        "calls": calls,
        "timer": run.clock.name,
        "how": "median of an empty call between two recorded events, then a device-wide synchronize, "
               "timed like every GPU benchmark's call",
    }


_FLOOR: dict = {}


def session_timer_floor() -> dict | None:
    """This process's timer floor, measured on first use; None without a CUDA device."""
    if "floor" not in _FLOOR:
        try:
            clock = make_clock()
        except RuntimeError:  # no CUDA device: no floor to measure
            _FLOOR["floor"] = None
        else:
            _FLOOR["floor"] = timer_floor(clock)
    return _FLOOR["floor"]


# --- CUDA out of memory -------------------------------------------------------------------------------

#: Message fragments of a device allocation failure: torch's allocator, numba's driver calls, cuBLAS.
OOM_MESSAGES = ("CUDA out of memory", "CUDA_ERROR_OUT_OF_MEMORY", "CUBLAS_STATUS_ALLOC_FAILED",
                "cudaErrorMemoryAllocation")


def is_cuda_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is a device allocation failure (never a host MemoryError)."""
    if isinstance(exc, MemoryError) or not isinstance(exc, Exception):
        return False
    if any(cls.__name__ == "OutOfMemoryError" for cls in type(exc).__mro__):  # torch.cuda.OutOfMemoryError
        return True
    text = str(exc)
    return any(m in text for m in OOM_MESSAGES)


def oom_skip_reason(exc: BaseException, profile: str | None = None) -> str | None:
    """The skip reason for a CUDA out-of-memory (``None`` for any other exception)."""
    if not is_cuda_oom(exc):
        return None
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = f" at the {profile} profile" if profile else ""
    return f"CUDA out of memory{where}: {first[:300]}"


def _empty_caches() -> None:
    """Give the device's cached blocks back (torch's caching allocator; numba's deferred frees)."""
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        try:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
        except Exception:  # a broken context must not hide the skip reason
            pass
    if "numba.cuda" in sys.modules and not cudasim_enabled():
        try:
            from numba import cuda

            if cuda.is_available():
                cuda.current_context().deallocations.clear()
        except Exception:
            pass


def release_after_oom(exc: BaseException) -> None:
    """Drop what the failed benchmark still holds, so the next one starts with free device memory.

    The exception's traceback keeps every finished frame alive, and with them their tensors; clearing
    those frames, collecting, then emptying the allocator caches gives the memory back to the device.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__
    gc.collect()
    _empty_caches()
