#!/usr/bin/env bash
# What `python -m nptbench history` costs over 100, 250, 1000 and 3000 runs of 100 rows (results/history-scale.md):
#
#   scripts/history-scale.sh OLD_CHECKOUT [SIZES] [OLD_TIMEOUT_S]
#
# The histories are made from the committed runs (scripts/history_scale.py make, into /tmp/hist-scale/rN).
# For each size, side by side on the same machine: this checkout cold (no index: every run file read whole,
# and the index written), warm (the index read), then OLD_CHECKOUT's code (another commit, e.g. a
# `git archive 4a815e0` unpacked) with the same Python, stopped after OLD_TIMEOUT_S (default 600);
# the old code is not run on 3000 runs (its null simulation alone is hours there).
set -u
OLD=${1:?usage: scripts/history-scale.sh OLD_CHECKOUT [SIZES] [OLD_TIMEOUT_S]}
SIZES=${2:-100 250 1000 3000}
TIMEOUT=${3:-600}
PY=${PY:-$PWD/.venv/bin/python}
for n in $SIZES; do
  dir=/tmp/hist-scale/r$n
  [ -d "$dir" ] || $PY scripts/history_scale.py make "$dir" --runs "$n"
  rm -f "$dir/.nptbench-index"
  echo "== $n runs: this checkout, cold (no index)"; $PY scripts/history_scale.py time "$dir" --python "$PY"
  echo "== $n runs: this checkout, warm (index)"; $PY scripts/history_scale.py time "$dir" --python "$PY"
  rm -f "$dir/.nptbench-index"
  if [ "$n" -le 1000 ]; then
    echo "== $n runs: $OLD"; $PY scripts/history_scale.py time "$dir" --python "$PY" --cwd "$OLD" --timeout "$TIMEOUT"
  fi
done
