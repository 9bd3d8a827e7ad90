"""The suite's pytest plugin: every option, marker, hook and session fixture of nptbench.

The root conftest.py only registers this module (``pytest_plugins``); nothing else in ``nptbench/``
defines a pytest hook. What the hooks do is library code elsewhere, which imports no pytest:

- options ``--bench-size`` (the :class:`Profile`, read through :func:`profile`), ``--require-gpu`` and
  ``--gpu-cold-l2``; the markers (strict); skips for missing packages and GPUs, failures under
  ``--require-gpu``;
- a CUDA out-of-memory becomes a skip with its reason after the memory is freed (nptbench.gpu);
- the machine info of a saved run (nptbench.machine);
- the session fixtures ``size``, ``mnist`` and ``measure`` (nptbench.harness).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import pytest

from . import backends, gpu, harness, machine

PROFILES = ("smoke", "default", "seed")

#: Every marker the suite knows (strict markers are on, so a typo is an error).
MARKERS = {
    "gpu": "needs a CUDA device through torch; skipped without one, a failure with --require-gpu",
    "numba_cuda": "needs numba's CUDA target on a real device; skipped without one, a failure with --require-gpu",
    "needs(*packages)": "needs these optional packages importable; skipped with the import error otherwise",
    "slow": "takes long at the seed profile (deselect with -m 'not slow')",
}


# --- the session's profile ------------------------------------------------------------------------------

@dataclass
class Profile:
    """What a pytest session of the suite runs under; made once, in ``pytest_configure``."""

    size: str  #: the size profile, one of :data:`PROFILES`
    notices: list[str] = field(default_factory=list)  #: one-line notices printed after the run


#: Where the session's :class:`Profile` is kept (``config.stash``).
PROFILE_KEY = pytest.StashKey[Profile]()


def profile(config) -> Profile:
    """The session's :class:`Profile` (bench files: ``plugin.profile(config).size``, or the ``size`` fixture)."""
    return config.stash[PROFILE_KEY]


def bench_size(config) -> str:
    size = config.getoption("--bench-size") or os.environ.get("BENCH_SIZE") or "default"
    if size not in PROFILES:
        raise pytest.UsageError(f"BENCH_SIZE={size!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return size


def benchmark_session(config):
    """pytest-benchmark's session object, or None where pytest-benchmark is not active.

    pytest-benchmark offers no public way to reach it, and the suite needs it: whether benchmarks are timed
    at all, the benchmarks of this session (roofline table, baseline comparison) and its compare and
    autosave settings. This is the one place that reads its private ``config._benchmarksession``.
    """
    return getattr(config, "_benchmarksession", None)


# --- options, markers, skips ----------------------------------------------------------------------------

def pytest_addoption(parser):
    group = parser.getgroup("nptbench")
    group.addoption(
        "--bench-size", choices=PROFILES, default=None,
        help="size profile: smoke (tiny, seconds), default (minutes on 2 cores), seed (the seed documents' "
             "exact shapes). Also env BENCH_SIZE; default: default.",
    )
    group.addoption(
        "--require-gpu", action="store_true", default=False,
        help="a GPU benchmark that would be skipped (no CUDA device, no numba CUDA) fails instead",
    )
    group.addoption(
        "--gpu-cold-l2", action="store_true", default=False,
        help="GPU benchmarks flush the L2 cache before every (one-call) round, outside the timed region",
    )


def pytest_configure(config):
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    config.stash[PROFILE_KEY] = Profile(size=bench_size(config))
    if not backends.missing_package("torch"):
        backends.configure_torch()
    from . import baseline  # --benchmark-compare uses results/<this machine's fingerprint>/

    try:
        config.pluginmanager.register(baseline.PytestBaseline(config, profile(config).size), "nptbench-baseline")
    except baseline.BaselineError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config):
    gpus = backends.missing_cuda() or ", ".join(g["name"] for g in machine.gpu_info())
    return [f"nptbench: profile {profile(config).size}; GPU: {gpus}"]


def pytest_runtest_setup(item):
    require_gpu = item.config.getoption("--require-gpu")
    for mark in item.iter_markers("needs"):
        for pkg in mark.args:
            reason = backends.missing_package(pkg)
            if reason:
                pytest.skip(reason)
    gpu_reasons = []
    if item.get_closest_marker("gpu"):
        gpu_reasons.append(backends.missing_cuda())
    if item.get_closest_marker("numba_cuda"):
        gpu_reasons.append(backends.missing_numba_cuda())
    reason = next((r for r in gpu_reasons if r), None)
    if reason:
        if require_gpu:
            pytest.fail(f"--require-gpu: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A CUDA out-of-memory skips the benchmark with its reason, after freeing what it held (nptbench.gpu)."""
    try:
        return (yield)
    except Exception as exc:
        reason = gpu.oom_skip_reason(exc, profile(pyfuncitem.config).size)
        if reason is None:
            raise
        gpu.release_after_oom(exc)
    pytest.skip(reason)  # outside the except block: the skip must not keep the OOM (and its frames) alive


# --- what a saved run holds -----------------------------------------------------------------------------

def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["nptbench"] = {**machine.describe(), "profile": profile(config).size}
    from . import roofline  # the session's ceilings (measured once, only when benchmarks run)

    roofline.update_machine_info(config, machine_info)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    from . import report, roofline

    roofline.update_json(config, output_json)  # achieved GFLOP/s, GB/s and % of ceiling per benchmark
    report.add_skips(config, output_json)  # skipped benchmarks and their reasons, for the report


def pytest_terminal_summary(terminalreporter, config):
    for notice in dict.fromkeys(profile(config).notices):
        terminalreporter.write_line(f"nptbench: {notice}", yellow=True)
    from . import roofline

    roofline.terminal_summary(terminalreporter, config)


# --- session fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def size(pytestconfig) -> str:
    """The size profile of this session: smoke, default or seed."""
    return profile(pytestconfig).size


@pytest.fixture(scope="session")
def mnist(pytestconfig, size):
    """MNIST (real where found or downloadable, else synthetic with a notice); see fixtures/mnist.py.

    The smoke profile and NPTBENCH_OFFLINE=1 never touch the network.
    """
    from fixtures.mnist import load_mnist  # the checkout's fixtures/, on sys.path through the root conftest.py

    offline = size == "smoke" or os.environ.get("NPTBENCH_OFFLINE", "0") not in ("", "0")
    data = load_mnist(download_ok=not offline)
    if data.notice:
        profile(pytestconfig).notices.append(data.notice)
    return data


@pytest.fixture
def measure(benchmark, pytestconfig):
    """``measure(fn, args, record=..., reference=...)``: warm up, time, check, record (nptbench.harness)."""
    return functools.partial(harness.measure, benchmark, cold_l2=pytestconfig.getoption("--gpu-cold-l2"))
