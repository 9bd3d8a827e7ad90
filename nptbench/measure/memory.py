"""Peak bytes allocated by one call, per allocator: seed 003's "Saving Memory" is about allocation.

Each library's buffers come from a different allocator, and each needs its own way to be seen:

- **numpy** reports every data buffer to ``tracemalloc`` (domain 389047), so tracemalloc's peak sees
  numpy arrays as well as Python objects.
- **torch on the CPU** allocates through c10's CPU allocator (posix_memalign), which tracemalloc never
  sees. With ``profile_memory=True`` the torch profiler receives every allocation and free made while it
  runs; replaying those events in time order gives the running total and its peak. (Per-operator totals
  of ``key_averages()`` are net of frees inside an operator, so they would miss a temporary.) The event
  tree is a semi-private API; ``tests/test_ops.py`` proves on a torch allocation of known size that this
  method sees it, so a change in torch fails loudly rather than reading zero.
- **CUDA**: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.

Every figure is the peak *above* the level when the call began (memory the call itself allocated at
its highest point, including its result and any temporary it freed again). Nothing here is timed: run
it once, outside the timed region.
"""
from __future__ import annotations

import tracemalloc
from typing import Callable

from nptbench.env.backends import missing_package, sync


def _walk(events):
    for event in events:
        yield event
        yield from _walk(event.children)


def _torch_cpu_peak(allocations) -> int:
    """Peak of the running total of (size, signed) allocation events given in time order."""
    level = peak = 0
    for nbytes in allocations:
        level += nbytes
        peak = max(peak, level)
    return peak


def peak_bytes(fn: Callable, args: tuple = (), *, device: str = "cpu") -> dict:
    """Run ``fn(*args)`` once and return the peak bytes it allocated, per allocator and in total.

    Keys: ``peak_bytes_tracemalloc`` (Python objects and numpy buffers), ``peak_bytes_torch_cpu``
    (torch's CPU allocator; absent without torch), ``peak_bytes_cuda`` (only for ``device="cuda"``) and
    ``peak_bytes``, their sum: an upper bound on the combined peak, equal to it when one allocator does
    all the allocating (true of every variant measured in this suite). The result of the call stays
    alive until the figures are read, so it counts.
    """
    use_torch = missing_package("torch") is None
    cuda = device == "cuda"
    if cuda:
        import torch

        sync(device)
        torch.cuda.reset_peak_memory_stats()
        cuda_before = torch.cuda.memory_allocated()

    prof = None
    if use_torch:
        from torch.profiler import ProfilerActivity, profile

        prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        prof.__enter__()
    was_tracing = tracemalloc.is_tracing()
    try:
        if not was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
        out = fn(*args)
        sync(device)
        traced_peak = tracemalloc.get_traced_memory()[1] - traced_before
    finally:
        if not was_tracing:
            tracemalloc.stop()
        if prof is not None:
            prof.__exit__(None, None, None)

    result = {"peak_bytes_tracemalloc": max(0, traced_peak)}
    if prof is not None:
        from torch._C._profiler import _EventType

        tree = prof.profiler.kineto_results.experimental_event_tree()
        allocs = sorted(
            (e for e in _walk(tree) if e.tag == _EventType.Allocation and e.extra_fields.device.type == "cpu"),
            key=lambda e: e.start_time_ns,
        )
        result["peak_bytes_torch_cpu"] = _torch_cpu_peak(e.extra_fields.alloc_size for e in allocs)
    if cuda:
        result["peak_bytes_cuda"] = max(0, torch.cuda.max_memory_allocated() - cuda_before)
    result["peak_bytes"] = sum(result.values())
    del out
    return result
