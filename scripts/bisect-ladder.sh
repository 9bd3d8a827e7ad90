#!/usr/bin/env bash
# A throwaway git history of the suite with one known step, for measuring `python -m nptbench bisect`
# (results/bisect.md):
#
#   scripts/bisect-ladder.sh DIR [COMMITS] [STEP]
#
# clones this checkout into DIR and adds COMMITS (31) commits on top of it: commit STEP (20) makes
# nptbench/families/matmul.py's matmul_operator (``a @ b``: the numpy and torch rows of the mnist and square
# products) compute a fifth of its product a second time, about 20 % more work; every other commit only
# appends a line to LADDER.txt.
# The answer a bisection must find: the commit whose message starts "ladder STEP:".
set -eu
DIR=${1:?usage: scripts/bisect-ladder.sh DIR [COMMITS] [STEP]}
COMMITS=${2:-31}
STEP=${3:-20}
git clone -q "$(git rev-parse --show-toplevel)" "$DIR"
cd "$DIR"
git config user.email ladder@example.invalid
git config user.name ladder
for i in $(seq 1 "$COMMITS"); do
  if [ "$i" -eq "$STEP" ]; then
    python3 - <<'PY'
from pathlib import Path
p = Path("nptbench/families/matmul.py")
s = p.read_text()
old = '    return a @ b\n\n\ndef matmul_operator_copyback'
new = ('    out = a @ b\n    a[: a.shape[0] // 5] @ b  # the ladder\'s step: a fifth of the product again\n'
       '    return out\n\n\ndef matmul_operator_copyback')
assert old in s, "matmul_operator changed: update scripts/bisect-ladder.sh"
p.write_text(s.replace(old, new))
PY
    git commit -qam "ladder $i: matmul_operator computes a fifth of its product twice (about 20 % slower)"
  else
    echo "$i" >> LADDER.txt
    git add LADDER.txt
    git commit -qm "ladder $i: nothing that runs"
  fi
done
git log --oneline | head -3
