"""What each backend needs, whether it is here, and how to wait for it.

Every availability check returns ``None`` when the backend can run, or a one-line reason naming what is
missing: the benchmark skips with exactly that reason. Optional packages are imported lazily, so a
missing numba never breaks collection.
"""
from __future__ import annotations

import contextlib
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


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, short enough for a skip reason."""
    first = (str(exc).strip().splitlines() or [""])[0][:limit]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def probe_kernel(x):  # the smallest kernel: one thread writes one value
    x[0] = 1.0


def numba_cuda_launch_problem() -> str | None:
    """Compile and launch a one-line kernel on the device; ``None`` when it ran and wrote its value, else
    the exception (one line). ``numba.cuda.is_available()`` only asks the driver: a numba-cuda that cannot
    type or compile for this numpy (numba-cuda 0.30 and numpy 2.5, say) still passes it."""
    try:
        from numba import cuda

        kernel = cuda.jit("void(float32[::1])")(probe_kernel)  # a signature: compiled here, eagerly
        out = cuda.device_array(1, dtype=np.float32)
        kernel[1, 1](out)
        cuda.synchronize()
        value = out.copy_to_host()[0]
    except Exception as exc:
        return _one_line(exc)
    if value != 1.0:
        return f"the probe kernel wrote {value!r} instead of 1.0"
    return None


def numba_cuda_compile_problem(cc: tuple[int, int]) -> tuple[str, str] | None:
    """``None`` when numba compiles a one-line kernel to PTX for compute capability ``cc`` (no GPU needed),
    else ``(kind, reason)``: ``"compiler"`` where the CUDA compiler itself is missing or refuses (no NVVM or
    libdevice, an NVVM too old for that architecture, the simulator on), ``"numba-cuda"`` where numba's CUDA
    target fails in its own Python layer (an incompatible numpy, say). The reason quotes the error."""
    arch = f"sm_{cc[0]}{cc[1]}"
    if cudasim_enabled():
        return "compiler", "numba's CUDA simulator is on (NUMBA_ENABLE_CUDASIM=1): it does not compile"
    try:
        from numba import cuda

        cuda.compile_ptx(probe_kernel, "void(float32[::1])", cc=cc)
    except Exception as exc:
        if _is_toolkit_error(exc):
            return "compiler", f"no CUDA compiler for {arch} here ({_one_line(exc)})"
        return "numba-cuda", f"numba-cuda cannot compile for {arch} here ({_one_line(exc)})"
    return None


#: Exception classes and phrases of the CUDA toolkit itself, as numba reports them.
TOOLKIT_ERRORS = {"NvvmError", "NvvmSupportError", "NvvmWarning", "CudaSupportError", "LinkerError"}
TOOLKIT_PHRASES = ("libdevice", "libnvvm", "nvvm_error", "not supported by this nvvm", "unsupported gpu architecture",
                   "cuda toolkit")


def _is_toolkit_error(exc: BaseException) -> bool:
    """An error of the CUDA toolkit itself (NVVM, libdevice, an unsupported architecture), as opposed to
    one of numba's Python layer (which may name a module called nvvm without being about the compiler)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = str(exc).lower()
    return bool(names & TOOLKIT_ERRORS) or any(phrase in text for phrase in TOOLKIT_PHRASES)


@functools.lru_cache(maxsize=None)
def missing_numba_cuda() -> str | None:
    """``None`` when numba can launch kernels on a real CUDA device, else why not. Checked once a process:
    the driver sees a device, and a one-line kernel compiles, launches and writes its value."""
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
        return f"numba's CUDA target is unusable ({_one_line(exc)})"
    problem = numba_cuda_launch_problem()
    if problem:
        return f"numba's CUDA target cannot compile and launch a kernel here ({problem})"
    return None


def configure_torch() -> None:
    """Make fp32 products really fp32 (no TF32) so fp32 variants are checked at fp32 accuracy, and keep
    inductor's compiled code apart per CPU kernel set (:func:`inductor_cache_dir`)."""
    import torch

    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        capability = torch.backends.cpu.get_cpu_capability()
        tag = os.environ.get(INDUCTOR_TAG_ENV)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor_cache_dir(f"{tag}-{capability}" if tag else capability)


#: Set by a process that runs the suite under another CPU than the machine's own (valgrind's simulated CPU,
#: nptbench.measure.instruments): inductor's cache folder gets it in its name, so code compiled for one CPU
#: is never loaded on the other (measured: an AVX-512 kernel cached by a timed run killed a counted session
#: with an illegal instruction).
INDUCTOR_TAG_ENV = "NPTBENCH_INDUCTOR_TAG"
#: The start of every inductor cache folder name the suite makes (:func:`inductor_cache_dir`).
INDUCTOR_DIR_PREFIX = "torchinductor_nptbench_"


def inductor_cache_dir(capability: str) -> str:
    """Inductor's on-disk cache for code compiled under torch's CPU ``capability``: its default folder with
    the capability appended. Inductor's cache key leaves ATEN_CPU_CAPABILITY out, and measured here
    (torch 2.13, an AVX-512 CPU), code cached under the native AVX512 and loaded under
    ATEN_CPU_CAPABILITY=avx2 returned a wrong result (twolayer/torch-compile off by 63 %), and under
    ``default`` failed to compile; with a folder per capability both pass. A TORCHINDUCTOR_CACHE_DIR set by
    the user is left as it is."""
    import getpass
    import tempfile

    try:
        user = getpass.getuser()
    except Exception:
        user = "user"
    name = "".join(c if c.isalnum() else "_" for c in f"{user}-{capability}".lower())
    return os.path.join(tempfile.gettempdir(), f"{INDUCTOR_DIR_PREFIX}{name}")


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


# --- precision modes of a torch product ------------------------------------------------------------------

#: variant id -> dtype name, which picks the tolerance in nptbench.measure.check.RTOL.
PRECISIONS = {"fp32": "float32", "tf32": "tf32", "bf16": "bfloat16", "fp16": "float16"}


def precision_flags() -> dict:
    """torch's matmul settings that decide how a product is computed (recorded with each variant)."""
    import torch

    m = torch.backends.cuda.matmul
    return {
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "allow_tf32": bool(m.allow_tf32),
        "allow_fp16_reduced_precision_reduction": bool(m.allow_fp16_reduced_precision_reduction),
        "allow_bf16_reduced_precision_reduction": bool(m.allow_bf16_reduced_precision_reduction),
    }


@contextlib.contextmanager
def matmul_precision(mode: str):
    """fp32 products in ``mode``: TF32 on only for ``"tf32"``; the reference mode (TF32 off) restored after.

    bf16 and fp16 variants compute in their operands' dtype with torch's default accumulation settings,
    which the record states (:func:`precision_flags`).
    """
    import torch

    if mode not in PRECISIONS:
        raise ValueError(f"unknown precision mode {mode!r}; expected one of {tuple(PRECISIONS)}")
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if mode == "tf32" else "highest")
    try:
        yield precision_flags()
    finally:
        torch.set_float32_matmul_precision(saved)


def cast_operand(t, mode: str):
    """An fp32 operand as the mode takes it (cast outside the timed region)."""
    import torch

    return t.to({"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode, torch.float32))
