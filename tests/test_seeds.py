"""The one table of random seeds (fixtures/seeds.py): no two names share a seed, and the bench files
draw from it only."""
from __future__ import annotations

import re
from pathlib import Path

from fixtures.seeds import SEEDS

ROOT = Path(__file__).resolve().parents[1]


def test_no_two_names_share_a_seed():
    by_seed = {}
    for name, value in SEEDS.items():
        assert value not in by_seed, f"{name} and {by_seed[value]} share seed {value}"
        by_seed[value] = name


def test_no_seed_is_written_outside_the_table():
    # a literal seed=1234 (or a seed table of its own) in a bench or fixture file would bypass the table
    for path in [*ROOT.glob("bench/*.py"), *ROOT.glob("fixtures/*.py")]:
        if path.name == "seeds.py":
            continue
        text = path.read_text()
        assert not re.search(r"seed\s*=\s*\d", text), f"{path.name}: a seed outside fixtures/seeds.py"
        assert not re.search(r"^(SEEDS|RANDOM)\s*=", text, re.M), f"{path.name}: a seed table of its own"
