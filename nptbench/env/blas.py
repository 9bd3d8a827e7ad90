"""Which kernels the BLAS libraries of numpy and torch (and torch's own operators) really run, asked of a
fresh process.

The libraries choose their kernels when they load, from the CPU and from environment variables
(``OPENBLAS_CORETYPE`` for OpenBLAS, ``MKL_ENABLE_INSTRUCTIONS`` for MKL), so the question is put to a
child process started with the environment in question. OpenBLAS names its core type (through
threadpoolctl); MKL names the instruction set it dispatched to in the header of its verbose mode, and its
verbose lines show whether torch's product went through MKL at all. Where a library names nothing, the
answer says so instead of guessing: on some CPUs (AMD's, for one) MKL names no instruction set, and
``MKL_ENABLE_INSTRUCTIONS`` may then change nothing.

:func:`narrowed` decides from two such answers (without and with a knob) whether a knob really switched a
library to its narrow (SSE) kernels: ``True`` with the evidence, ``False`` where it visibly did not, ``None``
where it cannot be told.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

#: Environment variables that switch each BLAS to kernels without AVX (x86 only).
NARROW_KNOBS = {"OPENBLAS_CORETYPE": "Prescott", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}

#: OpenBLAS core types without AVX: what OPENBLAS_CORETYPE=Prescott selects (OpenBLAS may report a
#: neighbour of the one asked for, e.g. Katmai for Prescott).
OPENBLAS_NARROW = {"katmai", "coppermine", "northwood", "prescott", "banias", "core2", "penryn", "dunnington",
                   "nehalem", "atom", "athlon", "opteron", "opteron_sse3", "barcelona", "bobcat", "nano"}

_MARK = "nptbench-blas-probe:"
_PROBE = f"""
import json, re
import numpy as np
a = np.ones((64, 64), dtype=np.float32)
a @ a
out = {{"numpy": {{}}, "torch": None}}
try:
    cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    out["numpy"]["name"] = str(cfg.get("name"))
except Exception:
    pass
try:
    import torch
    t = torch.ones(64, 64)
    print("{_MARK}torch-product-begins", flush=True)
    t @ t
    print("{_MARK}torch-product-ends", flush=True)
    m = re.search(r"BLAS_INFO=(\\w+)", torch.__config__.show())
    out["torch"] = {{"name": m.group(1) if m else None}}
    out["torch_capability"] = torch.backends.cpu.get_cpu_capability()
except Exception as exc:
    out["torch_error"] = f"{{type(exc).__name__}}: {{exc}}"
try:
    from threadpoolctl import threadpool_info
    out["pools"] = [{{k: p.get(k) for k in ("internal_api", "architecture", "filepath", "version")}}
                    for p in threadpool_info()]
except ImportError:
    out["pools"] = None
print("{_MARK}" + json.dumps(out), flush=True)
"""

_ISA = re.compile(r"\(Intel\(R\) (AVX-512|AVX512|AVX2|AVX|SSE4\.2|SSE4_2|SSE4\.1|SSSE3|SSE3|SSE2)\)")


def mkl_isa(header: str | None) -> str | None:
    """The instruction set named in MKL's verbose header, e.g. ``AVX2`` or ``SSE4.2``; None where it names
    none (as on CPUs MKL has no dedicated code path for)."""
    m = _ISA.search(header or "")
    return m.group(1).replace("SSE4_2", "SSE4.2") if m else None


def parse(stdout: str) -> dict:
    """The probe's output as ``{"numpy": {...}, "torch": {...} | None, "torch_capability": ...}``; each
    library: ``name`` (the BLAS), ``kernels`` (core type or instruction set, None where the library names
    none) and ``evidence``; ``torch_capability`` the CPU kernels torch's own operators run (None without
    torch)."""
    lines = stdout.splitlines()
    data = next((json.loads(ln[len(_MARK):]) for ln in reversed(lines)
                 if ln.startswith(_MARK) and ln[len(_MARK):].startswith("{")), None)
    if data is None:
        raise RuntimeError("the BLAS probe printed no answer")
    header = next((ln[len("MKL_VERBOSE"):].strip() for ln in lines
                   if ln.startswith("MKL_VERBOSE") and "GEMM" not in ln), None)
    try:
        begin = lines.index(f"{_MARK}torch-product-begins")
        end = lines.index(f"{_MARK}torch-product-ends")
        torch_lines = lines[begin + 1:end]
    except ValueError:
        torch_lines = []
    torch_via_mkl = any(ln.startswith("MKL_VERBOSE SGEMM") for ln in torch_lines)

    openblas = [p for p in data.get("pools") or [] if p.get("internal_api") == "openblas"]
    np_pool = next((p for p in openblas if "numpy" in str(p.get("filepath", ""))), openblas[0] if openblas else None)
    numpy_name = (data.get("numpy") or {}).get("name") or (np_pool and "openblas") or None
    out = {"numpy": {"name": numpy_name, "kernels": None, "evidence": "no BLAS pool seen by threadpoolctl"}}
    if data.get("pools") is None:
        out["numpy"]["evidence"] = "threadpoolctl is not installed"
    elif np_pool and "openblas" in str(numpy_name).lower():
        out["numpy"].update(kernels=np_pool.get("architecture"),
                            evidence=f"OpenBLAS {np_pool.get('version')} core type {np_pool.get('architecture')}")
    elif "mkl" in str(numpy_name).lower():
        out["numpy"].update(kernels=mkl_isa(header), evidence=f"MKL verbose header: {header}")

    out["torch"] = None
    #: the CPU kernels torch's own operators dispatch to (AVX512, AVX2, DEFAULT ...; ATEN_CPU_CAPABILITY)
    out["torch_capability"] = data.get("torch_capability")
    if data.get("torch") is not None:
        name = data["torch"].get("name")
        out["torch"] = {"name": name, "kernels": None, "evidence": f"torch reports BLAS {name}"}
        if str(name).lower() == "mkl":
            if not torch_via_mkl:
                out["torch"]["evidence"] = "torch's float32 product did not go through MKL (no MKL_VERBOSE SGEMM)"
            else:
                out["torch"].update(kernels=mkl_isa(header), evidence=f"MKL verbose header: {header}")
    elif data.get("torch_error"):
        out["torch_error"] = data["torch_error"]
    return out


def probe(env: dict | None = None, timeout: float = 120, prefix: tuple = ()) -> dict:
    """Ask a fresh Python process, started with ``env`` (default: this one's), which kernels its BLAS
    libraries run (see :func:`parse`); ``prefix``: a command it runs under (valgrind, for the kernels
    taken under ``--instrument instructions``)."""
    env = dict(os.environ if env is None else env)
    env["MKL_VERBOSE"] = "1"
    proc = subprocess.run([*prefix, sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"the BLAS probe failed: {proc.stderr.strip()[-500:]}")
    return parse(proc.stdout)


def is_narrow(kernels: str) -> bool:
    """Whether a kernel set (an OpenBLAS core type, an MKL instruction set) is one without AVX."""
    k = kernels.lower()
    return k in OPENBLAS_NARROW or k.startswith(("sse", "ssse"))


def narrowed(lib: str, default: dict, knob: dict) -> tuple[bool | None, str]:
    """Did the narrow-kernel knobs switch ``lib`` ("numpy" or "torch") from wide to narrow kernels?

    ``default`` and ``knob`` are :func:`probe` answers without and with :data:`NARROW_KNOBS`. Returns
    ``(True, evidence)``, ``(False, why not)`` where the library visibly kept its kernels, or
    ``(None, why it cannot be told)``.
    """
    before, after = default.get(lib), knob.get(lib)
    if not before or not after:
        return None, f"{lib} or its BLAS is not importable here"
    name = after.get("name") or "its BLAS"
    if after.get("kernels") is None or before.get("kernels") is None:
        return None, f"{lib}'s BLAS ({name}) does not say which kernels it runs here ({after['evidence']})"
    if is_narrow(before["kernels"]):
        return None, f"{lib}'s BLAS ({name}) runs narrow kernels ({before['kernels']}) even without the knobs"
    if not is_narrow(after["kernels"]):
        return False, (f"the knobs did not switch {lib}'s BLAS ({name}): it still runs {after['kernels']} "
                       f"({after['evidence']})")
    return True, f"{lib}'s BLAS ({name}) went from {before['kernels']} to {after['kernels']} ({after['evidence']})"
