"""The configuration matrix (nptbench.env.configs, ``python -m nptbench matrix``): whether each
configuration applies, said with evidence or a reason; the table; and, marked ``configs`` (a CI step of its
own), every CPU benchmark of the smoke profile under each configuration that applies on this CPU."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nptbench.env import blas, configs
from nptbench.env.machine import usable_cores
from nptbench.tools import matrix

ROOT = Path(__file__).resolve().parents[1]
BY_NAME = {c.name: c for c in configs.all_configs()}


def test_the_matrix_holds_every_configuration_the_issue_names():
    names = set(BY_NAME)
    assert {"threads-1", f"threads-{usable_cores()}", "openblas-sse", "openblas-avx2", "aten-default",
            "aten-avx2", "mkl-avx2", "mkl-sse4_2"} <= names
    sse = BY_NAME["openblas-sse"].environ({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1", "X": "1"})
    assert sse["OPENBLAS_CORETYPE"] == "Prescott" and "OPENBLAS_L2_SIZE" not in sse and sse["X"] == "1"
    assert all(BY_NAME["threads-1"].env[k] == "1" for k in configs.THREAD_VARIABLES)


def native(numpy_kernels="SkylakeX", torch_name="mkl", torch_kernels=None, capability="AVX512"):
    """What nptbench.env.blas.probe answers, made by hand."""
    return {"numpy": {"name": "scipy-openblas", "kernels": numpy_kernels, "evidence": "e"},
            "torch": {"name": torch_name, "kernels": torch_kernels, "evidence": "MKL verbose header: h"},
            "torch_capability": capability}


def test_a_configuration_that_cannot_apply_says_why():
    ok, why = configs.applies(BY_NAME["openblas-avx2"], native(numpy_kernels="Haswell"))
    assert not ok and "(Haswell) are not wider than AVX2" in why
    ok, why = configs.applies(BY_NAME["aten-avx2"], native(capability="AVX2"))
    assert not ok and "nothing wider than AVX2" in why
    ok, why = configs.applies(BY_NAME["mkl-avx2"], native())
    assert not ok and "MKL names no instruction set on this CPU" in why
    ok, why = configs.applies(BY_NAME["mkl-avx2"], native(torch_name="openblas"))
    assert not ok and "neither numpy nor torch uses MKL" in why
    ok, why = configs.applies(BY_NAME["aten-default"], native(capability=None))
    assert not ok and "torch is not importable" in why


def test_a_probe_that_fails_under_a_knob_is_a_reason_not_a_traceback(monkeypatch):
    """A library that refuses a knob and stops the probe's process (say OpenBLAS on a CPU without that core
    type): the configuration does not apply, and the probe's words say why."""
    def refuse(env=None, timeout=120):
        raise RuntimeError("the BLAS probe failed: unknown core type")

    monkeypatch.setattr(blas, "probe", refuse)
    ok, why = configs.applies(BY_NAME["openblas-sse"], native())
    assert not ok and why == "OPENBLAS_CORETYPE=Prescott: the BLAS probe failed: unknown core type"
    ok, why = configs.applies(BY_NAME["aten-default"], native())
    assert not ok and why.startswith("ATEN_CPU_CAPABILITY=default: the BLAS probe failed")


def test_the_table_shows_the_worst_error_per_family_and_the_reasons():
    lines = [
        {"nodeid": "bench/test_matmul.py::test_matmul[a]", "when": "call", "outcome": "passed", "rel_err": 1e-7, "rtol": 1e-6},
        {"nodeid": "bench/test_matmul.py::test_matmul[b]", "when": "call", "outcome": "passed", "rel_err": 5e-7, "rtol": 1e-6},
        {"nodeid": "bench/test_training.py::test_twolayer[c]", "when": "call", "outcome": "failed", "rel_err": 1e-8,
         "rtol": 1e-6, "max_pointwise_rel_err": 3e-6, "pointwise_rtol": 1e-6, "reason": "AssertionError: off"},
        {"nodeid": "bench/test_ops.py::test_reduce[d]", "when": "setup", "outcome": "skipped", "reason": "no GPU"},
    ]
    ran = matrix.Outcome(BY_NAME["threads-1"], True, "pinned", 1, lines)
    worst = ran.worst_by_family()
    assert {f: (c.ratio, c.name, c.kind) for f, c in worst.items()} == {
        "matmul": (pytest.approx(0.5), "test_matmul[b]", "rel_err"),
        "training": (pytest.approx(3.0), "test_twolayer[c]", "max_pointwise_rel_err")}
    assert (ran.count("passed"), ran.count("failed"), ran.count("skipped")) == (2, 1, 1)
    text = matrix.render([ran, matrix.Outcome(BY_NAME["mkl-avx2"], False, "MKL names nothing")])
    assert "threads-1" in text and "0.500" in text and "3.000" in text
    assert "does not apply: MKL names nothing" in text


def test_unknown_configuration_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        matrix.main(["--only", "nope"])
    assert exc.value.code == 2 and "unknown configuration nope" in capsys.readouterr().err


_NATIVE = {}


def _native():
    if not _NATIVE:
        _NATIVE.update(blas.probe())
    return _NATIVE


@pytest.mark.configs
@pytest.mark.parametrize("name", list(BY_NAME))
def test_every_cpu_benchmark_passes_under_each_configuration(name, monkeypatch):
    """The smoke profile, timing off, under the configuration; skipped with the reason where it does not
    apply on this CPU."""
    monkeypatch.chdir(ROOT)
    ok, why = configs.applies(BY_NAME[name], _native())
    if not ok:
        pytest.skip(f"{name} does not apply here: {why}")
    env = {**os.environ, "NPTBENCH_OFFLINE": "1"}
    out = matrix.run_config(BY_NAME[name], _native(), "smoke", sys.executable, [], base_env=env)
    assert out.applies and out.lines, out.tail
    assert not out.failures(), "\n".join(f"{f['nodeid']}: {f.get('reason')}" for f in out.failures())
    assert out.returncode == 0, out.tail
    assert out.count("passed") >= 40  # every CPU benchmark ran (GPU rows deselected)
