"""``python -m nptbench doctor``: one screen of what this machine can run, agreeing with the suite's skips."""
from __future__ import annotations

import pytest

from nptbench.env import backends
from nptbench.tools import doctor
from tests.test_options import numba_cuda_that_cannot_compile  # noqa: F401 (a fixture)

ROW_STACK = "AttributeError: module 'numpy' has no attribute 'row_stack'"
FAKE_BLAS = {"kernels": {"numpy": {"name": "scipy-openblas", "kernels": "Haswell", "evidence": "OpenBLAS core type"},
                         "torch": {"name": "mkl", "kernels": None, "evidence": "MKL verbose header: generic"}},
             "pools": {"openblas:libopenblas.so": 2}}


@pytest.fixture
def quick_blas(monkeypatch):
    """The BLAS probe starts a Python process; the tests of the rest of the screen do without it."""
    monkeypatch.setattr(doctor, "_blas", lambda: FAKE_BLAS)


def test_the_real_screen_says_what_runs_and_why_not(capsys, tmp_path):
    assert doctor.main(["--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nptbench doctor: ") and "can run:" in out
    for words in ("versions  numpy ", "BLAS      numpy: ", "MNIST     ", f"baseline  none in {tmp_path}/", "threads"):
        assert words in out, out
    cuda = backends.missing_cuda()
    assert (f"no   torch GPU benchmarks (-m gpu): {cuda}" if cuda else "yes  torch GPU benchmarks") in out


def test_require_gpu_fails_where_a_gpu_path_is_broken(capsys, quick_blas, tmp_path):
    report = doctor.examine(tmp_path)
    broken = doctor.broken_gpu_paths(report)
    rc = doctor.main(["--require-gpu", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == (1 if broken else 0)
    if broken:
        assert err.strip() == f"nptbench doctor: --require-gpu: broken GPU paths: {', '.join(broken)}"


def test_a_numba_cuda_that_cannot_compile_is_named_with_its_error(numba_cuda_that_cannot_compile, capsys,
                                                                  quick_blas, tmp_path):
    rc = doctor.main(["--require-gpu", "--results", str(tmp_path)])
    report = doctor.examine(tmp_path)
    out, err = capsys.readouterr()
    assert rc == 1 and "numba-cuda" in err
    assert ("no   numba CUDA benchmarks (-m numba_cuda): numba's CUDA target cannot compile and launch a kernel "
            f"here ({ROW_STACK})") in out, out
    compile_path = next(p for p in report["paths"] if p.startswith("compile-"))
    assert report["paths"][compile_path].startswith("numba-cuda cannot compile for sm_") and ROW_STACK in out
    assert {"numba-cuda", compile_path} <= set(doctor.broken_gpu_paths(report))


def test_json_and_baselines_of_this_fingerprint(monkeypatch, capsys, quick_blas, tmp_path):
    import json

    fp = doctor.machine.fingerprint()
    (tmp_path / fp).mkdir()
    (tmp_path / fp / "default-0001_x.json").write_text("{}")
    (tmp_path / fp / "ceilings.json").write_text("{}")
    assert doctor.main(["--json", "--results", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fingerprint"] == fp and data["results"]["baselines"] == ["default-0001_x.json"]
    assert data["results"]["ceilings"] == str(tmp_path / fp / "ceilings.json")
    assert data["paths"]["cpu"] is None and data["blas"] == FAKE_BLAS
