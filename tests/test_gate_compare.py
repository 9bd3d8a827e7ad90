"""compare against a saved baseline set (the gate): between-run verdicts, the thin-baseline answer, a set
that mixes profiles or conditions refused, the machine's drift named, partial runs and runs without
yardsticks said, every verdict as JSON."""
from __future__ import annotations

import json

import numpy as np

from nptbench.tools import compare
from nptbench.schema.status import Status
from tests.test_compare import fake_run, rounds, write

STATE = {"copy_gbps": 14.0, "python_mips": 2.8, "hash_mbps": 790.0}


def run(level: float, i: int, profile: str = "smoke", state: dict | None = STATE, env: dict | None = None,
        bound: str = "compute") -> dict:
    """A saved run of two benchmarks at ``level`` times their usual speed, made at minute ``i``."""
    r = fake_run({"mem": ("exp", rounds(1e-3 * level, seed=i)), "cpu": ("exp", rounds(2e-3 * level, seed=100 + i))},
                 when=f"2026-01-01T00:{i:02d}:00", profile=profile)
    for b in r["benchmarks"]:
        b["stats"]["min"] = float(np.min(b["stats"]["data"]))
        b["extra_info"]["bound"] = "memory" if b["extra_info"]["variant"] == "mem" else bound
    if state is not None:
        r["machine_info"]["nptbench"]["yardsticks"] = {"start": dict(state), "end": dict(state)}
    if env:
        r["machine_info"]["nptbench"]["threads"] = {"env": env}
    return r


def baseline_set(folder, k: int = 5) -> None:
    for i in range(k):  # the machine moves a little from run to run
        write(folder / f"{i}.json", run(1.0 + 0.03 * np.sin(i), i))


def test_a_thin_baseline_cannot_judge_and_says_how_to_build_one(tmp_path, capsys):
    baseline_set(tmp_path / "base", k=2)
    new = write(tmp_path / "new.json", run(3.0, 30))
    assert compare.main([str(tmp_path / "base"), str(new)]) == Status.CANNOT_JUDGE
    out, err = capsys.readouterr()
    assert "**cannot judge**: BASE holds 2 runs" in out and "python -m nptbench baseline" in out
    assert "slower" not in [line.split(" | ")[-2] for line in out.splitlines() if line.startswith("| test_x")]
    assert "cannot judge between-run noise" in err
    assert compare.main([str(tmp_path / "base"), str(new), "--json"]) == Status.CANNOT_JUDGE
    verdicts = json.loads(capsys.readouterr().out)["pairings"][0]["verdicts"]
    assert {v["verdict"] for v in verdicts} == {"cannot judge"} and all(v["min_detectable"] is None for v in verdicts)
    assert verdicts[0]["ratio"] > 2.5 and verdicts[0]["basis"] == "thin baseline: 2 BASE runs"


def test_a_set_judges_between_runs_and_says_what_it_could_detect(tmp_path, capsys):
    baseline_set(tmp_path / "base")
    same = write(tmp_path / "same.json", run(1.01, 30))
    assert compare.main([str(tmp_path / "base"), str(same)]) == Status.PASSED
    capsys.readouterr()
    slower = write(tmp_path / "slower.json", run(1.6, 31))
    assert compare.main([str(tmp_path / "base"), str(slower), "--json"]) == Status.FAILED
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == 1 and doc["pairings"][0]["statistic"] == "both"
    rows = {v["benchmark"]: v for v in doc["pairings"][0]["verdicts"]}
    row = rows["test_x[cpu]"]
    assert row["verdict"] == "slower" and 1.5 < row["ratio"] < 1.7 and row["low"] < row["ratio"] < row["high"]
    assert row["basis"] == "between runs: 5 BASE runs, 1 NEW" and row["runs"] == {"base": 5, "new": 1}
    assert 1.1 <= row["min_detectable"] < 1.5 and row["p"] < 0.01 and row["min_effect"] == 0.1


def test_a_set_that_mixes_profiles_or_conditions_is_refused_naming_the_files(tmp_path, capsys):
    baseline_set(tmp_path / "base", k=3)
    odd = write(tmp_path / "base" / "odd.json", run(1.0, 9, profile="default"))
    new = write(tmp_path / "new.json", run(1.0, 30))
    assert compare.main([str(tmp_path / "base"), str(new)]) == Status.BAD_INPUT
    err = capsys.readouterr().err
    assert "BASE mixes profiles" in err and str(odd) in err and str(tmp_path / "base" / "0.json") in err
    assert "--profile keeps one" in err
    assert compare.main([str(tmp_path / "base"), str(new), "--profile", "smoke"]) == Status.PASSED
    odd.unlink()
    write(tmp_path / "base" / "pinned.json", run(1.0, 9, env={"OMP_NUM_THREADS": "1"}))
    assert compare.main([str(tmp_path / "base"), str(new)]) == Status.BAD_INPUT
    assert "BASE mixes conditions" in capsys.readouterr().err


def test_the_machine_drift_is_named_with_the_rows_it_could_explain(tmp_path, capsys):
    baseline_set(tmp_path / "base")
    # the copy bandwidth halved, and only the memory-bound row is slower: it could be the machine
    slow_memory = run(1.0, 30, state={**STATE, "copy_gbps": 7.0})
    slow_memory["benchmarks"][0]["stats"].update(
        {k: v * 2 for k, v in slow_memory["benchmarks"][0]["stats"].items() if k in ("min", "median")})
    slow_memory["benchmarks"][0]["stats"]["data"] = [t * 2 for t in slow_memory["benchmarks"][0]["stats"]["data"]]
    new = write(tmp_path / "new.json", slow_memory)
    assert compare.main([str(tmp_path / "base"), str(new)]) == Status.CANNOT_JUDGE
    out, err = capsys.readouterr()
    assert "machine state: copy_gbps 0.50x of BASE's (14 -> 7), beyond its own noise" in out
    assert "the memory-bound rows (1), of which called slower: test_x[mem]" in out
    assert "the machine? copy_gbps slower" in out and "could be explained" not in err
    assert "cannot judge: 1 benchmark(s) read slower, and the machine's own state drifted" in err
    # the compute-bound row slower too: no yardstick explains it, the gate fails
    both = run(2.0, 31, state={**STATE, "copy_gbps": 7.0})
    new = write(tmp_path / "both.json", both)
    assert compare.main([str(tmp_path / "base"), str(new)]) == Status.FAILED


def test_runs_without_yardsticks_or_cut_short_say_so(tmp_path, capsys):
    baseline_set(tmp_path / "base")
    partial = run(1.0, 30, state=None)
    partial["nptbench_session"] = {"exitstatus": 2, "collected": 5, "failed": [], "not_run": ["a", "b", "c"],
                                   "complete": False}
    del partial["benchmarks"][0]["stats"]["data"]  # and one benchmark saved without raw rounds
    new = write(tmp_path / "new.json", partial)
    assert compare.main([str(tmp_path / "base"), str(new)]) == Status.PASSED
    out = capsys.readouterr().out
    assert f"**NEW run {new} is partial**: session ended with exit status 2 (interrupted): 3 of 5 benchmarks did not run" in out
    assert "machine state: no yardsticks in NEW (1 of 1 runs)" in out
    assert "test_x[mem]" in out  # still judged, on its saved times


def test_a_set_made_in_one_stretch_says_so_and_one_spread_over_time_does_not(tmp_path, capsys):
    baseline_set(tmp_path / "base")  # five runs a minute apart
    new = write(tmp_path / "new.json", run(1.0, 50))
    assert compare.main([str(tmp_path / "base"), str(new)]) == Status.PASSED
    out = capsys.readouterr().out
    assert "BASE's 5 runs were made over 4 min (2026-01-01 00:00 to 2026-01-01 00:04" in out
    assert "**A short set**" in out
    assert compare.main([str(tmp_path / "base"), str(new), "--json"]) == Status.PASSED
    span = json.loads(capsys.readouterr().out)["pairings"][0]["base_span"]
    assert span["minutes"] == 4 and span["median_gap"] == 1 and span["short"] is True
    for i in range(5):  # the same runs, made an hour apart
        write(tmp_path / "wide" / f"{i}.json", {**run(1.0 + 0.03 * np.sin(i), i), "datetime": f"2026-01-01T{i:02d}:00:00"})
    assert compare.main([str(tmp_path / "wide"), str(new)]) == Status.PASSED
    out = capsys.readouterr().out
    assert "BASE's 5 runs were made over 240 min" in out and "a run every 60.0 min" in out
    assert "short set" not in out


def test_a_row_called_slower_stays_slower_only_when_a_second_timing_says_so_too(tmp_path, capsys):
    baseline_set(tmp_path / "base")
    slow = write(tmp_path / "slow.json", run(1.6, 31))
    spell_over = write(tmp_path / "second-fast.json", run(1.0, 32))  # the slow stretch did not last
    still = write(tmp_path / "second-slow.json", run(1.6, 33))
    assert compare.main([str(tmp_path / "base"), str(slow), "--confirm", str(spell_over)]) == Status.PASSED
    out = capsys.readouterr().out
    assert "not confirmed: a second timing read 1.00x" in out and "confirmed 0;" in out
    assert compare.main([str(tmp_path / "base"), str(slow), "--confirm", str(still), "--json"]) == Status.FAILED
    doc = json.loads(capsys.readouterr().out)
    rows = {v["benchmark"]: v for v in doc["pairings"][0]["verdicts"]}
    assert rows["test_x[cpu]"]["verdict"] == "slower" and rows["test_x[cpu]"]["confirmed"] is True
    assert "confirmed: a second timing read 1.5" in rows["test_x[cpu]"]["note"] and "(slower)" in rows["test_x[cpu]"]["note"]
    assert doc["pairings"][0]["second_timing"] == [str(still)]
    assert compare.main([str(tmp_path / "base"), str(slow), "--json"]) == Status.FAILED  # without it: as before
    assert json.loads(capsys.readouterr().out)["pairings"][0]["verdicts"][0]["confirmed"] is None


def test_the_second_timing_keeps_the_sessions_timing_options():
    from nptbench.plugin import timing_options

    args = ["bench", "-k", "x", "--benchmark-max-time", "0.05", "--benchmark-min-rounds=7", "--gpu-cold-l2",
            "--benchmark-warmup", "--benchmark-compare-fail=median:10%", "--benchmark-warmup-iterations", "3"]
    assert timing_options(args) == ["--benchmark-max-time", "0.05", "--benchmark-min-rounds=7", "--gpu-cold-l2",
                                    "--benchmark-warmup", "--benchmark-warmup-iterations", "3"]
    assert timing_options(["--benchmark-warmup", "on"]) == ["--benchmark-warmup", "on"]


def test_the_second_timing_loads_the_sessions_plugins():
    """A plugin given with -p can change the code under benchmark (scripts/instr_mutations.py does): the
    second timing must run it too, or it times other code and clears a real slowdown."""
    from nptbench.plugin import timing_options

    args = ["bench", "-p", "scripts.instr_mutations", "-k", "x", "-pno:randomly", "--benchmark-max-time=0.1"]
    assert timing_options(args) == ["-p", "scripts.instr_mutations", "-pno:randomly", "--benchmark-max-time=0.1"]
    assert timing_options(["bench", "--pdb", "-x"]) == []


def test_a_second_timing_of_some_rows_is_judged_in_the_whole_sessions_family(tmp_path, capsys):
    baseline_set(tmp_path / "base")
    slow = write(tmp_path / "slow.json", run(1.6, 31))
    part = run(1.0, 32)
    part["benchmarks"] = [b for b in part["benchmarks"] if b["name"] == "test_x[cpu]"]
    second = write(tmp_path / "second.json", part)
    assert compare.main([str(tmp_path / "base"), str(slow), "--confirm", str(second), "--json"]) == Status.FAILED
    rows = {v["benchmark"]: v for v in json.loads(capsys.readouterr().out)["pairings"][0]["verdicts"]}
    assert rows["test_x[cpu]"]["verdict"] == "uncertain" and rows["test_x[cpu]"]["confirmed"] is False
    assert rows["test_x[mem]"]["verdict"] == "slower" and rows["test_x[mem]"]["confirmed"] is None
    assert "no second timing of it to confirm" in rows["test_x[mem]"]["note"]
    assert rows["test_x[cpu]"]["runs"] == {"base": 5, "new": 1}


def test_a_row_named_with_its_conditions_gets_its_second_timing(tmp_path, capsys):
    baseline_set(tmp_path / "base")
    pinned = {"OMP_NUM_THREADS": "1"}
    slow = write(tmp_path / "slow.json", run(1.6, 31, env=pinned))
    second = write(tmp_path / "second.json", run(1.0, 32, env=pinned))
    assert compare.main([str(tmp_path / "base"), str(slow), "--across-conditions", "--confirm", str(second),
                         "--json"]) == Status.PASSED
    rows = json.loads(capsys.readouterr().out)["pairings"][0]["verdicts"]
    assert {v["benchmark"] for v in rows} == {"test_x[cpu] [OMP_NUM_THREADS=1]", "test_x[mem] [OMP_NUM_THREADS=1]"}
    for v in rows:  # matched to its benchmark, not to the name with its conditions
        assert v["confirmed"] is False and "not confirmed: a second timing read" in v["note"] and "(same)" in v["note"]
        assert v["verdict"] == "uncertain"
