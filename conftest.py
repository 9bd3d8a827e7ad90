"""Registers the suite's pytest plugin, nptbench/plugin.py, which holds every option, marker, hook and
session fixture. This file stays at the checkout's root: pytest then puts the root on sys.path, where the
bench files and the ``mnist`` fixture find ``fixtures/``."""
pytest_plugins = ["nptbench.plugin"]
