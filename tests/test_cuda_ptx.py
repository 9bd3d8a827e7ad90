"""The numba CUDA kernels compiled for a real GPU on a machine without one.

numba's simulator (tests/test_cuda_sim.py) runs the kernels as Python, so it never types them for the
CUDA target nor shows what the compiler makes of them. Where a CUDA toolkit's NVVM is installed (no GPU or
driver needed), this module compiles each kernel to PTX for compute capability 9.0 (H100/H200) with the
same argument types the benchmarks pass, and checks what the tiling is for:

- every kernel compiles for the device (a kernel the simulator accepts can still fail to type there);
- the tiled kernels keep their accumulators in registers (no local-memory loads or stores);
- register blocking does what it claims: the tiled kernel reads shared memory twice per fused
  multiply-add, the register-blocked one half a time (a quarter of the traffic), and the 128x128 kernel
  reads and writes it only 128 bits at a time, a quarter of a value per multiply-add;
- each tiled kernel has the barriers its loop over k needs (one with two buffers, else two);
- with ptxas on the PATH (or under CUDA_HOME), the machine code spills no register, under the register
  limit a kernel declares.

Where numba cannot compile even a one-line kernel for sm_90, these checks skip and say which of two things
is wrong: no CUDA compiler for sm_90 (no toolkit, no libdevice, an NVVM too old, the simulator switched on),
or a numba-cuda that cannot compile although the compiler is there (one that does not work with this
numpy, say). Where ptxas cannot assemble the probe, the spill check skips and says why.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nptbench.env import backends
from nptbench.families import cuda_kernels as ck
from nptbench.families import matmul as mm

CC = (9, 0)
ARCH = "sm_90"
F32, F64 = "float32[:, ::1]", "float64[:, ::1]"
FLAT = "void(float32[::1], float32[::1], float32[::1], int64, int64, int64)"  # flattened operands and sizes


def _compiler_missing() -> str | None:
    """None when numba can compile for CC here, else why not, telling a missing compiler (no toolkit, no
    NVVM or libdevice, an NVVM too old for sm_90, the simulator on) apart from a numba-cuda that cannot
    compile with the compiler present (an incompatible numpy, say)."""
    problem = backends.numba_cuda_compile_problem(CC)
    return problem[1] if problem else None


def _ptxas() -> str | None:
    found = shutil.which("ptxas")
    if found:
        return found
    for home in filter(None, (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda")):
        candidate = Path(home) / "bin" / "ptxas"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


#: name -> (dispatcher factory, argument types as the benchmarks pass them: C-contiguous device arrays)
KERNELS = {
    "numba-cuda-naive": (mm.numba_cuda_kernel, f"void({F32}, {F32}, {F64})"),
    "numba-cuda-tiled16": (lambda: ck.tiled_kernel(16), f"void({F32}, {F32}, {F32})"),
    "numba-cuda-tiled32": (lambda: ck.tiled_kernel(32), f"void({F32}, {F32}, {F32})"),
    "numba-cuda-regtiled64": (ck.regtiled_kernel, f"void({F32}, {F32}, {F32})"),
    "numba-cuda-regtiled128": (ck.regtiled128_kernel, FLAT),
}
#: The tiled kernels, and the barriers each has in its loop over k: one after loading a slab and one after
#: computing with it, or, with two buffers, one (a slab is stored into the buffer not being read).
TILED = {"numba-cuda-tiled16": 2, "numba-cuda-tiled32": 2, "numba-cuda-regtiled64": 2, "numba-cuda-regtiled128": 1}


@pytest.fixture(scope="module")
def ptx():
    """PTX text of every kernel for sm_90, compiled once."""
    reason = _compiler_missing()
    if reason:
        pytest.skip(f"cannot compile CUDA kernels here: {reason}")
    from numba import cuda

    out = {"probe": cuda.compile_ptx(backends.probe_kernel, "void(float32[::1])", cc=CC)[0]}
    for name, (factory, sig) in KERNELS.items():  # outside any try: a kernel that fails to type fails
        text, _ = cuda.compile_ptx(factory().py_func, sig, cc=CC)
        out[name] = text
    return out


def _max_registers(name: str) -> int | None:
    """The register limit a kernel declares (``cuda.jit(max_registers=...)``): numba hands it to the
    assembler when it builds the kernel, so the ptxas check below does too."""
    return KERNELS[name][0]().targetoptions.get("max_registers")


def _count(text: str, pattern: str) -> int:
    return len(re.findall(pattern, text))


def test_every_benchmarked_kernel_is_compiled_here():
    assert set(KERNELS) == set(ck.KERNELS)


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_compiles_for_the_device(ptx, name):
    text = ptx[name]
    assert ".entry" in text and f".target {ARCH}" in text


@pytest.mark.parametrize("name", list(TILED))
def test_tiled_kernels_keep_their_accumulators_in_registers(ptx, name):
    text = ptx[name]
    assert _count(text, r"\bld\.local") == 0 and _count(text, r"\bst\.local") == 0, \
        f"{name} uses local memory: an accumulator array was not promoted to registers"
    assert _count(text, r"\bbar\.sync|\bbarrier\.sync") == TILED[name]


def _shared_loads_per_fma(text: str) -> float:
    fma = _count(text, r"\bfma\.rn\.f32")
    assert fma > 0, "no float32 fused multiply-add in the kernel"
    return _count(text, r"\bld\.shared") / fma


def test_register_blocking_cuts_shared_memory_reads_per_fma(ptx):
    tiled = _shared_loads_per_fma(ptx["numba-cuda-tiled16"])
    blocked = _shared_loads_per_fma(ptx["numba-cuda-regtiled64"])
    # tiled: one value of a and one of b per multiply-add; blocked: REG_PER of each per REG_PER**2
    assert tiled == pytest.approx(2.0)
    assert blocked == pytest.approx(2 * ck.REG_PER / ck.REG_PER ** 2)


def test_the_128_kernel_reads_and_writes_shared_memory_128_bits_at_a_time(ptx):
    """BIG_PER values of a and of b per BIG_PER**2 multiply-adds, four values (one QUAD) per instruction:
    every shared-memory load and store of the kernel is a 4-wide vector."""
    text = ptx["numba-cuda-regtiled128"]
    width = ck.QUAD.itemsize // 4
    assert _count(text, r"\bld\.shared\.v4\.f32") == _count(text, r"\bld\.shared") > 0
    assert _count(text, r"\bst\.shared\.v4\.f32") == _count(text, r"\bst\.shared") > 0
    assert _shared_loads_per_fma(text) * width == pytest.approx(2 * ck.BIG_PER / ck.BIG_PER ** 2)


def _assemble(ptxas: str, text: str, stem: Path, max_registers: int | None = None) -> subprocess.CompletedProcess:
    src = stem.with_suffix(".ptx")
    src.write_text(text)
    limit = [f"--maxrregcount={max_registers}"] if max_registers else []
    return subprocess.run([ptxas, f"-arch={ARCH}", "-v", *limit, str(src), "-o", str(stem.with_suffix(".cubin"))],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", list(KERNELS))
def test_machine_code_spills_no_register(ptx, name, tmp_path):
    ptxas = _ptxas()
    if ptxas is None:
        pytest.skip("ptxas is not installed (CUDA toolkit): the register check needs it")
    probe = _assemble(ptxas, ptx["probe"], tmp_path / "probe")
    if probe.returncode != 0:  # e.g. an older ptxas first on the PATH than the NVVM that wrote the PTX
        pytest.skip(f"{ptxas} cannot assemble this NVVM's PTX for {ARCH}: {probe.stderr.strip()[:200]}")
    limit = _max_registers(name)
    proc = _assemble(ptxas, ptx[name], tmp_path / name, limit)
    assert proc.returncode == 0, proc.stderr
    info = proc.stdout + proc.stderr
    used = re.findall(r"Used \d+ registers.*", info)
    print(f"{name}: {'; '.join(used)}" + (f" (limit {limit})" if limit else ""))
    assert "0 bytes spill stores" in info and "0 bytes spill loads" in info, info
