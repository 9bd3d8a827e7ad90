"""Reading results, never measuring: one model of a benchmark across runs (:mod:`.across`), verdict
statistics (:mod:`.verdict`), the roofline columns (:mod:`.roofline`), GPU record checks
(:mod:`.gpu_records`), the seeds' claims (:mod:`.claims`) and number formatting (:mod:`.fmt`). Imports
only :mod:`nptbench.schema`, so a report can never start a measurement."""
