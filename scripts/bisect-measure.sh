#!/usr/bin/env bash
# Real bisections on a ladder made by scripts/bisect-ladder.sh (results/bisect.md):
#
#   scripts/bisect-measure.sh LADDER OUT
#
# Five bisections over 16 consecutive commits that hold the step (its position varies), then three over
# 16 commits before it (A/A: no step), each `python -m nptbench bisect --revs` on numpy-mnist-full-float32
# (500x784 by 784x10, whose interleaved runs agree within about 1 %) at smoke size, threads pinned to 1,
# 3 interleaved runs a side per probe. Logs, JSON and runs go to OUT.
set -u
LADDER=$(cd "${1:?usage: scripts/bisect-measure.sh LADDER OUT}" && pwd)
OUT=$(mkdir -p "${2:?usage: scripts/bisect-measure.sh LADDER OUT}" && cd "$2" && pwd)
PY=${PY:-python3}
K=${K:-numpy-mnist-full-float32}
cd "$LADDER"
TOP=$(git rev-list --count HEAD)
c() { git rev-parse "HEAD~$((31 - $1))"; }  # commit i of the ladder: 0 is the commit it was cloned from
one() {  # name, first rung, last rung
  local start=$(date +%s) rc
  $PY -m nptbench bisect --revs "$(c "$2")" "$(c "$3")" --out "$OUT/$1" --json "$OUT/$1.json" -- bench --bench-size smoke -k "$K" \
    > "$OUT/$1.log" 2>&1; rc=$?
  echo "$(date +%H:%M:%S) $1 ($2..$3) exit $rc in $(( $(date +%s) - start )) s" | tee -a "$OUT/progress.log"
}
for s in 5 7 9 12 16; do one "step-from-$s" "$s" "$((s + 15))"; done
for s in 0 2 4; do one "aa-from-$s" "$s" "$((s + 15))"; done
