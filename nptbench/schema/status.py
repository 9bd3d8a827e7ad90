"""The exit statuses of every command of ``python -m nptbench`` and of the gate: one number, one meaning.

A command answers one question about runs (compare, the gate, ``ab``: did anything get slower? history:
does a new slowdown step begin? bisect: which rung made it slower? baseline: could the set be made?), and
its exit status says how the answer came out:

- :attr:`Status.PASSED` (0): nothing slower, no new step, no culprit; the set was made;
- :attr:`Status.FAILED` (1): something got slower (compare, the gate, ``ab``), a new slowdown step
  (history ``--fail-on-new-step``), a culprit found (bisect), a benchmark failed its check (baseline);
- :attr:`Status.BAD_INPUT` (2): a run cannot be read, a set is refused, bad arguments, or a run that
  could not run or be saved;
- :attr:`Status.NOTHING` (3): nothing was compared (no benchmark on both sides, no series);
- :attr:`Status.CANNOT_JUDGE` (4): the question has no answer from these runs: a baseline too thin, a
  machine whose drift could explain every slower row, a bisection left ambiguous or blocked by broken rungs;
- :attr:`Status.INTERRUPTED` (130): stopped by Ctrl-C, as a shell reports it.

The numbers are those each command used before they shared this enum, so scripts and CI that test them
keep working.
"""
from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """A command's exit status (see the module docstring)."""

    PASSED = 0
    FAILED = 1
    BAD_INPUT = 2
    NOTHING = 3
    CANNOT_JUDGE = 4
    INTERRUPTED = 130
