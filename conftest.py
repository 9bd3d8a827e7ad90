"""Registers the suite's pytest plugin, nptbench/plugin.py, which holds every option, marker, hook and
session fixture but one: ``mnist``, defined here because it reads the checkout's ``fixtures/`` (not part of
the installed package). This file stays at the checkout's root: pytest then puts the root on sys.path,
where the bench files and this fixture find ``fixtures/``."""
import os

import pytest

pytest_plugins = ["nptbench.plugin"]


@pytest.fixture(scope="session")
def mnist(pytestconfig, size):
    """MNIST (real where found or downloadable, else synthetic with a notice); see fixtures/mnist.py.

    The smoke profile and NPTBENCH_OFFLINE=1 never touch the network.
    """
    from fixtures.mnist import load_mnist
    from nptbench import plugin

    offline = size == "smoke" or os.environ.get("NPTBENCH_OFFLINE", "0") not in ("", "0")
    data = load_mnist(download_ok=not offline)
    if data.notice:
        plugin.profile(pytestconfig).notices.append(data.notice)
    return data
