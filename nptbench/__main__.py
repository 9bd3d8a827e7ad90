"""Command line: ``python -m nptbench <command> ...`` (``nptbench <command>`` once installed).

Each command lives in its own module with a ``main(argv) -> int``; this file only dispatches.
"""
from __future__ import annotations

import importlib
import sys

#: command -> (module, one-line help). A module is imported only when its command runs.
COMMANDS = {
    "doctor": ("nptbench.tools.doctor",
               "what this machine can run (BLAS kernels, GPU, numba CUDA, MNIST), and why not"),
    "ab": ("nptbench.tools.ab", "the same benchmarks under two setups, interleaved A B B A, then compare's verdict"),
    "calibrate": ("nptbench.tools.calibrate", "measure this machine's ceilings carefully into results/<fingerprint>/"),
    "compare": ("nptbench.tools.compare",
                "judge saved runs against a baseline set (between-run spread) or side by side: verdict per benchmark"),
    "baseline": ("nptbench.tools.baseline",
                 "build this machine's baseline set: N separate runs with pauses, each promoted to results/<fingerprint>/"),
    "promote": ("nptbench.tools.promote", "add a saved run to this machine's baseline set in results/"),
    "store": ("nptbench.tools.store", "import, export, list, prune and thin the runs of a results folder or PostgreSQL"),
    "report": ("nptbench.tools.report", "Markdown/HTML report with roofline and claims ledger from saved runs"),
    "history": ("nptbench.tools.history",
                "every saved run as a series per benchmark: steps found and explained, a dashboard, --json"),
    "bisect": ("nptbench.tools.bisect",
               "which release, commit or interpreter made benchmarks slower: interleaved probes over a ladder"),
    "matrix": ("nptbench.tools.matrix",
               "every CPU benchmark once under each thread count and kernel set the suite recommends or records"),
    "fractions": ("nptbench.tools.fractions",
                  "the hand-written CUDA kernels' share of cuBLAS (device time), from saved runs"),
}


def usage() -> str:
    lines = ["usage: python -m nptbench <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"nptbench: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if exc.name == COMMANDS[name][0]:
            print(f"nptbench: command {name!r} is not available in this version", file=sys.stderr)
            return 2
        raise
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
