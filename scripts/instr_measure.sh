#!/usr/bin/env bash
# The measurements of results/instructions.md: instrumented sessions (pytest bench --instrument instructions)
# for A/A exactness, with and without a neighbour, and with extra work of known size (scripts/instr_mutations.py).
#
#   scripts/instr_measure.sh aa OUT N [pytest args...]        N sessions, count runs in OUT/aa/counts
#   (pytest args: the bench files or folder and options, e.g. bench --bench-size smoke)
#   scripts/instr_measure.sh aa-loaded OUT N [pytest args...] the same with a neighbour busy on the other core
#   scripts/instr_measure.sh power OUT PCT [pytest args...]   one session with PCT % extra work, in OUT/pPCT/counts
#
# Each session's wall time goes to OUT/times.txt. Tables: scripts/instr_table.py.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=$1 out=$2 n=$3
shift 3
export NPTBENCH_OFFLINE=1
run() {  # $1: the storage folder; the rest: pytest arguments
  local store=$1
  shift
  local start=$SECONDS
  .venv/bin/python -m pytest -q -p no:cacheprovider --instrument instructions \
    --benchmark-storage="file://$store/runs" "$@" > "$store.log" 2>&1 || true
  echo "$store $((SECONDS - start)) s: $(tail -1 "$store.log")" | tee -a "$out/times.txt"
}
out=$(realpath -m "$out")
mkdir -p "$out"
case $mode in
  aa)
    for i in $(seq 1 "$n"); do run "$out/aa" "$@"; done ;;
  aa-loaded)
    # the neighbour: a numpy loop (elementwise products over 8 MiB arrays, memory and ALU) on one core
    .venv/bin/python -c "import numpy as np; a = np.ones(1 << 20); exec('while True: a = a * 1.0000001')" &
    neighbour=$!
    trap 'kill $neighbour' EXIT
    for i in $(seq 1 "$n"); do run "$out/aa" "$@"; done ;;
  power)
    NPTBENCH_EXTRA_WORK=$n run "$out/p$n" -p scripts.instr_mutations "$@" ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
