"""nptbench: the same numerical work in pure Python, NumPy, PyTorch (CPU, CUDA) and Numba, measured
honestly. The code under benchmark is plain functions, one module per experiment family."""

__version__ = "0.1.0"
