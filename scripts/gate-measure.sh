#!/usr/bin/env bash
# Measure the regression gate's false alarms and detections on this machine (results/gate.md, "The gate
# on a shared machine, measured"). Run from a checkout (a scratch worktree is best: every run is saved in
# its results/), with the suite's venv:
#
#   scripts/gate-measure.sh OUT [AA_SESSIONS] [SLOW_SESSIONS]
#
# 1. a baseline set of SET_RUNS (6) runs with SET_PAUSE (360) seconds between them, so that it spans half an
#    hour or more (python -m nptbench baseline, as docs/upgrade.md says);
# 2. AA_SESSIONS (20) sessions of the gate command of docs/upgrade.md, nothing changed;
# 3. SLOW_SESSIONS (10) sessions with OpenBLAS held to its SSE kernels (OPENBLAS_CORETYPE=Prescott,
#    OPENBLAS_L2_SIZE unset), which slows numpy's products only; threadpoolctl's answer is logged.
# Every session's exit status and output go to OUT/; scripts/gate_rates.py OUT summarizes them.
# The benchmarks: the subset in scripts/gate-subset.k (24 rows: compute-, memory- and dispatch-bound).
set -u
OUT=${1:?usage: scripts/gate-measure.sh OUT [AA_SESSIONS] [SLOW_SESSIONS]}
AA=${2:-20}
SLOW=${3:-10}
PY=${PY:-.venv/bin/python}
K=$(cat scripts/gate-subset.k)
mkdir -p "$OUT"
export NPTBENCH_OFFLINE=1
log() { echo "$(date +%H:%M:%S) $*" | tee -a "$OUT/progress.log"; }

SET_RUNS=${SET_RUNS:-6}; SET_PAUSE=${SET_PAUSE:-360}
log "baseline set: $SET_RUNS runs, $SET_PAUSE s pauses"
$PY -m nptbench baseline --runs "$SET_RUNS" --pause "$SET_PAUSE" -- bench -k "$K" > "$OUT/baseline.log" 2>&1
log "baseline exit $?"

session() {  # name, then env assignments
  local name=$1; shift
  local start=$(date +%s)
  env "$@" $PY -m pytest bench -k "$K" -p no:cacheprovider --benchmark-compare-fail=median:10% > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name $rc $(( $(date +%s) - start ))" >> "$OUT/sessions.txt"
  log "$name exit $rc"
}

for i in $(seq -w 1 "$AA"); do session "aa-$i" NPTBENCH_SESSION=aa; done
env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Prescott $PY -c \
  "import numpy, threadpoolctl; print([(i['internal_api'], i.get('architecture')) for i in threadpoolctl.threadpool_info()])" \
  > "$OUT/sse-kernels.txt" 2>&1
log "SSE kernels: $(cat "$OUT/sse-kernels.txt")"
for i in $(seq -w 1 "$SLOW"); do session "sse-$i" -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Prescott; done
log "done"
