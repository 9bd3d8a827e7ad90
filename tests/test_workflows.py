"""The CI workflows in .github/workflows/ parse, and run what the suite needs: the smoke tests on a hosted
CPU runner, the GPU benchmarks on a self-hosted `gpu` runner with a saved, uploaded, compared run."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml (the `test` extra) reads the workflows")

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(wf, dict) and wf.get("name") and wf.get("jobs"), name
    assert wf.get("on", wf.get(True)), f"{name} has no trigger"  # YAML 1.1 reads a bare `on` as True
    return wf


def steps(wf: dict) -> list[dict]:
    [job] = wf["jobs"].values()
    return job["steps"]


def scripts(wf: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(wf))


def test_every_workflow_parses_and_its_shell_is_valid():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"cpu.yml", "gpu.yml"}
    for f in files:
        for step in steps(load(f.name)):
            assert "uses" in step or "run" in step, f"{f.name}: a step does nothing: {step}"
            if "run" in step:
                check = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True, text=True)
                assert check.returncode == 0, f"{f.name}: {step.get('name')}: {check.stderr}"


def test_cpu_workflow_runs_the_smoke_tests_with_cpu_torch():
    wf = load("cpu.yml")
    [job] = wf["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    script = scripts(wf)
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in script
    [cmd] = [line for line in script.splitlines() if "pytest" in line]
    args = shlex.split(cmd)
    assert args[:5] == ["python", "-m", "pytest", "tests", "bench"]
    assert "--benchmark-disable" in args and args[args.index("--bench-size") + 1] == "smoke"


def test_gpu_workflow_runs_saves_uploads_and_compares():
    wf = load("gpu.yml")
    [job] = wf["jobs"].values()
    assert "gpu" in job["runs-on"] and "self-hosted" in job["runs-on"]
    install = next(s["run"] for s in steps(wf) if "pip install" in s.get("run", ""))
    assert ".[test,cuda]" in install  # numba's CUDA target comes with the cuda extra
    names = [s.get("run", "") for s in steps(wf)]
    doctor_at = next(i for i, run in enumerate(names) if "nptbench doctor --require-gpu" in run)
    assert doctor_at < next(i for i, run in enumerate(names) if "pytest bench" in run)  # the doctor runs first
    assert steps(wf)[doctor_at].get("shell") == "bash"
    script = " ".join(scripts(wf).replace("\\\n", " ").split())
    assert 'pytest bench -m "gpu or numba_cuda" --require-gpu' in script
    assert "--benchmark-save-data" in script and "--benchmark-save=" in script
    uploads = [s for s in steps(wf) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["path"].startswith("results/runs")
    compare_step = next(s for s in steps(wf) if "nptbench compare" in s.get("run", ""))
    assert compare_step.get("shell") == "bash"  # pipefail: a slower verdict fails the job through the tee
    assert "baseline_set(fingerprint(), 'default')" in compare_step["run"]
    assert "PIPESTATUS[0]" in compare_step["run"] and '"$status" -eq 4' in compare_step["run"]  # 4 warns, 1 fails
    from nptbench.env.machine import fingerprint  # what the step calls exists
    from nptbench.schema.runs import baseline_set

    assert callable(baseline_set) and callable(fingerprint)


def test_nightly_gpu_gate_grows_a_set_that_outlives_the_checkout():
    wf = load("nightly-gpu.yml")
    on = wf.get("on", wf.get(True))
    assert on["schedule"] and "workflow_dispatch" in on
    [job] = wf["jobs"].values()
    assert "gpu" in job["runs-on"] and "self-hosted" in job["runs-on"]
    assert "NPTBENCH_STORE" in job["env"]["STORE"]  # a folder outside the workspace, which checkout cleans
    runs = [s.get("run", "") for s in steps(wf)]
    doctor_at = next(i for i, run in enumerate(runs) if "nptbench doctor --require-gpu" in run)
    gate_at = next(i for i, run in enumerate(runs) if "pytest bench" in run)
    assert doctor_at < gate_at
    gate = shlex.split(runs[gate_at].split("\n", 1)[1].replace("\\\n", " "))
    # the set is found below the storage's parent (nptbench.schema.layout.results_root): the store
    assert '--benchmark-storage=file://$STORE/runs' in gate and "--baseline-grow" in gate
    assert any(a.startswith("--benchmark-compare-fail=") for a in gate) and "--require-gpu" in gate
    assert any("nptbench history" in r and "--fail-on-new-step" in r for r in runs[gate_at:])
    assert any("nptbench history" in r and "--out" in r for r in runs[gate_at:])
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in steps(wf))
    from nptbench.schema.layout import results_root  # the store's set is where the gate looks

    assert results_root("file:///srv/store/runs", Path("/w"), Path("/w")) == Path("/srv/store")
