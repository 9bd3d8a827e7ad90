"""scripts/gpu-run.sh, the prepared GPU measurement (it needs a GPU to run; here it is read, parsed and
dry-run): its steps, and that the selection of its CPU step collects the CPU sides of the GPU claims of
seeds 000/001/003/004 and nothing it does not need."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-run.sh"


def dry_run(out: Path) -> dict[str, list[str]]:
    """step name -> command, as the script's --dry-run prints them."""
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", str(out)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr
    steps = re.findall(r"^=== \[\d+ s\] ([\w-]+): (.*)$", proc.stdout, flags=re.M)
    return {name: shlex.split(cmd) for name, cmd in steps}


def test_script_parses_and_dry_runs_every_step_without_touching_anything(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    steps = dry_run(tmp_path / "out")
    assert list(steps) == ["preflight", "unit-tests", "default", "seed", "seed-cpu-gpu", "default-cold-l2",
                           "fractions-default", "fractions-seed", "fractions-default-cold-l2"]
    assert not (tmp_path / "out").exists()
    for name in ("default", "seed", "seed-cpu-gpu", "default-cold-l2"):
        cmd = steps[name]
        assert "--require-gpu" in cmd and any(a.startswith("--benchmark-json=") and a.endswith(f"_{name}.json")
                                              for a in cmd), cmd
    assert "--gpu-cold-l2" in steps["default-cold-l2"]
    assert ["--bench-size", "seed"] == steps["seed"][steps["seed"].index("--bench-size"):][:2]


def test_the_cpu_step_collects_the_cpu_sides_of_the_gpu_claims(tmp_path):
    cmd = dry_run(tmp_path / "out")["seed-cpu-gpu"]
    cmd = [a for a in cmd if not a.startswith("--benchmark-json=") and a != "--require-gpu"]
    proc = subprocess.run([*cmd, "--collect-only", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NPTBENCH_OFFLINE": "1"})
    ids = set(re.findall(r"\[([\w.-]+)\]$", proc.stdout, flags=re.M))
    for needed in ("numpy-abt-float32", "torch-cuda-copyback-abt-float32", "torch-square-float32",
                   "torch-cuda-square-float32", "numpy-small-matmul-loop-float64", "torch-add-f32-big-add-float32",
                   "numba-cuda-mnist-full-float32", "torch-cuda-mnist-full-float32"):
        assert needed in ids, (needed, proc.stdout[-2000:])
    assert not any("autograd" in i or "as-seed" in i for i in ids), sorted(ids)
