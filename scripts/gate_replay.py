"""Replay scripts/gate-measure.sh's sessions under other baseline sets: what the gate would have said with
a set made in one stretch, and with a set that grows (``--baseline-grow``), beside the set as measured.

    python scripts/gate_replay.py OUT RESULTS_FOLDER [--statistic both|median|min]

OUT and RESULTS_FOLDER as for scripts/gate_rates.py. The verdicts are compare's (the gate's) on the saved
runs, so a replay is what the gate computes on those runs, in the order they were made:

- ``set``: every session against the set as measured (the baseline runs in RESULTS_FOLDER/<fingerprint>/);
- ``grown``: the same set, and every session that passed joins it before the next is judged (A/A and SSE
  alike: a session called slower never joins), as ``--baseline-grow`` does;
- ``short``: the first 5 A/A sessions (made back to back, minutes apart) as the set, judging the A/A sessions
  after them and the SSE sessions; and ``set`` again on those same sessions, for a fair comparison.
"""
from __future__ import annotations

import sys
from pathlib import Path

from nptbench.analysis import comparison, gate
from nptbench.analysis.verdict import SLOWER
from nptbench.env import machine
from nptbench.schema.runs import load
from nptbench.schema.status import Status

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_rates import AFFECTED  # noqa: E402  (numpy's products: what the SSE kernels slow)

SHORT = 5


def judge(base, run, statistic):
    pairing = comparison.compare_runs(base, [run], comparison.Effects(), statistic=statistic)
    status, _ = comparison.outcome(pairing)
    return status, [r.name for p in pairing for r in p.rows if r.verdict == SLOWER], len(pairing[0].rows)


def summary(label, rows, base_note):
    for kind in ("aa", "sse", "back"):
        got = [r for r in rows if r["session"].startswith(kind)]
        if not got:
            continue
        judged = sum(r["judged"] for r in got)
        failed = sum(r["status"] == 1 for r in got)
        calls = sum(len(r["called"]) for r in got)
        line = (f"{label:6s} {kind:4s} {failed:2d} of {len(got):2d} sessions failed, {calls} of {judged} judgements "
                f"slower ({calls / judged:.1%})")
        if kind == "sse":
            named = sum(any(AFFECTED.search(c) for c in r["called"]) for r in got)
            unaffected = [sum(not AFFECTED.search(c) for c in r["called"]) for r in got]
            line += f"; numpy products named in {named}; unaffected rows called: {sum(unaffected)} (at most {max(unaffected)})"
        print(line)
    print(f"{'':6s} {base_note}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    statistic = argv[argv.index("--statistic") + 1] if "--statistic" in argv else comparison.STATISTIC
    out, results = Path(argv[0]), Path(argv[1])
    base = [load(p) for p in sorted((results / machine.fingerprint()).glob("default-*.json"))]
    names = [line.split()[0] for line in (out / "sessions.txt").read_text().splitlines()]
    saved = [p for p in sorted((results / "runs").rglob("*.json")) if "baseline-" not in str(p)]
    sessions = list(zip(names, [load(p) for p in saved]))

    def span(runs):
        s = gate.set_span([r.time for r in runs])
        return f"{len(runs)} runs over {s.minutes:.0f} min" if s else f"{len(runs)} run(s)"

    print(f"verdicts by compare --statistic {statistic}")
    rows = []
    for name, run in sessions:
        status, called, judged = judge(base, run, statistic)
        rows.append(dict(session=name, status=status, called=called, judged=judged))
    summary("set", rows, f"the set as measured: {span(base)}")

    grown, rows = list(base), []
    for name, run in sessions:
        status, called, judged = judge(grown, run, statistic)
        rows.append(dict(session=name, status=status, called=called, judged=judged))
        if status == Status.PASSED:
            grown.append(run)
    summary("grown", rows, f"the set grown by every session that passed: {span(base)} at first, {span(grown)} at the end")

    aa = [run for name, run in sessions if name.startswith("aa")]
    short, later = aa[:SHORT], [(n, r) for n, r in sessions if r not in aa[:SHORT]]
    for label, b in (("short", short), ("set", base)):
        rows = []
        for name, run in later:
            status, called, judged = judge(b, run, statistic)
            rows.append(dict(session=name, status=status, called=called, judged=judged))
        summary(label, rows, f"on the sessions after the first {SHORT} A/A: {span(b)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
