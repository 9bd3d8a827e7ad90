"""``python -m nptbench ab``: interleaved runs of two setups, pinned threads, saved runs, compare's verdict.

The runs here are made by a stand-in for ``python -m pytest`` (a script named as side A's or B's Python)
that writes a saved run the way pytest-benchmark does, with round times scaled by ``FAKE_FACTOR``, and
logs what it was asked. The real protocol on real benchmarks is measured in results/ab.md.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nptbench.schema.record import THREAD_VARIABLES
from nptbench.tools import ab

FAKE_PYTEST = '''#!{python}
import json, os, sys
from pathlib import Path
import numpy as np
args = sys.argv[1:]
storage = next(a.split("file://", 1)[1] for a in args if a.startswith("--benchmark-storage="))
name = next(a.split("=", 1)[1] for a in args if a.startswith("--benchmark-save="))
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"name": name, "cwd": os.getcwd(), "args": args,
                          "env": {{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                "NPTBENCH_CEILINGS", "SIDE_ONLY")}}}}) + "\\n")
if os.environ.get("FAKE_FAIL"):
    print("E   boom"); sys.exit(1)
factor = float(os.environ.get("FAKE_FACTOR", "1"))
seed = len(open(os.environ["FAKE_LOG"]).readlines())
times = list(1e-3 * factor * np.random.default_rng(seed).lognormal(0, 0.03, 60))
bench = {{"name": "test_x[v]", "fullname": "bench/test_x.py::test_x[v]", "group": "exp",
         "extra_info": {{"experiment": "exp", "variant": "v", "backend": "numpy", "device": "cpu",
                        "dtype": "float32", "shape": [[4, 4]]}},
         "stats": {{"median": float(np.median(times)), "min": min(times), "mean": float(np.mean(times)),
                   "data": times}}}}
run = {{"machine_info": {{"nptbench": {{"cpu_model": "Fake CPU", "cpu_cores": 2, "gpus": [], "profile": "smoke",
                                      "versions": {{}}}}}}, "datetime": "2026-01-01T00:00:%02d" % seed,
       "benchmarks": [bench]}}
out = Path(storage) / "Fake-CPU"
out.mkdir(parents=True, exist_ok=True)
(out / ("%04d_%s.json" % (seed, name))).write_text(json.dumps(run))
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A stand-in Python for both sides; returns (its path, the log of its calls)."""
    script = tmp_path / "fake-python"
    script.write_text(FAKE_PYTEST.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_LOG", str(log))
    for var in THREAD_VARIABLES:
        monkeypatch.setenv(var, "7")  # whatever the caller had: pinned over it unless --no-pin
    return str(script), log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_a_interleaves_pins_threads_and_calls_nothing_slower(fake, tmp_path, capsys):
    python, log = fake
    rc = ab.main(["--a-python", python, "--b-python", python, "-n", "3", "--out", str(tmp_path / "ab"),
                  "--config", str(tmp_path / "none.toml"), "--", "bench/test_x.py", "-k", "v"])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    made = calls(log)
    assert [c["name"] for c in made] == ["a1", "b1", "b2", "a2", "a3", "b3"]  # A B, B A, A B
    assert all(c["env"]["OMP_NUM_THREADS"] == "1" and c["env"]["OPENBLAS_NUM_THREADS"] == "1" for c in made)
    assert all(c["env"]["NPTBENCH_CEILINGS"] == "off" for c in made)
    assert all(c["args"][:3] == ["-m", "pytest", "bench/test_x.py"] and "--benchmark-save-data" in c["args"]
               for c in made)
    assert len(list((tmp_path / "ab" / "A").rglob("*.json"))) == 3 == len(list((tmp_path / "ab" / "B").rglob("*.json")))
    assert "[6/6] B run 3 of 3" in err and "3 and 3 runs" in out and "slower" not in out.split("Verdicts:")[0]


def test_a_slower_side_is_called_slower_and_exits_1(fake, tmp_path, capsys):
    python, log = fake
    rc = ab.main(["--a-python", python, "--b-python", python, "-n", "3", "--b-env", "FAKE_FACTOR=2.5",
                  "--b-env", "SIDE_ONLY=b", "--threads", "2", "--out", str(tmp_path / "ab"),
                  "--config", str(tmp_path / "none.toml")])
    out, err = capsys.readouterr()
    assert rc == 1 and "**slower**" in out, out
    assert "compared across conditions" not in err  # the same threads on both sides
    made = calls(log)
    assert [c["env"]["SIDE_ONLY"] for c in made] == [None, "b", "b", None, None, "b"]  # on its side only
    assert all(c["env"]["OMP_NUM_THREADS"] == "2" for c in made)
    assert made[0]["args"][2] == "bench"  # no pytest arguments: the whole suite


def test_no_pin_leaves_threads_and_a_failed_run_stops_with_status_2(fake, tmp_path, capsys, monkeypatch):
    python, log = fake
    assert ab.main(["--a-python", python, "--b-python", python, "-n", "1", "--no-pin",
                    "--out", str(tmp_path / "ok"), "--config", str(tmp_path / "none.toml")]) == 0
    assert all(c["env"]["OMP_NUM_THREADS"] == "7" for c in calls(log))
    capsys.readouterr()
    rc = ab.main(["--a-python", python, "--b-python", python, "--b-env", "FAKE_FAIL=1",
                  "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert rc == 2 and "E   boom" in err and "run 2/6 (side B) failed with exit status 1" in err


def test_a_revision_runs_from_its_own_checkout(fake, tmp_path, capsys, monkeypatch):
    python, log = fake
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)
    git("init", "-q")
    (repo / "f.txt").write_text("x")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.chdir(repo)
    assert ab.main(["--a-python", python, "--b-python", python, "--a-rev", "HEAD", "-n", "1",
                    "--out", str(tmp_path / "ab"), "--config", str(tmp_path / "none.toml")]) == 0
    a, b = calls(log)
    assert b["cwd"] == str(repo) and a["cwd"] != str(repo) and "A-rev-HEAD" in a["cwd"]
    assert not Path(a["cwd"]).exists()  # the worktree is removed afterwards
    assert "fake-python, rev HEAD" in capsys.readouterr().err


def test_sides_with_other_thread_settings_are_compared_across_that_condition(fake, tmp_path, capsys):
    python, log = fake
    rc = ab.main(["--a-python", python, "--b-python", python, "-n", "2", "--threads", "2",
                  "--b-env", "OMP_NUM_THREADS=1", "--out", str(tmp_path / "ab"), "--config", str(tmp_path / "none.toml")])
    out, err = capsys.readouterr()
    assert rc == 0 and "the sides differ in OMP_NUM_THREADS: compared across conditions" in err
    assert [c["env"]["OMP_NUM_THREADS"] for c in calls(log)] == ["2", "1", "1", "2"]


def test_a_used_out_folder_is_refused(fake, tmp_path, capsys):
    python, _ = fake
    (tmp_path / "ab" / "A").mkdir(parents=True)
    (tmp_path / "ab" / "A" / "old.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        ab.main(["--a-python", python, "--b-python", python, "--out", str(tmp_path / "ab")])
    assert exc.value.code == 2 and "is not empty" in capsys.readouterr().err
