"""Count instructions instead of timing: ``pytest bench --instrument instructions``.

On a shared machine a wall time moves by several percent between runs; the instructions a call executes do
not. With ``--instrument instructions`` the pytest session runs itself again, whole, in one valgrind
process (``callgrind``), and every CPU benchmark's call is counted after its warm-up instead of timed; the
same correctness checks run on what the counted call returned (nptbench.measure.harness). The record gets
``instructions_per_call`` and the simulated cache's misses (nptbench.schema.record.INSTRUMENT_FIELDS) and
the run is saved as a count run (:func:`save`), which ``compare`` judges on its own rule
(nptbench.analysis.counts), never with the wall-time statistics.

How a call is counted, and why this way:

- **One valgrind process per session**, never one per benchmark: :func:`rerun` runs
  ``setarch -R valgrind --tool=callgrind ... python -m pytest <the same arguments>`` and ends the first
  pytest process with its exit status. Importing
  torch under valgrind costs about 30 s here; once per session it is paid once.
- **Instrumentation off except around the counted calls** (``--instr-atstart=no``): the session's imports,
  data, references and warm-ups run on valgrind's plain translation (a few times slower than native, not
  the tens of times of full instrumentation). Only a benchmark's counting switches it on, and collection
  (``--collect-atstart=no``) only for the windows of calls.
- **Client requests**, the way valgrind's own headers switch these on, without a compiled helper: the
  request is x86-64's "special instruction" sequence (rotations of ``rdi`` that leave it unchanged, then
  ``xchg rbx, rbx``), 29 bytes of machine code placed in an executable page and called through ctypes
  (:class:`Requests`). Outside valgrind they do nothing and return 0. ``--toggle-collect`` on a C function
  would need the whole session instrumented (with the function's symbol in this Python's build), and
  ``callgrind_control`` from outside is asynchronous: neither can bracket one call exactly.
- **A window**: zero the counters, switch collection on, make ``n`` calls, switch it off, dump
  (``CALLGRIND_DUMP_STATS_AT``): callgrind writes the window's totals to a file before the request returns
  (:func:`read_dump`). The counter is read as ``(window of n calls - empty window) / n``, which
  takes the requests' own instructions out. Python's garbage collector collects once before a benchmark's
  windows and is off until they end, so a collection never falls into one.
- **Settled windows**: Python's interpreter specializes bytecode over its first tens of runs, and caches of
  the allocator and the libraries fill: the windows' own code runs before any count, a benchmark's counted
  call is never its first, and after its first counted call it gets :func:`warm_calls` more (up to
  :data:`WARM_CALLS`, about :data:`WARM_INSTRUCTIONS` in all), a number set by that count, never by the
  clock (a warm-up bounded in seconds made as many calls as the machine's load allowed). Each benchmark then makes :data:`EMPTY_WINDOWS` empty windows and :data:`WINDOWS`
  windows of calls back to back, and only then reads their dumps (reading a file between windows would
  leave the allocator in another state for the next): the count is the last window's minus the last empty
  one's. The record says how far the last two windows were apart (``instructions_window_spread``).
- **Determinism of the process**: ASLR off (``setarch -R``), ``PYTHONHASHSEED=0``, every thread pool at
  one thread (:data:`ONE_THREAD`: idle BLAS threads spinning moved counts by 2-3 %); a multi-threaded row is
  counted as one thread's work and its record says so (``counted_threads``).
- **A fixed simulated cache** (:data:`CACHE`): the same geometry on every machine, so the misses do not
  depend on what callgrind reads from this CPU. The cycle estimate is pythonspeed's fit of cachegrind's
  events to a Haswell Xeon, ``(L1 hits) + 5 x (LL hits) + 30 x (RAM accesses)`` over instruction and data
  accesses (:func:`per_call`): it charges memory traffic, which instructions alone do not; KCachegrind's
  ``Ir + 10 L1m + 100 LLm`` is, by its author's word, a rough guess.

What is not counted: GPU rows (valgrind sees the host only: they skip, saying so). valgrind 3.19 has no
AVX-512, so libraries that pick their kernels by CPU (OpenBLAS, torch's ATen) take their AVX2 paths under
it: counts describe those paths, not necessarily the ones a native run takes.
"""
from __future__ import annotations

import collections
import ctypes
import gc
import json
import mmap
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from nptbench.env import backends, blas
from nptbench.measure import harness
from nptbench.schema.record import write

INSTRUMENTS = ("time", "instructions")
#: Set in the session that runs under valgrind: the folder callgrind dumps its windows into (removed by
#: :func:`rerun` when that session has ended).
DUMPS_ENV = "NPTBENCH_INSTRUMENT_DUMPS"
#: Every thread pool at one thread while counting.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}
#: The kernels held while counting, where the user's environment does not choose them. The BLAS libraries:
#: valgrind 3.19 runs fused multiply-adds (FMA: the AVX2 kernels of OpenBLAS and of torch's MKL) about a
#: thousand times slower than native (a 64x1000 @ 1000x100 product: 0.29 ms natively, 260 ms under
#: valgrind with OpenBLAS's Haswell kernel, 3.9 ms with its Sandybridge (AVX) kernel; torch's MKL 325 ms,
#: with MKL_CBWR=AVX 2.2 ms). torch's operators and inductor's compiled code: valgrind's CPU has no
#: AVX-512, but inductor asks the host (its compiler runs ``-march=native`` outside valgrind, and reads
#: /proc/cpuinfo), so code compiled in a counted session stopped it with an illegal instruction; held to
#: AVX2 (x86-64-v3), which is what torch's own dispatch picks under valgrind anyway. The counts then
#: describe these kernels (the run says so, ``instrument_kernels``).
KERNELS = {"OPENBLAS_CORETYPE": "Sandybridge", "MKL_CBWR": "AVX", "ATEN_CPU_CAPABILITY": "avx2",
           "TORCHINDUCTOR_CPP_MARCH": "x86-64-v3"}
#: glibc's allocator, held still: by default its mmap threshold grows with the largest block freed so far,
#: so whether a large array comes from the heap or from mmap (different code, different counts) depends on
#: what the process ran before. Set, it is fixed (at glibc's own starting value) and no longer moves.
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "131072"}
#: The simulated caches: (bytes, ways, line bytes), the same on every machine.
CACHE = {"I1": (32768, 8, 64), "D1": (32768, 8, 64), "LL": (8388608, 16, 64)}
#: The cycle estimate's weights: an L1 hit, a last-level hit, a RAM access (pythonspeed's fit).
CYCLE_WEIGHTS = (1, 5, 30)
#: Empty windows, and windows of calls, counted per benchmark; the last of each kind is the count's.
EMPTY_WINDOWS, WINDOWS = 2, 3
#: Windows of nothing run (uninstrumented) when a counter starts, for the interpreter to specialize their code.
PRIME_WINDOWS = 100
#: A call of at least this many instructions is counted in one window (its first): the windows' noise, tens
#: of instructions, is nothing beside it, and each more window would cost seconds.
LARGE_CALL = 20_000_000
#: How far two counts of the probe's tiny call may be apart (a fraction).
PROBE_TOLERANCE = 1e-3
#: Uncounted calls before a count's windows, at most; and the instructions they may make, about (under
#: callgrind's instrumentation, a second or less).
WARM_CALLS, WARM_INSTRUCTIONS = 1024, 30_000_000
#: A window holds enough calls for about this many instructions (tens of milliseconds under callgrind) ...
WINDOW_INSTRUCTIONS = 4_000_000
#: ... and at most this many calls.
MAX_CALLS = 256

#: The x86-64 client request: rax = the request's 6 words, rdx = the default; the result comes in rdx.
#: mov rax,rdi; mov rdx,rsi; rol rdi,3; rol rdi,13; rol rdi,61; rol rdi,51; xchg rbx,rbx; mov rax,rdx; ret
REQUEST_CODE = bytes.fromhex("4889f8" "4889f2" "48c1c703" "48c1c70d" "48c1c73d" "48c1c733" "4887db" "4889d0" "c3")
RUNNING_ON_VALGRIND = 0x1001
_CALLGRIND = 0x43540000  # VG_USERREQ_TOOL_BASE('C', 'T')
DUMP_STATS_AT, ZERO_STATS, TOGGLE_COLLECT = _CALLGRIND + 3, _CALLGRIND + 1, _CALLGRIND + 2
START_INSTRUMENTATION, STOP_INSTRUMENTATION = _CALLGRIND + 4, _CALLGRIND + 5


class NotCounted(Exception):
    """A benchmark that cannot be counted here; the message is the reason it skips with."""


# --- can it run here? -----------------------------------------------------------------------------------

def valgrind_version() -> str | None:
    exe = shutil.which("valgrind")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def missing() -> str | None:
    """Why instructions cannot be counted on this machine, or None. Cheap: no valgrind run."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return (f"--instrument instructions needs Linux on x86-64 (its client requests are x86-64 code); this is "
                f"{platform.system()} on {platform.machine()}")
    if valgrind_version() is None:
        return ("--instrument instructions needs valgrind on PATH (Debian/Ubuntu: apt-get install valgrind); "
                "none found")
    if shutil.which("setarch") is None:
        return "--instrument instructions needs setarch (util-linux) to switch address randomization off; none found"
    try:
        proc = subprocess.run(["setarch", platform.machine(), "-R", "true"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"setarch -R could not run: {exc}"
    if proc.returncode != 0:
        return (f"setarch -R (address randomization off) is refused here: {proc.stderr.strip() or proc.returncode} "
                "(a container without the personality syscall?)")
    return None


def command(argv: list[str], dumps: Path) -> list[str]:
    """The command that runs ``argv`` (a Python command line) under callgrind as :func:`rerun` does."""
    cache = [f"--{name}={','.join(map(str, geom))}" for name, geom in CACHE.items()]
    return ["setarch", platform.machine(), "-R", "valgrind", "--tool=callgrind", "-q",
            "--instr-atstart=no", "--collect-atstart=no", "--cache-sim=yes", *cache,
            "--dump-instr=no", "--dump-line=no", "--compress-strings=no",
            f"--callgrind-out-file={dumps}/callgrind.out.%p", f"--log-file={dumps}/valgrind.%p.log", *argv]


def environment(dumps: Path, base: dict | None = None) -> dict:
    """The environment of the counted process: one thread everywhere, fixed hashing, a fixed allocator
    threshold (:data:`ALLOCATOR`), the BLAS kernels of :data:`KERNELS` unless ``base`` chooses them, the
    dumps' folder, and inductor's compiled code kept apart from the machine's own (valgrind's CPU has no
    AVX-512: nptbench.env.backends.INDUCTOR_TAG_ENV)."""
    base = dict(os.environ if base is None else base)
    if os.path.basename(base.get("TORCHINDUCTOR_CACHE_DIR", "")).startswith(backends.INDUCTOR_DIR_PREFIX):
        del base["TORCHINDUCTOR_CACHE_DIR"]  # the suite's folder for this CPU: the counted process makes its own
    return {**KERNELS, **base, **ONE_THREAD, **ALLOCATOR, "PYTHONHASHSEED": "0", DUMPS_ENV: str(dumps),
            backends.INDUCTOR_TAG_ENV: "valgrind"}


def rerun(args: list[str], cwd: str, before: Callable[[], None] = lambda: None, jobs: int = 1,
          results: Path | None = None, costs: dict | None = None) -> tuple[int, Path | None]:
    """Run the same pytest session (``args``: its arguments) again under callgrind, in ``jobs`` valgrind
    processes at once (each counts every ``jobs``-th CPU benchmark, :func:`shard_of`), wait for them, merge
    what they counted into one count run (:func:`merge`), save it below ``results`` (:func:`save`), remove
    the dumps, and return the sessions' exit status (:func:`combined_status`) and the saved run's path (None
    where nothing was counted). The caller ends its process with that status: it never runs a benchmark. The first session writes to the terminal as it goes; each other's output is
    printed when all have ended. ``costs``: what each benchmark cost last time, which balances the sessions
    (:func:`known_costs`). ``before`` runs first (the plugin suspends pytest's capture there)."""
    dumps = Path(tempfile.mkdtemp(prefix="nptbench-callgrind-"))
    before()
    sys.stdout.flush()
    sys.stderr.flush()
    procs, logs, status, saved = [], [], 2, None

    def stop(signum, frame):  # a terminated session (timeout, a cancelled CI job) takes its valgrind processes along
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if jobs > 1:
            print(f"nptbench: counting in {jobs} valgrind processes at once (--instrument-jobs), each a share of "
                  f"the CPU benchmarks; the first writes here, the others' output follows it", flush=True)
        if costs:
            (dumps / "costs.json").write_text(json.dumps(costs))
        for k in range(jobs):
            folder = dumps / f"shard{k}"
            folder.mkdir()
            env = {**environment(folder), SHARD_ENV: f"{k}/{jobs}", PARTS_ENV: str(dumps),
                   **({COSTS_ENV: str(dumps / "costs.json")} if costs else {})}
            log = None if k == 0 else open(dumps / f"shard{k}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen(command([sys.executable, "-m", "pytest", *args], folder), env=env, cwd=cwd,
                                          stdout=log, stderr=subprocess.STDOUT if log else None))
        statuses = [proc.wait() for proc in procs]
        for k, log in enumerate(logs[1:], start=1):
            log.close()
            print(f"\n--- counted session {k + 1} of {jobs} (exit {statuses[k]}) ---", flush=True)
            print((dumps / f"shard{k}.log").read_text(errors="replace"), end="", flush=True)
        run = merge([json.loads(p.read_text()) for p in sorted(dumps.glob("part-*.json"))])
        if run is not None and results is not None:
            saved = save(results, run)
            print(f"nptbench: instruction counts saved in {saved}", flush=True)
        status = combined_status(statuses)
    except KeyboardInterrupt:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        for log in logs:
            if log is not None:
                log.close()
        shutil.rmtree(dumps, ignore_errors=True)  # valgrind writes its last dump there as it exits: not before
    return status, saved


#: Set in each counted session: which share of the CPU benchmarks it counts, ``k/n`` (:func:`shard_of`).
SHARD_ENV = "NPTBENCH_INSTRUMENT_SHARD"
#: Set in each counted session: the folder it writes what it counted into (``part-<k>.json``), for
#: :func:`rerun` to merge.
PARTS_ENV = "NPTBENCH_INSTRUMENT_PARTS"


#: Set in each counted session when earlier count runs say what each benchmark cost: a JSON file of them
#: (:func:`known_costs`, read by :func:`split`'s caller).
COSTS_ENV = "NPTBENCH_INSTRUMENT_COSTS"


def known_costs(results: Path, size: str, fingerprint: str, runs: int = 20) -> dict:
    """name -> each benchmark's modelled cost under valgrind (:func:`costs_of`) in the newest ``runs`` count runs
    below ``results`` of this size profile and machine fingerprint, the newest run's figure for each."""
    from nptbench.schema.runs import Run

    out: dict = {}
    for path in sorted((Path(results) / COUNTS).glob("*.json"))[-runs:]:
        try:
            data = json.loads(path.read_text())
            if data["machine_info"]["nptbench"].get("profile") == size and Run(path, data).fingerprint == fingerprint:
                out.update(costs_of(data))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def default_jobs() -> int:
    """Counted sessions at once by default: one per CPU core, at most 4 (each is one valgrind process, one
    thread, and holds a few GB)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def shard_of(text: str | None) -> tuple[int, int]:
    """``k/n`` -> (k, n); nothing -> (0, 1)."""
    if not text:
        return 0, 1
    k, n = (int(x) for x in text.split("/"))
    if not 0 <= k < n:
        raise ValueError(f"{SHARD_ENV}={text}: not k/n with 0 <= k < n")
    return k, n


def split(names: list[str], n: int, costs: dict | None = None) -> list[int]:
    """Which of ``n`` sessions counts each of ``names`` (CPU benchmarks, in collection order): the costliest
    first, each to the session with the least so far (``costs``: name -> its modelled cost from the last
    count run, :func:`costs_of`; a name without one is taken at the median of those known, and with none known
    every name costs the same: round-robin). Deterministic: the same names and costs give the same split in
    every session."""
    costs = costs or {}
    known = sorted(costs[name] for name in names if name in costs)
    typical = known[len(known) // 2] if known else 1.0
    cost = [costs.get(name, typical) for name in names]
    out, load = [0] * len(names), [0.0] * n
    for i in sorted(range(len(names)), key=lambda i: (-cost[i], i)):
        k = min(range(n), key=lambda j: (load[j], j))
        out[i] = k
        load[k] += cost[i]
    return out


#: The model of a benchmark's cost under the instrument that balances the counted sessions: seconds of
#: fixed work (warm-up, the windows' dumps, the checks) plus seconds per instruction counted. Fitted
#: roughly to the smoke profile here (4-10 s for most rows, 110 s for 8.4 G instructions counted); made from
#: the counts, not from the seconds a row took, and rounded to whole seconds, so that the split, and what
#: each valgrind process ran before a row, repeat from one count run to the next: a small call's count moves
#: with the layout of the process's memory (results/instructions.md), which its history sets.
COST_FIXED_S, COST_PER_INSTRUCTION_S = 4.0, 2e-8


def costs_of(run: dict) -> dict:
    """name -> the modelled cost of each benchmark of a count run (:data:`COST_FIXED_S`, from its counted
    instructions): the weights :func:`split` balances the counted sessions with."""
    out = {}
    for bench in run.get("benchmarks", []):
        info = bench.get("extra_info", {})
        per_call = info.get("instructions_per_call")
        if per_call:
            counted = per_call * ((info.get("instructions_calls") or 1) * (info.get("instructions_windows") or 1) + 1)
            # whole seconds: a count that moves by a part in a thousand must not reorder the split
            out[bench.get("fullname") or bench.get("name")] = float(round(COST_FIXED_S + COST_PER_INSTRUCTION_S * counted))
    return out


def merge(parts: list[dict]) -> dict | None:
    """One count run from the parts the counted sessions wrote (:data:`PARTS_ENV`), or None when none counted
    anything: the benchmarks of all (in collection order where the parts say it), the first part's machine
    and date, the skips of all, and how the sessions ended together (failed and not-run benchmarks of all;
    complete when each was)."""
    if not any(p.get("benchmarks") for p in parts):
        return None
    run = {**next(p for p in parts if p.get("benchmarks"))}
    run["benchmarks"] = sorted((b for p in parts for b in p["benchmarks"]), key=lambda b: b.get("index", 0))
    for bench in run["benchmarks"]:
        bench.pop("index", None)
    run["nptbench_skipped"] = [s for p in parts for s in p.get("nptbench_skipped", [])]
    sessions = [p["nptbench_session"] for p in parts if "nptbench_session" in p]
    if sessions:
        run["nptbench_session"] = {
            "exitstatus": max(s["exitstatus"] for s in sessions),
            "collected": sum(s["collected"] for s in sessions),
            "failed": [n for s in sessions for n in s["failed"]],
            "not_run": [n for s in sessions for n in s["not_run"]],
            "complete": all(s["complete"] for s in sessions),
        }
    return run


def combined_status(statuses: list[int]) -> int:
    """The exit status of counted sessions together: the first that is neither 0 nor 5 (nothing collected:
    a session can be handed none of the benchmarks), else 0 when one passed, else 5."""
    statuses = [s if s >= 0 else 128 - s for s in statuses]
    for status in statuses:
        if status not in (0, 5):
            return status
    return 0 if 0 in statuses else 5


def probe(python: str = sys.executable, timeout: float = 300) -> str | None:
    """Run the instrument on a tiny call (a sum over a range) in a fresh valgrind process, counting it twice:
    None when both counts are above zero and within :data:`PROBE_TOLERANCE` of each other, else why not, in
    one line. Takes seconds."""
    reason = missing()
    if reason:
        return reason
    with tempfile.TemporaryDirectory(prefix="nptbench-probe-") as tmp:
        code = ("import sys; from nptbench.measure import instruments as i; c = i.Counter.here(); "
                "f = lambda: sum(range(200)); print(c.count(f, ()).instructions, c.count(f, ()).instructions)")
        cmd = command([python, "-c", code], Path(tmp))
        try:
            proc = subprocess.run(cmd, env=environment(Path(tmp)), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"a counted probe under valgrind did not finish within {timeout:.0f} s"
        except OSError as exc:
            return f"valgrind could not start: {exc}"
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    if proc.returncode != 0:
        return f"a counted probe under valgrind failed (exit {proc.returncode}): {lines[-1] if lines else ''}"
    words = proc.stdout.split()
    try:
        first, second = map(float, words)
    except ValueError:
        return f"a counted probe under valgrind printed {proc.stdout.strip()[:200]!r}, not two counts"
    if min(first, second) <= 0 or abs(first - second) > PROBE_TOLERANCE * first:
        return f"a tiny call counted twice gave {first:,.1f} and {second:,.1f} instructions, not one count above zero"
    return None


def kernels(timeout: float = 600) -> dict:
    """Which kernels numpy's BLAS and torch's operators run under the instrument (nptbench.env.blas.probe,
    run under valgrind as a counted session is): valgrind's simulated CPU has no AVX-512."""
    with tempfile.TemporaryDirectory(prefix="nptbench-kernels-") as tmp:
        return blas.probe(environment(Path(tmp)), timeout, tuple(command([], Path(tmp))))


# --- client requests and windows -------------------------------------------------------------------------

class Requests:
    """valgrind's client requests from Python: :data:`REQUEST_CODE` in an executable page, called by ctypes."""

    def __init__(self):
        self._page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._page.write(REQUEST_CODE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._page))
        self._call = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong)(address)
        self._words = (ctypes.c_ulong * 6)()
        self._address = ctypes.addressof(self._words)
        self.label = ctypes.create_string_buffer(b"nptbench-window")  #: the name of every dump

    def __call__(self, request: int, arg: int = 0) -> int:
        """Make one request (with one argument): the same words are reused, so a request allocates
        nothing a window could count."""
        self._words[0], self._words[1] = request, arg
        return self._call(self._address, 0)

    def on_valgrind(self) -> bool:
        return self(RUNNING_ON_VALGRIND) > 0


#: The memory allocators' functions (glibc's malloc and its internals, CPython's object allocator), by
#: callgrind's function name less a ``'N`` recursion or ``.constprop.N`` suffix. Where a call starts in their
#: free lists is set by everything the process allocated before, which differs between sessions: these
#: functions' instructions are the part of a count that moves with it (results/instructions.md).
ALLOCATOR_FUNCTIONS = re.compile(
    r"(_int_(malloc|free|memalign|realloc)|malloc_consolidate|unlink_chunk|alloc_perturb|tcache_\w+|"
    r"sys(malloc|trim)|__?sbrk|__(glibc|default)_morecore|(grow|shrink|new)_heap|heap_trim|"
    r"(__libc_)?(malloc|free|cfree|calloc|realloc|memalign|posix_memalign|aligned_alloc)|"
    r"_?PyObject_(Malloc|Free|Realloc|Calloc)|pymalloc_\w+|_?PyMem_\w+)([.'].*)?")
#: The event :func:`read_dump` adds: instructions (``Ir``) executed in :data:`ALLOCATOR_FUNCTIONS`.
ALLOCATOR_EVENT = "AllocIr"


def read_dump(path: Path) -> dict:
    """A callgrind dump's totals: event name -> count (``events:`` and ``summary:`` lines), and
    :data:`ALLOCATOR_EVENT`, the instructions of the allocators' own functions (:func:`function_costs`)."""
    totals, functions = function_costs(path)
    return {**totals, ALLOCATOR_EVENT: sum(n for fn, n in functions.items() if ALLOCATOR_FUNCTIONS.fullmatch(fn))}


def function_costs(path: Path) -> tuple[dict, collections.Counter]:
    """A callgrind dump's totals (event name -> count) and each function's own instructions (``Ir`` of its
    self cost lines, by the name callgrind gives it: the dumps' names are not compressed; the line after a
    ``calls=`` line is a call's inclusive cost, not the caller's own)."""
    names, totals, own, fn, inclusive = None, None, collections.Counter(), None, False
    for line in Path(path).read_text(errors="replace").splitlines():
        head = line[:1]
        if head.isdigit() or head in "+-*":
            if fn is not None and not inclusive:
                fields = line.split()
                own[fn] += int(fields[1]) if len(fields) > 1 else 0
            inclusive = False
        elif line.startswith("fn="):
            fn = line[3:].strip()
        elif line.startswith("calls="):
            inclusive = True
        elif line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith("summary:") or (totals is None and line.startswith("totals:")):
            totals = [int(x) for x in line.split()[1:]]
    if names is None or totals is None:
        raise NotCounted(f"callgrind's dump {path} holds no totals")
    return dict(zip(names, totals + [0] * (len(names) - len(totals)))), own


@dataclass
class Count:
    """One call's counts (callgrind's events per call, see :func:`per_call`) and how they were taken."""
    events: dict
    calls: int  #: calls in each window
    windows: int  #: windows of calls made
    spread: float | None  #: (max - min) / median of the windows' instructions; None for one window

    @property
    def instructions(self) -> float:
        return self.events.get("Ir", 0.0)


@dataclass
class Counter:
    """Counts calls in this process, which runs under callgrind (:func:`rerun`)."""
    dumps: Path
    requests: Requests = field(default_factory=Requests)

    @classmethod
    def here(cls) -> "Counter":
        """The counter of this process; :class:`NotCounted` when it does not run under the instrument."""
        folder = os.environ.get(DUMPS_ENV)
        if not folder:
            raise NotCounted("this process does not run under the instrument (no valgrind re-run)")
        counter = cls(Path(folder))
        if not counter.requests.on_valgrind():
            raise NotCounted(f"{DUMPS_ENV} is set but this process does not run under valgrind")
        return counter

    def __post_init__(self):
        # The windows' own Python code is specialized by the interpreter over its first tens of runs: run
        # it before any count, so the first benchmark's windows cost what every later one's do.
        for _ in range(PRIME_WINDOWS):
            self.window(lambda: None, [()] * MAX_CALLS, dump=False)

    def warm(self, fn: Callable, args: tuple, make_args: Callable | None, calls: int) -> None:
        """``calls`` calls, uncounted (a call's own bytecode is specialized over its first tens of runs, and
        the caches of the allocator and the libraries fill)."""
        for _ in range(calls):
            fn(*(make_args() if make_args else args))

    def window(self, fn: Callable, arg_sets: list, dump: bool = True) -> object:
        """One window: ``fn(*args)`` for each of ``arg_sets``, collected, then dumped by callgrind (read
        later, :meth:`totals`: reading a file between windows would change the allocator's state the next
        window starts from). Returns the last call's result. Python's garbage collector is the caller's to
        hold off (:meth:`count_with_result`)."""
        req, out = self.requests, None
        req(ZERO_STATS)
        req(TOGGLE_COLLECT)
        for args in arg_sets:
            out = fn(*args)
        req(TOGGLE_COLLECT)
        if dump:
            req(DUMP_STATS_AT, ctypes.addressof(self.requests.label))
        return out

    def totals(self, windows: int) -> list[dict]:
        """The totals of the last ``windows`` windows, oldest first; their dump files are removed."""
        files = sorted((p for p in self.dumps.glob("callgrind.out.*") if re.search(r"\.\d+\.\d+$", p.name)),
                       key=lambda p: int(p.name.rsplit(".", 1)[1]))
        if len(files) < windows:
            raise NotCounted(f"callgrind wrote {len(files)} dumps into {self.dumps}, not {windows}")
        out = [read_dump(p) for p in files[-windows:]]
        for path in files:
            path.unlink(missing_ok=True)
        return out

    def count(self, fn: Callable, args: tuple = (), make_args: Callable | None = None, calls: int | None = None,
              windows: int = WINDOWS) -> Count:
        """The :class:`Count` of ``fn(*args)``, see :meth:`count_with_result`."""
        return self.count_with_result(fn, args, make_args, calls, windows)[0]

    def count_with_result(self, fn: Callable, args: tuple = (), make_args: Callable | None = None,
                          calls: int | None = None, windows: int = WINDOWS,
                          warmed: int = 0) -> tuple[Count, object]:
        """Count ``fn(*args)`` (with ``make_args``: on fresh arguments made before each window, outside it):
        :data:`EMPTY_WINDOWS` empty windows, one window of one call that sets ``calls`` where not given
        (:func:`calls_for`), then :func:`warm_calls` uncounted calls, then ``windows`` windows of ``calls``
        calls. The count is (the median of those windows - the last empty window) / ``calls``; its spread,
        the windows' (max - min) / median. A call of :data:`LARGE_CALL` instructions or more is counted in the
        first window alone. ``warmed``: calls the caller made before (the harness's warm-up); the counted
        call is never a process's first (one uncounted call where there was none). Every number of calls is
        set by counts, never by the clock: a warm-up bounded in seconds made as many calls as the machine's
        load allowed, and the state a count starts from with it. Python's garbage collector collects once
        before the first window and is off until the last has ended, so no collection falls into a window (a
        collection before each window, under callgrind's instrumentation, cost about 1.7 s a window once
        torch was imported). Returns the :class:`Count` and the last call's result."""
        req = self.requests

        def window(n: int) -> object:
            return self.window(fn, [make_args() for _ in range(n)] if make_args else [args] * n)

        self.warm(fn, args, make_args, 0 if warmed else 1)
        gc.collect()
        was = gc.isenabled()
        gc.disable()
        req(START_INSTRUMENTATION)
        try:
            for _ in range(EMPTY_WINDOWS):
                window(0)
            out = window(1)
            one = self.totals(EMPTY_WINDOWS + 1)
            first = one[-1].get("Ir", 0) - one[-2].get("Ir", 0)
            if calls is None:
                calls = calls_for(first)
                if first >= LARGE_CALL:  # one window is enough
                    return Count(per_call(one[-1], one[-2], 1), 1, 1, None), out
            self.warm(fn, args, make_args, warm_calls(first))  # instrumented, not collected
            window(0)  # the empty window subtracted, made right before the windows of calls
            for _ in range(windows):
                out = window(calls)
        finally:
            req(STOP_INSTRUMENTATION)
            if was:
                gc.enable()
        empty, *full = self.totals(1 + windows)
        ranked = sorted(full, key=lambda w: w.get("Ir", 0))
        median = ranked[len(ranked) // 2]
        spread = (ranked[-1].get("Ir", 0) - ranked[0].get("Ir", 0)) / max(median.get("Ir", 0), 1)
        return Count(per_call(median, empty, calls), calls, windows, spread), out


def per_call(window: dict, empty: dict, calls: int) -> dict:
    """Per-call events from a window of ``calls`` calls and an empty window: callgrind's own events
    (``Ir``, and with the cache simulation ``Dr``, ``Dw``, ``I1mr`` ...), and ``L1m``, ``LLm`` and ``CEst``
    (the cycle estimate, :data:`CYCLE_WEIGHTS`) where the simulation ran."""
    out = {k: (window.get(k, 0) - empty.get(k, 0)) / calls for k in window}
    if "D1mr" in out:
        l1 = out["I1mr"] + out["D1mr"] + out["D1mw"]
        ll = out["ILmr"] + out["DLmr"] + out["DLmw"]
        accesses = out["Ir"] + out["Dr"] + out["Dw"]
        w1, wll, wram = CYCLE_WEIGHTS
        out.update(L1m=l1, LLm=ll, CEst=w1 * (accesses - l1) + wll * (l1 - ll) + wram * ll)
    return out


def fields(count: Count) -> dict:
    """The record fields of a count (nptbench.schema.record.INSTRUMENT_FIELDS)."""
    e = count.events
    out = {"instructions_per_call": e["Ir"], "instructions_calls": count.calls,
           "instructions_windows": count.windows, "instructions_window_spread": count.spread,
           "counted_threads": 1, "allocator_instructions_per_call": e.get(ALLOCATOR_EVENT)}
    if "CEst" in e:
        out.update(memory_accesses_per_call=e["Dr"] + e["Dw"], l1_misses_per_call=e["L1m"],
                   ll_misses_per_call=e["LLm"], cycles_estimate_per_call=e["CEst"])
    return out


def session_info(jobs: int = 1) -> dict:
    """What a count run says about how it was counted (nptbench.schema.record.INSTRUMENT_RUN_FIELDS), ``jobs``
    valgrind processes at once."""
    w1, wll, wram = CYCLE_WEIGHTS
    return {
        "instrument": "instructions",
        "instrument_tool": f"{valgrind_version() or 'valgrind'} callgrind",
        "instrument_cache": {name: list(geom) for name, geom in CACHE.items()},
        "instrument_cycles_formula": f"{w1} x L1 hits + {wll} x LL hits + {wram} x RAM accesses "
                                     "(instruction and data accesses; pythonspeed's fit)",
        "instrument_threads": 1,
        "instrument_aslr": "off",
        "instrument_jobs": jobs,
        "instrument_kernels": {name: os.environ.get(name) for name in KERNELS},
    }


# --- the stand-in for pytest-benchmark's fixture --------------------------------------------------------

class CountingBenchmark:
    """What :func:`nptbench.measure.harness.measure` is handed instead of pytest-benchmark's ``benchmark``
    under ``--instrument instructions``: the same calls (``benchmark(fn, *args)``, ``benchmark.pedantic``),
    which count instead of timing. The record goes to the real fixture's ``extra_info``; :attr:`counted`
    collects what :func:`save` writes."""

    def __init__(self, benchmark, counter: Counter, counted: list, name: str, fullname: str, params: dict,
                 index: int = 0):
        self.extra_info = benchmark.extra_info
        self.group = None
        self._counter = counter
        self._counted = counted
        self._entry = {"name": name, "fullname": fullname, "params": params, "index": index}
        self.started: float | None = None  #: when the harness began its warm-up (:func:`measure`)
        self.warmed = 1  #: the harness's warm-up calls before the count (:func:`measure`)

    def __call__(self, fn: Callable, *args, **kwargs):
        return self._count(lambda *a: fn(*a, **kwargs), args, None)

    def pedantic(self, target: Callable, args: tuple = (), kwargs: dict | None = None, setup: Callable | None = None,
                 rounds: int = 1, warmup_rounds: int = 0, iterations: int = 1):
        kwargs = kwargs or {}
        if setup is None:
            return self._count(lambda *a: target(*a, **kwargs), tuple(args), None)

        def fresh() -> tuple:
            made = setup()
            return tuple(made[0]) if made is not None else tuple(args)
        return self._count(target, (), fresh)

    def _count(self, fn: Callable, args: tuple, make_args: Callable | None):
        import time

        count, out = self._counter.count_with_result(fn, args, make_args, warmed=self.warmed)
        cost = time.perf_counter() - self.started if self.started is not None else None
        write(self.extra_info, **fields(count), instrument_cost_s=cost)
        self._counted.append({**self._entry, "group": self.group, "extra_info": self.extra_info})
        return out


def measure(benchmark, fn: Callable, args: tuple = (), *, record: dict, **kwargs):
    """:func:`nptbench.measure.harness.measure` with ``benchmark`` a :class:`CountingBenchmark`: the same
    warm-up, checks and record, the call counted instead of timed. A GPU row raises :class:`NotCounted`."""
    import time

    if record.get("device") != "cpu":
        raise NotCounted(GPU_REASON)
    benchmark.started = time.perf_counter()
    benchmark.warmed = kwargs.get("warmup", 1)
    return harness.measure(benchmark, fn, args, record=record, **kwargs)


GPU_REASON = ("not counted: valgrind counts the host's instructions only, and a GPU row's work runs on the "
              "device (time it with --instrument time)")


def warm_calls(instructions: float) -> int:
    """Uncounted calls before the windows of a call of ``instructions`` (its first count): a power of two
    that brings them to about :data:`WARM_INSTRUCTIONS`, 0 to :data:`WARM_CALLS`."""
    n = 0
    while n < WARM_CALLS and instructions * max(2 * n, 1) <= WARM_INSTRUCTIONS:
        n = max(2 * n, 1)
    return n


def calls_for(instructions: float) -> int:
    """Calls per window for a call of ``instructions`` (its first counted window): a power of two that
    brings a window to about :data:`WINDOW_INSTRUCTIONS`, 1 to :data:`MAX_CALLS`. Made from a count, not a
    time, so the sessions of one machine (and of two) choose the same."""
    n = 1
    while n < MAX_CALLS and instructions * n * 2 <= WINDOW_INSTRUCTIONS:
        n *= 2
    return n


# --- the count run ---------------------------------------------------------------------------------------

#: Where count runs are saved, below the results folder (never among the timed runs: they hold no times).
COUNTS = "counts"


def save(results: Path, run: dict) -> Path:
    """Write a count run to ``<results>/counts/NNNN_<time>.json`` (the next free number) and return the path."""
    import time

    folder = Path(results) / COUNTS
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S")
    for num in range(len(list(folder.glob("*.json"))) + 1, 100000):
        path = folder / f"{num:04d}_{stamp}.json"
        try:
            with open(path, "x") as f:
                json.dump(run, f, indent=1, default=str)
            return path
        except FileExistsError:
            continue
    raise OSError(f"no free count run name in {folder}")
