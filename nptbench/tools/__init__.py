"""One module per command of ``python -m nptbench`` (each with ``main(argv) -> int``; nptbench.__main__.COMMANDS
lists them): doctor, ab, calibrate, compare, baseline, promote, report, history (with its dashboard), bisect,
matrix, fractions and store. The top layer below the pytest plugin."""


def split_pytest_args(argv: list[str] | None) -> tuple[list[str], list[str]]:
    """A command's own arguments and the pytest arguments after ``--`` (``ab`` and ``baseline`` take both)."""
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if "--" not in argv:
        return argv, []
    at = argv.index("--")
    return argv[:at], argv[at + 1:]
