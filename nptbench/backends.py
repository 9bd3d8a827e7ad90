"""What each backend needs, whether it is here, and how to wait for it.

Every availability check returns ``None`` when the backend can run, or a one-line reason naming what is
missing: the benchmark skips with exactly that reason. Optional packages are imported lazily, so a
missing numba never breaks collection.
"""
from __future__ import annotations

import functools
import importlib
import os

import numpy as np


@functools.lru_cache(maxsize=None)
def missing_package(name: str) -> str | None:
    """``None`` when ``name`` imports, else the reason it does not."""
    try:
        importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install raising something else
        return f"{name} is not importable ({type(exc).__name__}: {exc})"
    return None


@functools.lru_cache(maxsize=None)
def missing_cuda() -> str | None:
    """``None`` when torch sees a CUDA device, else why not."""
    reason = missing_package("torch")
    if reason:
        return reason
    import torch

    if torch.version.cuda is None:
        return f"no CUDA device: torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return f"no CUDA device: torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU"
    return None


def cudasim_enabled() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.lru_cache(maxsize=None)
def missing_numba_cuda() -> str | None:
    """``None`` when numba can launch kernels on a real CUDA device, else why not."""
    reason = missing_package("numba")
    if reason:
        return reason
    if cudasim_enabled():
        return "numba's CUDA simulator is enabled (NUMBA_ENABLE_CUDASIM): its timings would mean nothing"
    try:
        from numba import cuda

        if not cuda.is_available():
            return "no CUDA device for numba: numba.cuda.is_available() is False"
    except Exception as exc:
        return f"numba's CUDA target is unusable ({type(exc).__name__}: {exc})"
    return None


def configure_torch() -> None:
    """Make fp32 products really fp32 (no TF32) so fp32 variants are checked at fp32 accuracy."""
    import torch

    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False


def sync(device: str) -> None:
    """Wait for queued work on ``device``: a no-op on the CPU, a device-wide synchronize on CUDA (through
    torch, or through numba where only numba sees the GPU; both wait for every stream of the device)."""
    if device == "cuda":
        if missing_cuda() is None:
            import torch

            torch.cuda.synchronize()
        else:  # numba sees the GPU but torch does not (a CPU build of torch): wait through numba
            from numba import cuda

            cuda.synchronize()


def synced(fn, device: str):
    """``fn`` followed by :func:`sync`, so a timed call includes the device work it queued."""
    if device == "cpu":
        return fn

    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        sync(device)
        return out

    call.__name__ = getattr(fn, "__name__", "call")
    call.__wrapped__ = fn
    return call


def to_numpy(value) -> np.ndarray:
    """Any result (numpy, torch on any device, numba device array, nested lists) as a numpy array."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # torch.Tensor
        t = value.detach()
        if t.dtype.is_floating_point and t.dtype.itemsize < 4:  # bf16/fp16 have no numpy twin everywhere
            t = t.float()
        return t.cpu().numpy()
    if hasattr(value, "copy_to_host"):  # numba device array
        return value.copy_to_host()
    return np.asarray(value)
