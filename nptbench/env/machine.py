"""What machine and software a run measured: saved with every run (pytest-benchmark's machine_info)."""
from __future__ import annotations

import importlib
import os
import platform
import re
import shutil
import subprocess

from nptbench.schema.record import THREAD_VARIABLES
from nptbench.schema.runs import make_fingerprint


def _version(name: str) -> str | None:
    try:
        return getattr(importlib.import_module(name), "__version__", "unknown")
    except Exception:
        return None


def _cpuinfo(*keys: str) -> str | None:
    """The value of the first /proc/cpuinfo line that starts with one of ``keys`` (None elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(keys):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_vendor() -> str:
    """``AuthenticAMD``, ``GenuineIntel``, or an Arm implementer code."""
    return _cpuinfo("vendor_id", "CPU implementer") or platform.processor() or "unknown"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def numpy_blas() -> str | None:
    import numpy as np

    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:
        return None


def torch_blas() -> str | None:
    try:
        import torch

        m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
        return m.group(1) if m else None
    except Exception:
        return None


def blas_threads() -> dict | None:
    """Thread pools of the loaded BLAS libraries (needs threadpoolctl, optional)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return {f"{p.get('internal_api')}:{os.path.basename(p.get('filepath', ''))}": p.get("num_threads")
            for p in threadpool_info()}


def gpu_info() -> list[dict]:
    """Name, compute capability, memory, driver and CUDA version of each CUDA device torch sees."""
    try:
        import torch

        if not torch.cuda.is_available():
            return []
    except Exception:
        return []
    driver = None
    if shutil.which("nvidia-smi"):
        try:
            driver = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10,
            ).stdout.split("\n")[0].strip() or None
        except (OSError, subprocess.SubprocessError):
            driver = None
    gpus = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        gpus.append({
            "name": p.name,
            "capability": f"{p.major}.{p.minor}",
            "memory_gib": round(p.total_memory / 2**30, 1),
            "multiprocessors": p.multi_processor_count,
            "driver": driver,
            "cuda_runtime": torch.version.cuda,
        })
    return gpus


def blas_kernels() -> dict | None:
    """The kernel set each loaded BLAS runs (threadpoolctl's ``architecture``, e.g. OpenBLAS's "Haswell",
    or "Prescott" when held to its SSE kernels by OPENBLAS_CORETYPE), by library file; None without
    threadpoolctl. It changes a BLAS's speed without changing its version."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return {os.path.basename(p.get("filepath", "")): p.get("architecture")
            for p in threadpool_info() if p.get("user_api") == "blas"}


#: Variables that ask a library for a kernel set (recorded as set, beside what the libraries report).
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")


def cpu_kernels() -> dict:
    """The CPU kernels torch's operators dispatch to (``torch.backends.cpu.get_cpu_capability()``: AVX512,
    AVX2, DEFAULT ...; changed by ATEN_CPU_CAPABILITY) and the kernel-set variables set in this process.
    MKL names the instruction set it runs only in its verbose header (nptbench.env.blas asks a fresh process
    for it: doctor and the configuration matrix); here its MKL_ENABLE_INSTRUCTIONS, if set, is recorded."""
    out: dict = {"torch": None}
    try:
        import torch

        out["torch"] = torch.backends.cpu.get_cpu_capability()
    except Exception:
        pass
    out.update({k: os.environ[k] for k in KERNEL_VARIABLES if os.environ.get(k)})
    return out


def describe() -> dict:
    """Everything a reader needs to know where a number came from."""
    info = {
        "versions": {name: _version(name) for name in ("numpy", "torch", "numba", "fastcore", "pytest_benchmark")},
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_cores": usable_cores(),
        "blas": {"numpy": numpy_blas(), "torch": torch_blas()},
        "blas_kernels": blas_kernels(),
        "cpu_kernels": cpu_kernels(),
        "threads": {
            "env": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
            "blas_pools": blas_threads(),
        },
        "gpus": gpu_info(),
    }
    try:
        import torch

        info["threads"]["torch"] = torch.get_num_threads()
        info["threads"]["torch_interop"] = torch.get_num_interop_threads()
    except Exception:
        pass
    return info


def fingerprint() -> str:
    """This machine's hardware fingerprint (nptbench.schema.runs.make_fingerprint; the GPU part asks torch,
    like the rest of the suite)."""
    return make_fingerprint(cpu_model(), usable_cores(), [g["name"] for g in gpu_info()])


def thread_settings() -> dict:
    """The settings a CPU ceiling depends on: the thread variables and torch's thread count."""
    out = {"env": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}}
    try:
        import torch

        out["torch"] = torch.get_num_threads()
    except Exception:
        out["torch"] = None
    return out
