"""The report, built from a small run saved here (smoke size, a few matmul variants), alone and merged
with a copy from a second machine; and the skips and roofline fields the plugin writes into a run."""
from __future__ import annotations

import builtins
import copy
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from nptbench.schema.runs import Run
from nptbench.analysis import claims as cl
from nptbench.tools import report
from nptbench.env.backends import missing_cuda

ROOT = Path(__file__).resolve().parents[1]
#: Two small experiments, a few fast variants (no Python triple loops), and the GPU ones so that a CPU-only
#: run skips them.
SELECTION = "(mnist5 or abt) and (numpy or einsum or broadcast or cuda or (torch and not loop and not dot))"


@pytest.fixture(scope="module")
def run_json(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    out = tmp / "run.json"
    env = {**os.environ, "NPTBENCH_OFFLINE": "1", "NPTBENCH_CALIBRATION": "quick"}
    env.pop("NPTBENCH_CEILINGS", None)
    cmd = [sys.executable, "-m", "pytest", "bench/test_matmul.py", "--bench-size", "smoke", "-k", SELECTION,
           "-q", "-p", "no:cacheprovider", f"--benchmark-json={out}", f"--benchmark-storage=file://{tmp}/runs",
           "--benchmark-max-time=0.01", "--benchmark-min-rounds=3", "--benchmark-warmup=off"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the saved run failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert "nptbench roofline" in proc.stdout and "% ceiling" in proc.stdout  # the printed roofline table
    return out


@pytest.fixture(scope="module")
def run(run_json) -> dict:
    return json.loads(run_json.read_text())


def second_machine(run: dict, slower: float) -> dict:
    """The same run as if measured on another machine whose CPU is ``slower`` times slower."""
    other = copy.deepcopy(run)
    mi = other["machine_info"]
    mi["node"] = "other-box"
    mi["nptbench"]["cpu_model"] = "Other CPU @ 1.0GHz"
    mi["nptbench"]["ceilings"]["cpu"]["matmul_gflops"]["float32"] /= slower
    for b in other["benchmarks"]:
        for k in ("min", "max", "mean", "median", "q1", "q3"):
            b["stats"][k] *= slower if b["extra_info"]["variant"] == "numpy" else 1
    return other


def test_run_holds_ceilings_roofline_fields_and_skips(run):
    ceilings = run["machine_info"]["nptbench"]["ceilings"]
    assert ceilings["cpu"]["matmul_gflops"]["float32"] > 0 and ceilings["cpu"]["copy_gbps"] > 0
    assert ceilings["scale"] == "quick" and ceilings["source"] == "quick"  # its results folder (tmp) stores none
    cpu = [b["extra_info"] for b in run["benchmarks"] if b["extra_info"]["device"] == "cpu"]
    assert cpu and all(r["pct_of_ceiling"] > 0 and r["achieved_gflops"] > 0 and r["bound"] for r in cpu)
    skipped = run["nptbench_skipped"]
    if missing_cuda():
        assert {(s["experiment"], s["variant"]) for s in skipped} >= {("abt", "torch-cuda"), ("abt", "torch-cuda-copyback")}
        assert all(s["reason"] and s["device"] == "cuda" for s in skipped)


def test_report_from_one_run(run_json, tmp_path):
    assert report.main([str(run_json), "--out", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    for heading in ("## Machines and versions", "## Roofline ceilings", "## Claims ledger", "### abt",
                    "### mnist5", "## Skipped benchmarks"):
        assert heading in md
    claims, _ = cl.load()
    assert all(f"**{c.id}**" in md for c in claims)
    # 000-numpy-vs-torch-cpu: both variants ran, so it has a ratio and a verdict other than "not measurable".
    row = next(line for line in md.splitlines() if "**000-numpy-vs-torch-cpu**" in line)
    assert not re.search(r"\*\*not measurable here\*\*", row) and re.search(r"\| [\d.,]+x \|", row)
    if missing_cuda():
        row = next(line for line in md.splitlines() if "**000-gpu-copyback**" in line)
        assert "**not measurable here**" in row and "skipped: no CUDA device" in row
    svgs = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert svgs == ["claims.svg", "exp-abt.svg", "exp-mnist5.svg", "roofline-M1-smoke.svg"]
    for img in svgs:
        ET.fromstring((tmp_path / "img" / img).read_text())  # well-formed
        assert f"img/{img}" in md
    page = (tmp_path / "report.html").read_text()
    # Self-contained: every image inline, none read from a file.
    assert page.count("<svg ") == len(svgs) and "src='img/" not in page
    assert "<table>" in page and "nptbench report" in page


def test_report_merged_from_two_machines(run, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run))
    b.write_text(json.dumps(second_machine(run, slower=4.0)))
    runs = report.gather([a, b])
    assert [m.label for m in runs.machines.values()] == ["M1", "M2"]
    assert report.contexts(runs) == ["M1/smoke", "M2/smoke"]
    written = report.build(runs, tmp_path / "out")
    md = written["markdown"].read_text()
    assert "other-box" in md and "Other CPU @ 1.0GHz" in md
    # One ledger row per machine for a claim both measured; numpy is 4x slower on M2, so its ratio is 4x smaller.
    rows = cl.evaluate(cl.load()[0], report.times_by_context(runs), 1.5)
    r1, r2 = (next(r for r in rows if r.claim.id == "000-numpy-vs-torch-cpu" and r.context == c)
              for c in ("M1/smoke", "M2/smoke"))
    assert r1.ours / r2.ours == pytest.approx(4.0)
    assert sum(line.startswith("| **000-numpy-vs-torch-cpu**") for line in md.splitlines()) == 2
    assert "roofline-M2-smoke.svg" in md and "| context |" in md


def test_two_hosts_of_the_same_hardware_are_one_machine(run, tmp_path):
    """Machines are hardware fingerprints, as for baselines and compare: a new VM of the same kind (another
    host name) adds its host, not a machine."""
    other_host = copy.deepcopy(run)
    other_host["machine_info"]["node"] = "another-vm"
    other_host["datetime"] = "2999-01-01T00:00:00+00:00"
    (tmp_path / "a.json").write_text(json.dumps(run))
    (tmp_path / "b.json").write_text(json.dumps(other_host))
    runs = report.gather([tmp_path])
    (m,) = runs.machines.values()
    assert m.key == Run(Path('x'), run).fingerprint and m.nodes == [run["machine_info"]["node"], "another-vm"]
    md = report.build(runs, tmp_path / "out")["markdown"].read_text()
    assert f"`{m.key}`" in md and "another-vm" in md


def test_same_machine_twice_pools_both_runs(run, tmp_path):
    later = copy.deepcopy(run)
    later["datetime"] = "2999-01-01T00:00:00+00:00"
    for bench in later["benchmarks"]:
        bench["stats"]["median"] *= 2
        bench["stats"]["data"] = [2 * t for t in bench["stats"]["data"]]
    (tmp_path / "early.json").write_text(json.dumps(run))
    (tmp_path / "later.json").write_text(json.dumps(later))
    runs = report.gather([tmp_path])  # a directory of runs
    assert len(runs.machines) == 1 and runs.pooled == len(run["benchmarks"])
    early = run["benchmarks"][0]
    r = runs.results[next(k for k in runs.results if k[2] == early["extra_info"]["variant"])]
    assert r.runs == 2 and r.rounds == 2 * early["stats"]["rounds"]  # neither run dropped
    assert r.median == pytest.approx(float(np.median(early["stats"]["data"] + [2 * t for t in early["stats"]["data"]])))
    assert "early.json" in r.run and "later.json" in r.run


def test_plots_need_no_plotting_library(run_json, tmp_path, monkeypatch):
    """The README's first command installs no plotting library: the report draws its charts all the same,
    and --no-plots writes the tables alone."""
    real_import = builtins.__import__

    def no_plotting(name, *args, **kwargs):
        if name.split(".")[0] in ("matplotlib", "plotly", "PIL"):
            raise ImportError(f"no {name} here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_plotting)
    assert report.main([str(run_json), "--out", str(tmp_path / "a")]) == 0
    assert len(list((tmp_path / "a" / "img").glob("*.svg"))) == 4
    assert report.main([str(run_json), "--out", str(tmp_path / "b"), "--no-plots"]) == 0
    assert "## Claims ledger" in (tmp_path / "b" / "report.md").read_text()
    assert not (tmp_path / "b" / "img").exists()


def test_unreadable_runs_are_refused_clearly(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert report.main([str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not valid JSON" in err  # the message shared with compare and promote
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(report.ReportError, match="not a pytest-benchmark run"):
        report.gather([other])
    with pytest.raises(report.ReportError, match="no such file"):
        report.gather([tmp_path / "missing.json"])


# --- GPU results: device time first, the timer floor, cold L2, evidence, the kernel-time check ----------

def gpu_bench(experiment, variant, host_s, device=None, nbytes=None, **extra) -> dict:
    rec = {"experiment": experiment, "variant": variant, "backend": "torch", "device": "cuda" if device else "cpu",
           "dtype": "float32", "shape": [[4, 4]], "flops": None, "bytes": nbytes, "dataset": "random", **extra}
    if device:
        rec["device_time_s"] = device
    return {"name": f"t[{variant}]", "fullname": f"b.py::t[{experiment}-{variant}]", "extra_info": rec,
            "stats": {"median": host_s, "rounds": 5, "data": [host_s] * 5}}


def test_gpu_results_lead_with_device_time_and_say_what_else_they_show(tmp_path):
    info = {"cpu_model": "Box CPU", "cpu_cores": 16, "gpus": [{"name": "Fake GPU"}], "profile": "seed",
            "timer_floor": {"host_s": 20e-6, "device_s": 2e-6, "calls": 200, "timer": "fake"}}
    benches = [gpu_bench("abt", "numpy", 0.100),
               gpu_bench("abt", "torch-cuda", 0.0025, device=0.002),
               gpu_bench("abt", "torch-cuda-copyback", 0.150, device=0.125),
               gpu_bench("d2h", "cpu", 0.340, device=0.320, nbytes=400_000_000),
               gpu_bench("precision", "fp32", 0.040, device=0.038, kernel_time_s=0.039, kernel_time_rounds=25,
                         device_time_rounds=29),
               gpu_bench("precision", "fp32", 0.041, device=0.039, gpu_cold_l2=True)]
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"machine_info": {"nptbench": info}, "datetime": "2026-01-01T00:00:00",
                                "benchmarks": benches}))
    runs = report.gather([path])
    assert runs.pooled == 0  # the cold-L2 result is in a context of its own, not pooled with the warm one
    assert {k[0] for k in runs.results} == {"M1/seed", "M1/seed/cold-L2"}
    md = report.build(runs, tmp_path / "out", plots=False)["markdown"].read_text()
    # the ledger reads the GPU side by its device time, with the host ratio and both figures beside
    row = next(line for line in md.splitlines() if line.startswith("| **000-gpu-copyback**"))
    assert "| 0.8x | 0.667x | `abt/numpy` 100 ms; `abt/torch-cuda-copyback` 125 ms device (150 ms host) |" in row
    assert "50x (`numpy` → `torch-cuda`)" in row  # the fair ratio, on device time
    assert "Evidence for **000-gpu-copyback** in M1/seed: `d2h/cpu` 320 ms device (340 ms host), 1.25 GB/s of 400 MB." in md
    # experiment tables: device median first, host median beside
    assert "| `torch-cuda` | torch | cuda | float32 | 2 ms | device | 2.5 ms |" in md
    assert "| 20 µs / 2 µs |" in md and "M1: timer floor: 20.0 µs host, 2.0 µs device" in md
    assert "checked on 1 result(s) that have both, broken by 1. **Flagged:** M1/seed `precision/fp32`: " \
           "kernel_time_s 39 ms > device_time_s 38 ms (+2.6 %)" in md


def test_the_first_screen_shows_the_claims_this_session_tested(run):
    """The table printed after a timed session (nptbench.tools.report.screen): each claim whose benchmarks
    ran, with the seed's ratio, ours and the ledger's verdict; the others in one line with the reason."""
    from nptbench.tools.report import screen

    lines = screen.claims_lines(run)
    medians = {(b["extra_info"]["experiment"], b["extra_info"]["variant"]): b["stats"]["median"]
               for b in run["benchmarks"]}
    claims, tolerance = cl.load()
    claim = next(c for c in claims if c.id == "000-numpy-vs-torch-cpu")
    ours = medians[claim.baseline] / medians[claim.contender]  # how many times faster the contender is
    row = next(line for line in lines if line.startswith("000-numpy-vs-torch-cpu "))
    assert row.split()[1:4] == [cl.fmt_seed_ratio(claim.seed_ratio), cl.fmt_ratio(ours),
                                cl.verdict(claim.seed_ratio, ours, tolerance)]
    untested = next(line for line in lines if line.startswith("not testable in this session"))
    assert "001-big-add-numpy-vs-torch" in untested and "did not run in this session" in untested  # deselected
    if missing_cuda():
        assert "000-gpu-copyback" in untested and "no CUDA device" in untested
    assert screen.claims_lines({**run, "benchmarks": []}) == []  # nothing measured: no table


def test_a_skipped_row_without_an_experiment_parameter_is_recorded_with_its_experiment():
    from types import SimpleNamespace

    from nptbench.plugin import experiment_of

    row = SimpleNamespace(id="torch-cuda-nosync", dtype="float32")
    item = SimpleNamespace(callspec=SimpleNamespace(id="torch-cuda-nosync-big-add-float32"))
    assert experiment_of(item, row) == "big-add"
    assert experiment_of(SimpleNamespace(callspec=SimpleNamespace(id="other-id")), row) is None
    assert experiment_of(item, None) is None


def test_count_runs_add_instructions_per_useful_operation(run, run_json, tmp_path):
    """A count run given beside the timed one adds, per experiment, each variant's instructions per call and
    per flop, leanest first; a count run alone is refused in one line."""
    counted = copy.deepcopy(run)
    counted["machine_info"]["nptbench"]["instrument"] = "instructions"
    for k, b in enumerate(counted["benchmarks"]):
        b["stats"] = {}
        b["extra_info"]["instructions_per_call"] = 1000.0 * (k + 1)
    (tmp_path / "counts.json").write_text(json.dumps(counted))
    assert report.main([str(run_json), str(tmp_path / "counts.json"), "--out", str(tmp_path / "out"),
                        "--no-plots"]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Instructions per useful operation" in md
    first = counted["benchmarks"][0]["extra_info"]
    row = next(line for line in md.splitlines() if line.startswith(f"| {first['experiment']} | {first['variant']} |"))
    assert "| 1,000 |" in row and (f"| {1000 / first['flops']:.3g} |" in row if first.get("flops") else True)
    assert report.main([str(tmp_path / "counts.json"), "--out", str(tmp_path / "alone")]) == 2
