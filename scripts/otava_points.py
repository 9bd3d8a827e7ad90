"""Apache Otava's change points, at its defaults, for series read as JSON from stdin ({id: [values]}): prints
{id: [indices]} (the first run at each new level). Runs in a venv of its own with apache-otava==0.8.0
(scripts/history_rates.py --otava-python), which is never a dependency of the suite."""
import json
import sys

from otava.analysis import compute_change_points

series = json.load(sys.stdin)
out = {}
for key, values in series.items():
    points, _weak = compute_change_points(values)  # window_len=50, max_pvalue=0.001, min_magnitude=0.0
    out[key] = sorted(int(p.index) for p in points)
json.dump(out, sys.stdout)
