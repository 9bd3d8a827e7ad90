"""``python -m nptbench baseline``: several separate runs, each promoted into results/<fingerprint>/.

The runs are made by a stand-in for ``python -m pytest`` (a script given as ``--python``) that saves a run
the way pytest-benchmark does (``STORAGE/<machine>/NNNN_<name>.json``, raw rounds, the plugin's
``machine_info.nptbench``), logs what it was asked, and fails on the call named by ``FAKE_FAIL_AT``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nptbench.schema import layout, runs
from nptbench.schema.status import Status
from nptbench.tools import baseline, session

FP = runs.make_fingerprint("Fake CPU", 2, [])

FAKE_PYTEST = '''#!{python}
import json, os, random, sys
from pathlib import Path
args = sys.argv[1:]
storage = next(a.split("file://", 1)[1] for a in args if a.startswith("--benchmark-storage="))
name = next(a.split("=", 1)[1] for a in args if a.startswith("--benchmark-save="))
size = next((a.split("=", 1)[1] for a in args if a.startswith("--bench-size=")), "default")
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"name": name, "args": args}}) + "\\n")
call = len(open(os.environ["FAKE_LOG"]).readlines())
failing = str(call) == os.environ.get("FAKE_FAIL_AT")
if failing and not os.environ.get("FAKE_FAIL_CHECK"):
    print("E   boom"); sys.exit(1)
rng = random.Random(call)
times = [1e-3 * rng.lognormvariate(0, 0.03) for _ in range(40)]
bench = {{"name": "test_x[v]", "fullname": "bench/test_x.py::test_x[v]", "group": "exp",
         "extra_info": {{"experiment": "exp", "variant": "v", "backend": "numpy", "device": "cpu",
                        "dtype": "float32", "shape": [[4, 4]]}},
         "stats": {{"median": sorted(times)[20], "min": min(times), "mean": sum(times) / len(times),
                   "data": times}}}}
run = {{"machine_info": {{"nptbench": {{"cpu_model": "Fake CPU", "cpu_cores": 2, "gpus": [], "profile": size,
                                      "versions": {{}}}}}},
       "datetime": "2026-01-01T00:00:%02d" % call, "benchmarks": [bench]}}
out = Path(storage) / "Fake-CPU"
out.mkdir(parents=True, exist_ok=True)
num = len(list(out.glob("[0-9][0-9][0-9][0-9]_*.json"))) + 1
(out / ("%04d_%s.json" % (num, name))).write_text(json.dumps(run))
if failing:  # the run is saved, one benchmark failed its check: the plugin's --check-log line
    check_log = next(a.split("=", 1)[1] for a in args if a.startswith("--check-log="))
    with open(check_log, "a") as f:
        f.write(json.dumps({{"nodeid": "bench/test_x.py::test_x[v]", "when": "call", "outcome": "failed",
                            "reason": os.environ["FAKE_FAIL_CHECK"]}}) + "\\n")
    sys.exit(1)
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A stand-in Python; returns (its path, the log of its calls)."""
    script = tmp_path / "fake-python"
    script.write_text(FAKE_PYTEST.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("FAKE_FAIL_AT", raising=False)
    return str(script), log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def promoted(results: Path) -> list[Path]:
    return layout.baseline_files(FP, results)


def test_three_runs_are_three_promoted_baselines_with_pauses_between(fake, tmp_path, capsys, monkeypatch):
    python, log = fake
    waits = []
    monkeypatch.setattr(baseline, "pause", waits.append)
    results = tmp_path / "results"
    rc = baseline.main(["--runs", "3", "--pause", "0", "--bench-size", "smoke", "--results", str(results),
                        "--python", python, "--", "bench/test_x.py", "-k", "v"])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    made = calls(log)
    assert len(made) == 3 and len({c["name"] for c in made}) == 3  # a name of its own per run
    assert all(c["args"][:3] == ["-m", "pytest", "bench/test_x.py"] and "--bench-size=smoke" in c["args"]
               and "--benchmark-save-data" in c["args"] for c in made)
    storages = {a for c in made for a in c["args"] if a.startswith("--benchmark-storage=")}
    assert len(storages) == 1 and f"{layout.runs_dir(results).resolve()}/baseline-" in storages.pop()
    assert waits == [0, 0]  # between runs, not after the last
    files = promoted(results)
    assert len(files) == 3 and all(f.name.startswith("smoke-") for f in files)
    assert [runs.load(f).profile for f in files] == ["smoke"] * 3
    assert len(runs.baseline_set(FP, "smoke", results)) == 3  # what the gate will read
    for i in (1, 2, 3):
        assert f"[{i}/3] run {i} done in" in err
    assert "about" in err and "left (runs and pauses)" in err and "estimate: the whole set" in err
    assert err.count("promoted -> ") == 3
    assert f"the smoke baseline set of {FP} now holds 3 runs" in out
    assert "--bench-size=smoke" in out and "--benchmark-compare-fail=median:10%" in out

    # a second set adds to the first: new names, nothing overwritten
    capsys.readouterr()
    assert baseline.main(["--runs", "2", "--pause", "0", "--bench-size", "smoke", "--results", str(results),
                          "--python", python, "--out", str(tmp_path / "second")]) == 0
    assert len(promoted(results)) == 5 and "now holds 5 runs" in capsys.readouterr().out


def test_a_failing_run_stops_with_2_and_promotes_nothing_more(fake, tmp_path, capsys, monkeypatch):
    python, log = fake
    monkeypatch.setenv("FAKE_FAIL_AT", "2")
    results = tmp_path / "results"
    rc = baseline.main(["--runs", "4", "--pause", "0", "--results", str(results), "--python", python])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(calls(log)) == 2  # nothing runs after the failure
    assert "E   boom" in err and "run 2/4 failed with exit status 1" in err
    files = promoted(results)
    assert len(files) == 1 and "the 1 run promoted before it stay" in err and str(files[0]) in err


def test_a_benchmark_failing_its_check_is_named_with_its_reason_and_its_run_kept(fake, tmp_path, capsys,
                                                                               monkeypatch):
    python, log = fake
    monkeypatch.setenv("FAKE_FAIL_AT", "2")
    monkeypatch.setenv("FAKE_FAIL_CHECK", "AssertionError: exp/v is wrong: rel_err 0.002 > tolerance 6e-06")
    results, out = tmp_path / "results", tmp_path / "out"
    rc = baseline.main(["--runs", "3", "--pause", "0", "--results", str(results), "--python", python,
                        "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == Status.FAILED == 1
    assert len(calls(log)) == 2  # the set stops at the failure
    assert "FAILED bench/test_x.py::test_x[v]: AssertionError: exp/v is wrong: rel_err 0.002 > tolerance 6e-06" in err
    kept = session.saved_run(out, calls(log)[1]["name"])
    assert f"the failed run is kept, not promoted: {kept}" in err and kept.is_file()
    assert "add -- bench --deselect 'bench/test_x.py::test_x[v]'" in err
    assert len(promoted(results)) == 1 and "the 1 run promoted before it stay" in err


@pytest.mark.parametrize("when", ["between runs", "during a run"])
def test_an_interrupted_baseline_keeps_what_it_promoted_and_promotes_nothing_half_done(fake, tmp_path, capsys,
                                                                                     monkeypatch, when):
    python, log = fake
    results = tmp_path / "results"
    if when == "between runs":
        def pause(_seconds):
            raise KeyboardInterrupt
        monkeypatch.setattr(baseline, "pause", pause)
    else:
        real = session.subprocess.run
        count = []

        def run(*args, **kwargs):
            count.append(1)
            if len(count) == 2:
                real(*args, **kwargs)  # the second run is saved, then the user presses Ctrl-C
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        monkeypatch.setattr(session.subprocess, "run", run)
    rc = baseline.main(["--runs", "3", "--pause", "1", "--results", str(results), "--python", python])
    err = capsys.readouterr().err
    assert rc == Status.INTERRUPTED == 130
    files = promoted(results)
    assert len(files) == 1 and "interrupted: the run in progress is not promoted" in err and str(files[0]) in err
    assert len(runs.baseline_set(FP, "default", results)) == 1  # the set reads as before: nothing half-written


def test_no_promote_saves_the_runs_and_promotes_nothing(fake, tmp_path, capsys):
    python, log = fake
    results = tmp_path / "results"
    rc = baseline.main(["--runs", "2", "--pause", "0", "--results", str(results), "--python", python,
                        "--no-promote"])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert promoted(results) == [] and not layout.machine_dir(FP, results).exists()
    assert len(list(layout.runs_dir(results).rglob("*.json"))) == 2
    assert "none promoted" in out and "now holds 0 runs" in out


def test_a_non_empty_out_folder_is_refused(fake, tmp_path, capsys):
    python, log = fake
    out = tmp_path / "used"
    out.mkdir()
    (out / "old.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        baseline.main(["--runs", "1", "--pause", "0", "--results", str(tmp_path / "results"), "--python", python,
                       "--out", str(out)])
    assert exc.value.code == 2 and "is not empty" in capsys.readouterr().err
    assert calls(log) == []


def test_dry_run_prints_the_commands_and_runs_nothing(fake, tmp_path, capsys):
    python, log = fake
    results = tmp_path / "results"
    assert baseline.main(["--runs", "2", "--pause", "30", "--results", str(results), "--python", python,
                          "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count(f"{python} -m pytest bench ") == 2 and out.count("sleep 30") == 1
    assert calls(log) == [] and not results.exists()


def test_a_run_that_saves_nothing_is_an_error(tmp_path, capsys):
    script = tmp_path / "silent-python"
    script.write_text(f"#!{sys.executable}\n")  # exits 0, saves nothing (no benchmark collected)
    script.chmod(0o755)
    rc = baseline.main(["--runs", "2", "--pause", "0", "--results", str(tmp_path / "results"),
                        "--python", str(script)])
    err = capsys.readouterr().err
    assert rc == 2 and "saved 0 files" in err and "no run was promoted" in err


def test_a_set_too_thin_for_the_gate_says_so(fake, tmp_path, capsys):
    python, log = fake
    assert baseline.main(["--runs", "2", "--pause", "0", "--results", str(tmp_path / "results"),
                          "--python", python]) == 0
    out = capsys.readouterr().out
    assert "now holds 2 runs" in out and "fewer than 3 runs" in out


def test_threads_are_pinned_in_every_run_and_in_the_gate_command(capsys):
    """--threads N sets the thread-count variables for every run and prints the gate's command with them."""
    from nptbench.tools import baseline

    assert baseline.main(["--runs", "2", "--pause", "0", "--threads", "1", "--dry-run", "--", "bench", "-k", "x"]) == 0
    out = capsys.readouterr().out
    assert out.count("OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 ") == 2
    line = baseline.gate_command(None, baseline.layout.RESULTS, ["bench", "-k", "x"], threads=1)
    assert line.startswith("OMP_NUM_THREADS=1 ") and line.endswith("--benchmark-compare-fail=median:10%")
