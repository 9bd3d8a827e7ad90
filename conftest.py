"""Options, markers, machine info and session fixtures of the nptbench suite: all registered here."""
from __future__ import annotations

import functools
import os

import pytest

from nptbench import backends, gpu, harness, machine

PROFILES = ("smoke", "default", "seed")

#: Every marker the suite knows (strict markers are on, so a typo is an error).
MARKERS = {
    "gpu": "needs a CUDA device through torch; skipped without one, a failure with --require-gpu",
    "numba_cuda": "needs numba's CUDA target on a real device; skipped without one, a failure with --require-gpu",
    "needs(*packages)": "needs these optional packages importable; skipped with the import error otherwise",
    "slow": "takes long at the seed profile (deselect with -m 'not slow')",
}


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


def bench_size(config) -> str:
    size = config.getoption("--bench-size") or os.environ.get("BENCH_SIZE") or "default"
    if size not in PROFILES:
        raise pytest.UsageError(f"BENCH_SIZE={size!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return size


def pytest_configure(config):
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    config._nptbench_size = bench_size(config)
    config._nptbench_notices = []
    if not backends.missing_package("torch"):
        backends.configure_torch()
    from nptbench import baseline  # --benchmark-compare uses results/<this machine's fingerprint>/

    try:
        config.pluginmanager.register(baseline.PytestBaseline(config, config._nptbench_size), "nptbench-baseline")
    except baseline.BaselineError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config):
    gpu = backends.missing_cuda() or ", ".join(g["name"] for g in machine.gpu_info())
    return [f"nptbench: profile {config._nptbench_size}; GPU: {gpu}"]


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
        reason = gpu.oom_skip_reason(exc, pyfuncitem.config._nptbench_size)
        if reason is None:
            raise
        gpu.release_after_oom(exc)
    pytest.skip(reason)  # outside the except block: the skip must not keep the OOM (and its frames) alive


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["nptbench"] = {**machine.describe(), "profile": config._nptbench_size}
    from nptbench import roofline  # the session's ceilings (measured once, only when benchmarks run)

    roofline.update_machine_info(config, machine_info)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    from nptbench import report, roofline

    roofline.update_json(config, output_json)  # achieved GFLOP/s, GB/s and % of ceiling per benchmark
    report.add_skips(config, output_json)  # skipped benchmarks and their reasons, for the report


def pytest_terminal_summary(terminalreporter, config):
    for notice in dict.fromkeys(config._nptbench_notices):
        terminalreporter.write_line(f"nptbench: {notice}", yellow=True)
    from nptbench import roofline

    roofline.terminal_summary(terminalreporter, config)


# --- session fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def size(pytestconfig) -> str:
    """The size profile of this session: smoke, default or seed."""
    return pytestconfig._nptbench_size


@pytest.fixture(scope="session")
def mnist(pytestconfig, size):
    """MNIST (real where found or downloadable, else synthetic with a notice); see fixtures/mnist.py.

    The smoke profile and NPTBENCH_OFFLINE=1 never touch the network.
    """
    from fixtures.mnist import load_mnist

    offline = size == "smoke" or os.environ.get("NPTBENCH_OFFLINE", "0") not in ("", "0")
    data = load_mnist(download_ok=not offline)
    if data.notice:
        pytestconfig._nptbench_notices.append(data.notice)
    return data


@pytest.fixture
def measure(benchmark, pytestconfig):
    """``measure(fn, args, record=..., reference=...)``: warm up, time, check, record (nptbench.harness)."""
    return functools.partial(harness.measure, benchmark, cold_l2=pytestconfig.getoption("--gpu-cold-l2"))
