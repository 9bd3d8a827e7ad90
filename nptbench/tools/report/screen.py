"""The seeds' claims as this session measured them, for the end of a timed ``pytest bench``: the question a
learner runs the suite for ("is torch 4-5x faster than numpy here?"), answered on the first screen.

Each claim of nptbench/analysis/claims.toml whose two benchmarks ran: the seed's figure, this machine's, the
verdict as the report's ledger decides it (nptbench.analysis.claims.evaluate, same tolerance) and, where the
seed's comparison was unfair, the fair ratio. The claims the session could not test are named in one line
with their reasons. The report (``python -m nptbench report``) has the whole ledger.
"""
from __future__ import annotations

from pathlib import Path

from nptbench.analysis import claims
from nptbench.schema.runs import Run
from nptbench.tools.report.data import ReportError, gather_runs, skip_reasons, times_by_context

#: Longest list of untestable claims named before "and N more".
NAMED = 6


def claims_lines(saved: dict, claims_path=claims.PATH) -> list[str]:
    """The table's lines for one saved run (pytest-benchmark's JSON, as saved), or none when the run holds
    no claim's benchmarks."""
    try:
        runs = gather_runs([Run(Path("this session"), saved)])
    except ReportError:
        return []
    ledger, tolerance = claims.load(claims_path)
    rows = claims.evaluate(ledger, times_by_context(runs), tolerance, skip_reasons(runs),
                               host=times_by_context(runs, host=True))
    tested = [r for r in rows if r.ours is not None]
    untested = [r for r in rows if r.ours is None]
    if not tested:
        return []
    head = ["claim", "seed", "here", "verdict", "fair ratio"]
    body = [[r.claim.id, claims.fmt_seed_ratio(r.claim.seed_ratio), claims.fmt_ratio(r.ours), r.verdict,
             claims.fmt_ratio(r.fair) if r.claim.fair_baseline else ""] for r in tested]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    lines = [fmt(head), *map(fmt, body)]
    lines.append(f"ratios: how many times faster the claim's contender is; reproduced within a factor {tolerance:g} "
                 "of the seed's (python -m nptbench report: the whole ledger, with why each fair ratio is fair)")
    if untested:
        names = [r.claim.id for r in untested]
        listed = ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")
        reasons = "; ".join(dict.fromkeys(_reason(r.why) for r in untested))
        lines.append(f"not testable in this session ({len(untested)}): {listed}: {reasons}")
    return lines


def _reason(why: str) -> str:
    """A claim's missing-benchmark reason without the benchmark's name: ``skipped: no CUDA device ...``, or
    that its benchmarks were not in this session (deselected)."""
    first = why.split("; ")[0]
    first = first.split(" ", 1)[1] if " " in first else first
    return "its benchmarks did not run in this session" if first == "not in these runs" else first
