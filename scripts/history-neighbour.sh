#!/usr/bin/env bash
# Continue a real history (scripts/history-measure.sh) with a real move of the machine, nothing changed in
# the software: WITH sessions while a neighbour process copies 256 MB arrays in a loop on the other core
# (memory bandwidth and a core taken), then AFTER sessions without it. What `python -m nptbench history`
# should call the machine's (its run level) rather than each row's own step (results/history-rates.md, "The
# machine's steps apart"). Run from the same checkout, with the suite's venv, after history-measure.sh:
#
#   scripts/history-neighbour.sh OUT [WITH] [AFTER] [PAUSE_S]
set -u
OUT=${1:?usage: scripts/history-neighbour.sh OUT [WITH] [AFTER] [PAUSE_S]}
WITH=${2:-8}; AFTER=${3:-4}; PAUSE=${4:-15}
PY=${PY:-.venv/bin/python}
K=$(cat scripts/gate-subset.k)
mkdir -p "$OUT"
export NPTBENCH_OFFLINE=1 MNIST_DIR=${MNIST_DIR:-../shared/data/mnist_idx_t10k} OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
log() { echo "$(date +%H:%M:%S) $*" | tee -a "$OUT/progress.log"; }
session() {
  local name=$1
  $PY -m pytest bench -q -k "$K" -p no:cacheprovider --benchmark-save="$name" --benchmark-save-data > "$OUT/$name.log" 2>&1
  log "$name exit $?"
  sleep "$PAUSE"
}
$PY -c "
import numpy as np
a = np.ones(32 * 2**20); b = np.empty_like(a)
while True:
    np.copyto(b, a); np.copyto(a, b)
" &
HOG=$!
trap 'kill $HOG 2>/dev/null' EXIT
log "neighbour started (pid $HOG)"
for i in $(seq 1 "$WITH"); do session "hist-hog-$i"; done
kill $HOG; log "neighbour stopped"
for i in $(seq 1 "$AFTER"); do session "hist-after-$i"; done
log "done"
