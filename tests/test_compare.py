"""``python -m nptbench compare``: verdicts on synthetic rounds, matching and printing, and the two proofs on
real runs of the matmul benchmarks (seeds 000/003/004): an A/A comparison calls nothing slower, and the
same BLAS-bound benchmarks with BLAS limited to its SSE kernels are called slower. Verdicts only, never
times.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nptbench.schema import runs as runs_model
from nptbench.env import blas
from nptbench.analysis import verdict as stats
from nptbench.analysis import comparison
from nptbench.tools import compare
from nptbench.tools import verdict_text
from nptbench.schema.record import THREAD_VARIABLES
from nptbench.schema.runs import make_fingerprint

ROOT = Path(__file__).resolve().parents[1]
HERE = {"cpu_model": "Test CPU @ 1.00GHz", "cpu_cores": 2, "gpus": [], "versions": {"torch": "2.13.0"}}


def rounds(median, n=200, spread=0.05, seed=0):
    """Round times around ``median`` with a right tail, like timings (lognormal)."""
    return median * np.random.default_rng(seed).lognormal(0.0, spread, n)


# --- the verdict on synthetic rounds -------------------------------------------------------------------

def test_same_distribution_is_same():
    v = stats.verdict(rounds(1e-3, seed=1), rounds(1e-3, seed=2))
    assert v.verdict == "same" and 0.95 < v.ratio < 1.05 and v.low < 1 < v.high


def test_clear_slowdown_and_speedup():
    assert stats.verdict(rounds(1e-3, seed=1), rounds(1.5e-3, seed=2)).verdict == "slower"
    assert stats.verdict(rounds(1e-3, seed=1), rounds(0.6e-3, seed=2)).verdict == "faster"


def test_significant_but_small_change_is_same():
    # 4 % slower, measured precisely: significant, but under the 10 % minimum effect
    v = stats.verdict(rounds(1e-3, n=2000, spread=0.01, seed=1), rounds(1.04e-3, n=2000, spread=0.01, seed=2))
    assert v.p < 0.01 and v.verdict == "same"
    assert stats.verdict(rounds(1e-3, n=2000, spread=0.01, seed=1), rounds(1.04e-3, n=2000, spread=0.01, seed=2),
                           min_effect=0.02).verdict == "slower"


def test_noisy_change_is_uncertain():
    v = stats.verdict(rounds(1e-3, n=8, spread=0.6, seed=3), rounds(1.2e-3, n=8, spread=0.6, seed=4))
    assert v.verdict == "uncertain"


def test_a_burst_of_noise_widens_the_interval():
    # the same code, but NEW had another process running through its last third: bursty, not a shift
    base = rounds(1e-3, n=600, spread=0.02, seed=5)
    new = rounds(1e-3, n=600, spread=0.02, seed=6)
    new[400:] *= 1.6
    assert stats.verdict(base, new).verdict != "slower"


def test_pooled_runs_must_agree():
    # Pooled, NEW's rounds are 25 % slower, but a BASE run (1.2) and a NEW run (1.1) overlap: with several
    # runs a side the run is the unit, and runs that do not separate are not a slowdown.
    base = [rounds(m, n=60, spread=0.02, seed=i) for i, m in enumerate((1.0, 1.0, 1.05, 1.2))]
    new = [rounds(m, n=60, spread=0.02, seed=9 + i) for i, m in enumerate((1.3, 1.3, 1.3, 1.1))]
    assert stats.verdict(np.concatenate(base), np.concatenate(new)).verdict == "slower"  # the rounds alone
    v = stats.hierarchical_verdict(base, new)
    assert v.verdict == "uncertain" and v.low < 1.1 < v.high and "4 and 4 runs" in v.note
    # runs that separate cleanly keep the verdict
    clean = stats.hierarchical_verdict([rounds(m, n=60, spread=0.02, seed=i) for i, m in enumerate((1.0, 1.01, 0.99))],
                                         [rounds(m, n=60, spread=0.02, seed=5 + i) for i, m in enumerate((1.3, 1.31, 1.29))])
    assert clean.verdict == "slower" and clean.low > 1.1


@pytest.mark.parametrize("runs", [2, 3])
def test_a_large_clean_effect_is_called_from_few_runs(runs):
    """A rank test on run medians can never reach p < 0.05 with 3 runs a side (nor with 2): the two-level
    bootstrap has no such floor, so 2.8x with every NEW run slower than every BASE run is slower."""
    base = [rounds(1e-3 * m, n=40, spread=0.05, seed=i) for i, m in enumerate((1.0, 1.05, 0.97)[:runs])]
    new = [rounds(2.8e-3 * m, n=40, spread=0.05, seed=10 + i) for i, m in enumerate((1.0, 0.95, 1.08)[:runs])]
    v = stats.hierarchical_verdict(base, new)
    assert v.verdict == "slower" and v.p < 0.05 and v.low > 2.0, v
    assert stats.hierarchical_verdict(new, base).verdict == "faster"


def test_runs_that_drifted_as_a_whole_are_not_a_slowdown():
    """A/A: the same code, three runs a side, each run shifted as a whole (a shared machine). Pooled as
    rounds, NEW looks 21 % slower with a narrow interval; with the run as the unit it is not a finding."""
    base = [rounds(1e-3 * s, n=50, spread=0.03, seed=20 + i) for i, s in enumerate((0.95, 1.0, 1.1))]
    new = [rounds(1e-3 * s, n=50, spread=0.03, seed=30 + i) for i, s in enumerate((1.15, 1.22, 1.3))]
    assert stats.verdict(np.concatenate(base), np.concatenate(new)).verdict == "slower"  # rounds pooled
    assert stats.hierarchical_verdict(base, new).verdict == "uncertain"


def test_the_widening_shrinks_as_runs_are_added():
    w = [stats.small_sample_widening(n, n) for n in (2, 3, 5, 10)]
    assert w == sorted(w, reverse=True) and w[0] == pytest.approx(3.10, abs=0.01) and w[-1] < 1.2
    with pytest.raises(ValueError, match="at least 2 runs a side"):
        stats.hierarchical_verdict([rounds(1e-3)], [rounds(1e-3), rounds(1e-3, seed=3)])


def test_too_few_rounds_are_never_called():
    # 3 x slower, but with 3 rounds a side no test can reach significance: say so instead of "same"
    v = stats.verdict([1.0, 1.01, 0.99], [3.0, 3.01, 2.99])
    assert v.verdict == "uncertain" and "too few" in v.note and v.ratio == pytest.approx(3.0)


# --- runs, matching, printing ----------------------------------------------------------------------------

def fake_run(benches: dict, cpu="Test CPU @ 1.00GHz", when="2026-01-01T00:00:00", profile="smoke", torch="2.13.0"):
    """A saved run as pytest-benchmark writes it, with the records the suite puts in extra_info."""
    out = []
    for name, (experiment, times) in benches.items():
        times = list(map(float, times))
        out.append({
            "name": f"test_x[{name}]", "fullname": f"bench/test_x.py::test_x[{name}]", "group": experiment,
            "extra_info": {"experiment": experiment, "variant": name, "backend": "numpy", "device": "cpu",
                           "dtype": "float32", "shape": [[4, 4], [4, 4]]},
            "stats": {"median": float(np.median(times)), "min": min(times), "mean": float(np.mean(times)),
                      "data": times},
        })
    info = {**HERE, "cpu_model": cpu, "profile": profile, "versions": {"torch": torch}}
    return {"machine_info": {"nptbench": info}, "datetime": when, "benchmarks": out}


def write(path: Path, run: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))
    return path


def test_cli_table_sides_and_exit_status(tmp_path, capsys):
    base = write(tmp_path / "base.json", fake_run({
        "a": ("exp", rounds(1e-3, seed=1)), "b": ("exp", rounds(2e-3, seed=2)), "gone": ("exp", rounds(1e-3))}))
    new = write(tmp_path / "new.json", fake_run({
        "a": ("exp", rounds(2e-3, seed=3)), "b": ("exp", rounds(2e-3, seed=4)), "added": ("exp", rounds(1e-3))}))
    assert compare.main([str(base), str(new), "--same-session"]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| test_x[")]
    assert [line.split(" | ")[0] for line in lines] == ["| test_x[a]", "| test_x[b]"]  # sorted by ratio, slowest first
    assert "**slower**" in lines[0] and lines[1].endswith("| same |")
    assert "Only in BASE: test_x[gone]." in out and "Only in NEW: test_x[added]." in out
    assert compare.main([str(base), str(base), "--same-session"]) == 0


def test_a_long_list_of_unmatched_benchmarks_is_counted(tmp_path, capsys):
    """A -k subset against a whole-suite baseline: the unmatched part is counted, not listed whole."""
    names = [f"v{i:02d}" for i in range(verdict_text.LIST_LIMIT + 5)]
    base = write(tmp_path / "base.json", fake_run({"a": ("exp", rounds(1e-3, seed=1)),
                                                   **{n: ("exp", rounds(1e-3)) for n in names}}))
    new = write(tmp_path / "new.json", fake_run({"a": ("exp", rounds(1e-3, seed=2))}))
    compare.main([str(base), str(new), "--same-session"])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("Only in BASE:"))
    assert line.startswith(f"Only in BASE: {len(names)} benchmarks, test_x[v00], ")
    assert line.endswith(" and 5 more.") and "test_x[v14]" not in line


def test_runs_are_matched_by_record_not_name(tmp_path):
    base = fake_run({"a": ("exp", rounds(1e-3))})
    new = fake_run({"a": ("exp", rounds(1e-3))})
    new["benchmarks"][0]["name"] = new["benchmarks"][0]["fullname"] = "bench/renamed.py::test_y[a]"
    [pairing] = comparison.compare_runs([runs_model.Run(Path("b"), base)], [runs_model.Run(Path("n"), new)], mode="session")
    assert len(pairing.rows) == 1 and not pairing.only_base and not pairing.only_new
    new["benchmarks"][0]["extra_info"]["shape"] = [[8, 8], [8, 8]]  # other work: no longer the same benchmark
    [pairing] = comparison.compare_runs([runs_model.Run(Path("b"), base)], [runs_model.Run(Path("n"), new)], mode="session")
    assert not pairing.rows and pairing.only_base and pairing.only_new


def test_folders_pool_runs_and_machines_sit_side_by_side(tmp_path, capsys):
    for i, cpu in enumerate(["CPU One", "CPU Two"]):
        write(tmp_path / "base" / f"{i}a.json", fake_run({"a": ("exp", rounds(1e-3, seed=i))}, cpu=cpu))
        write(tmp_path / "base" / f"{i}b.json", fake_run({"a": ("exp", rounds(1e-3, seed=10 + i))}, cpu=cpu,
                                                          when="2026-01-02T00:00:00"))
        write(tmp_path / "new" / f"{i}.json", fake_run({"a": ("exp", rounds(1e-3 * (1 + i), seed=20 + i))}, cpu=cpu,
                                                        torch="2.12.1"))
    pairings = comparison.compare_runs(runs_model.load_runs([tmp_path / "base"]), runs_model.load_runs([tmp_path / "new"]), mode="session")
    assert sorted(p.label for p in pairings) == sorted(make_fingerprint(c, 2, []) for c in ["CPU One", "CPU Two"])
    assert all(p.same_hardware and len(p.base_runs) == 2 for p in pairings)
    assert {p.label.split("_")[0]: p.rows[0].verdict for p in pairings} == {"cpu-one": "same", "cpu-two": "slower"}
    rc = compare.main([str(tmp_path / "base"), str(tmp_path / "new"), "--same-session"])
    out = capsys.readouterr().out
    assert rc == 1 and "All machines side by side" in out and "torch 2.12.1" in out
    assert "WARNING" not in out


def test_different_hardware_warns_loudly(tmp_path, capsys):
    base = write(tmp_path / "a.json", fake_run({"a": ("exp", rounds(1e-3))}, cpu="CPU One"))
    new = write(tmp_path / "b.json", fake_run({"a": ("exp", rounds(1e-3))}, cpu="CPU Two"))
    assert compare.main([str(base), str(new), "--same-session"]) == 0
    captured = capsys.readouterr()
    assert "WARNING: different hardware" in captured.out and "WARNING" in captured.err


def test_corrupt_or_missing_run_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert compare.main([str(bad), str(bad), "--same-session"]) == 2
    assert str(bad) in capsys.readouterr().err
    assert compare.main([str(tmp_path / "nope"), str(bad), "--same-session"]) == 2


def test_min_effect_per_experiment_from_pyproject(tmp_path):
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text('[tool.nptbench.min-effect]\ndefault = 0.2\nmnist5 = 0.5\n')
    effects = comparison.Effects.from_pyproject(cfg)
    assert effects("mnist5") == 0.5 and effects("abt") == 0.2
    assert comparison.Effects.from_pyproject(cfg, default=0.05)("abt") == 0.05
    assert comparison.Effects.from_pyproject(ROOT / "pyproject.toml")("any") == stats.DEFAULT_MIN_EFFECT


# --- the proofs: real runs of the matmul benchmarks -------------------------------------------------------
#
# The A/A runs and the baseline of the slowdowns pin BLAS, torch and numba to one thread: on a 2-core
# machine that other processes share, a two-thread product stalls whenever a neighbour takes a core
# (20-80x slower rounds were seen), differently in every run, which no statistic can tell from a change
# of the code. A genuine slowdown is then judged against that baseline: the BLAS libraries limited to their
# SSE kernels (OPENBLAS_CORETYPE, MKL_ENABLE_INSTRUCTIONS), several times more work per product on a
# modern x86 core, whatever the neighbours do. Whether a knob takes effect depends on the machine (MKL on
# an AMD CPU names no instruction set and ignored MKL_ENABLE_INSTRUCTIONS; OpenBLAS on arm64 has no SSE
# kernels), so each library's slowdown is asserted only where a fresh process shows its BLAS really
# switched to narrow kernels (nptbench.env.blas), and skipped with that evidence where it did not. (Taking a
# second thread away is measured in results/ab.md, not tested here: whether it shows depends on what
# the neighbours do with that core, and a test run once found one thread no slower than two.)

#: 256^3 products (BLAS-bound, use every core given) and small single-threaded products.
PROOF_SELECTION = ("(square or mnist5) and not loop and not lists and not elementwise and not dot "
                   "and not broadcast and not cuda")
#: The BLAS-bound benchmarks and the library whose BLAS they run.
BLAS_BOUND = {"test_matmul[numpy-square-float32]": "numpy", "test_matmul[torch-square-float32]": "torch"}
THREAD_VARS = THREAD_VARIABLES
ONE_THREAD = {k: "1" for k in THREAD_VARS}
SSE_ONLY = {**ONE_THREAD, **blas.NARROW_KNOBS}


def proof_env(extra: dict | None) -> dict:
    """This environment without thread, profile and BLAS settings, plus ``extra``; ceilings off (the proofs
    compare times, and calibrating in every run would cost more than the runs themselves)."""
    drop = THREAD_VARS + ("BENCH_SIZE", *blas.NARROW_KNOBS)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(NPTBENCH_OFFLINE="1", NPTBENCH_CEILINGS="off", NPTBENCH_YARDSTICKS="off", **(extra or {}))
    return env


def bench_run(storage: Path, name: str, threads_env: dict | None) -> None:
    """One timed smoke run of the proof selection, saved with raw rounds under ``storage``."""
    cmd = [sys.executable, "-m", "pytest", "bench/test_matmul.py", "--bench-size", "smoke", "-k", PROOF_SELECTION,
           "-q", "-p", "no:cacheprovider", f"--benchmark-storage=file://{storage}", f"--benchmark-save={name}",
           "--benchmark-max-time=0.1", "--benchmark-min-rounds=30"]
    proc = subprocess.run(cmd, cwd=ROOT, env=proof_env(threads_env), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def narrowed():
    """library -> (switched, evidence): did the SSE knobs switch its BLAS to narrow kernels on this machine?"""
    default, knob = blas.probe(proof_env(ONE_THREAD)), blas.probe(proof_env(SSE_ONLY))
    return {lib: blas.narrowed(lib, default, knob) for lib in set(BLAS_BOUND.values())}


@pytest.fixture(scope="module")
def proof_runs(tmp_path_factory, narrowed):
    """A and B: the same code at one thread, two runs each (the fewest the run-level verdict takes: the
    fewer runs, the wider its interval, so an A/A pair is called slower less often, not more; see
    nptbench.analysis.verdict.hierarchical_verdict); SSE: BLAS without its wide kernels, run only where a
    knob took effect. Interleaved A SSE B B A, so that what the machine does meanwhile falls on every side
    alike; compare pools each side's runs, so one quiet or one busy run moves a side's median less and
    widens its interval."""
    root = tmp_path_factory.mktemp("proof")
    sse = [("SSE", SSE_ONLY)] if any(switched for switched, _ in narrowed.values()) else []
    order = [("A", ONE_THREAD), *sse, ("B", ONE_THREAD), ("B", ONE_THREAD), ("A", ONE_THREAD)]
    for i, (side, env) in enumerate(order):
        bench_run(root / side, f"{side.lower()}{i}", env)
    return {side: runs_model.load_runs([root / side]) for side, _ in order}


def verdicts(base, new) -> tuple[dict, str]:
    pairings = comparison.compare_runs(base, new, mode="session")
    return {r.name: r.verdict for p in pairings for r in p.rows}, verdict_text.render(pairings)


@pytest.mark.sessions
def test_a_a_nothing_is_slower(proof_runs):
    found, table = verdicts(proof_runs["A"], proof_runs["B"])
    assert len(found) == 5, table
    assert "slower" not in found.values(), table


def expectation(switched: bool | None, evidence: str) -> str | None:
    """None where the slowdown must show, else the reason it cannot be asserted on this machine."""
    if switched:
        return None
    return f"this machine cannot show the SSE-only slowdown: {evidence}"


@pytest.mark.sessions
@pytest.mark.parametrize("bench", list(BLAS_BOUND))
def test_blas_without_wide_kernels_is_slower(narrowed, proof_runs, bench):
    reason = expectation(*narrowed[BLAS_BOUND[bench]])
    if reason:
        pytest.skip(reason)
    found, table = verdicts(proof_runs["A"], proof_runs["SSE"])
    assert found.get(bench) == "slower", f"{narrowed[BLAS_BOUND[bench]][1]}\n{table}"


# --- deciding whether a knob took effect, from what the libraries say ---------------------------------------

def probe_answer(numpy_kernels=None, torch_header=None, torch_via_mkl=True, numpy_blas="scipy-openblas"):
    """What :func:`nptbench.env.blas.probe` reads from a child process, built by hand."""
    pools = [{"internal_api": "openblas", "architecture": numpy_kernels, "version": "0.3.31",
              "filepath": "/venv/site-packages/numpy.libs/libscipy_openblas64_.so"}] if numpy_kernels else []
    lines = [f"MKL_VERBOSE {torch_header}"] if torch_header else []
    lines += ["nptbench-blas-probe:torch-product-begins"]
    lines += ["MKL_VERBOSE SGEMM(N,N,64,64,64) 10.0us CNR:OFF Dyn:1 FastMM:1 TID:0  NThr:1"] if torch_via_mkl else []
    lines += ["nptbench-blas-probe:torch-product-ends"]
    lines += ["nptbench-blas-probe:" + json.dumps({"numpy": {"name": numpy_blas}, "torch": {"name": "mkl"},
                                                    "pools": pools})]
    return blas.parse("\n".join(lines))


INTEL_AVX2 = ("oneMKL 2025 Update 1 Product build 20250306 for Intel(R) 64 architecture Intel(R) Advanced Vector "
              "Extensions 2 (Intel(R) AVX2) enabled processors, Lnx 2.40GHz lp64 gnu_thread")
INTEL_SSE42 = ("oneMKL 2025 Update 1 Product build 20250306 for Intel(R) 64 architecture Intel(R) Streaming SIMD "
               "Extensions 4.2 (Intel(R) SSE4.2) enabled processors, Lnx 2.40GHz lp64 gnu_thread")
AMD_GENERIC = ("oneMKL 2024.0 Update 2 Product build 20240605 for Intel(R) 64 architecture Intel(R) Architecture "
               "processors, Lnx 2.60GHz lp64 gnu_thread")


def test_knobs_that_take_effect_are_asserted():
    default = probe_answer("SkylakeX", INTEL_AVX2)
    knob = probe_answer("Katmai", INTEL_SSE42)
    for lib, before, after in (("numpy", "SkylakeX", "Katmai"), ("torch", "AVX2", "SSE4.2")):
        switched, evidence = blas.narrowed(lib, default, knob)
        assert switched is True and before in evidence and after in evidence
        assert expectation(switched, evidence) is None


@pytest.mark.parametrize("lib,default,knob,expected,words", [
    # OpenBLAS ignored OPENBLAS_CORETYPE: the same core type with and without it
    ("numpy", probe_answer("SkylakeX"), probe_answer("SkylakeX"), False, "still runs SkylakeX"),
    # MKL on an AMD EPYC: no instruction set named, MKL_ENABLE_INSTRUCTIONS=SSE4_2 changed nothing measurable
    ("torch", probe_answer(torch_header=AMD_GENERIC), probe_answer(torch_header=AMD_GENERIC), None,
     "does not say which kernels"),
    # MKL names its instruction set but kept it
    ("torch", probe_answer(torch_header=INTEL_AVX2), probe_answer(torch_header=INTEL_AVX2), False, "still runs AVX2"),
    # torch's product went elsewhere than MKL (no SGEMM line between the markers)
    ("torch", probe_answer(torch_header=INTEL_AVX2, torch_via_mkl=False),
     probe_answer(torch_header=INTEL_SSE42, torch_via_mkl=False), None, "did not go through MKL"),
    # a CPU whose BLAS already runs narrow kernels: nothing to take away
    ("numpy", probe_answer("Nehalem"), probe_answer("Nehalem"), None, "even without the knobs"),
    # numpy with a BLAS that names no kernels (Accelerate, say)
    ("numpy", probe_answer(numpy_blas="accelerate"), probe_answer(numpy_blas="accelerate"), None,
     "does not say which kernels"),
])
def test_knobs_without_effect_skip_the_slowdown_with_the_evidence(lib, default, knob, expected, words):
    switched, evidence = blas.narrowed(lib, default, knob)
    assert switched is expected and words in evidence
    reason = expectation(switched, evidence)
    assert reason.startswith("this machine cannot show the SSE-only slowdown: ") and words in reason


def test_the_real_probe_sees_a_knob_left_unset():
    """A knob that is not set takes no effect, and the probe of this machine says so rather than guessing:
    numpy's BLAS is probed with only the other library's knob set."""
    default = blas.probe(proof_env(ONE_THREAD))
    name = str(default["numpy"].get("name")).lower()
    other = {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"} if "openblas" in name else {"OPENBLAS_CORETYPE": "Prescott"}
    unset = blas.probe(proof_env({**ONE_THREAD, **other}))
    switched, evidence = blas.narrowed("numpy", default, unset)
    assert switched is not True, evidence
    assert expectation(switched, evidence) is not None


def test_a_run_without_raw_rounds_among_pooled_ones_pools_by_medians_and_says_so(tmp_path, capsys):
    """One pooling model (nptbench.analysis.across): a run saved without raw rounds pools with the others by
    its median, as in the report; the verdict then has no rounds to judge noise by and says so."""
    write(tmp_path / "base" / "1.json", fake_run({"a": ("exp", rounds(1e-3, seed=1))}))
    bare = fake_run({"a": ("exp", rounds(1e-3, seed=2))}, when="2026-01-02T00:00:00")
    del bare["benchmarks"][0]["stats"]["data"]
    write(tmp_path / "base" / "2.json", bare)
    new = write(tmp_path / "new.json", fake_run({"a": ("exp", rounds(1e-3, seed=3))}))
    assert compare.main([str(tmp_path / "base"), str(new), "--same-session"]) == 0
    captured = capsys.readouterr()
    row = next(line for line in captured.out.splitlines() if line.startswith("| test_x[a]"))
    assert "uncertain (saved without raw round times)" in row and "Traceback" not in captured.err


def test_the_header_names_the_kernels_a_run_recorded():
    """torch's CPU capability and OpenBLAS's core type beside the versions, once each; a run that recorded no
    cpu_kernels (made before they were recorded) reads as it always did."""
    from nptbench.schema.runs import Run
    from nptbench.tools.verdict_text import _kernels

    blas = {"libscipy_openblas64_.so": "Haswell", "libscipy_openblas.so": "Haswell"}
    now = Run(Path("a"), {"machine_info": {"nptbench": {"cpu_kernels": {"torch": "AVX2"}, "blas_kernels": blas}},
                          "benchmarks": []})
    assert _kernels(now) == " (torch kernels AVX2, OpenBLAS Haswell)"
    older = Run(Path("b"), {"machine_info": {"nptbench": {"blas_kernels": blas}}, "benchmarks": []})
    assert _kernels(older) == ""
