#!/usr/bin/env bash
# Power side by side (results/instructions.md, round 4, "Power: the same extra work judged by counts, by
# the gate and by `ab`"): extra work of known size
# (scripts/instr_mutations.py, NPTBENCH_EXTRA_WORK: the numpy and torch products of mnist-full, abt and square
# compute that share more rows) judged three ways on the same rows:
#   1. counts: one count session a size, judged one run a side against a count session with none;
#   2. the wall-time gate against a set built as the README says (nptbench baseline --runs 5 --threads 1
#      --pause 60), two rounds of the ladder with an A/A session that grows the set before each;
#   3. nptbench ab with 6 runs a side a size (scripts/instr_table.py wall also judges its first 3 a side).
# Run from a scratch checkout (each method writes only under OUT) with the suite's venv:
#
#   scripts/power_measure.sh OUT [counts] [gate] [ab]      (default: all three, in that order)
#
# A second gate step in the same OUT keeps the set and numbers its rounds on (r3, r4, ...).
#
# Tables: scripts/instr_table.py power | gate | wall (the commands are printed at the end).
set -u
OUT=$(realpath -m "${1:?usage: scripts/power_measure.sh OUT [counts] [gate] [ab]}")
shift
STEPS=${*:-counts gate ab}
PY=${PY:-.venv/bin/python}
FILES=${FILES:-bench/test_matmul.py bench/test_ops.py}
SIZES=${SIZES:-1 2 5 10 20}
mkdir -p "$OUT/gate" "$OUT/ab" "$OUT/counts"
export NPTBENCH_OFFLINE=1
log() { echo "$(date +%H:%M:%S) $*" | tee -a "$OUT/progress.log"; }
PINNED=(OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1)

for step in $STEPS; do
  case $step in
    counts)
      for pct in 0 $SIZES; do
        log "counts: $pct % extra work"
        # shellcheck disable=SC2086
        scripts/instr_measure.sh power "$OUT/counts" "$pct" $FILES --bench-size smoke >/dev/null
      done ;;
    gate)
      round=$(find "$OUT/gate" -name 'r*-p0.log' | wc -l)
      if [ "$round" = 0 ]; then
        log "gate: the set (nptbench baseline --runs 5 --threads 1 --pause 60)"
        # shellcheck disable=SC2086
        $PY -m nptbench baseline --runs 5 --threads 1 --pause 60 --bench-size smoke --results "$OUT/gate/results" \
          -- $FILES -p scripts.instr_mutations > "$OUT/gate/baseline.log" 2>&1 || { log "baseline failed"; exit 1; }
      fi
      for ladder in "$SIZES" "$(echo "$SIZES" | tr ' ' '\n' | sort -rn | tr '\n' ' ')"; do
        round=$((round + 1))
        for pct in 0 $ladder; do
          grow=(); [ "$pct" = 0 ] && grow=(--baseline-grow)
          name="r$round-p$pct"
          # shellcheck disable=SC2086
          env "${PINNED[@]}" NPTBENCH_EXTRA_WORK="$pct" $PY -m pytest $FILES -p scripts.instr_mutations \
            -p no:cacheprovider --bench-size=smoke --benchmark-storage="file://$OUT/gate/results/runs" \
            --benchmark-compare-fail=median:10% "${grow[@]}" > "$OUT/gate/$name.log" 2>&1
          log "gate $name exit $?"
        done
      done ;;
    ab)
      for pct in $SIZES; do
        log "ab: $pct % extra work, 6 runs a side"
        # shellcheck disable=SC2086
        $PY -m nptbench ab -n 6 --threads 1 --b-env NPTBENCH_EXTRA_WORK="$pct" --out "$OUT/ab/p$pct" \
          -- $FILES --bench-size smoke -p scripts.instr_mutations > "$OUT/ab/p$pct.log" 2>&1
        log "ab $pct exit $?"
      done ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
log "done"
echo "tables: python scripts/instr_table.py power $OUT/counts/p0/counts $(for p in $SIZES; do printf '%s=%s ' "$p" "$OUT/counts/p$p/counts"; done)"
echo "        python scripts/instr_table.py gate $OUT/gate"
echo "        python scripts/instr_table.py wall $(for p in $SIZES; do printf '%s,6=%s %s,3=%s:3 ' "$p" "$OUT/ab/p$p" "$p" "$OUT/ab/p$p"; done)"
