"""The search of ``python -m nptbench bisect`` with fake probes: monotonic, two steps, ambiguous probes, a
broken rung, no step; and the command's handling of bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from nptbench.analysis import bisect as b


def ladder(levels: dict, n: int = 16, noisy: dict | None = None, broken: set = frozenset(), min_effect=0.1):
    """A probe over ``n`` rungs whose benchmark ``name`` sits at ``levels[name](rung)``; ``noisy`` maps
    (first, second) to how many runs a side it takes before the answer is clear."""
    calls = []

    def probe(first, second, runs):
        calls.append((first, second, runs))
        p = b.Probe(first, second, runs)
        bad = {first, second} & set(broken)
        if bad:
            p.broken, p.broken_rung = "would not install", min(bad)
            return p
        for name, level in levels.items():
            ratio = level(second) / level(first)
            if noisy and runs < noisy.get((first, second), 0):
                p.answers[name] = b.Answer(b.AMBIGUOUS, ratio, ratio / 1.3, ratio * 1.3)
            else:
                word = b.SLOWER if ratio > 1 + min_effect else b.SAME
                p.answers[name] = b.Answer(word, ratio, ratio / 1.03, ratio * 1.03)
        return p

    return probe, calls


def rungs(n=16):
    return [f"r{i}" for i in range(n)]


def step_at(k, size=1.2):
    return lambda rung: size if rung >= k else 1.0


@pytest.mark.parametrize("k", [1, 5, 8, 15])
def test_one_step_exact_culprit_within_the_probe_bound(k):
    probe, calls = ladder({"x": step_at(k)})
    (out,) = b.Search(rungs(), ["x"], probe).run()
    assert out.status == b.FOUND and [(c.before, c.rung, c.confirmed) for c in out.culprits] == [(k - 1, k, True)]
    assert len(calls) <= b.probes_bound(16)


def test_two_steps_both_found():
    probe, calls = ladder({"x": lambda r: (1.25 if r >= 4 else 1.0) * (1.3 if r >= 11 else 1.0)})
    (out,) = b.Search(rungs(), ["x"], probe).run()
    assert out.status == b.FOUND and [(c.before, c.rung) for c in out.culprits] == [(3, 4), (10, 11)]


def test_no_step_is_no_regression_in_one_probe():
    probe, calls = ladder({"x": lambda r: 1.0})
    (out,) = b.Search(rungs(), ["x"], probe).run()
    assert out.status == b.NO_REGRESSION and out.culprits == [] and len(calls) == 1


def test_an_ambiguous_probe_is_rerun_with_more_runs_before_the_search_moves():
    probe, calls = ladder({"x": step_at(6)}, noisy={(0, 7): 6})
    (out,) = b.Search(rungs(), ["x"], probe, runs=3).run()
    assert [(c.before, c.rung) for c in out.culprits] == [(5, 6)]
    assert (0, 7, 3) in calls and (0, 7, 6) in calls  # rerun with twice the runs


def test_an_ambiguity_that_stays_is_reported_as_such_never_as_a_culprit():
    probe, calls = ladder({"x": step_at(6)}, noisy={(0, 7): 99})
    (out,) = b.Search(rungs(), ["x"], probe, runs=3, max_runs=12).run()
    assert out.status == b.UNDECIDED and out.culprits == [] and "ambiguous" in out.note
    assert out.range == (0, 15) and (0, 7, 12) in calls


def test_a_broken_rung_is_skipped_and_the_search_goes_around_it():
    probe, calls = ladder({"x": step_at(9)}, broken={8})
    search = b.Search(rungs(), ["x"], probe)
    (out,) = search.run()
    assert [(c.before, c.rung) for c in out.culprits] == [(8 - 1, 9)] or out.status == b.UNDECIDED
    assert 8 in search.broken


def test_a_step_hidden_behind_a_broken_rung_is_a_range():
    probe, _ = ladder({"x": step_at(8)}, broken={7})
    (out,) = b.Search(rungs(), ["x"], probe).run()
    assert out.status == b.UNDECIDED and out.range == (6, 8) and "broken" in out.note


def test_benchmarks_share_probes_and_get_their_own_culprits():
    probe, calls = ladder({"x": step_at(3), "y": step_at(12), "z": lambda r: 1.0})
    outs = {o.benchmark: o for o in b.Search(rungs(), ["x", "y", "z"], probe).run()}
    assert [(c.before, c.rung) for c in outs["x"].culprits] == [(2, 3)]
    assert [(c.before, c.rung) for c in outs["y"].culprits] == [(11, 12)]
    assert outs["z"].status == b.NO_REGRESSION
    assert len(calls) == len(set(calls))  # no probe ran twice


def test_a_confirmation_that_is_not_slower_makes_it_ambiguous():
    # rung 5 reads slower than the reference, but not than rung 4 (a slow drift, not a step)
    probe, _ = ladder({"x": lambda r: 1.0 + 0.03 * r})
    (out,) = b.Search(rungs(), ["x"], probe).run()
    assert out.status == b.UNDECIDED and "not slower" in out.note


# --- the command ----------------------------------------------------------------------------------------

import json  # noqa: E402
import sys  # noqa: E402

from nptbench.tools import bisect as cmd  # noqa: E402
from nptbench.schema.status import Status  # noqa: E402
from tests.test_ab import FAKE_PYTEST  # noqa: E402


def rung_pythons(tmp_path, factors):
    """One stand-in Python per rung (tests/test_ab.py's), its times scaled by the rung's factor; a factor
    of None makes a rung whose benchmarks fail."""
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTEST.format(python=sys.executable))
    fake.chmod(0o755)
    out = []
    for i, f in enumerate(factors):
        p = tmp_path / f"rung{i}"
        p.write_text("#!/bin/sh\n" + ("FAKE_FAIL=1 " if f is None else f"FAKE_FACTOR={f} ") + f'exec "{fake}" "$@"\n')
        p.chmod(0o755)
        out.append(str(p))
    return out


def test_envs_ladder_finds_the_culprit_and_skips_a_broken_rung(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.jsonl"))
    pythons = rung_pythons(tmp_path, [1, 1, None, 1, 1.5, 1.5])
    status = cmd.main(["--envs", *pythons, "--runs", "2", "--out", str(tmp_path / "out"),
                       "--json", str(tmp_path / "b.json"), "--", "bench"])
    out, err = capsys.readouterr()
    assert status == Status.FAILED, out + err
    assert f"culprit (slower) {pythons[3]} -> {pythons[4]}" in out and "broken rungs (skipped)" in out
    data = json.loads((tmp_path / "b.json").read_text())
    (o,) = data["outcomes"]
    assert o["status"] == "found" and o["culprits"][0]["culprit"] == pythons[4] and o["culprits"][0]["confirmed"]
    assert all(p["seconds"] >= 0 for p in data["probes"]) and pythons[2] in data["broken"]
    assert "probe 2:" in err and "s left" in err  # progress with an estimate


def test_bad_input_is_one_line(tmp_path, capsys):
    assert cmd.main(["--envs", str(tmp_path / "nope"), sys.executable]) == Status.BAD_INPUT
    assert capsys.readouterr().err.strip().count("\n") == 0
    with pytest.raises(cmd.BisectError, match="not a release"):
        cmd.version_ladder("torch", "2.12.9", "2.15.0", ["2.12.0", "2.12.1", "2.13.0", "2.15.0"])
    assert cmd.version_ladder("torch", "2.12.1", "2.15.0", ["2.12.0", "2.12.1", "2.13.0", "2.15.0"]) == \
        ["2.12.1", "2.13.0", "2.15.0"]
    with pytest.raises(cmd.BisectError, match="not newer"):
        cmd.version_ladder("torch", "2.13.0", "2.12.1", ["2.12.1", "2.13.0"])
    with pytest.raises(cmd.BisectError, match="no commits between|not a descendant"):
        cmd.rev_ladder(Path.cwd(), "HEAD", "HEAD")
    with pytest.raises(cmd.BisectError, match="git rev-parse"):
        cmd.rev_ladder(Path.cwd(), "no-such-revision-xyz", "HEAD")


def test_a_version_that_will_not_install_is_a_broken_rung(tmp_path):
    rung = cmd.venv_rung("nptbench-no-such-package", "0.0.1", tmp_path, Path.cwd(), python=str(tmp_path / "no-python"))
    rung.make_ready()
    assert rung.broken and "would not install" in rung.broken


def test_a_probe_word_asks_only_whether_the_change_searched_for_reached_the_minimum_effect():
    from nptbench.analysis.verdict import Verdict

    def w(verdict, low, high, faster=False):
        return b.answer_word(Verdict(1.0, low, high, 0.5, verdict), 0.10, faster)

    assert w("slower", 1.15, 1.3) == b.SLOWER and w("faster", 0.7, 0.8) == b.SAME and w("same", 0.95, 1.05) == b.SAME
    assert w("uncertain", 0.86, 1.09) == b.SAME  # perhaps faster, certainly not 10 % slower
    assert w("uncertain", 0.95, 1.15) == b.AMBIGUOUS
    assert w("faster", 0.7, 0.8, faster=True) == b.SLOWER and w("uncertain", 0.93, 1.3, faster=True) == b.SAME
    assert w("uncertain", 0.85, 1.05, faster=True) == b.AMBIGUOUS
