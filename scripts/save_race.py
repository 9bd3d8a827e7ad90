"""Writers that save a run into one pytest-benchmark storage at the same moment (two runners growing one set,
two sessions ending in the same second): how many runs pytest-benchmark's own ``FileStorage.save`` loses
(the writer crashes on its name check, or passes it and overwrites another's file) against the suite's
``nptbench.plugin.save_exclusively``. Usage: python scripts/save_race.py [TRIALS] [WRITERS]"""
from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
from pathlib import Path


class _Quiet:
    def info(self, *args, **kwargs):
        pass


def _save(args) -> str:
    from pytest_benchmark.storage.file import FileStorage

    from nptbench.plugin import save_exclusively

    folder, i, barrier, ours = args
    storage = FileStorage(folder, _Quiet())
    barrier.wait()  # every writer at the same moment
    try:
        (save_exclusively if ours else FileStorage.save)(storage, {"writer": i}, "run")
    except AssertionError:
        return "crashed"
    return "saved"


def main(trials: int = 20, writers: int = 6) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(writers) as pool:
        for label, ours in (("pytest-benchmark's save", False), ("save_exclusively", True)):
            crashed = overwritten = 0
            for _ in range(trials):
                folder = tempfile.mkdtemp(prefix="nptbench-race-")
                barrier = manager.Barrier(writers)
                said = pool.map(_save, [(folder, i, barrier, ours) for i in range(writers)])
                kept = {json.loads(p.read_text())["writer"] for p in Path(folder).glob("*.json")}
                crashed += said.count("crashed")
                overwritten += said.count("saved") - len(kept)
            print(f"{label}: {trials} trials x {writers} writers: {crashed} crashed, {overwritten} overwritten "
                  f"by another, {trials * writers - crashed - overwritten} kept")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
