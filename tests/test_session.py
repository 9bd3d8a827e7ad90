"""The one way a benchmark session is run (nptbench.tools.session): its command line, its environment, a
revision's worktree, the run and its saved file, and the progress estimate. The commands that use it
(ab, baseline, bisect, the gate's second timing) are tested with stand-in sessions in their own files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nptbench.schema.record import THREAD_VARIABLES
from nptbench.schema.runs import RunError
from nptbench.tools import session


def test_the_command_stores_its_run_where_asked_with_what_was_asked():
    cmd = session.pytest_command("py", ["bench", "-k", "add"], Path("/s"), save="a1", bench_size="smoke",
                                 check_log=Path("/s/a1.checks.jsonl"))
    assert cmd == ["py", "-m", "pytest", "bench", "-k", "add", "--bench-size=smoke", "-q", "-p", "no:cacheprovider",
                   "--benchmark-storage=file:///s", "--benchmark-save=a1", "--benchmark-save-data",
                   "--check-log=/s/a1.checks.jsonl"]
    cmd = session.pytest_command("py", ["t.py::x"], Path("/t"), json_out=Path("/t/o.json"), extra=["--gpu-cold-l2"])
    assert cmd[-2:] == ["--benchmark-json=/t/o.json", "--gpu-cold-l2"] and "--benchmark-save-data" not in cmd


def test_threads_are_pinned_over_the_callers_and_a_side_by_side_run_is_isolated(monkeypatch, tmp_path):
    for var in THREAD_VARIABLES:
        monkeypatch.setenv(var, "7")
    monkeypatch.setenv("BENCH_SIZE", "seed")
    monkeypatch.setenv("MNIST_DIR", "rel/mnist")
    monkeypatch.delenv("NPTBENCH_OFFLINE", raising=False)
    assert all(session.environment(2)[v] == "2" for v in THREAD_VARIABLES)
    assert all(session.environment(None)[v] == "7" for v in THREAD_VARIABLES)  # None: left as set
    assert session.environment(1, X="y")["X"] == "y"
    env = session.side_by_side_environment(1, extra={"OMP_NUM_THREADS": "4"})
    assert "BENCH_SIZE" not in env and env["NPTBENCH_OFFLINE"] == "1" and env["NPTBENCH_CEILINGS"] == "off"
    assert env["OMP_NUM_THREADS"] == "4" and env["MKL_NUM_THREADS"] == "1"  # a side's own variables win
    assert Path(env["MNIST_DIR"]).is_absolute()
    assert "NPTBENCH_CEILINGS" not in session.side_by_side_environment(1, ceilings=True)


def test_a_session_runs_to_its_end_and_its_saved_run_is_found(tmp_path):
    done = session.run([sys.executable, "-c", "import sys; print('one'); print('two', file=sys.stderr); sys.exit(3)"],
                       tmp_path)
    assert done.returncode == 3 and done.last_line == "two" and done.tail(2) == ["one", "two"] and done.seconds >= 0
    assert session.run([sys.executable, "-c", "pass"]).last_line == ""
    with pytest.raises(OSError):
        session.run([str(tmp_path / "no-python")])
    with pytest.raises(RunError, match=r"saved 0 files .*did it collect any benchmark"):
        session.saved_run(tmp_path, "a1")
    (tmp_path / "Fake-CPU").mkdir()
    (tmp_path / "Fake-CPU" / "0001_a1.json").write_text("{}")
    (tmp_path / "Fake-CPU" / "0002_a11.json").write_text("{}")
    assert session.saved_run(tmp_path, "a1") == tmp_path / "Fake-CPU" / "0001_a1.json"
    (tmp_path / "0003_a1.json").write_text("{}")
    with pytest.raises(RunError, match="saved 2 files"):
        session.saved_run(tmp_path, "a1")


def test_a_revision_is_checked_out_beside_and_removed(tmp_path):
    repo = tmp_path / "repo"
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    repo.mkdir()
    git("init", "-q")
    (repo / "f").write_text("1")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    assert session.worktree(repo, "HEAD", tmp_path / "wt") is None and (tmp_path / "wt" / "f").read_text() == "1"
    session.remove_worktree(repo, tmp_path / "wt")
    assert not (tmp_path / "wt").exists()
    assert "no-such-rev" in session.worktree(repo, "no-such-rev", tmp_path / "wt2")


def test_the_estimate_is_the_mean_session_time_of_those_left_and_their_pauses():
    p = session.Progress(4, pause=10)
    assert p.left == 0
    p.add(2.0)
    p.add(4.0)
    assert p.done == 2 and p.left == 3.0 * 2 + 10 * 2
