"""Warm up, time, check and record one benchmark: the part every family shares.

The ``measure`` fixture (nptbench.plugin) binds :func:`measure` to pytest-benchmark's ``benchmark`` object;
this module itself imports no pytest, so the same steps can be driven from anywhere.
"""
from __future__ import annotations

from typing import Callable

from nptbench.measure import devicetime, gpustate
from nptbench.env.backends import synced
from nptbench.measure.check import assert_close, errors, tolerance
from nptbench.schema.record import make_record, write


def measure(
    benchmark,
    fn: Callable,
    args: tuple = (),
    *,
    record: dict,
    reference,
    rtol: float | None = None,
    rounds: int | None = None,
    warmup: int = 1,
    setup: Callable | None = None,
    extra_check: Callable | None = None,
    sync: bool = True,
    cold_l2: bool = False,
    kernel_time: bool = False,
    also_against: dict | None = None,
    throttle_threshold: float | None = None,
):
    """Time ``fn(*args)`` and check what it returns against ``reference``.

    - The callable is wrapped with :func:`~nptbench.env.backends.synced`, so CUDA work is waited for inside
      the timed region.
    - ``warmup`` untimed calls come first: numba compilation, CUDA context and cuBLAS handles are made
      there, never inside a timed round.
    - ``rounds`` (for slow calls) switches to ``benchmark.pedantic`` with that many one-call rounds;
      otherwise pytest-benchmark calibrates rounds and iterations itself.
    - ``setup()`` (for calls that change their inputs) returns fresh ``args`` before every round, outside
      the timed region; it implies pedantic rounds (``rounds`` or 5).
    - The record (shared schema, see :mod:`nptbench.schema.record`) gets ``max_abs_err`` and ``rel_err`` and is
      written to ``benchmark.extra_info`` *before* the assertion, so a failing result is still recorded.
    - ``also_against`` (name -> array) records ``rel_err_vs_<name>`` beside ``rel_err``, for information
      only (e.g. a reduced-precision result against the unrounded inputs' product).
    - ``rtol``: the tolerance, derived from the computation by :func:`nptbench.measure.check.rtol` (its rule is
      recorded as ``rtol_rule``); without one, the dtype's fixed tolerance (:data:`nptbench.measure.check.RTOL`,
      the GPU's reduced precisions); ``extra_check(out)`` may
      add a check of its own (e.g. fastcore's ``test_close`` with a seed's eps).
    - ``sync=False`` times the call *without* waiting for the device, only to reproduce a seed that
      measured that way; the record then says ``synchronized: false``.
    - On ``device == "cuda"`` CUDA events bracket every timed call: the record gets ``device_time_s``
      (median) beside the host time, and ``peak_device_bytes`` (with ``setup``, from one more untimed call
      on fresh inputs, see :meth:`nptbench.measure.devicetime.DeviceRun.peak_of_one_call`); ``cold_l2``
      (``--gpu-cold-l2``) flushes the L2 cache before each one-call round, outside the timed region (see
      :class:`nptbench.measure.devicetime.DeviceRun`); ``kernel_time`` (calls of one or a few launches) adds
      ``kernel_time_s``, device time without the launch's host cost, from untimed calls after the rounds
      (:meth:`nptbench.measure.devicetime.DeviceRun.kernel_times`).
    - On ``device == "cuda"`` the GPU's clocks, temperature, power and throttle reasons are read through
      NVML before and after the rounds and sampled while they run (:class:`nptbench.measure.gpustate.Sampler`):
      the record gets ``gpu_*`` state fields, and ``gpu_throttled`` where the SM clock fell below
      ``throttle_threshold`` (``--gpu-throttle-threshold``, default 0.75) of the application clock or a power
      or thermal reason was seen; without NVML, ``gpu_state_note`` says why.
    """
    timed = synced(fn, record["device"]) if sync else fn
    benchmark.group = record["experiment"]
    for _ in range(warmup):
        timed(*(setup() if setup else args))
    run, make_args, state = None, setup, None
    if record["device"] == "cuda":
        run = devicetime.DeviceRun(cold_l2=cold_l2)
        timed = synced(run.wrap(fn), "cuda") if sync else run.wrap(fn)
        setup = run.cold_setup(setup, args) if cold_l2 else setup
        run.start()
        state = gpustate.Sampler(throttle_threshold)
        state.start()
    try:
        if setup is not None:
            out = benchmark.pedantic(timed, setup=lambda: (setup(), {}), rounds=rounds or 5, iterations=1)
        elif rounds is not None:
            out = benchmark.pedantic(timed, args=args, rounds=rounds, iterations=1)
        else:
            out = benchmark(timed, *args)
    finally:
        if state is not None:
            state.stop()
    if run is not None:
        if make_args is not None:  # fresh inputs every round: the peak comes from one more, untimed call
            run.peak_of_one_call(fn, make_args)
        # The peak is read now: the checks below and the kernel-time calls allocate (outputs, a float32
        # copy of a bf16 result) and are not the benchmark's memory.
        run.freeze_peak()
        if kernel_time:
            run.kernel_times(fn, args, make_args)
    err = errors(out, reference)
    info = benchmark.extra_info
    write(info, **make_record(**record, **err))
    write(info, **{f"rel_err_vs_{name}": errors(out, other)["rel_err"] for name, other in (also_against or {}).items()})
    if run is not None:
        write(info, **run.fields(record))
        write(info, **state.fields())
    tol = tolerance(record["dtype"]) if rtol is None else rtol
    rule = {"rtol_rule": tol.rule} if getattr(tol, "rule", "") else {}
    write(info, rtol=float(tol), **rule, **({} if sync else {"synchronized": False}))
    assert_close(err, tol, what=f"{record['experiment']}/{record['variant']}")
    if extra_check is not None:
        extra_check(out)
    return out
