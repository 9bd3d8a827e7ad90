#!/usr/bin/env bash
# Make a real history on this machine for `python -m nptbench history` (results/history-rates.md, "History on a
# shared machine, measured"): separate pytest sessions of a subset, one after another with pauses, each
# saved as a run in the checkout's results/runs/. Run from a checkout (a scratch worktree is best), with the
# suite's venv:
#
#   scripts/history-measure.sh OUT [AA_BEFORE] [SLOW] [AA_AFTER] [PAUSE_S]
#
# 1. AA_BEFORE (32) sessions, nothing changed: the A/A history;
# 2. SLOW (12) sessions with OpenBLAS held to its SSE kernels (OPENBLAS_CORETYPE=Prescott, OPENBLAS_L2_SIZE
#    unset), which slows numpy's products only (threadpoolctl's answer is logged): a real step;
# 3. AA_AFTER (6) sessions back to normal: a second step, the way back.
# Thread-count variables are pinned to 1 in every session (a condition of its runs, as the gate's).
# The benchmarks: scripts/gate-subset.k (24 rows: compute-, memory- and dispatch-bound).
set -u
OUT=${1:?usage: scripts/history-measure.sh OUT [AA_BEFORE] [SLOW] [AA_AFTER] [PAUSE_S]}
AA=${2:-32}; SLOW=${3:-12}; AFTER=${4:-6}; PAUSE=${5:-15}
PY=${PY:-.venv/bin/python}
K=$(cat scripts/gate-subset.k)
mkdir -p "$OUT"
export NPTBENCH_OFFLINE=1 MNIST_DIR=${MNIST_DIR:-../shared/data/mnist_idx_t10k} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
log() { echo "$(date +%H:%M:%S) $*" | tee -a "$OUT/progress.log"; }
session() {  # name, then env assignments
  local name=$1; shift
  env "$@" $PY -m pytest bench -q -k "$K" -p no:cacheprovider --benchmark-save="$name" --benchmark-save-data \
    > "$OUT/$name.log" 2>&1
  log "$name exit $?"
  sleep "$PAUSE"
}
for i in $(seq -w 1 "$AA"); do session "hist-aa-$i"; done
env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Prescott $PY -c \
  "import numpy, threadpoolctl; print([(i['internal_api'], i.get('architecture')) for i in threadpoolctl.threadpool_info()])" \
  > "$OUT/sse-kernels.txt" 2>&1
log "SSE kernels: $(cat "$OUT/sse-kernels.txt")"
for i in $(seq -w 1 "$SLOW"); do session "hist-sse-$i" -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Prescott; done
for i in $(seq -w 1 "$AFTER"); do session "hist-back-$i"; done
log "done"
