"""``python -m nptbench history``: series from saved runs (grouping, order, environment changes), the
change-point detector on synthetic series, --json, --fail-on-new-step, the dashboard."""
from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from nptbench.analysis import changepoints as cp
from nptbench.analysis.history import run_levels, series
from nptbench.schema.runs import load_runs
from nptbench.schema.status import Status
from nptbench.tools import history


# --- the detector on synthetic series ---------------------------------------------------------------------

def noisy(levels, sigma=0.05, seed=0):
    """Times around the given levels (one per run), with log-normal scatter ``sigma``."""
    rng = np.random.default_rng(seed)
    return list(np.asarray(levels, float) * np.exp(rng.normal(0, sigma, len(levels))))


def test_no_step_in_a_flat_series():
    assert cp.detect(noisy([1e-3] * 40, 0.15)) == []


def test_one_step_found_at_its_first_run_with_its_size():
    steps = cp.detect(noisy([1e-3] * 30 + [1.5e-3] * 10))
    assert [s.index for s in steps] == [30]
    s = steps[0]
    assert s.slower and s.low < 1.5 < s.high and s.ratio == pytest.approx(1.5, rel=0.05)
    assert (s.before, s.after) == (30, 10) and s.p <= cp.ALPHA


def test_a_step_shows_after_three_runs_at_the_new_level():
    base = [1e-3] * 30
    assert cp.detect(noisy(base + [2e-3] * 2, seed=3)) == []  # two runs are not yet a level
    assert [s.index for s in cp.detect(noisy(base + [2e-3] * 3, seed=3))] == [30]


def test_two_steps_both_found():
    steps = cp.detect(noisy([1e-3] * 20 + [1.6e-3] * 15 + [1e-3] * 15, seed=1))
    assert [(s.index, s.slower) for s in steps] == [(20, True), (35, False)]


@pytest.mark.parametrize("where", [17, 39])
def test_an_outlier_is_not_a_step(where):
    values = noisy([1e-3] * 40, seed=2)
    values[where] *= 5
    assert cp.detect(values) == []


def test_small_steps_are_left_out_unless_asked():
    values = noisy([1e-3] * 20 + [1.03e-3] * 20, sigma=0.002, seed=4)
    assert cp.detect(values) == []
    assert [s.index for s in cp.detect(values, min_step=0)] == [20]


@pytest.mark.parametrize("draw", ["normal", "t3", "spells"])
def test_false_alarms_near_alpha_on_series_without_a_step(draw):
    # The rate on real runs is measured in results/history-rates.md; this checks the logic is calibrated.
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(400):
        if draw == "normal":
            x = rng.normal(0, 0.2, 40)
        elif draw == "t3":
            x = 0.1 * rng.standard_t(3, 40)
        else:  # one run in ten far off: a neighbour's spell
            x = rng.normal(0, 0.05, 40) + (rng.random(40) < 0.1) * 0.7
        alarms += bool(cp.detect(np.exp(x)))
    assert alarms <= 4  # alpha 0.002: 0.8 expected in 400, 1 % at most


# --- the run level: a step every row takes is the machine's -------------------------------------------------

def machine_rows(n_rows=8, runs=40, machine_at=20, machine=1.3, own_row=None, own_at=30, own=1.6, sigma=0.05):
    """Rows x runs of times: every row steps ``machine``x at ``machine_at`` (the machine's level moved),
    and row ``own_row`` alone steps ``own``x at ``own_at``."""
    rng = np.random.default_rng(11)
    base = np.exp(rng.normal(-7, 1, (n_rows, 1)))
    level = np.where(np.arange(runs) >= machine_at, machine, 1.0)
    X = base * level * np.exp(rng.normal(0, sigma, (n_rows, runs)))
    if own_row is not None:
        X[own_row, own_at:] *= own
    return X


def test_run_level_is_the_median_row_relative_to_its_usual_time():
    X = machine_rows()
    lv = cp.run_level(np.log(X))
    assert np.exp(np.median(lv[20:]) - np.median(lv[:20])) == pytest.approx(1.3, rel=0.04)
    X[:, 5] *= [10, 10, 10, 1, 1, 1, 1, 1]  # three rows of eight far off in one run move the median little
    assert abs(cp.run_level(np.log(X))[5] - lv[5]) < 0.1
    logs = np.log(X)
    logs[4:, 7] = np.nan  # a run holding 4 rows: too few for a level
    assert np.isnan(cp.run_level(logs)[7]) and not np.isnan(cp.run_level(logs)[8])
    assert np.isnan(cp.run_level(np.log(X[:cp.LEVEL_ROWS - 1]))).all()


def test_a_step_every_row_takes_is_the_machines_and_a_rows_own_step_is_its_own():
    X = machine_rows(own_row=2)
    lv = cp.run_level(np.log(X))
    for k, row in enumerate(X):
        assert [s.index for s in cp.detect(row)][:1] == [20]  # alone, every row has the machine's step
        own, shared = cp.against_level(row, lv)
        assert [s.index for s in shared] == [20]
        assert [s.index for s in own] == ([30] if k == 2 else [])
    own, shared = cp.against_level(X[2], None)  # no level: every step is the row's
    assert [s.index for s in own] == [20, 30] and shared == []


def test_rows_that_joined_later_do_not_bias_the_run_level():
    X = machine_rows()
    late = machine_rows()[:, :] * 3
    late[:, :20] = np.nan  # eight rows added at run 20, when the machine already ran 1.3x slower
    lv = cp.run_level(np.log(np.vstack([X, late])))
    assert np.exp(np.median(lv[20:]) - np.median(lv[:20])) == pytest.approx(1.3, rel=0.04)
    own, shared = cp.against_level(X[0], lv)
    assert own == [] and [s.index for s in shared] == [20]


def test_a_step_where_runs_have_no_level_stays_the_rows():
    X = machine_rows(own_row=2, own_at=36, machine=1.0)
    logs = np.log(X)
    logs[3:, 34:] = np.nan  # the last six runs hold three rows: no level there
    lv = cp.run_level(logs)
    assert np.isnan(lv[34:]).all() and not np.isnan(lv[:34]).any()
    own, shared = cp.against_level(X[2], lv)
    assert [s.index for s in own] == [36] and shared == []


def test_a_step_of_a_few_rows_stays_theirs():
    X = machine_rows(machine=1.0)
    X[:2, 25:] *= 1.5  # two rows of eight: numpy's products held to slower kernels
    lv = cp.run_level(np.log(X))
    assert [[s.index for s in cp.against_level(row, lv)[0]] for row in X] == [[25], [25]] + [[]] * 6


# --- series from runs -----------------------------------------------------------------------------------

def run(when: str, medians: dict, cpu="Test CPU", profile="smoke", numpy_version="2.4.6", threads=None,
        commit="c0ffee"):
    benches = [{"name": f"test_x[{n}]", "fullname": f"bench/test_x.py::test_x[{n}]", "group": "exp",
                "extra_info": {"experiment": "exp", "variant": n, "backend": "numpy", "device": "cpu",
                               "dtype": "float32", "shape": [[4, 4]]},
                "stats": {"median": m, "min": m * 0.9, "mean": m}} for n, m in medians.items()]
    info = {"cpu_model": cpu, "cpu_cores": 2, "gpus": [], "profile": profile, "python": "3.11.7",
            "versions": {"numpy": numpy_version, "torch": "2.13.0"}, "blas": {"numpy": "openblas"},
            "blas_kernels": {"libopenblas.so": "Haswell"}, "threads": {"env": threads or {}}}
    return {"machine_info": {"nptbench": info}, "datetime": when, "benchmarks": benches,
            "commit_info": {"id": commit * 4}}


def save(folder: Path, name: str, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def day(i: int) -> str:
    return f"2026-01-{i + 1:02d}T00:00:00"


def test_series_grouped_by_machine_profile_and_conditions_ordered_in_time(tmp_path):
    # file names in the opposite order of time: time orders the series
    for i in range(4):
        save(tmp_path, f"{9 - i}_a.json", run(day(i), {"a": 1e-3 * (i + 1), "b": 2e-3}))
    save(tmp_path, "x_other_machine.json", run(day(5), {"a": 5.0}, cpu="Other CPU"))
    save(tmp_path, "x_seed.json", run(day(6), {"a": 6.0}, profile="seed"))
    save(tmp_path, "x_pinned.json", run(day(7), {"a": 7.0}, threads={"OMP_NUM_THREADS": "1"}))
    got = {(s.fingerprint.split("_")[0], s.profile, s.conditions, s.name): s.values
           for s in series(load_runs([tmp_path]))}
    assert got == {
        ("test-cpu", "smoke", (), "test_x[a]"): [1e-3, 2e-3, 3e-3, 4e-3],
        ("test-cpu", "smoke", (), "test_x[b]"): [2e-3] * 4,
        ("other-cpu", "smoke", (), "test_x[a]"): [5.0],
        ("test-cpu", "seed", (), "test_x[a]"): [6.0],
        ("test-cpu", "smoke", (("OMP_NUM_THREADS", "1"),), "test_x[a]"): [7.0],
    }


def test_environment_changes_annotate_the_run_where_they_changed(tmp_path):
    for i in range(5):
        save(tmp_path, f"{i}.json", run(day(i), {"a": 1e-3}, numpy_version="2.4.6" if i < 3 else "2.5.0"))
    (s,) = series(load_runs([tmp_path]))
    assert s.changes() == [(3, ["numpy 2.4.6 -> 2.5.0"])]


def test_a_change_of_torch_cpu_kernels_annotates_the_run_where_it_changed(tmp_path):
    """ATEN_CPU_CAPABILITY changes no version: the run's recorded cpu_kernels name it (and the variable)."""
    for i in range(5):
        data = run(day(i), {"a": 1e-3})
        data["machine_info"]["nptbench"]["cpu_kernels"] = (
            {"torch": "AVX512"} if i < 3 else {"torch": "DEFAULT", "ATEN_CPU_CAPABILITY": "default"})
        save(tmp_path, f"{i}.json", data)
    (s,) = series(load_runs([tmp_path]))
    ((at, changed),) = s.changes()
    assert at == 3 and changed == ["ATEN_CPU_CAPABILITY absent -> default", "CPU kernels (torch) AVX512 -> DEFAULT"]


def test_a_copy_of_a_run_is_read_once(tmp_path):
    data = run(day(0), {"a": 1e-3})
    save(tmp_path / "runs", "0001_x.json", data)
    save(tmp_path / "test-cpu_2cores_nogpu", "smoke-0001_x.json", data)
    runs, copies = history.read([tmp_path / "runs", tmp_path / "test-cpu_2cores_nogpu"])
    assert len(runs) == 1 and [p.name for p in copies] == ["smoke-0001_x.json"]


# --- the command ----------------------------------------------------------------------------------------

def stepped_history(folder: Path, before=20, after=4, numpy_change_at=None) -> Path:
    """Runs of two benchmarks: ``slow`` steps up 1.8x at run ``before``, ``flat`` never moves."""
    slow = noisy([1e-3] * before + [1.8e-3] * after, seed=5)
    flat = noisy([2e-3] * (before + after), seed=6)
    for i in range(before + after):
        version = "2.5.0" if numpy_change_at is not None and i >= numpy_change_at else "2.4.6"
        save(folder, f"{i:04d}_run.json", run(day(i) if i < 28 else f"2026-02-{i - 27:02d}T00:00:00",
                                             {"slow": slow[i], "flat": flat[i]}, numpy_version=version,
                                             commit=f"{i:06x}"[-6:]))
    return folder


def machine_history(folder: Path, numpy_change_at=None, own_at=30, runs=40) -> Path:
    """Runs of eight benchmarks whose machine ran every row 1.3x slower from run 20 on, and ``r2`` alone
    1.6x slower from ``own_at`` on (none when beyond the runs)."""
    X = machine_rows(own_row=2, own_at=own_at, runs=runs)
    for i in range(runs):
        version = "2.5.0" if numpy_change_at is not None and i >= numpy_change_at else "2.4.6"
        save(folder, f"{i:04d}_run.json", run(f"2026-0{1 + i // 28}-{i % 28 + 1:02d}T00:00:00",
                                             {f"r{k}": X[k, i] for k in range(len(X))}, numpy_version=version))
    return folder


def test_each_series_level_is_its_runs_level_where_rows_miss_runs(tmp_path):
    machine_history(tmp_path)
    for i in (5, 6):  # two runs without r7 and r6, and one holding only three rows
        data = json.loads((tmp_path / f"{i:04d}_run.json").read_text())
        data["benchmarks"] = data["benchmarks"][:6 if i == 5 else 3]
        save(tmp_path, f"{i:04d}_run.json", data)
    all_series = series(load_runs([tmp_path]))
    (lv,) = run_levels(all_series)
    assert lv.rows[5] == 6 and lv.values[6] is None and lv.defined == [i for i in range(40) if i != 6]
    expected = np.full((8, 40), np.nan)
    for k, s in enumerate(sorted(all_series, key=lambda s: s.name)):
        for p, i in zip(s.points, [i for i in range(40) if not (i == 6 and k >= 3 or i == 5 and k >= 6)]):
            expected[k, i] = np.log(p.value)
    level = cp.run_level(expected)
    by_name = {s.name: s for s in all_series}
    r7 = by_name["test_x[r7]"]
    assert len(r7.points) == 38 and np.allclose(r7.level, [level[i] for i in range(40) if i not in (5, 6)])
    (step,) = lv.detect()
    assert lv.runs[step.index].path.name == "0020_run.json"
    r7.detect()
    assert r7.steps == [] and [r7.points[st.index].file for st in r7.shared] == ["0020_run.json"]
    assert history.main([str(tmp_path), "--out", str(tmp_path / "dash"), "--quiet"]) == 0
    level_plot = next((tmp_path / "dash" / "img").glob("*run-level*.svg")).read_text()
    # the plot numbers its runs as the text does: run 7 has no level, run 21 begins the step
    assert "run 6: 0005_run.json" in level_plot and "run 7:" not in level_plot and "from run 21" in level_plot


def test_the_machines_steps_are_printed_apart_and_the_rows_own_kept(tmp_path, capsys):
    machine_history(tmp_path)
    assert history.main([str(tmp_path), "--json", "--quiet"]) == Status.PASSED
    out = json.loads(capsys.readouterr().out)
    by_name = {s["name"]: s for s in out["series"]}
    assert [st["index"] for st in by_name["test_x[r2]"]["steps"]] == [30]
    assert all(s["steps"] == [] for n, s in by_name.items() if n != "test_x[r2]")
    assert all([st["first_run"] for st in s["with_run_level"]] == ["0020_run.json"] for s in out["series"])
    (level,) = out["run_levels"]
    assert level["rows"] == 8 and len(level["runs"]) == 40 and all(r["rows"] == 8 for r in level["runs"])
    (step,) = level["steps"]
    assert step["first_run"] == "0020_run.json" and step["ratio"] == pytest.approx(1.3, rel=0.05)
    assert history.main([str(tmp_path), "--quiet"]) == Status.PASSED
    text = capsys.readouterr().out
    assert "1 step(s), newest first" in text and "slower test_x[r2]" in text
    assert "the machine's: 8 step(s)" in text and "run level [" in text and "x1.3" in text


def test_a_step_with_the_machine_where_the_environment_changed_stays_the_rows(tmp_path, capsys):
    machine_history(tmp_path, numpy_change_at=20)  # a new numpy could move every row alike
    assert history.main([str(tmp_path), "--json", "--quiet"]) == Status.PASSED
    out = json.loads(capsys.readouterr().out)
    for s in out["series"]:
        assert s["steps"][0]["index"] == 20 and s["steps"][0]["changed"]["environment"] == ["numpy 2.4.6 -> 2.5.0"]
        assert s["with_run_level"] == []


def test_fail_on_new_step_ignores_the_machines_step(tmp_path, capsys):
    machine_history(tmp_path, own_at=99, runs=24)  # every row steps at run 20 of 24, nothing changed
    assert history.main([str(tmp_path), "--fail-on-new-step", "--quiet"]) == Status.PASSED
    assert "the machine's: 8 step(s)" in capsys.readouterr().out
    shutil.rmtree(tmp_path)
    machine_history(tmp_path, numpy_change_at=20, own_at=99, runs=24)  # the same, with a new numpy there
    assert history.main([str(tmp_path), "--fail-on-new-step", "--quiet"]) == Status.FAILED
    assert len(capsys.readouterr().err.strip().splitlines()) == 8


def test_a_filter_keeps_the_level_of_every_row(tmp_path, capsys):
    machine_history(tmp_path)
    assert history.main([str(tmp_path), "-k", "r5", "--json", "--quiet"]) == Status.PASSED
    out = json.loads(capsys.readouterr().out)
    (s,) = out["series"]
    assert s["steps"] == [] and [st["index"] for st in s["with_run_level"]] == [20]
    assert out["run_levels"][0]["rows"] == 8


def test_json_names_each_series_and_its_steps(tmp_path, capsys):
    stepped_history(tmp_path, numpy_change_at=20)
    assert history.main([str(tmp_path), "--json", "--quiet"]) == Status.PASSED
    out = json.loads(capsys.readouterr().out)
    by_name = {s["name"]: s for s in out["series"]}
    assert set(by_name) == {"test_x[slow]", "test_x[flat]"}
    flat, slow = by_name["test_x[flat]"], by_name["test_x[slow]"]
    assert flat["steps"] == [] and flat["fingerprint"] == "test-cpu_2cores_nogpu" and flat["profile"] == "smoke"
    assert flat["conditions"] == {} and flat["runs"] == 24
    (step,) = slow["steps"]
    assert step["first_run"] == "0020_run.json" and step["index"] == 20
    assert step["ratio"] == pytest.approx(1.8, rel=0.08) and step["interval"][0] < step["ratio"] < step["interval"][1]
    assert step["changed"]["environment"] == ["numpy 2.4.6 -> 2.5.0"]
    assert step["changed"]["commits"] == ["0000130000", "0000140000"]  # the last run before, the first after


def test_fail_on_new_step_exits_1_with_one_line_per_step(tmp_path, capsys):
    stepped_history(tmp_path)
    assert history.main([str(tmp_path), "--fail-on-new-step", "--quiet"]) == Status.FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("NEW SLOWDOWN STEP: test_x[slow]") and "x1.8" in err[0]
    # the same step, once ten more runs sit after it, is no longer new
    shutil.rmtree(tmp_path)
    stepped_history(tmp_path, after=14)
    assert history.main([str(tmp_path), "--fail-on-new-step", "--quiet"]) == Status.PASSED
    assert "x1.8" in capsys.readouterr().out


def test_text_lists_steps_newest_first_with_what_changed(tmp_path, capsys):
    stepped_history(tmp_path, numpy_change_at=20)
    assert history.main([str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "24 runs of 1 machine(s)" in out and "1 step(s), newest first" in out
    assert "slower test_x[slow]" in out and "changed there: numpy 2.4.6 -> 2.5.0" in out


def test_a_corrupt_run_is_named_in_one_line(tmp_path, capsys):
    stepped_history(tmp_path)
    (tmp_path / "0007_run.json").write_text("{not json")
    assert history.main([str(tmp_path)]) == Status.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0007_run.json" in err[0] and "corrupt" in err[0]


def test_nothing_to_read_and_bad_options(tmp_path, capsys):
    assert history.main([str(tmp_path)]) == Status.BAD_INPUT
    stepped_history(tmp_path)
    assert history.main([str(tmp_path), "-k", "nosuch"]) == Status.NOTHING
    with pytest.raises(SystemExit):
        history.main([str(tmp_path), "--alpha", "2"])


def test_dashboard_pages_and_plots(tmp_path):
    stepped_history(tmp_path / "runs", numpy_change_at=20)
    assert history.main([str(tmp_path / "runs"), "--out", str(tmp_path / "dash"), "--quiet"]) == 0
    md = (tmp_path / "dash" / "history.md").read_text()
    page = (tmp_path / "dash" / "history.html").read_text()
    svgs = sorted((tmp_path / "dash" / "img").glob("*.svg"))
    assert len(svgs) == 2 and all(f"img/{p.name}" in md for p in svgs)
    for p in svgs:
        ET.fromstring(p.read_text())  # well-formed
    assert page.count("<svg") == 2 and "x1.8" in page and "numpy 2.4.6 -&gt; 2.5.0" in page
    assert "| `test_x[slow]` |" in md
    assert "run level" not in md  # two rows make no run level


def test_dashboard_plots_the_run_level_and_marks_the_machines_steps(tmp_path):
    machine_history(tmp_path / "runs")
    assert history.main([str(tmp_path / "runs"), "--out", str(tmp_path / "dash"), "--quiet"]) == 0
    md = (tmp_path / "dash" / "history.md").read_text()
    svgs = sorted((tmp_path / "dash" / "img").glob("*.svg"))
    assert len(svgs) == 9 and sum("run-level" in p.name for p in svgs) == 1
    level = next(p for p in svgs if "run-level" in p.name).read_text()
    ET.fromstring(level)
    assert "x1.3" in level and "1.00x" in level  # its steps, and ratios on its axis
    assert "## The machine's: steps taken with the run level" in md and "| run level (8 rows) |" in md
    r5 = next(p for p in svgs if p.name.endswith("r5.svg")).read_text()
    assert "run x1.3" in r5 and "taken with the run level" in r5


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium on this machine (Debian: apt-get install chromium)")
def test_dashboard_renders_in_headless_chromium(tmp_path):
    stepped_history(tmp_path / "runs")
    history.main([str(tmp_path / "runs"), "--out", str(tmp_path / "dash"), "--quiet"])
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1200,1600", f"--screenshot={shot}", "--dump-dom"]
    done = subprocess.run([CHROMIUM, *flags, (tmp_path / "dash" / "history.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert "<svg" in done.stdout and "x1.8" in done.stdout  # the DOM Chromium built holds the plots


def test_machine_info_carries_the_declared_environment():
    from nptbench.env.machine import describe
    from nptbench.schema.record import ENVIRONMENT_FIELDS

    info = describe()
    assert set(ENVIRONMENT_FIELDS) <= set(info)
    assert info["blas_kernels"] is None or all(isinstance(k, str) for k in info["blas_kernels"])


def test_dashboard_of_a_fleet_puts_the_machines_side_by_side(tmp_path):
    """Runs of two machines read together: one table, a column per machine with its newest level and step,
    and the slowest machine against the fastest; a single machine's dashboard has no such table."""
    stepped_history(tmp_path / "a")
    for f in sorted((tmp_path / "a").glob("*.json")):  # the same runs, from a machine 3x slower
        data = json.loads(f.read_text())
        data["machine_info"]["nptbench"]["cpu_model"] = "Other CPU"
        for b in data["benchmarks"]:
            b["stats"] = {k: v * 3 if isinstance(v, float) else v for k, v in b["stats"].items()}
            b["stats"]["data"] = [t * 3 for t in b["stats"].get("data") or []]
        save(tmp_path / "b", f.name, data)
    assert history.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "dash"), "--quiet"]) == 0
    md = (tmp_path / "dash" / "history.md").read_text()
    assert "## The fleet: 2 machines side by side" in md
    row = next(line for line in md.splitlines() if line.startswith("| `test_x[slow]`") and "x3.00" in line)
    assert row.count("slower x1.8") == 2  # each machine's newest step
    assert history.main([str(tmp_path / "a"), "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert "The fleet" not in (tmp_path / "one" / "history.md").read_text()
