"""What keeps ``python -m nptbench history`` linear in its runs: the stretches a scan visits, the compiled
scan and null maxima against the numpy ones, the tabulated nulls against the simulated ones, the work a
history does as its runs grow (counted, never timed), and the folder index of run summaries."""
from __future__ import annotations

import json
import math
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from nptbench.schema.status import Status
from nptbench.analysis import across, changepoint_kernels, changepoints as cp
from nptbench.schema import record, runs
from nptbench.tools import history
from tests.test_history import machine_history, noisy, run, save


def old_pairs(n: int, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every stretch, as the detector searched them before inside stretches had a longest."""
    i, j = np.triu_indices(n + 1, k=min_size)
    ok = ((i == 0) | (i >= min_size)) & ((j == n) | (n - j >= min_size)) & ~((i == 0) & (j == n))
    return i[ok], j[ok]


@pytest.mark.parametrize("min_size", [1, 3, 5])
def test_pairs_are_every_stretch_while_short_and_inside_ones_bounded_after(min_size):
    for n in range(2 * min_size, 60):
        i, j = old_pairs(n, min_size)
        assert all(np.array_equal(a, b) for a, b in zip(cp.pairs(n, min_size, 10 ** 6), (i, j)))
        keep = (i == 0) | (j == n) | (j - i <= 7)
        assert all(np.array_equal(a, b) for a, b in zip(cp.pairs(n, min_size, 7), (i[keep], j[keep])))
    assert len(cp.pairs(cp.MAX_INSIDE + 2 * min_size, min_size)[0]) == len(old_pairs(cp.MAX_INSIDE + 2 * min_size, min_size)[0])


def test_a_scan_grows_linearly_with_the_runs():
    sizes = {n: len(cp.pairs(n)[0]) for n in (1000, 2000, 3000)}
    assert sizes[3000] - sizes[2000] == sizes[2000] - sizes[1000]  # each run more adds as many stretches
    assert sizes[3000] < 3000 * (cp.MAX_INSIDE + 2)


def series_cases(rng, n):
    x = rng.standard_t(3, n)
    yield x
    yield np.round(x)  # ties among stretches
    yield np.where(np.arange(n) < n // 2, 0.0, 1.0)  # two levels without scatter: infinite t
    yield np.zeros(n)


@pytest.mark.parametrize("min_size", [2, 3])
def test_the_compiled_scan_finds_scans_largest_t_to_the_bit(min_size):
    rng = np.random.default_rng(11)
    for n in (6, 7, 13, 40, 215, 300):
        for x in series_cases(rng, n):
            u = cp.scores(x)
            t, i, j = cp.scan(u, min_size)
            t, edge = np.abs(t), (i == 0) | (j == n)
            s1, s2 = cp._sums(u)
            got = changepoint_kernels.best(s1, s2, min_size, cp.MAX_INSIDE)
            for family, found in ((edge, got[:3]), (~edge, got[3:])):
                if not family.any():
                    assert found[1] == -1
                    continue
                k = int(np.flatnonzero(family)[np.argmax(t[family])])
                assert found == (t[k], i[k], j[k])


def test_the_compiled_null_maxima_are_the_scans_to_rounding():
    rng = np.random.default_rng(12)
    for n in (6, 9, 40, 230):
        u = cp.scores(rng.standard_t(3, (20, n)))
        exact, fast = cp.maxima(u), cp.fast_maxima(u)
        assert np.allclose(exact[0], fast[0], rtol=1e-12, atol=0)
        if n < 9:
            assert exact[1] is None and fast[1] is None
        else:
            assert np.allclose(exact[1], fast[1], rtol=1e-12, atol=0)


def test_the_table_is_of_these_settings_and_covers_every_length_it_should():
    held = cp.table()
    assert held, f"{cp.TABLE} is missing or made under other settings: run scripts/history_nulls.py"
    lengths = set(range(2 * cp.MIN_SIZE, cp.EXACT_UPTO + 1))
    n = cp.EXACT_UPTO
    while n < cp.TABLE_UPTO:
        n = cp.null_length(n + 1)
        lengths.add(n)
    assert set(held) == lengths


@pytest.mark.parametrize("n", [6, 8, 9, 23])
def test_the_tabulated_null_is_the_simulated_one(n):
    edge, inside = cp.table()[n]
    direct = cp.table_entry(n)
    assert np.array_equal(edge, direct[0])
    assert (inside is None and direct[1] is None) or np.array_equal(inside, direct[1])


def test_split_and_detect_give_the_same_answers_with_the_table_and_without(monkeypatch):
    cases = [noisy([1e-3] * 20 + [1.6e-3] * 10, seed=s) for s in range(4)]
    cases += [noisy([1e-3] * 14 + [2e-3] * 4 + [1e-3] * 12, seed=5), noisy([1e-3] * 30, 0.2, seed=6)]
    tabulated = [(cp.split(np.log(x), alpha=cp.ALPHA), cp.detect(x)) for x in cases]
    simulations = []
    original = cp.null_max
    monkeypatch.setattr(cp, "table", lambda *a: {})
    monkeypatch.setattr(cp, "null_max", lambda *a: simulations.append(a) or original(*a))
    direct = [(cp.split(np.log(x)), cp.detect(x)) for x in cases]
    assert simulations
    for (split_t, steps_t), (split_d, steps_d) in zip(tabulated, direct):
        assert steps_t == steps_d
        if split_d[2] <= cp.ALPHA:  # above alpha the table may give a bound: the split is refused either way
            assert split_t == split_d
        else:
            assert split_t[2] > cp.ALPHA


def test_a_bound_from_the_table_is_resolved_where_alpha_needs_it(monkeypatch):
    x = np.log(noisy([1e-3] * 30, 0.2, seed=6))  # no step: its p-value lies beyond the table's top
    simulations = []
    original = cp.null_max
    monkeypatch.setattr(cp, "null_max", lambda *a: simulations.append(a) or original(*a))
    assert cp.split(x, alpha=cp.ALPHA)[2] > cp.ALPHA and not simulations  # decided by the table's bound
    exact = cp.split(x)  # no alpha: the exact p-value, simulated
    assert simulations and exact[2] > cp.ALPHA


def test_null_lengths_are_the_segments_own_then_buckets_above():
    assert [cp.null_length(n) for n in (6, 100, cp.EXACT_UPTO)] == [6, 100, cp.EXACT_UPTO]
    above = [cp.null_length(n) for n in range(cp.EXACT_UPTO + 1, 5000)]
    assert all(b >= n for b, n in zip(above, range(cp.EXACT_UPTO + 1, 5000)))
    assert above == sorted(above) and len(set(above)) == round(cp.BUCKETS * math.log2(above[-1] / cp.EXACT_UPTO))


# --- the work of a history as its runs grow: counted --------------------------------------------------------

def stepped_history(folder: Path, runs_n: int) -> Path:
    """Six rows over ``runs_n`` runs, one a day; ``r0`` steps 1.6x slower at two thirds of them."""
    rng = np.random.default_rng(runs_n)
    at = 2 * runs_n // 3
    for i in range(runs_n):
        medians = {f"r{k}": 1e-3 * (1.6 if k == 0 and i >= at else 1.0) * float(np.exp(rng.normal(0, 0.05)))
                   for k in range(6)}
        save(folder, f"{i:05d}_run.json", run((datetime(2026, 1, 1) + timedelta(days=i)).isoformat(), medians))
    return folder


def test_a_historys_searches_and_simulations_do_not_grow_with_its_runs(tmp_path, monkeypatch):
    work = {}
    largest, null_max = cp.largest, cp.null_max
    for n in (250, 1000):
        counts = work[n] = {"scans": 0, "stretches": 0, "simulations": 0}

        def counted_largest(u, *a, counts=counts):
            counts["scans"] += 1
            counts["stretches"] += len(cp.pairs(len(u))[0])
            return largest(u, *a)

        def counted_null(*a, counts=counts):
            counts["simulations"] += 1
            return null_max(*a)

        monkeypatch.setattr(cp, "largest", counted_largest)
        monkeypatch.setattr(cp, "null_max", counted_null)
        assert history.main([str(stepped_history(tmp_path / str(n), n)), "--json", "--quiet"]) == Status.PASSED
    assert work[250]["simulations"] == work[1000]["simulations"] == 0
    assert work[1000]["scans"] <= work[250]["scans"]  # one search a segment, whatever its length
    for n, counts in work.items():  # each scan is linear in the runs, so the whole search is
        assert counts["stretches"] <= counts["scans"] * n * (cp.MAX_INSIDE + 2)


# --- reading runs: summaries and the folder's index -------------------------------------------------------

def aged(folder: Path, seconds: float = 60) -> None:
    """Every file of ``folder`` made ``seconds`` older: not racy (runs.RACY_S), as a saved run soon is."""
    old = time.time() - seconds
    for f in folder.glob("*.json"):
        os.utime(f, (old, old))


def counted_loads(monkeypatch) -> list:
    loaded = []
    load = runs.load
    monkeypatch.setattr(runs, "load", lambda p: loaded.append(Path(p).name) or load(p))
    return loaded


def test_the_index_spares_reading_unchanged_files_and_never_goes_stale(tmp_path, monkeypatch):
    machine_history(tmp_path)
    aged(tmp_path)
    loaded = counted_loads(monkeypatch)
    first = runs.read_summaries(tmp_path)
    assert len(loaded) == 40 and (tmp_path / runs.INDEX_FILE).is_file()
    loaded.clear()
    again = runs.read_summaries(tmp_path)
    assert loaded == [] and [r.data for r in again] == [r.data for r in first]
    # a file rewritten (another median) is read again, a file removed leaves the index
    data = json.loads((tmp_path / "0003_run.json").read_text())
    data["benchmarks"][0]["stats"]["median"] *= 2
    save(tmp_path, "0003_run.json", data)
    (tmp_path / "0004_run.json").unlink()
    third = runs.read_summaries(tmp_path)
    assert loaded == ["0003_run.json"] and len(third) == 39
    assert third[3].benchmarks[0]["stats"]["median"] == data["benchmarks"][0]["stats"]["median"]
    assert "0004_run.json" not in json.loads((tmp_path / runs.INDEX_FILE).read_text())["files"]
    # it was just written: racy, so it stays out of the index and is read whole again next time
    loaded.clear()
    runs.read_summaries(tmp_path)
    assert loaded == ["0003_run.json"]


def test_a_corrupt_or_foreign_index_is_read_as_none(tmp_path, monkeypatch):
    machine_history(tmp_path, runs=8)
    aged(tmp_path)
    loaded = counted_loads(monkeypatch)
    for text in ("{not json", json.dumps({"version": "0", "files": {}})):
        (tmp_path / runs.INDEX_FILE).write_text(text)
        loaded.clear()
        assert len(runs.read_summaries(tmp_path)) == 8 and len(loaded) == 8


def test_a_summary_keeps_what_the_history_reads():
    assert set(across.WORK_FIELDS) <= set(runs.SUMMARY_RECORD) and record.DEVICE_TIME in runs.SUMMARY_RECORD
    assert {"experiment", "variant", "backend", "device", "dtype", "shape", "gpu_cold_l2"} <= set(runs.SUMMARY_RECORD)


def test_the_history_of_summaries_is_the_history_of_whole_runs(tmp_path, capsys):
    machine_history(tmp_path, numpy_change_at=30)
    aged(tmp_path)
    outputs = []
    for options in (["--no-index"], [], []):  # whole files, then writing the index, then reading it
        assert history.main([str(tmp_path), "--json", "--quiet", *options]) == Status.PASSED
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2] and json.loads(outputs[0])["series"]


def test_progress_goes_to_stderr_never_into_the_json(tmp_path, capsys, monkeypatch):
    machine_history(tmp_path, runs=12)
    monkeypatch.setattr(history, "PROGRESS_EVERY", -1.0)
    assert history.main([str(tmp_path), "--json", "--no-index"]) == Status.PASSED
    out, err = capsys.readouterr()
    assert json.loads(out)["runs"] == 12
    assert "history: read 1 of 12 runs" in err and "history: read 12 of 12 runs" in err
