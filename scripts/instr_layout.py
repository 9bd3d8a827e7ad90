"""Why a small call's instruction count moves between sessions (results/instructions.md, round 3:
"Why a small call's count moves between sessions"). Three experiments, each in fresh valgrind processes run as the instrument runs them
(nptbench.measure.instruments.command and environment: ASLR off, PYTHONHASHSEED=0, one thread, the
kernels and the allocator threshold held):

    python scripts/instr_layout.py align       numpy's 64x64 float64 addition, its operands placed at
                                               byte offsets 0, 8, 16, 32 from a 64-byte boundary
    python scripts/instr_layout.py heap [--trim | --thread] SPEC..
                                               one process per SPEC (comma-separated sizes of buffers held
                                               live before the operands are made; 0: none): torch's and
                                               numpy's 64x64 additions on the suite's operands, counted
                                               twice each; --trim: malloc_trim(0) before
                                               each count; --thread: each count in a
                                               thread of its own
    python scripts/instr_layout.py functions   torch's 64x64 addition, two windows of 100 calls in one
                                               process with buffers allocated and partly freed between
                                               them: the functions whose instructions differ
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nptbench.measure import instruments

ROOT = Path(__file__).resolve().parent.parent

ALIGN = r'''
import numpy as np
from nptbench.measure import instruments as i
c, rng = i.Counter.here(), np.random.default_rng(0)
def at(offset):
    buf = np.empty(64 * 64 * 8 + 128, dtype=np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    x = buf[start:start + 64 * 64 * 8].view(np.float64).reshape(64, 64)
    x[...] = rng.random((64, 64))
    return x
for oa in (0, 8, 16, 32):
    for ob in (0, 8, 16, 32):
        print("RESULT", f"a at +{oa}, b at +{ob}:", round(c.count(np.add, (at(oa), at(ob))).instructions, 1))
'''

HEAP = r'''
import ctypes, sys, threading, numpy as np, torch
from nptbench.measure import instruments as i
from fixtures import tensors
held = [bytearray(int(s)) for s in sys.argv[1].split(",")]
how = sys.argv[2]
trim = ctypes.CDLL("libc.so.6").malloc_trim if how == "trim" else lambda pad: None
c = i.Counter.here()
a, b = tensors.tensor((64, 64), seed=1), tensors.tensor((64, 64), seed=2)
na, nb = tensors.array((64, 64), seed=1), tensors.array((64, 64), seed=2)
t, n = [], []
def count(out, fn, args):
    trim(0)  # --trim: the allocator's free chunks handed back and its bins consolidated before the count
    out.append(round(c.count(fn, args).instructions, 1))
for out, fn, args in ((t, torch.add, (a, b)), (t, torch.add, (a, b)), (n, np.add, (na, nb)), (n, np.add, (na, nb))):
    if how == "thread":  # --thread: each count in a thread of its own (glibc gives it an arena of its own)
        th = threading.Thread(target=count, args=(out, fn, args))
        th.start()
        th.join()
    else:
        count(out, fn, args)
print("RESULT", f"held {sys.argv[1]:>12}: torch.add {t[0]:>9} {t[1]:>9}  np.add {n[0]:>8} {n[1]:>8}",
      f"(numpy operands at +{na.ctypes.data % 64}, +{nb.ctypes.data % 64} from 64 bytes)")
'''

FUNCTIONS = r'''
import gc, torch
from nptbench.measure import instruments as i
from fixtures import tensors
c = i.Counter.here()
a, b = tensors.tensor((64, 64), seed=1), tensors.tensor((64, 64), seed=2)
for _ in range(50):
    torch.add(a, b)
gc.disable()
c.requests(i.START_INSTRUMENTATION)
c.window(torch.add, [(a, b)] * 100)
held = [torch.empty(1000 + 77 * k) for k in range(40)] + [bytearray(3000 + k) for k in range(50)]
del held[::3]
for _ in range(50):
    torch.add(a, b)
c.window(torch.add, [(a, b)] * 100)
'''


def counted(code: str, *args: str, keep: Path | None = None) -> list[str]:
    """Run ``code`` in a fresh valgrind process as the instrument does; its RESULT lines."""
    with tempfile.TemporaryDirectory(prefix="nptbench-layout-") as tmp:
        dumps = keep or Path(tmp)
        proc = subprocess.run(instruments.command([sys.executable, "-c", code, *args], dumps),
                              env=instruments.environment(dumps), capture_output=True, text=True, cwd=ROOT)
    lines = [line[len("RESULT "):] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return lines or [f"failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"]


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    mode, rest = argv[0], argv[1:]
    if mode == "align":
        print("\n".join(counted(ALIGN)))
    elif mode == "heap":
        how = {"--trim": "trim", "--thread": "thread"}.get(rest[0] if rest else "", "plain")
        specs = [spec for spec in rest if not spec.startswith("--")] or ["0", "16", "1000,16", "5000,32,48"]
        with ThreadPoolExecutor(2) as pool:
            for lines in pool.map(lambda spec: counted(HEAP, spec, how), specs):
                print("\n".join(lines), flush=True)
    elif mode == "functions":
        with tempfile.TemporaryDirectory(prefix="nptbench-layout-") as tmp:
            counted(FUNCTIONS, keep=Path(tmp))
            first, second = (instruments.function_costs(p)[1] for p in sorted(Path(tmp).glob("callgrind.out.*.[12]")))
        print(f"window 1: {sum(first.values()):,} instructions; window 2: {sum(second.values()):,}")
        moved = sorted((second[f] - first[f], f) for f in set(first) | set(second) if first[f] != second[f])
        for delta, fn in sorted(moved, key=lambda x: -abs(x[0]))[:10]:
            print(f"{delta:+9,} {first[fn]:>9,} -> {second[fn]:>9,}  {fn[:90]}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
