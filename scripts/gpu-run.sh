#!/usr/bin/env bash
# The GPU measurements of this suite in one go, on a machine with a CUDA device. Not yet run as a whole:
# the same steps took about 6 minutes one by one on an NVIDIA H200 with 16 cores (results/GPU.md).
#
#   scripts/gpu-run.sh [--dry-run] [OUT]
#
# PYTHON (default python3) runs everything. OUT (default results/runs/gpu-<date>) receives one saved run
# per timed step, with raw round times, ready for `python -m nptbench promote`, the cuBLAS fractions and
# a log of every step. --dry-run prints the commands without running anything. Each step runs even if an
# earlier one failed; the exit status is 1 when any failed. Run from anywhere: it changes to the
# checkout's root.
set -uo pipefail

DRY=""
if [[ "${1:-}" == "--dry-run" ]]; then
    DRY=1
    shift
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
STAMP="$(date -u +%Y%m%d-%H%M%S)"
OUT="${1:-results/runs/gpu-$STAMP}"
PY="${PYTHON:-python3}"
export NPTBENCH_OFFLINE="${NPTBENCH_OFFLINE:-1}"
PYTEST=("$PY" -m pytest -p no:cacheprovider --require-gpu)
FAILED=()
START=$SECONDS

saved() {  # the file a timed step saves its run in: named by date, so promote never meets a second one
    echo "$OUT/${STAMP}_$1.json"
}

run() {  # run NAME COMMAND...: print it, run it (unless --dry-run), log its output, note a failure
    local name=$1
    shift
    echo "=== [$((SECONDS - START)) s] $name: $(printf '%q ' "$@")"
    [[ -n "$DRY" ]] && return 0
    if ! "$@" 2>&1 | tee "$OUT/$name.log"; then
        FAILED+=("$name")
    fi
}

[[ -n "$DRY" ]] || mkdir -p "$OUT" || exit 2

# 0. Preflight: the doctor asks what the benchmarks ask (torch sees the GPU; numba compiles, launches
#    and reads back a one-line kernel; the kernels compile for the GPU's architecture) and exits 1 on a
#    broken GPU path. A numba-cuda that cannot run with the installed numpy (numpy 2.5 removed row_stack,
#    which numba-cuda 0.30 still uses) fails here in seconds, with its reason.
run preflight "$PY" -m nptbench doctor --require-gpu

# 1. The GPU unit tests: the measurement logic with fake clocks, the kernels in the simulator, and
#    compiled for the device (sm_90 PTX, ptxas).
run unit-tests "${PYTEST[@]}" -q tests/test_gpu_logic.py tests/test_cuda_sim.py tests/test_cuda_ptx.py

# 2. Every GPU benchmark at the default profile, then at the seeds' own sizes.
run default "${PYTEST[@]}" bench -m "gpu or numba_cuda" --bench-size default --benchmark-json="$(saved default)"
run seed "${PYTEST[@]}" bench -m "gpu or numba_cuda" --bench-size seed --benchmark-json="$(saved seed)"

# 3. The CPU sides of the GPU claims at the seeds' sizes, on this machine (a ratio never crosses
#    machines): seeds 000/003/004's products (CPU and GPU together, one context) and seed 001's cheap
#    pairs. The as-seed big-add and linreg-large on the CPU take minutes at this size: left out.
run seed-cpu-gpu "${PYTEST[@]}" bench/test_matmul.py bench/test_ops.py --bench-size seed \
    -k "(abt or square or mnist-full or small-matmul-loop or add-f32) and not autograd" \
    --benchmark-json="$(saved seed-cpu-gpu)"

# 4. The kernel and precision benchmarks with the L2 flushed before every round.
run default-cold-l2 "${PYTEST[@]}" bench/test_gpu.py -k "kernel or precision" --bench-size default --gpu-cold-l2 \
    --benchmark-json="$(saved default-cold-l2)"

# 5. The hand-written kernels' share of cuBLAS, from the saved runs.
for name in default seed default-cold-l2; do
    run "fractions-$name" "$PY" -m nptbench fractions "$(saved "$name")"
done

echo "=== done in $((SECONDS - START)) s; runs in $OUT"
COMMIT="<the project commit that ran>"
if [[ "$(git rev-parse --show-toplevel 2>/dev/null)" == "$ROOT" && -z "$(git status --porcelain 2>/dev/null)" ]]; then
    COMMIT="$(git rev-parse HEAD)"
else
    echo "note: this checkout is not its own clean git repository: name the commit yourself"
fi
echo "to publish (see results/GPU.md):"
echo "  $PY -m nptbench promote $(saved default) --commit $COMMIT --note '...'"
echo "  $PY -m nptbench promote $(saved seed) --commit $COMMIT --note '...'"
echo "  $PY -m nptbench promote $(saved seed-cpu-gpu) --report-only --commit $COMMIT --note '...'"
echo "  $PY -m nptbench promote $(saved default-cold-l2) --report-only --commit $COMMIT --note '...'"
echo "  $PY -m nptbench report results/<fingerprint> --out results/<fingerprint>/report"
if ((${#FAILED[@]})); then
    echo "FAILED steps: ${FAILED[*]} (logs in $OUT)"
    exit 1
fi
