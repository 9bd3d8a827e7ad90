"""One module per command of ``python -m nptbench`` (each with ``main(argv) -> int``): compare, ab, promote,
calibrate, doctor, fractions and the report. The top layer below the pytest plugin."""
