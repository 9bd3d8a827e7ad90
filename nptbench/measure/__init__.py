"""Measuring: the harness that warms up, times, checks and records one benchmark (:mod:`.harness`), the
correctness check (:mod:`.check`), peak memory (:mod:`.memory`), device time (:mod:`.devicetime`) and the
machine's ceilings (:mod:`.ceilings`). Imports :mod:`nptbench.schema` and :mod:`nptbench.env`."""
