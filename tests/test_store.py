"""The results store (nptbench.schema.store): a folder and a PostgreSQL database hold runs the same way;
adding never overwrites, several writers at once lose nothing, import/export round-trips the committed
runs byte for byte, prune and thin do what they say. The PostgreSQL cases run against a real server
(scripts/store_pg.py starts a throwaway one, or $NPTBENCH_TEST_POSTGRES names one) and skip, saying why,
where there is no server or driver."""
from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import uuid
from pathlib import Path

import pytest

from nptbench.schema import layout, runs, store
from nptbench.schema.runs import RunError
from nptbench.tools import promote
from nptbench.tools import store as store_cli

ROOT = Path(__file__).resolve().parent.parent
FP = "test-cpu_2cores_nogpu"
GPU_FP = "intel-xeon-processor_16cores_nvidia-h200"  # a committed machine folder: 2 baselines, 5 report inputs
HISTORY = ROOT / "results" / "amd-epyc_2cores_nogpu" / "history" / "runs"

_spec = importlib.util.spec_from_file_location("store_pg", ROOT / "scripts" / "store_pg.py")
store_pg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(store_pg)


def run_dict(when="2026-01-01T00:00:00", median=1e-3, profile="smoke", rounds=5, threads=None) -> dict:
    stats = {"median": median, "min": median, "mean": median, "max": median, "stddev": 0.0,
             "data": [median * (1 + i / 1e6) for i in range(rounds)]}
    info = {"cpu_model": "Test CPU", "cpu_cores": 2, "gpus": [], "profile": profile}
    if threads:
        info["threads"] = {"env": {"OMP_NUM_THREADS": threads}}
    return {"machine_info": {"nptbench": info}, "datetime": when, "commit_info": {"id": "ab" * 20},
            "benchmarks": [{"name": "t", "fullname": "b.py::t", "stats": stats,
                            "extra_info": {"experiment": "e", "variant": "v"}}]}


def a_run(**kw) -> runs.Run:
    return runs.Run(Path("made here"), run_dict(**kw))


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A database's runs are copied as files into a cache folder: this test's own."""
    monkeypatch.setenv("NPTBENCH_STORE_CACHE", str(tmp_path / "store-cache"))


@pytest.fixture(scope="module")
def server():
    why = store_pg.unavailable()
    if why:
        pytest.skip(f"no PostgreSQL store to test: {why}")
    with store_pg.throwaway_server() as url:
        yield url


@pytest.fixture
def database(server):
    """A fresh empty database on the server, as a store URL."""
    return store_pg.fresh_database(server, "t_" + uuid.uuid4().hex[:12])


@pytest.fixture(params=["folder", "postgresql"])
def location(request, tmp_path):
    """Each kind of store, empty."""
    return str(tmp_path / "results") if request.param == "folder" else request.getfixturevalue("database")


def opened(location):
    return store.open_store(location)


# --- the same operations on both ---------------------------------------------------------------------

def test_adding_never_overwrites_and_unique_takes_the_next_name(location):
    s = opened(location)
    path = f"{FP}/smoke-a.json"
    assert store.add_run(s, a_run(median=1e-3), path) == path
    with pytest.raises(store.Taken, match="never overwritten"):
        store.add_run(s, a_run(median=2e-3), path)
    assert store.add_run(s, a_run(median=3e-3), path, unique=True) == f"{FP}/smoke-a-2.json"
    assert [e.path for e in s.entries()] == [f"{FP}/smoke-a-2.json", path]
    assert s.read(path).benchmarks[0]["stats"]["median"] == 1e-3  # the first run, untouched
    assert s.read(f"{FP}/smoke-a-2.json").benchmarks[0]["stats"]["median"] == 3e-3


def test_an_entry_holds_what_a_gate_chooses_a_set_by(location):
    s = opened(location)
    store.add_run(s, a_run(when="2026-01-02T00:00:00", threads="1"), f"{FP}/smoke-b.json")
    (e,) = s.entries(FP)
    assert (e.fingerprint, e.profile, e.conditions, e.cold_l2, e.datetime, e.commit) == (
        FP, "smoke", (("OMP_NUM_THREADS", "1"),), False, "2026-01-02T00:00:00", "ab" * 20)
    assert e.size == len(s.read_text(e.path).encode()) and e.in_set
    assert s.entries("other-machine") == []


def test_a_stored_run_keeps_at_most_max_rounds_and_thin_lowers_it_on_purpose(location):
    s = opened(location)
    store.add_run(s, a_run(rounds=5000), f"{FP}/smoke-big.json")
    bench = s.read(f"{FP}/smoke-big.json").benchmarks[0]
    assert len(bench["stats"]["data"]) == store.MAX_ROUNDS and bench["stats"]["median"] == 1e-3
    assert bench["extra_info"]["raw_rounds_kept"] == f"{store.MAX_ROUNDS} of 5000"
    store.add_run(s, a_run(rounds=50), f"{FP}/smoke-small.json")
    assert store.thin(s, 100) == [f"{FP}/smoke-big.json"]  # the small run needs nothing
    bench = s.read(f"{FP}/smoke-big.json").benchmarks[0]
    assert len(bench["stats"]["data"]) == 100 and bench["extra_info"]["raw_rounds_kept"] == "100 of 5000"
    assert bench["stats"]["data"][0] == 1e-3 and bench["stats"]["data"][-1] == pytest.approx(1e-3 * (1 + 4999e-6))
    assert s.entries(FP)[0].size == len(s.read_text(f"{FP}/smoke-big.json").encode())  # listed as it is now


def test_import_then_export_gives_back_the_committed_runs_byte_for_byte(location, tmp_path):
    s = opened(location)
    machine = ROOT / "results" / GPU_FP
    added, same, refused = store.import_runs(s, machine)
    originals = {f"{GPU_FP}/{p.relative_to(machine).as_posix()}": p.read_bytes()
                 for p in runs.run_files(machine)}
    assert (added, same, refused) == (len(originals), 0, []) and len(originals) == 7
    assert store.import_runs(s, machine) == (0, len(originals), [])  # again: nothing written twice
    out = tmp_path / "exported"
    assert store.export_runs(s, out) == (len(originals), 0)
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in runs.run_files(out)} == originals
    assert store.export_runs(s, out) == (0, len(originals))  # the same files: left as they are
    # the set the gate reads is the one the folder gives
    folder_set = runs.baseline_set(GPU_FP, "default", ROOT / "results")
    found = store.find_set(location, GPU_FP, "default")
    assert [p.name for p in found] == [p.name for p in folder_set] and len(found) == 1
    assert [p.read_bytes() for p in found] == [p.read_bytes() for p in folder_set]
    assert [e.path for e in s.entries(GPU_FP) if not e.in_set][0].startswith(f"{GPU_FP}/{layout.REPORT_ONLY}/")


def test_import_refuses_another_run_at_a_taken_path_and_a_run_outside_its_machine(location, tmp_path):
    s = opened(location)
    src = tmp_path / "src" / FP / "smoke-x.json"
    src.parent.mkdir(parents=True)
    src.write_text(json.dumps(run_dict(median=1e-3)))
    assert store.import_runs(s, tmp_path / "src", report=lambda _: None)[0] == 1
    src.write_text(json.dumps(run_dict(median=5e-3)))
    stray = tmp_path / "stray" / "0001_x.json"
    stray.parent.mkdir()
    stray.write_text(json.dumps(run_dict()))
    _, _, refused = store.import_runs(s, tmp_path / "src", report=lambda _: None)
    assert len(refused) == 1 and "already holds another run" in refused[0]
    assert s.read(f"{FP}/smoke-x.json").benchmarks[0]["stats"]["median"] == 1e-3  # never overwritten
    _, _, refused = store.import_runs(s, stray, report=lambda _: None)
    assert len(refused) == 1 and "not in a folder of the machine that measured it" in refused[0]


def test_prune_removes_beyond_the_newest_n_of_each_set_or_by_age_and_only_when_asked(location):
    s = opened(location)
    for day in range(1, 6):
        store.add_run(s, a_run(when=f"2026-01-0{day}T00:00:00"), f"{FP}/smoke-{day}.json")
    store.add_run(s, a_run(when="2026-01-01T00:00:00", threads="1"), f"{FP}/smoke-t1.json")  # a set of its own
    store.add_run(s, a_run(when="2026-01-01T00:00:00", profile="default"), f"{FP}/default-1.json")
    assert [e.path for e in store.prune(s, keep=2, dry_run=True)] == [f"{FP}/smoke-{d}.json" for d in (1, 2, 3)]
    assert len(s.entries()) == 7  # a dry run removes nothing
    store.prune(s, keep=2)
    assert sorted(e.path for e in s.entries()) == sorted(
        [f"{FP}/default-1.json", f"{FP}/smoke-4.json", f"{FP}/smoke-5.json", f"{FP}/smoke-t1.json"])
    cutoff = store.to_prune(s.entries(), older_than_days=1, now=1767312000.0 + 3 * 86400)  # 2026-01-05 00:00 UTC
    assert sorted(e.path for e in cutoff) == sorted([f"{FP}/default-1.json", f"{FP}/smoke-t1.json"])


def _promote_many(args):
    """One runner: promote ``count`` runs into one set under the same names as every other runner."""
    location, writer, count, barrier = args
    barrier.wait()  # every writer at the same moment
    out = []
    for k in range(count):
        run = a_run(median=1e-3 * (1 + (writer * 1000 + k) / 1e6))
        out.append(str(promote.promote_run(run, f"gate-{k:04d}.json", location, unique=True)))
    return out


def _read_while_writing(args):
    """A gate finding and reading the set while the writers grow it: never half a run."""
    location, cache, stop = args
    os.environ["NPTBENCH_STORE_CACHE"] = cache
    seen = 0
    while not stop.is_set():
        for path in store.find_set(location, FP, "smoke"):
            runs.load(path)  # raises on a half-written run
            seen += 1
    return seen


def test_writers_at_once_lose_nothing_and_overwrite_nothing(location, tmp_path):
    writers, count = 4, 5
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier, stop = manager.Barrier(writers), manager.Event()
        with ctx.Pool(writers + 1) as pool:
            reader = pool.apply_async(_read_while_writing, ((location, str(tmp_path / "reader-cache"), stop),))
            written = pool.map(_promote_many, [(location, w, count, barrier) for w in range(writers)])
            stop.set()
            reader.get(timeout=120)  # re-raises what the reader met
    flat = [p for w in written for p in w]
    assert len(set(flat)) == writers * count  # each run took a name of its own
    s = opened(location)
    entries = s.entries(FP)
    assert len(entries) == writers * count
    medians = sorted(s.read(e.path).benchmarks[0]["stats"]["median"] for e in entries)  # every one readable
    assert medians == pytest.approx(sorted(1e-3 * (1 + (w * 1000 + k) / 1e6)
                                           for w in range(writers) for k in range(count)))  # none overwritten
    assert len(store.find_set(location, FP, "smoke")) == writers * count


# --- the folder store --------------------------------------------------------------------------------

def test_the_folder_store_lists_from_its_cache_and_reads_a_changed_file_again(tmp_path, monkeypatch):
    s = store.FolderStore(tmp_path)
    store.add_run(s, a_run(), f"{FP}/smoke-a.json")
    first = s.entries()
    assert (tmp_path / FP / store.INDEX_FILE).exists()
    assert runs.baseline_set(FP, "smoke", tmp_path) == [tmp_path / FP / "smoke-a.json"]  # the cache is no run

    def no_reading(path):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(store, "load", no_reading)
    assert s.entries() == first  # from the cache alone
    (tmp_path / FP / "smoke-a.json").write_text(json.dumps(run_dict(profile="default")))
    with pytest.raises(AssertionError, match="smoke-a.json"):
        s.entries()  # changed: read again
    monkeypatch.undo()
    assert s.entries()[0].profile == "default"


def test_the_folder_store_is_todays_layout_and_promote_writes_the_same_bytes(tmp_path):
    src = tmp_path / "runs" / "0001_x.json"
    src.parent.mkdir()
    src.write_text(json.dumps(run_dict(rounds=3000)))
    dest = promote.promote(src, tmp_path / "results")
    assert dest == layout.promoted_path(FP, "smoke", "0001_x.json", tmp_path / "results")
    expected = run_dict(rounds=3000)
    store.thin_rounds(expected)
    assert dest.read_text() == json.dumps(expected, indent=1)
    assert store.find_set(tmp_path / "results", FP, "smoke") == runs.baseline_set(FP, "smoke", tmp_path / "results")


# --- the commands --------------------------------------------------------------------------------------

def test_promote_and_the_store_command_on_a_database(database, tmp_path, capsys):
    src = tmp_path / "0001_x.json"
    src.write_text(json.dumps(run_dict()))
    assert promote.main([str(src), "--results", database]) == 0
    assert f"#{FP}/smoke-0001_x.json" in capsys.readouterr().out
    assert store_cli.main(["list", "--results", database]) == 0
    out = capsys.readouterr().out
    assert f"{FP}/smoke-0001_x.json  smoke  -  2026-01-01T00:00:00  abababab" in out and "1 run in" in out
    assert store_cli.main(["export", str(tmp_path / "out"), "--results", database]) == 0
    assert json.loads((tmp_path / "out" / FP / "smoke-0001_x.json").read_text()) == run_dict()
    assert store_cli.main(["prune", "--keep", "1", "--results", database]) == 0
    assert "0 runs pruned" in capsys.readouterr().out


def test_the_store_command_refuses_a_prune_without_a_rule_and_names_a_server_it_cannot_reach(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        store_cli.main(["prune", "--results", str(tmp_path)])
    assert exc.value.code == 2 and "needs --keep N or --older-than DAYS" in capsys.readouterr().err
    if store_pg.unavailable() and "psycopg" in store_pg.unavailable():
        pytest.skip(store_pg.unavailable())
    bad = f"postgresql://nobody:secret@/none?host={tmp_path}"
    assert store_cli.main(["list", "--results", bad]) == 1
    err = capsys.readouterr().err
    assert "cannot use the PostgreSQL store" in err and "secret" not in err


def test_a_corrupt_run_in_a_folder_set_is_named_as_the_folder_lookup_names_it(tmp_path):
    store.add_run(store.FolderStore(tmp_path), a_run(), f"{FP}/smoke-a.json")
    bad = tmp_path / FP / "smoke-b.json"
    bad.write_text('{"benchmarks": [')
    with pytest.raises(RunError) as ours:
        store.find_set(tmp_path, FP, "smoke")
    with pytest.raises(RunError) as theirs:
        runs.baseline_set(FP, "smoke", tmp_path)
    assert str(ours.value) == str(theirs.value) and str(bad) in str(ours.value)


def test_a_history_folder_reads_back_from_a_database_as_the_same_files(database):
    s = opened(database)
    store.import_runs(s, HISTORY)
    s.close()
    under = "amd-epyc_2cores_nogpu/history/runs"
    folder = store.local_folder(database, under)
    assert sorted(p.name for p in runs.run_files(folder)) == sorted(p.name for p in runs.run_files(HISTORY))
    assert all((folder / p.name).read_bytes() == p.read_bytes() for p in runs.run_files(HISTORY))
    assert store.local_folder(ROOT / "results", under) == ROOT / "results" / under  # a folder is itself


def test_the_gate_finds_its_set_in_a_database_and_grows_it_there(database, tmp_path, monkeypatch):
    """$NPTBENCH_RESULTS naming a database moves the gate's set there: it reads the set from it and a
    session that passes joins it there, not in the checkout's folder."""
    from tests.test_gate_compare import run as gate_run
    from tests.test_session_gate import FP as GATE_FP, never, results_with_set
    from nptbench.schema.status import Status
    from nptbench.tools.session_gate import SessionGate

    folder = results_with_set(tmp_path)  # five runs of a set, imported into the database
    target = store.open_store(database)
    try:
        store.import_runs(target, folder, report=lambda *a: None)
    finally:
        target.close()
    monkeypatch.setenv(store.ENV, database)
    gate = SessionGate.find(tmp_path / "elsewhere", GATE_FP, "smoke", fail=True, grow=True)
    assert len(gate.paths) == 5 and store.redact(database) in gate.header
    now = gate_run(1.01, 30)
    gate.judge(now, now, never)
    assert gate.status == Status.PASSED
    [line] = gate.lines
    assert "joined the baseline set (6 runs now)" in line and not (tmp_path / "elsewhere").exists()
    assert len(SessionGate.find(tmp_path / "elsewhere", GATE_FP, "smoke").paths) == 6


def test_history_reads_a_database_as_it_reads_the_folder(database, tmp_path, capsys):
    """``history --results URL``: the same series and steps from the committed history imported into a
    database as from its folder."""
    from nptbench.tools import history

    folder = tmp_path / "results"
    for f in sorted(HISTORY.glob("*.json"))[:30]:
        dest = folder / "amd-epyc_2cores_nogpu" / "history" / "runs" / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    target = store.open_store(database)
    try:
        store.import_runs(target, folder, report=lambda *a: None)
    finally:
        target.close()
    outputs = []
    for args in (["--results", str(folder)], ["--results", database, "--fingerprint", "amd-epyc_2cores_nogpu"]):
        assert history.main([*args, "--json", "--quiet", "--no-index"]) == 0
        series = json.loads(capsys.readouterr().out)["series"]
        outputs.append(series)
    assert outputs[0] == outputs[1] and len(outputs[0]) >= 20


def test_compare_and_report_read_a_database_as_they_read_the_folder(database, tmp_path, capsys):
    """compare and report take ``postgresql://...#<folder>``: the same verdicts and the same report as from
    the folder the runs were imported from."""
    from nptbench.tools import compare
    from nptbench.tools import report

    folder = tmp_path / "results" / "amd-epyc_2cores_nogpu" / "history" / "runs"
    folder.mkdir(parents=True)
    for f in sorted(HISTORY.glob("*.json"))[:6]:
        (folder / f.name).write_bytes(f.read_bytes())
    target = store.open_store(database)
    try:
        store.import_runs(target, tmp_path / "results", report=lambda *a: None)
    finally:
        target.close()
    newest = sorted(folder.glob("*.json"))[-1]
    outputs = []
    for base in (str(folder), f"{database}#amd-epyc_2cores_nogpu/history/runs"):
        status = compare.main([base, str(newest), "--json"])
        outputs.append((status, names_only(json.loads(capsys.readouterr().out))))
    assert outputs[0] == outputs[1] and outputs[0][1]["pairings"][0]["verdicts"]
    assert report.main([f"{database}#amd-epyc_2cores_nogpu", "--out", str(tmp_path / "r1"), "--no-plots"]) == 0
    assert report.main([str(folder), "--out", str(tmp_path / "r2"), "--no-plots"]) == 0
    capsys.readouterr()
    one, two = ((tmp_path / d / "report.md").read_text() for d in ("r1", "r2"))
    assert one.split("\n", 4)[3] == two.split("\n", 4)[3]  # the summary line: runs, results, machines
    assert compare.main([f"{database}#no-such-machine", str(newest)]) == 2


def names_only(data):
    """``data`` with every path to a run file replaced by the file's name (the runs' folders differ)."""
    if isinstance(data, dict):
        return {k: names_only(v) for k, v in data.items()}
    if isinstance(data, list):
        return [names_only(v) for v in data]
    return Path(data).name if isinstance(data, str) and data.endswith(".json") and "/" in data else data
