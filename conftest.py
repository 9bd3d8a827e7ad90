"""Options, markers, machine info and session fixtures of the nptbench suite: all registered here."""
from __future__ import annotations

import functools
import os

import pytest

from nptbench import backends, harness, machine

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


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["nptbench"] = {**machine.describe(), "profile": config._nptbench_size}


def pytest_terminal_summary(terminalreporter, config):
    for notice in dict.fromkeys(config._nptbench_notices):
        terminalreporter.write_line(f"nptbench: {notice}", yellow=True)


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
def measure(benchmark):
    """``measure(fn, args, record=..., reference=...)``: warm up, time, check, record (nptbench.harness)."""
    return functools.partial(harness.measure, benchmark)
