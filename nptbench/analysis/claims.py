"""The seed documents' speed-up claims (claims.toml) and the verdict of our measurements on each.

Seeds 000-004 each state how many times faster one way of doing their work is than another (numpy vs
torch, CPU vs GPU, a Python loop vs broadcasting), measured once on their own machine and sometimes
unfairly. Each claim names the pair of benchmarks (experiment, variant) that tests it here, and where
the seed's pair was unfair, the pair that compares like with like.

A ratio is always time(baseline) / time(contender): how many times faster the contender is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PATH = Path(__file__).with_name("claims.toml")

REPRODUCED, LARGER, SMALLER = "reproduced", "larger", "smaller"
NOT_MEASURABLE, NO_FIGURE = "not measurable here", "no seed figure"
VERDICTS = (REPRODUCED, LARGER, SMALLER, NOT_MEASURABLE, NO_FIGURE)

Pair = tuple[str, str]  # (experiment, variant)


class ClaimsError(ValueError):
    """claims.toml does not follow its format."""


@dataclass(frozen=True)
class Claim:
    id: str
    seed: str
    quote: str
    seed_figures: str
    hardware: str
    baseline: Pair
    contender: Pair
    seed_ratio: tuple[float, float] | None = None  # (low, high); low == high for a single figure
    unfair: str = ""
    fair_baseline: Pair | None = None
    fair_contender: Pair | None = None
    note: str = ""
    evidence: tuple[Pair, ...] = ()  # benchmarks whose figures explain the ratio (shown beside it)

    @property
    def pairs(self) -> list[Pair]:
        """Every benchmark the claim names."""
        out = [self.baseline, self.contender]
        if self.fair_baseline:
            out += [self.fair_baseline, self.fair_contender]
        return out


REQUIRED = ("id", "seed", "quote", "seed_figures", "hardware", "baseline", "contender")
OPTIONAL = ("seed_ratio", "unfair", "fair_baseline", "fair_contender", "note", "evidence")


def _pair(cid, name, value) -> Pair:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and v for v in value)):
        raise ClaimsError(f"claim {cid}: {name} must be [experiment, variant], got {value!r}")
    return value[0], value[1]


def _ratio(cid, value) -> tuple[float, float]:
    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if number(value):
        low = high = value
    elif isinstance(value, list) and len(value) == 2 and all(map(number, value)):
        low, high = value
    else:
        low = high = -1
    if not 0 < low <= high:
        raise ClaimsError(f"claim {cid}: seed_ratio must be a positive number or [low, high], got {value!r}")
    return float(low), float(high)


def parse(data: dict) -> tuple[list[Claim], float]:
    """Claims and the verdict tolerance from the parsed TOML, checked."""
    tolerance = data.get("tolerance", 1.5)
    if not isinstance(tolerance, (int, float)) or tolerance < 1:
        raise ClaimsError(f"tolerance must be a number >= 1, got {tolerance!r}")
    claims, seen = [], set()
    for raw in data.get("claim", []):
        cid = raw.get("id", "?")
        missing = [k for k in REQUIRED if k not in raw]
        unknown = [k for k in raw if k not in REQUIRED + OPTIONAL]
        if missing or unknown:
            raise ClaimsError(f"claim {cid}: missing {missing}, unknown {unknown}")
        if cid in seen:
            raise ClaimsError(f"claim id {cid} appears twice")
        seen.add(cid)
        if ("fair_baseline" in raw) != ("fair_contender" in raw):
            raise ClaimsError(f"claim {cid}: give both fair_baseline and fair_contender, or neither")
        if "fair_baseline" in raw and not raw.get("unfair"):
            raise ClaimsError(f"claim {cid}: a fair pair needs the sentence saying what was unfair")
        claims.append(Claim(
            id=cid, seed=str(raw["seed"]), quote=raw["quote"], seed_figures=raw["seed_figures"],
            hardware=raw["hardware"], baseline=_pair(cid, "baseline", raw["baseline"]),
            contender=_pair(cid, "contender", raw["contender"]),
            seed_ratio=_ratio(cid, raw["seed_ratio"]) if "seed_ratio" in raw else None,
            unfair=raw.get("unfair", ""), note=raw.get("note", ""),
            fair_baseline=_pair(cid, "fair_baseline", raw["fair_baseline"]) if "fair_baseline" in raw else None,
            fair_contender=_pair(cid, "fair_contender", raw["fair_contender"]) if "fair_contender" in raw else None,
            evidence=tuple(_pair(cid, "evidence", e) for e in raw.get("evidence", [])),
        ))
    return claims, float(tolerance)


def load(path: str | Path = PATH) -> tuple[list[Claim], float]:
    with open(path, "rb") as f:
        return parse(tomllib.load(f))


def verdict(seed_ratio: tuple[float, float] | None, ours: float | None, tolerance: float) -> str:
    """reproduced when ``ours`` is within a factor ``tolerance`` of the seed's ratio (or range)."""
    if ours is None or not math.isfinite(ours) or ours <= 0:
        return NOT_MEASURABLE
    if seed_ratio is None:
        return NO_FIGURE
    low, high = seed_ratio
    if ours < low / tolerance:
        return SMALLER
    if ours > high * tolerance:
        return LARGER
    return REPRODUCED


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    return f"{r:.3g}x"


def fmt_seed_ratio(seed_ratio) -> str:
    if seed_ratio is None:
        return "none given"
    low, high = seed_ratio
    if low == high:
        return fmt_ratio(low)
    if math.isinf(high):
        return f">= {fmt_ratio(low)}"
    return f"{fmt_ratio(low)[:-1]}-{fmt_ratio(high)}"


@dataclass
class Row:
    """One claim, judged in one context (a machine and size profile) or, when nowhere, without one."""
    claim: Claim
    context: str | None
    ours: float | None
    verdict: str
    fair: float | None = None
    why: str = ""  # why a ratio is missing (skips, absent benchmarks)
    host: float | None = None  # the same ratio from host medians, where ``ours`` used a device time
    measured: list = field(default_factory=list)  # (pair, context) of the claim's benchmarks that did run


def _name(pair: Pair) -> str:
    return f"{pair[0]}/{pair[1]}"


def evaluate(claims, times: dict[str, dict[Pair, float]], tolerance: float,
             skipped: dict[Pair, str] | None = None, host: dict[str, dict[Pair, float]] | None = None) -> list[Row]:
    """Judge every claim in every context whose times hold both of its benchmarks.

    ``times`` maps a context label to {(experiment, variant): seconds}, the time each result is read by;
    ``host`` the same with host medians, for the host ratio beside ``ours`` (GPU results are read by their
    device time); ``skipped`` maps a benchmark to the reason it was skipped. A claim no context can judge
    gets one "not measurable here" row saying why and which of its benchmarks did run where.
    """
    skipped, host = skipped or {}, host or {}
    rows = []
    for c in claims:
        found = False
        for ctx, t in times.items():
            if c.baseline in t and c.contender in t:
                found = True
                ours = t[c.baseline] / t[c.contender]
                h = host.get(ctx, {})
                host_ratio = h[c.baseline] / h[c.contender] if c.baseline in h and c.contender in h else None
                fair = None
                if c.fair_baseline and c.fair_baseline in t and c.fair_contender in t:
                    fair = t[c.fair_baseline] / t[c.fair_contender]
                why = ""
                if c.fair_baseline and fair is None:
                    why = _missing(c.fair_baseline, c.fair_contender, t, skipped)
                rows.append(Row(c, ctx, ours, verdict(c.seed_ratio, ours, tolerance), fair, why, host_ratio))
        if not found:
            fair_row = None
            for ctx, t in times.items():  # the fair pair may be measurable where the seed's pair is not
                if c.fair_baseline and c.fair_baseline in t and c.fair_contender in t:
                    fair_row = (ctx, t[c.fair_baseline] / t[c.fair_contender])
                    break
            have = set().union(*(t.keys() for t in times.values())) if times else set()
            why = _missing(c.baseline, c.contender, dict.fromkeys(have, 0.0), skipped)
            if not why:
                why = "its two benchmarks were measured on different machines or profiles"
            measured = [(p, ctx) for p in dict.fromkeys(c.pairs) for ctx, t in times.items() if p in t]
            rows.append(Row(c, fair_row[0] if fair_row else None, None, NOT_MEASURABLE,
                            fair_row[1] if fair_row else None, why, measured=measured))
    return rows


def _missing(a: Pair, b: Pair, t: dict, skipped: dict) -> str:
    parts = []
    for p in (a, b):
        if p not in t:
            parts.append(f"{_name(p)} {'skipped: ' + skipped[p] if p in skipped else 'not in these runs'}")
    return "; ".join(parts)
