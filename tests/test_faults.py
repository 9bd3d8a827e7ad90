"""The over-time tools under faults: a corrupt or foreign file in a baseline set, two writers growing one set
at once, a results folder that cannot be written, a history of one run or of runs without a date, a bisect
revision that does not build. Each ends with one line naming the file or value and a documented exit
status, and nothing already saved is lost or corrupted. (An interrupted ``baseline``: tests/test_baseline_set.py.)"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nptbench.schema import layout, runs
from nptbench.schema.runs import RunError
from nptbench.schema.status import Status
from nptbench.tools import baseline, bisect as bisect_cmd, history, promote

ROOT = Path(__file__).resolve().parents[1]
CPU = "Test CPU"
FP = runs.make_fingerprint(CPU, 2, [])


def run_dict(cpu=CPU, when="2026-01-01T00:00:00", median=1e-3, profile="smoke") -> dict:
    stats = {"median": median, "min": median, "mean": median, "max": median, "stddev": 0.0, "data": [median] * 5}
    return {"machine_info": {"nptbench": {"cpu_model": cpu, "cpu_cores": 2, "gpus": [], "profile": profile}},
            "datetime": when, "benchmarks": [{"name": "t", "fullname": "b.py::t", "stats": stats,
                                              "extra_info": {"experiment": "e", "variant": "v"}}]}


def write_run(path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run_dict(**kw)))
    return path


# --- the set folder ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("content,why", [
    ('{"machine_info": {"nptbench": {', "corrupt, not valid JSON"),  # truncated mid-write
    ('{"hello": "world"}', "corrupt, not a pytest-benchmark run"),
    ("[1, 2, 3]", "corrupt, not a pytest-benchmark run"),
])
def test_a_corrupt_file_in_the_set_is_named_and_nothing_else_changes(tmp_path, content, why):
    good = write_run(layout.machine_dir(FP, tmp_path) / "smoke-0001_a.json")
    bad = layout.machine_dir(FP, tmp_path) / "smoke-0002_b.json"
    bad.write_text(content)
    before = {p: p.read_bytes() for p in (good, bad)}
    with pytest.raises(RunError) as exc:
        runs.baseline_set(FP, "smoke", tmp_path)
    assert str(exc.value).startswith(f"{bad}: {why}") and "\n" not in str(exc.value)
    assert {p: p.read_bytes() for p in (good, bad)} == before  # read, never repaired or removed


def test_a_run_of_another_machine_in_the_set_is_refused_by_name(tmp_path):
    write_run(layout.machine_dir(FP, tmp_path) / "smoke-0001_a.json")
    foreign = write_run(layout.machine_dir(FP, tmp_path) / "smoke-0002_b.json", cpu="Other CPU")
    with pytest.raises(RunError, match="measured on other-cpu_2cores_nogpu, not on this machine"):
        runs.baseline_set(FP, "smoke", tmp_path)
    assert str(foreign) in str(pytest.raises(RunError, runs.baseline_set, FP, "smoke", tmp_path).value)


def test_runs_of_another_profile_or_conditions_in_the_set_are_left_out_not_judged(tmp_path):
    folder = layout.machine_dir(FP, tmp_path)
    write_run(folder / "smoke-0001_a.json")
    write_run(folder / "default-0001_b.json", profile="default")
    pinned = run_dict(when="2026-01-02T00:00:00")
    pinned["machine_info"]["nptbench"]["threads"] = {"env": {"OMP_NUM_THREADS": "1"}}
    (folder / "smoke-0002_c.json").write_text(json.dumps(pinned))
    assert [p.name for p in runs.baseline_set(FP, "smoke", tmp_path, conditions=())] == ["smoke-0001_a.json"]


@pytest.mark.sessions
def test_the_gate_stops_on_a_corrupt_set_file_with_one_line_naming_it(tmp_path):
    """A real gate session: pytest's usage error (exit 4), the file named, no benchmark run, nothing saved."""
    from nptbench.env import machine

    fp = machine.fingerprint()
    bad = layout.machine_dir(fp, tmp_path) / "smoke-0001_truncated.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"benchmarks": [')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_matmul.py", "-k", "numpy-mnist5", "--bench-size=smoke", "-q",
         "-p", "no:cacheprovider", f"--benchmark-storage=file://{tmp_path / 'runs'}", "--benchmark-compare-fail=median:10%"],
        cwd=ROOT, env={**os.environ, "NPTBENCH_OFFLINE": "1", "NPTBENCH_CEILINGS": "off"}, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"{bad}: corrupt, not valid JSON" in proc.stderr
    assert not (tmp_path / "runs").exists() and bad.read_text() == '{"benchmarks": ['


# --- two writers at once -----------------------------------------------------------------------------------

def _grow(args):
    """One gate session's --baseline-grow: promote its run under the name the gate gives it (to the second)."""
    results, i, barrier = args
    run = runs.Run(Path(f"session {i}"), run_dict(when="2026-01-01T00:00:00", median=1e-3 * (1 + i / 100)))
    barrier.wait()  # every writer at the same moment
    return str(promote.promote_run(run, "gate-20260101_000000.json", Path(results), unique=True))


def _read_while_writing(args):
    """A gate reading the set while others grow it: it must never see half a run."""
    results, stop = args
    seen = 0
    while not stop.is_set():
        for path in runs.baseline_set(FP, "smoke", Path(results)):  # raises on a half-written file
            seen += 1
    return seen


def test_writers_growing_one_set_at_once_lose_nothing_and_overwrite_nothing(tmp_path):
    writers = 8
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier, stop = manager.Barrier(writers), manager.Event()
        with ctx.Pool(writers + 1) as pool:
            reader = pool.apply_async(_read_while_writing, ((str(tmp_path), stop),))
            written = pool.map(_grow, [(str(tmp_path), i, barrier) for i in range(writers)])
            stop.set()
            reader.get(timeout=60)  # re-raises a RunError the reader met
    assert len(set(written)) == writers  # every session joined, each under a name of its own
    found = runs.baseline_set(FP, "smoke", tmp_path)
    assert sorted(map(str, found)) == sorted(written)
    medians = sorted(runs.load(p).benchmarks[0]["stats"]["median"] for p in found)
    assert medians == pytest.approx(sorted(1e-3 * (1 + i / 100) for i in range(writers)))  # none overwritten
    assert not [p for p in layout.machine_dir(FP, tmp_path).iterdir() if p.suffix != ".json"]  # no temporaries left


class _Quiet:
    def info(self, *args, **kwargs):
        pass


def _save(args):
    """One pytest session's save at its end, into a storage others save into in the same second."""
    from pytest_benchmark.storage.file import FileStorage

    from nptbench.plugin import save_exclusively

    folder, i, barrier = args
    storage = FileStorage(folder, _Quiet(), "Linux-CPython-3.11-64bit")
    barrier.wait()
    return str(save_exclusively(storage, {"session": i}, "b68f669_20261207_071223"))


def test_sessions_saving_into_one_storage_in_the_same_second_each_keep_their_run(tmp_path):
    """pytest-benchmark numbers a run by listing the folder and asserts its name is free: two sessions
    that ended in the same second crashed the second (the CI failure of the test below)."""
    writers = 6
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(writers)
        with ctx.Pool(writers) as pool:
            written = pool.map(_save, [(str(tmp_path), i, barrier) for i in range(writers)])
    names = sorted(Path(w).name for w in written)
    assert names == [f"{n:04}_b68f669_20261207_071223.json" for n in range(1, writers + 1)]
    assert sorted(json.loads(Path(w).read_text())["session"] for w in written) == list(range(writers))
    assert not [p for p in Path(written[0]).parent.iterdir() if p.suffix != ".json"]  # no temporaries left


def test_a_save_is_byte_for_byte_what_pytest_benchmark_writes(tmp_path):
    from pytest_benchmark.storage.file import FileStorage

    from nptbench.plugin import save_exclusively

    data = {"benchmarks": [{"name": "x", "stats": {"median": 1e-3}}], "text": "caf\u00e9"}
    FileStorage(tmp_path / "theirs", _Quiet()).save(data, "run")
    ours = save_exclusively(FileStorage(tmp_path / "ours", _Quiet()), data, "run")
    assert ours.name == "0001_run.json"
    assert ours.read_bytes() == (tmp_path / "theirs" / "0001_run.json").read_bytes()


def test_a_run_the_file_system_refuses_is_one_line_and_the_session_fails(tmp_path, monkeypatch):
    import tempfile
    from types import SimpleNamespace

    from pytest_benchmark.storage.file import FileStorage

    from nptbench import plugin

    said = []
    logger = SimpleNamespace(info=lambda *a, **k: None, error=said.append)
    storage = FileStorage(tmp_path, logger)
    session = SimpleNamespace(config=SimpleNamespace(_benchmarksession=SimpleNamespace(storage=storage)),
                              exitstatus=pytest.ExitCode.OK)
    plugin.pytest_sessionstart(session)

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    storage.save({"benchmarks": []}, "run")
    assert said == [f"nptbench: this session's run was not saved: {tmp_path}: cannot write a run there "
                    "(No space left on device)"]
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED


def test_promote_never_overwrites_without_unique(tmp_path):
    run = runs.Run(Path("r"), run_dict())
    first = promote.promote_run(run, "x.json", tmp_path)
    with pytest.raises(RunError, match="already exists; baselines are never overwritten"):
        promote.promote_run(runs.Run(Path("r2"), run_dict(median=2e-3)), "x.json", tmp_path)
    assert runs.load(first).benchmarks[0]["stats"]["median"] == 1e-3
    assert oct(first.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # as open() makes files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- a results folder that cannot be written ---------------------------------------------------------------

def test_promote_into_a_folder_it_cannot_write_is_one_line(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(RunError, match=r"cannot write a run there \(Permission denied\)"):
        promote.promote_run(runs.Run(Path("r"), run_dict()), "x.json", tmp_path)


def test_baseline_refuses_a_results_folder_it_cannot_write_before_running_anything(tmp_path, capsys):
    if os.geteuid() == 0:
        # root writes through permission bits: a file stands where the folder should be instead
        results = tmp_path / "results"
        results.write_text("not a folder")
    else:
        results = tmp_path / "results"
        results.mkdir()
        results.chmod(0o500)
    ran = tmp_path / "ran"
    script = tmp_path / "python"
    script.write_text(f"#!{sys.executable}\nopen({str(ran)!r}, 'w').close()\n")
    script.chmod(0o755)
    rc = baseline.main(["--runs", "2", "--pause", "0", "--results", str(results), "--python", str(script),
                        "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == Status.BAD_INPUT == 2 and f"{results}: cannot write there" in err and "nothing was run" in err
    assert not ran.exists()


# --- history ---------------------------------------------------------------------------------------------

def test_history_of_one_run_says_it_is_too_short(tmp_path, capsys):
    write_run(tmp_path / "one.json")
    assert history.main([str(tmp_path), "--quiet"]) == Status.PASSED
    out = capsys.readouterr().out
    assert "1 series too short to hold a step" in out and "no steps" in out


@pytest.mark.parametrize("when,why", [(None, "has no datetime"), ("last tuesday", "its datetime 'last tuesday' is not a date")])
def test_history_refuses_a_run_without_a_date_naming_it(tmp_path, capsys, when, why):
    for i in range(6):
        write_run(tmp_path / f"r{i}.json", when=f"2026-01-0{i + 1}T00:00:00")
    undated = run_dict()
    if when is None:
        undated.pop("datetime")
    else:
        undated["datetime"] = when
    (tmp_path / "r9.json").write_text(json.dumps(undated))
    assert history.main([str(tmp_path), "--quiet"]) == Status.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err == f"nptbench history: {tmp_path / 'r9.json'}: {why}, so it has no place in a history " \
                  "(pytest-benchmark saves one with every run)"


# --- bisect ----------------------------------------------------------------------------------------------

def test_a_revision_that_does_not_build_is_a_broken_rung_named_with_its_error(tmp_path):
    repo = tmp_path / "repo"
    (repo / "nptbench").mkdir(parents=True)
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (repo / "nptbench" / "__init__.py").write_text("")
    (repo / "nptbench" / "plugin.py").write_text("X = 1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "builds")
    (repo / "nptbench" / "plugin.py").write_text("def broken(:\n")
    git("commit", "-q", "-am", "does not build")
    good, bad = bisect_cmd.rev_ladder(repo, "HEAD~1", "HEAD")
    rung = bisect_cmd.rev_rung(repo, bad, tmp_path / "cache")
    rung.make_ready()
    assert rung.broken and rung.broken.startswith(f"{bad[:12]} does not build: SyntaxError")
    ok = bisect_cmd.rev_rung(repo, good, tmp_path / "cache")
    ok.make_ready()
    assert ok.ready and not ok.broken


def test_bisect_of_a_version_not_on_the_index_is_one_line_with_the_nearest(capsys):
    with pytest.raises(bisect_cmd.BisectError) as exc:
        bisect_cmd.version_ladder("torch", "2.12.9", "2.15.0", ["2.12.0", "2.12.1", "2.13.0", "2.15.0"])
    assert str(exc.value) == "torch 2.12.9 (--good) is not a release on the package index (nearest: 2.12.0, 2.12.1)"


@pytest.mark.sessions
def test_two_gate_sessions_growing_one_set_at_once_both_join(tmp_path):
    """Two real ``--baseline-grow`` sessions started together against a set too thin to judge (so each whole
    session joins): both runs join, each under its own name, and the set reads whole. They end within the
    same second often, not always: tests/test_faults.py's writers test forces that case."""
    runs_dir = tmp_path / "runs"
    cmd = [sys.executable, "-m", "pytest", "bench/test_matmul.py", "-k", "numpy-mnist5", "--bench-size=smoke", "-q",
           "-p", "no:cacheprovider", f"--benchmark-storage=file://{runs_dir}", "--benchmark-compare", "--baseline-grow",
           "--benchmark-min-rounds=5", "--benchmark-max-time=0.05"]
    env = {**os.environ, "NPTBENCH_OFFLINE": "1", "NPTBENCH_CEILINGS": "off"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all("--baseline-grow: this run joined the thin baseline set" in out for out in outs), outs
    from nptbench.env import machine

    found = runs.baseline_set(machine.fingerprint(), "smoke", tmp_path)
    assert len(found) == 2 and len({p.name for p in found}) == 2
