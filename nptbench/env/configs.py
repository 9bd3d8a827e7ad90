"""The configurations the suite recommends or records, each of which every CPU benchmark must pass.

A configuration is a set of environment variables that changes which code computes a result without
changing the result's definition: the thread count (so the order of parallel reductions), OpenBLAS's
kernel set (``OPENBLAS_CORETYPE``), torch's CPU kernels (``ATEN_CPU_CAPABILITY``) and MKL's instruction set
(``MKL_ENABLE_INSTRUCTIONS``). Each is tried on a fresh process: :func:`applies` says whether it applies on
this CPU, with the evidence (the kernel threadpoolctl names, the capability torch reports) or the reason it
does not (a CPU without wider kernels, MKL naming no instruction set). ``python -m nptbench matrix`` runs the
suite under each (nptbench.tools.matrix).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

from nptbench.env import blas
from nptbench.env.machine import usable_cores
from nptbench.schema.record import THREAD_VARIABLES


@dataclass(frozen=True)
class Config:
    """One configuration: ``env`` is set, ``unset`` removed, in the child's environment."""

    name: str
    what: str
    env: dict = field(default_factory=dict)
    unset: tuple = ()

    def environ(self, base: dict | None = None) -> dict:
        out = {k: v for k, v in dict(os.environ if base is None else base).items() if k not in self.unset}
        out.update(self.env)
        return out


def threads(n: int | None) -> dict:
    """The thread-count variables pinned to ``n`` (none when None)."""
    return {} if n is None else {k: str(n) for k in THREAD_VARIABLES}


#: OpenBLAS reads OPENBLAS_L2_SIZE with its core type: both are left out of a forced kernel set together.
_OPENBLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def all_configs() -> list[Config]:
    """Every configuration of the matrix, in the order it is run."""
    n = usable_cores()
    return [
        Config("threads-1", "every thread variable at 1 (the recipe for a baseline on a shared machine)", threads(1)),
        Config(f"threads-{n}", f"every thread variable at the machine's {n} cores", threads(n)),
        Config("openblas-sse", "OpenBLAS held to its SSE kernels", {"OPENBLAS_CORETYPE": "Prescott"}, _OPENBLAS),
        Config("openblas-avx2", "OpenBLAS held to its AVX2 kernels", {"OPENBLAS_CORETYPE": "Haswell"}, _OPENBLAS),
        Config("aten-default", "torch's scalar CPU kernels", {"ATEN_CPU_CAPABILITY": "default"}),
        Config("aten-avx2", "torch's AVX2 CPU kernels", {"ATEN_CPU_CAPABILITY": "avx2"}),
        Config("mkl-avx2", "MKL held to AVX2", {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
        Config("mkl-sse4_2", "MKL held to SSE4.2", {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}),
    ]


#: How wide each OpenBLAS core type's kernels are, for "does this CPU have wider ones than AVX2?".
_WIDER_THAN_AVX2 = ("skylakex", "cooperlake", "sapphirerapids", "zen4", "zen5")


class NotApplicable(Exception):
    """A configuration's probe failed: the reason it does not apply."""


def _probe(config: Config) -> dict:
    """The kernel probe under ``config``; a probe that fails (a library that refuses the knob and stops the
    process) is :class:`NotApplicable` with what it said."""
    try:
        return blas.probe(config.environ())
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        knobs = " ".join(f"{k}={v}" for k, v in config.env.items())
        raise NotApplicable(f"{knobs}: {exc}") from None


def applies(config: Config, native: dict | None = None) -> tuple[bool, str]:
    """Whether ``config`` applies on this CPU and switches what it says, tried on fresh processes
    (nptbench.env.blas.probe): ``(True, evidence)`` or ``(False, reason)``. ``native`` is the probe's answer
    without any knob (asked when not given)."""
    try:
        return _applies(config, native if native is not None else blas.probe())
    except NotApplicable as exc:
        return False, str(exc)


def _applies(config: Config, native: dict) -> tuple[bool, str]:
    if config.name.startswith("threads-"):
        return True, f"{' '.join(f'{k}={v}' for k, v in config.env.items())}"
    numpy_blas = native.get("numpy") or {}
    if config.name.startswith("openblas-"):
        before = numpy_blas.get("kernels")
        if not before or "openblas" not in str(numpy_blas.get("name", "")).lower():
            return False, f"numpy's BLAS is not OpenBLAS naming its kernels ({numpy_blas.get('evidence')})"
        if config.name == "openblas-avx2" and before.lower() not in _WIDER_THAN_AVX2:
            return False, f"this CPU's OpenBLAS kernels ({before}) are not wider than AVX2"
        after = (_probe(config).get("numpy") or {}).get("kernels")
        want = "narrow" if config.name == "openblas-sse" else "haswell"
        ok = blas.is_narrow(after or "") if want == "narrow" else str(after).lower() == "haswell"
        if not ok:
            return False, f"OPENBLAS_CORETYPE={config.env['OPENBLAS_CORETYPE']} left OpenBLAS on {after}"
        return True, f"OpenBLAS went from {before} to {after} (threadpoolctl)"
    if config.name.startswith("aten-"):
        before = native.get("torch_capability")
        if before is None:
            return False, "torch is not importable"
        after = _probe(config).get("torch_capability")
        want = config.env["ATEN_CPU_CAPABILITY"].upper()
        if config.name == "aten-avx2" and before not in ("AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX"):
            return False, f"torch's native CPU capability is {before}: nothing wider than AVX2 to hold back"
        if after != want:
            return False, f"ATEN_CPU_CAPABILITY={config.env['ATEN_CPU_CAPABILITY']} left torch on {after}"
        return True, f"torch's CPU capability went from {before} to {after}"
    if config.name.startswith("mkl-"):
        torch_blas = native.get("torch") or {}
        users = [lib for lib, b in (("torch", torch_blas), ("numpy", numpy_blas)) if "mkl" in str(b.get("name", "")).lower()]
        if not users:
            return False, "neither numpy nor torch uses MKL here"
        if not any((native.get(lib) or {}).get("kernels") for lib in users):
            evidence = (native.get(users[0]) or {}).get("evidence")
            return False, (f"MKL names no instruction set on this CPU ({evidence}), so whether it honours "
                           "MKL_ENABLE_INSTRUCTIONS cannot be checked")
        after = _probe(config)
        got = [(after.get(lib) or {}).get("kernels") for lib in users]
        want = config.env["MKL_ENABLE_INSTRUCTIONS"].replace("_", ".").upper()
        if not any(str(g).upper() == want for g in got):
            return False, f"MKL_ENABLE_INSTRUCTIONS={config.env['MKL_ENABLE_INSTRUCTIONS']} left MKL on {got}"
        return True, f"MKL went to {want} for {', '.join(users)}"
    return False, f"unknown configuration {config.name}"
