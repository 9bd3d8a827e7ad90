"""The code under benchmark, one module per experiment family, as plain functions: matrix products
(:mod:`.matmul`), tensor operations (:mod:`.ops`), training loops (:mod:`.training`), the GPU family
(:mod:`.gpu`) and its hand-written kernels (:mod:`.cuda_kernels`). Imports only :mod:`nptbench.env`."""
