#!/usr/bin/env bash
# Every output of `python -m nptbench history` on the committed histories, and the detector's figures on
# them (scripts/history_rates.py), written to OUT: run it before and after a change of the history code and
# `diff -r` the two folders (docs/history.md, "Same answers"). Run from a checkout's root:
#
#   scripts/history-outputs.sh OUT [PYTHON]
#
# PYTHON (default .venv/bin/python) may run another checkout's code: PYTHONPATH=OTHER scripts/history-outputs.sh.
# Per history (runs/, runs-2/, runs-3/, and the three together): the text, --json, --fail-on-new-step (its
# exit status and lines) and the dashboard (--out); then history_rates.py's printout and --json of each
# (its "seconds" field is a duration: left out).
set -u
OUT=${1:?usage: scripts/history-outputs.sh OUT [PYTHON]}
PY=${2:-.venv/bin/python}
H=results/amd-epyc_2cores_nogpu/history
mkdir -p "$OUT"
for src in "$H/runs" "$H/runs-2" "$H/runs-3" "$H"; do
  name=$(basename "$src")
  $PY -m nptbench history "$src" --quiet > "$OUT/$name.txt" 2> "$OUT/$name.txt.err"
  echo "exit $?" >> "$OUT/$name.txt.err"
  $PY -m nptbench history "$src" --quiet --json > "$OUT/$name.json" 2> "$OUT/$name.json.err"
  $PY -m nptbench history "$src" --quiet --fail-on-new-step > /dev/null 2> "$OUT/$name.fail.err"
  echo "exit $?" >> "$OUT/$name.fail.err"
  $PY -m nptbench history "$src" --quiet --out "$OUT/$name.dashboard" > "$OUT/$name.out.txt" 2>&1
  sed -i "s|$OUT/||g" "$OUT/$name.out.txt"
  echo "$(date +%H:%M:%S) $name done" >&2
done
for src in "$H/runs" "$H/runs-2" "$H/runs-3"; do
  name=$(basename "$src")
  $PY scripts/history_rates.py "$src" --json "$OUT/$name.rates.json" > "$OUT/$name.rates.txt" 2>&1
  $PY -c "import json, sys; d = json.load(open(sys.argv[1])); d.pop('seconds'); json.dump(d, open(sys.argv[1], 'w'), indent=1)" \
    "$OUT/$name.rates.json"
  echo "$(date +%H:%M:%S) $name rates done" >&2
done
