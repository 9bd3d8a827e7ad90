"""Measure the results store (nptbench.schema.store), the folder and PostgreSQL side by side, for
results/store.md:

1. bytes per run: the committed runs as files, and as PostgreSQL keeps them (the table's size on the server
   divided by its runs, after importing them all);
2. the time to import the committed runs (results/*/ and results/*/history/runs*) into an empty store;
3. the time to find and read a set of 100 runs (the committed promoted run of results/amd-epyc_2cores_nogpu,
   1.3 MB with its raw rounds, re-dated 100 times): today's runs.baseline_set + runs.load, and the store's
   find_set + runs.load, cold (no cache) and warm;
4. writers at once: 4 processes each promoting 50 runs (that same run) into one set at the same moment
   (promote_run with unique names, as --baseline-grow does): runs lost or unreadable, and the time.

    python scripts/store_measure.py [--set-size 100] [--writers 4] [--each 50] [--json out.json]

PostgreSQL is a throwaway server (scripts/store_pg.py) on this machine, over a Unix socket, or the server
$NPTBENCH_TEST_POSTGRES names. Times are wall-clock seconds of one try each: a guide, not a benchmark.
"""
from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from store_pg import fresh_database, throwaway_server, unavailable  # noqa: E402

from nptbench.schema import runs, store  # noqa: E402
from nptbench.tools import promote  # noqa: E402

SOURCE = (ROOT / "results" / "amd-epyc_2cores_nogpu"
          / "default-0001_1db8c11fc76c1e62fbd0ccef432ebbe77fda2f31_20261130_021508.json")


def committed_files() -> list[Path]:
    return sorted(p for p in (ROOT / "results").glob("*/**/*.json")
                  if p.relative_to(ROOT / "results").parts[0] != "runs" and p.name != "ceilings.json")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def redated(base: dict, i: int) -> runs.Run:
    data = copy.deepcopy(base)
    data["datetime"] = f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}T00:00:00+00:00"
    return runs.Run(Path(f"copy {i}"), data)


def fill_set(location: str, base: dict, n: int) -> None:
    target = store.open_store(location)
    try:
        for i in range(n):
            store.add_run(target, redated(base, i), f"{runs.load(SOURCE).fingerprint}/default-{i:04d}.json")
    finally:
        target.close()


def find_and_read(location: str, fp: str) -> int:
    paths = store.find_set(location, fp, "default")
    return sum(len(runs.load(p).benchmarks) for p in paths)


def forget(folder: str, fp: str, work: Path) -> None:
    """Remove every cache: the folder store's index and the database's local copies."""
    Path(folder, fp, store.INDEX_FILE).unlink(missing_ok=True)
    shutil.rmtree(work / "cache", ignore_errors=True)


def _writer(args):
    location, w, each, barrier, source = args
    base = json.loads(Path(source).read_text())
    barrier.wait()
    t = time.perf_counter()
    out = [str(promote.promote_run(redated(base, w * 1000 + k), "gate-20260101_000000.json", location, unique=True))
           for k in range(each)]
    return out, time.perf_counter() - t


def writers_at_once(location: str, writers: int, each: int, fp: str) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(writers)
        with ctx.Pool(writers) as pool:
            t = time.perf_counter()
            results = pool.map(_writer, [(location, w, each, barrier, str(SOURCE)) for w in range(writers)])
            wall = time.perf_counter() - t
    returned = [p for out, _ in results for p in out]
    target = store.open_store(location)
    try:
        entries = target.entries(fp)
        unreadable = 0
        dates = set()
        for e in entries:
            try:
                dates.add(target.read(e.path).data["datetime"])
            except (runs.RunError, ValueError):
                unreadable += 1
    finally:
        target.close()
    expected = writers * each
    return {"writers": writers, "each": each, "expected": expected, "names_returned": len(set(returned)),
            "found": len(entries), "lost": expected - len(entries), "unreadable": unreadable,
            "distinct_runs": len(dates), "wall_s": round(wall, 2),
            "slowest_writer_s": round(max(s for _, s in results), 2)}


def measure(url: str, set_size: int, writers: int, each: int) -> dict:
    out = {}
    files = committed_files()
    work = Path(tempfile.mkdtemp(prefix="store-measure-"))
    os.environ["NPTBENCH_STORE_CACHE"] = str(work / "cache")
    try:
        # 1 and 2: import the committed runs
        folder = str(work / "import-folder")
        db = fresh_database(url, "measure_import")
        for name, location in (("folder", folder), ("postgresql", db)):
            target = store.open_store(location)
            try:
                t, (added, same, refused) = timed(lambda: store.import_runs(target, ROOT / "results"))
                out[f"import_{name}"] = {"runs": added, "refused": len(refused), "seconds": round(t, 2)}
                if name == "postgresql":
                    total = target.stored_bytes()
                    bodies = target.conn.execute("SELECT sum(length(body)), sum(size) FROM nptbench_runs").fetchone()
                    out["bytes_postgresql"] = {"table_total": total, "per_run": total // added,
                                               "compressed_json_total": int(bodies[0]), "json_total": int(bodies[1])}
            finally:
                target.close()
        sizes = [p.stat().st_size for p in files]
        promoted = [p.stat().st_size for p in files if p.parent.parent == ROOT / "results"]
        out["bytes_folder"] = {"runs": len(sizes), "total": sum(sizes), "per_run": sum(sizes) // len(sizes),
                               "promoted_baselines": len(promoted), "per_promoted": sum(promoted) // len(promoted)}
        # 3: a set of N runs
        base = json.loads(SOURCE.read_text())
        fp = runs.load(SOURCE).fingerprint
        big_folder = str(work / "set-folder")
        big_db = fresh_database(url, "measure_set")
        sets = {}
        for name, location in (("folder", big_folder), ("postgresql", big_db)):
            t, _ = timed(lambda: fill_set(location, base, set_size))
            sets[f"add_{name}_s"] = round(t, 2)
        t, paths = timed(lambda: runs.baseline_set(fp, "default", Path(big_folder)))
        sets["today_baseline_set_s"] = round(t, 2)
        t, _ = timed(lambda: [runs.load(p) for p in paths])
        sets["today_read_s"] = round(t, 2)
        for name, location in (("folder", big_folder), ("postgresql", big_db)):
            for when in ("cold", "warm"):
                if when == "cold":  # no cache: the folder's index and the database's local copies gone
                    forget(big_folder, fp, work)
                t, found = timed(lambda: store.find_set(location, fp, "default"))
                assert len(found) == set_size, (name, len(found))
                sets[f"find_{name}_{when}_s"] = round(t, 3)
                if when == "cold":
                    forget(big_folder, fp, work)
                t, n = timed(lambda: find_and_read(location, fp))
                sets[f"find_and_read_{name}_{when}_s"] = round(t, 2)
        sets["set_size"], sets["benchmarks_per_run"] = set_size, len(base["benchmarks"])
        sets["bytes_per_run_folder"] = SOURCE.stat().st_size
        target = store.open_store(big_db)
        try:
            sets["bytes_per_run_postgresql"] = target.stored_bytes() // set_size
        finally:
            target.close()
        out["set"] = sets
        # 4: writers at once
        out["writers_folder"] = writers_at_once(str(work / "writers-folder"), writers, each, fp)
        out["writers_postgresql"] = writers_at_once(fresh_database(url, "measure_writers"), writers, each, fp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set-size", type=int, default=100)
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--each", type=int, default=50)
    p.add_argument("--json", help="write the figures here too")
    args = p.parse_args()
    why = unavailable()
    if why:
        sys.exit(f"no PostgreSQL to measure: {why}")
    with throwaway_server() as url:
        out = measure(url, args.set_size, args.writers, args.each)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
