"""The environment a benchmark runs in: backends and whether they are here (:mod:`.backends`), BLAS
kernels (:mod:`.blas`), the machine, its fingerprint and threads (:mod:`.machine`), where MNIST lies
(:mod:`.mnist_source`). Imports only :mod:`nptbench.schema`."""
