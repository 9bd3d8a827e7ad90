"""The suite's pytest plugin: every option, marker, hook and session fixture of nptbench.

The root conftest.py only registers this module (``pytest_plugins``); nothing else in ``nptbench/``
defines a pytest hook. What the hooks do is library code elsewhere, which imports no pytest:

- options ``--bench-size`` (the :class:`Profile`, read through :func:`profile`), ``--require-gpu``,
  ``--gpu-cold-l2`` and ``--gpu-throttle-threshold``; the markers (strict); skips for missing packages and
  GPUs, failures under ``--require-gpu``;
- the GPU's state (nptbench.measure.gpustate): its settings in the machine info, and the benchmarks whose
  rounds ran throttled after the tables (:func:`gpu_state_summary`);
- a CUDA out-of-memory becomes a skip with its reason after the memory is freed (nptbench.measure.devicetime);
- the machine info of a saved run (nptbench.env.machine) with the session's ceilings, the roofline fields of
  every saved benchmark and a table of them after pytest-benchmark's own (nptbench.analysis.roofline);
- the benchmarks skipped, with their reasons, into the saved run (:func:`add_skips`);
- a run saved whole and never over another's, numbered in turn (:func:`save_exclusively`, in place of
  pytest-benchmark's ``FileStorage.save``);
- ``--benchmark-compare`` against this machine's baseline (:class:`PytestBaseline` drives the gate,
  nptbench.tools.session_gate; what it touches of pytest-benchmark: :class:`BenchmarkInternals`);
- the session fixtures ``size`` and ``measure`` (nptbench.measure.harness); ``mnist``, which reads the
  checkout's fixtures/, is the root conftest.py's.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from nptbench.analysis import gpu_records, roofline
from nptbench.env import backends, machine
from nptbench.measure import ceilings, devicetime, gpustate, harness, instruments, yardsticks
from nptbench.schema import layout, runs, store
from nptbench.schema.record import DEFAULT_GPU_THROTTLE_THRESHOLD, THREAD_VARIABLES
from nptbench.schema.status import Status
from nptbench.tools.session import CONFIRMING_ENV

PROFILES = ("smoke", "default", "seed")

#: Every marker the suite knows (strict markers are on, so a typo is an error).
MARKERS = {
    "gpu": "needs a CUDA device through torch; skipped without one, a failure with --require-gpu",
    "numba_cuda": "needs numba's CUDA target on a real device; skipped without one, a failure with --require-gpu",
    "needs(*packages)": "needs these optional packages importable; skipped with the import error otherwise",
    "slow": "takes long at the seed profile (deselect with -m 'not slow')",
    "sessions": "a test of the tools that runs several timed pytest sessions of the suite: the README's test "
                "command deselects them (-m 'not sessions') and .ci/run runs them after it",
    "configs": "the configuration matrix: every CPU benchmark under each thread count and kernel set "
               "(nptbench.env.configs); the README's test command deselects them and .ci/run runs them in a step "
               "of its own",
}


# --- the session's profile ------------------------------------------------------------------------------

@dataclass
class Profile:
    """What a pytest session of the suite runs under; made once, in ``pytest_configure``."""

    size: str  #: the size profile, one of :data:`PROFILES`
    notices: list[str] = field(default_factory=list)  #: one-line notices printed after the run
    yardsticks: dict = field(default_factory=dict)  #: the machine's state at the start and end (timed runs)
    saved: dict | None = None  #: the run as saved (pytest-benchmark's JSON), for the gate


#: Where the session's :class:`Profile` is kept (``config.stash``).
PROFILE_KEY = pytest.StashKey[Profile]()


def profile(config) -> Profile:
    """The session's :class:`Profile` (bench files: ``plugin.profile(config).size``, or the ``size`` fixture)."""
    return config.stash[PROFILE_KEY]


def bench_size(config) -> str:
    size = config.getoption("--bench-size") or os.environ.get("BENCH_SIZE") or "default"
    if size not in PROFILES:
        raise pytest.UsageError(f"BENCH_SIZE={size!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return size


def benchmark_session(config):
    """pytest-benchmark's session object, or None where pytest-benchmark is not active.

    pytest-benchmark offers no public way to reach it, and the suite needs it: whether benchmarks are timed
    at all, the benchmarks of this session (roofline table, baseline comparison) and its compare and
    autosave settings. This is the one place that reads its private ``config._benchmarksession``.
    """
    return getattr(config, "_benchmarksession", None)


# --- options, markers, skips ----------------------------------------------------------------------------

def pytest_addoption(parser):
    group = parser.getgroup("nptbench")
    group.addoption(
        "--bench-size", choices=PROFILES, default=None,
        help="size profile: smoke (tiny, seconds), default (minutes on 2 cores), seed (the seed documents' "
             "exact shapes). Also env BENCH_SIZE; default: default.",
    )
    group.addoption(
        "--require-gpu", action="store_true", default=False,
        help="a GPU benchmark that would be skipped (no CUDA device, no numba CUDA) fails instead",
    )
    group.addoption(
        "--gpu-cold-l2", action="store_true", default=False,
        help="GPU benchmarks flush the L2 cache before every (one-call) round, outside the timed region",
    )
    group.addoption(
        "--baseline-grow", action="store_true", default=False,
        help="with --benchmark-compare[-fail]: a session that passed the gate (nothing slower after its second "
             "timing; not partial) "
             "joins this machine's baseline set, as promote would add it; while the set holds fewer than 3 runs "
             "(too thin to judge) every whole session joins. A set grown this way spans the machine's spells "
             "(nightly CI: days); a creeping slowdown that each night is too small to call then joins it too, "
             "which python -m nptbench history --fail-on-new-step catches",
    )
    group.addoption(
        "--no-confirm", action="store_true", default=False,
        help="with --benchmark-compare-fail: fail on the rows this session's run calls slower as they are; by "
             "default those rows are timed a second time, in a separate pytest session right after, and only the "
             "rows that are called slower again fail it (compare --confirm judges the same way)",
    )
    group.addoption(
        "--check-log", default=None, metavar="PATH",
        help="append one JSON line per benchmark to PATH: its node id, outcome, the error of its result and the "
             "tolerance it was held to, and the first line of a failure (timed or not; what baseline and the "
             "configuration matrix read to name what failed)",
    )
    group.addoption(
        "--instrument", choices=instruments.INSTRUMENTS, default="time",
        help="time (default): pytest-benchmark times each benchmark. instructions: the session runs again under "
             "valgrind (callgrind) and every CPU benchmark's call is counted after its warm-up, with the same "
             "checks; the count run is saved in results/counts/ (docs/instructions.md). GPU rows skip",
    )
    group.addoption(
        "--instrument-jobs", type=positive_int, default=None, metavar="N",
        help="with --instrument instructions: valgrind processes that count at once, each a share of the CPU "
             "benchmarks, balanced by what each took in the newest count runs of this profile (default: one per "
             "CPU core, at most 4)",
    )
    group.addoption(
        "--gpu-throttle-threshold", type=throttle_threshold, default=DEFAULT_GPU_THROTTLE_THRESHOLD,
        metavar="FRACTION",
        help="a GPU benchmark whose SM clock fell below this fraction of the application clock (read through "
             "NVML while its rounds ran) is flagged as throttled, as is one that saw a power or thermal throttle "
             f"reason (default {DEFAULT_GPU_THROTTLE_THRESHOLD}, as nvbench's --throttle-threshold)",
    )


def positive_int(text: str) -> int:
    """An option's whole number of at least 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, got {value}")
    return value


def throttle_threshold(text: str) -> float:
    """``--gpu-throttle-threshold``: a fraction in (0, 1]."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a fraction of the application clock in (0, 1], got {text}")
    return value


def pytest_configure(config):
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    config.stash[PROFILE_KEY] = Profile(size=bench_size(config))
    if not backends.missing_package("torch"):
        backends.configure_torch()
    config.pluginmanager.register(LastScreen(), "nptbench-last-screen")
    if config.getoption("--instrument") == "instructions":
        config.pluginmanager.register(InstructionSession(config), "nptbench-instrument")
    try:  # --benchmark-compare uses results/<this machine's fingerprint>/
        config.pluginmanager.register(PytestBaseline(config, profile(config).size), "nptbench-baseline")
    except runs.RunError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_sessionstart(session):
    bs = benchmark_session(session.config)
    storage = getattr(bs, "storage", None)
    if storage is None or not hasattr(storage, "_next_num"):  # not pytest-benchmark's FileStorage
        return

    def save(output_json: dict, name: str) -> None:
        try:
            save_exclusively(storage, output_json, name)
        except runs.RunError as exc:  # one line, and the session fails, instead of pytest's INTERNALERROR
            storage.logger.error(f"nptbench: this session's run was not saved: {exc}")
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    storage.save = save


def save_exclusively(storage, output_json: dict, save: str) -> Path:
    """Save a run as pytest-benchmark's ``FileStorage.save`` does (``NNNN_<save>.json``, the same bytes and
    log line), but whole and never over another: it numbers the run by listing the folder and asserts the
    name is free, so two sessions that save into one storage within the same second (two runners growing one
    set, nptbench.tools.promote) crashed the second with an AssertionError and lost its run. Here the run is
    linked to its name (nptbench.schema.store.publish) and a taken name is tried again with the number that
    follows. A file system's refusal is a :class:`nptbench.schema.runs.RunError` naming the path."""
    from pytest_benchmark.utils import safe_dumps


    text = safe_dumps(output_json, ensure_ascii=True, indent=4)
    first = storage.get(f"{storage._next_num}_{save}.json")
    names = (storage.get(f"{storage._next_num}_{save}.json") for _ in range(store.UNIQUE_TRIES))
    dest = store.publish(text, first, names=names)
    storage.logger.info(f"Saved benchmark data in: {dest}")
    return dest


def pytest_report_header(config):
    gpus = backends.missing_cuda() or ", ".join(g["name"] for g in machine.gpu_info())
    return [f"nptbench: profile {profile(config).size}; GPU: {gpus}"]


def pytest_runtest_setup(item):
    require_gpu = item.config.getoption("--require-gpu")
    for mark in item.iter_markers("needs"):
        for pkg in mark.args:
            reason = backends.missing_package(pkg)
            if reason:
                pytest.skip(reason)
    gpu_reasons = []
    if item.get_closest_marker("gpu"):
        gpu_reasons.append(backends.missing_cuda())
    if item.get_closest_marker("numba_cuda"):
        gpu_reasons.append(backends.missing_numba_cuda())
    reason = next((r for r in gpu_reasons if r), None)
    if reason:
        if require_gpu:
            pytest.fail(f"--require-gpu: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A CUDA out-of-memory skips the benchmark with its reason, after freeing what it held
    (nptbench.measure.devicetime)."""
    try:
        return (yield)
    except Exception as exc:
        reason = devicetime.oom_skip_reason(exc, profile(pyfuncitem.config).size)
        if reason is None:
            raise
        devicetime.release_after_oom(exc)
    pytest.skip(reason)  # outside the except block: the skip must not keep the OOM (and its frames) alive


# --- what each benchmark's check found (--check-log) ------------------------------------------------------

#: Record fields a --check-log line carries when the benchmark wrote them (nptbench.schema.record declares them).
CHECK_FIELDS = ("experiment", "variant", "dtype", "rel_err", "rtol", "rtol_rule", "max_pointwise_rel_err",
                "pointwise_rtol", "loss_rel_err", "loss_rtol")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    path = item.config.getoption("--check-log", None)
    if path and "benchmark" in getattr(item, "fixturenames", ()) and (call.when == "call" or rep.outcome != "passed"):
        bench = getattr(item, "funcargs", {}).get("benchmark")
        info = getattr(bench, "extra_info", None) or {}
        line = {"nodeid": item.nodeid, "when": call.when, "outcome": rep.outcome,
                **{k: info[k] for k in CHECK_FIELDS if k in info}}
        if rep.outcome != "passed":
            line["reason"] = check_reason(rep)
        with open(path, "a") as f:  # one write of one line: sessions appending at once do not interleave
            f.write(json.dumps(line, default=str) + "\n")
    return rep


def check_reason(rep) -> str:
    """The one-line reason of a failed or skipped report: the skip's reason, or the exception's message
    (the first line that says something), never a traceback."""
    longrepr = rep.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(getattr(longrepr, "reprcrash", None), "message", None)
    text = str(crash if crash is not None else longrepr)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[:3])[:300] if lines else "failed"


# --- what a saved run holds -----------------------------------------------------------------------------

def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["nptbench"] = {**machine.describe(), "profile": profile(config).size}
    add_ceilings(config, machine_info)
    add_yardsticks(config, machine_info["nptbench"])
    add_gpu_state(machine_info["nptbench"])


def add_gpu_state(info: dict) -> None:
    """The GPU's settings through NVML (nptbench.schema.record.GPU_MACHINE_FIELDS, key ``gpu_state``): clocks,
    persistence mode, power limit, driver; or the one-line reason NVML gave none. Only where torch sees a GPU."""
    if info.get("gpus"):
        info["gpu_state"] = gpustate.static_info()


def pytest_benchmark_update_json(config, benchmarks, output_json):
    add_roofline(config, output_json)  # achieved GFLOP/s, GB/s and % of ceiling per benchmark
    add_skips(config, output_json)  # skipped benchmarks and their reasons, for the report
    add_session(config, output_json)  # how the session ended: a partial run says so
    profile(config).saved = output_json


# --- the machine's state: yardsticks at the start and the end of a timed session ----------------------

def timed_session(session) -> bool:
    """Whether this session times benchmarks: pytest-benchmark active and timing, and a benchmark collected."""
    bs = benchmark_session(session.config)
    return (bs is not None and not bs.disabled and not bs.skip
            and any("benchmark" in getattr(item, "fixturenames", ()) for item in session.items))


#: Environment: ``off`` takes no yardsticks (runs of the tests that need their times only).
YARDSTICKS_ENV = "NPTBENCH_YARDSTICKS"


def pytest_collection_finish(session):
    if timed_session(session) and os.environ.get(YARDSTICKS_ENV, "").strip().lower() != "off":
        profile(session.config).yardsticks["start"] = yardsticks.measure()


def add_yardsticks(config, info: dict) -> None:
    """The session's yardsticks (nptbench.schema.record.YARDSTICK_FIELDS), the end taken now, once."""
    taken = profile(config).yardsticks
    if "start" not in taken:
        return
    if "end" not in taken:
        taken["end"] = yardsticks.measure()
    info["yardsticks"] = dict(taken)


def add_session(config, output_json: dict) -> None:
    """How the session ended (nptbench.schema.record.SESSION_FIELDS, key ``nptbench_session``): its exit
    status, the benchmarks that failed, and those collected but never run (an interrupted session)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    session = config.pluginmanager.get_plugin("session")
    benches = [item.nodeid for item in getattr(session, "items", []) if "benchmark" in getattr(item, "fixturenames", ())]
    reported: dict = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for rep in (tr.stats.get(outcome, []) if tr else []):
            if getattr(rep, "nodeid", None) and (outcome != "passed" or rep.when == "call"):
                reported.setdefault(rep.nodeid, set()).add(outcome)
    failed = [n for n in benches if reported.get(n, set()) & {"failed", "error"}]
    not_run = [n for n in benches if n not in reported]
    status = int(getattr(session, "exitstatus", 0) or 0)
    output_json["nptbench_session"] = {
        "exitstatus": status, "collected": len(benches), "failed": failed, "not_run": not_run,
        "complete": not failed and not not_run and status in (0, 1),
    }


def pytest_terminal_summary(terminalreporter, config):
    for notice in dict.fromkeys(profile(config).notices):
        terminalreporter.write_line(f"nptbench: {notice}", yellow=True)
    failed_checks_summary(terminalreporter)
    roofline_summary(terminalreporter, config)
    gpu_state_summary(terminalreporter, config)


class LastScreen:
    """Hooks that print after every other plugin's summary (pytest-benchmark's tables included)."""

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter, config):
        claims_summary(terminalreporter, config)


def as_written(saved: dict) -> dict:
    """The session's run (``Profile.saved``) as pytest-benchmark wrote it to its file: in memory its params
    are still objects (bench rows), in the file their text."""
    from pytest_benchmark.utils import safe_dumps

    return json.loads(safe_dumps(saved))


def claims_summary(terminalreporter, config) -> None:
    """After a timed session that saved its run: the seeds' claims it could test, as the report's ledger
    judges them (nptbench.tools.report.screen)."""
    saved = profile(config).saved
    if not saved or not saved.get("benchmarks") or os.environ.get(CONFIRMING_ENV):
        return
    from nptbench.tools.report import screen

    try:
        lines = screen.claims_lines(as_written(saved))
    except Exception as exc:  # a summary never turns a session's result into a traceback
        terminalreporter.write_line(f"nptbench: the seeds' claims could not be judged: {type(exc).__name__}: {exc}",
                                    yellow=True)
        return
    if lines:
        terminalreporter.section(f"nptbench: the seeds' claims on this machine (this session, {profile(config).size} "
                                 "profile)")
        for line in lines:
            terminalreporter.write_line(line)


def failed_checks_summary(terminalreporter) -> None:
    """One whole line per benchmark that failed, with its reason (pytest's own summary cuts it to the
    terminal's width): a failed check's time is no result, and its run joins no baseline set."""
    session = terminalreporter.config.pluginmanager.get_plugin("session")
    benches = {item.nodeid for item in getattr(session, "items", []) if "benchmark" in getattr(item, "fixturenames", ())}
    for rep in terminalreporter.stats.get("failed", []):
        if rep.nodeid in benches:
            terminalreporter.write_line(f"nptbench: FAILED {rep.nodeid}: {check_reason(rep)}", red=True)


def gpu_state_summary(terminalreporter, config) -> None:
    """One line per GPU benchmark whose rounds ran throttled (nptbench.analysis.gpu_records.throttle_flag),
    and once why the GPU's state was not recorded where NVML gave none."""
    bs = benchmark_session(config)
    if bs is None:
        return
    benches = [b for b in bs.benchmarks if b and (getattr(b, "extra_info", None) or {}).get("device") == "cuda"]
    flags = [gpu_records.throttle_flag(b.name, b.extra_info) for b in benches]
    for flag in filter(None, flags):
        terminalreporter.write_line(f"nptbench: GPU throttled: {flag} (docs/reproduce.md: GPU state)", yellow=True)
    for note in dict.fromkeys(filter(None, (gpu_records.state_missing(b.extra_info) for b in benches))):
        terminalreporter.write_line(f"nptbench: GPU state not recorded: {note}", yellow=True)


def add_skips(config, output_json: dict) -> None:
    """Write the session's skipped benchmarks and their reasons into a saved run (key ``nptbench_skipped``).

    pytest-benchmark saves only benchmarks that ran; the report (nptbench.tools.report) still has to say what did
    not and why.
    """
    tr = config.pluginmanager.get_plugin("terminalreporter")
    session = config.pluginmanager.get_plugin("session")
    items = {item.nodeid: item for item in getattr(session, "items", [])}
    skipped = []
    for rep in (tr.stats.get("skipped", []) if tr else []):
        item = items.get(rep.nodeid)
        if item is not None and "benchmark" not in getattr(item, "fixturenames", ()):
            continue  # a unit test, not a benchmark
        params = getattr(getattr(item, "callspec", None), "params", {}) if item is not None else {}
        text = lambda k: params.get(k) if isinstance(params.get(k), str) else None  # noqa: E731
        row = params.get("variant")  # a bench table's row (fixtures.variants.Variant): its id and device
        skipped.append({
            "nodeid": rep.nodeid, "experiment": text("experiment") or experiment_of(item, row),
            "variant": getattr(row, "id", text("variant")),
            "device": getattr(row, "device", text("device")), "reason": check_reason(rep),
        })
    output_json["nptbench_skipped"] = skipped


def experiment_of(item, row) -> str | None:
    """The experiment of a bench row whose test takes none as a parameter, from its id
    (``<variant>-<experiment>-<dtype>``, fixtures.variants.param); None where the id is not of that form."""
    test_id = getattr(getattr(item, "callspec", None), "id", "") or ""
    head, tail = f"{getattr(row, 'id', None)}-", f"-{getattr(row, 'dtype', None)}"
    if row is None or not (test_id.startswith(head) and test_id.endswith(tail)) or len(test_id) <= len(head + tail):
        return None
    return test_id[len(head):-len(tail)]


# --- the roofline: ceilings, achieved rates, % of ceiling (nptbench.analysis.roofline) ----------------------------

def roofline_off(config) -> bool:
    """No roofline this session: benchmarks not timed, or ceilings switched off (``NPTBENCH_CEILINGS=off``)."""
    if ceilings.ceilings_off():
        return True
    bs = benchmark_session(config)
    return bs is None or bs.disabled or bs.skip


def add_ceilings(config, machine_info: dict) -> None:
    """Put the session's ceilings (measured once), and with a GPU its timer floor
    (nptbench.measure.devicetime.timer_floor), into machine_info (only when benchmarks really run)."""
    if roofline_off(config):
        return
    info = machine_info.setdefault("nptbench", {})
    info["ceilings"] = ceilings.session_ceilings(results_root(config))
    floor = devicetime.session_timer_floor()
    if floor:
        info["timer_floor"] = floor


def add_roofline(config, output_json: dict) -> None:
    """Add the roofline fields to every saved benchmark's extra_info (nptbench.analysis.roofline.annotate_run)."""
    if roofline_off(config):
        return
    benches = output_json.get("benchmarks", [])
    if not roofline.wants_ceilings(b.get("extra_info", {}) for b in benches):
        return
    # the run's own ceilings (add_ceilings put them in its machine info), else this session's
    saved = output_json.get("machine_info", {}).get("nptbench", {}).get("ceilings")
    roofline.annotate_run(output_json, saved or ceilings.session_ceilings(results_root(config)))


def roofline_summary(terminalreporter, config) -> None:
    """A compact per-group table with the roofline columns pytest-benchmark's own tables cannot hold."""
    if roofline_off(config):
        return
    benches = [b for b in benchmark_session(config).benchmarks if b and b.extra_info.get("experiment")]
    if not roofline.wants_ceilings(b.extra_info for b in benches):
        return
    session = ceilings.session_ceilings(results_root(config))
    tr = terminalreporter
    tr.write_sep("-", "nptbench roofline (median time against this session's ceilings)")
    tr.write_line(roofline.source_line(session))
    for line in roofline.describe(session):
        tr.write_line(f"ceilings {line}")
    if any(b.extra_info.get("device") == "cuda" for b in benches):
        tr.write_line("GPU rows: median of the device times (CUDA events), timed by 'device'; the host median "
                      "beside it also holds the synchronization")
        floor = gpu_records.describe_timer_floor(devicetime.session_timer_floor())
        if floor:
            tr.write_line(floor)
    for group, rows in roofline.table_rows(benches, session).items():
        tr.write_line("")
        tr.write_line(f"[{group}]", bold=True)
        for line in roofline.format_table(rows):
            tr.write_line(line)
    flags = [gpu_records.kernel_time_flag(b.name, b.extra_info, b.stats.data if b.stats else None) for b in benches]
    for flag in filter(None, flags):
        tr.write_line(f"nptbench: kernel time above device time: {flag} (results/GPU.md says why this "
                      "happens)", yellow=True)


# --- --benchmark-compare against this machine's baseline ------------------------------------------------

def results_root(config) -> Path:
    """The folder holding ``runs/`` and the baselines (nptbench.schema.layout.results_root): where
    pytest-benchmark's storage points, so pointing the storage elsewhere moves both."""
    storage = str(getattr(getattr(config, "option", None), "benchmark_storage", "") or "")
    invocation = getattr(getattr(config, "invocation_params", None), "dir", ".")
    return layout.results_root(storage, invocation, getattr(config, "rootpath", "."))


#: Options of a session that decide how its benchmarks are timed: the second timing takes them over.
TIMING_OPTIONS = ("--benchmark-min-time", "--benchmark-max-time", "--benchmark-min-rounds", "--benchmark-timer",
                  "--benchmark-calibration-precision", "--benchmark-warmup", "--benchmark-warmup-iterations",
                  "--benchmark-disable-gc", "--gpu-cold-l2", "--gpu-throttle-threshold")


def timing_options(args) -> list[str]:
    """The options among ``args`` (a pytest command line) that decide how benchmarks are timed, with their
    values (``--opt=value`` or ``--opt value``), and the plugins it loads or blocks (``-p NAME``, ``-pNAME``):
    a plugin can change the code under benchmark, and a second timing without it times other code (a
    measured case: rows given 20 % more work by a plugin read 1.19x, and their second timing, without the
    plugin, 0.99x)."""
    args, out = [str(a) for a in args], []
    for i, arg in enumerate(args):
        if arg == "-p" and i + 1 < len(args):
            out += ["-p", args[i + 1]]
            continue
        if arg.startswith("-p") and not arg.startswith("--") and len(arg) > 2:
            out.append(arg)
            continue
        name, eq, _ = arg.partition("=")
        if name not in TIMING_OPTIONS:
            continue
        out.append(arg)
        flag = name in ("--benchmark-disable-gc", "--gpu-cold-l2")
        optional = name == "--benchmark-warmup" and (i + 1 >= len(args) or args[i + 1] not in ("auto", "on", "off"))
        if not (flag or optional or eq) and i + 1 < len(args):
            out.append(args[i + 1])
    return out


def session_conditions() -> tuple:
    """This session's run-level conditions as nptbench.schema.record.conditions names them: the thread variables
    set in its environment (they are saved with the run and are part of each result's identity)."""
    return tuple((k, os.environ[k]) for k in THREAD_VARIABLES if k in os.environ)


class PytestBaseline:
    """Registered in ``pytest_configure``, before pytest-benchmark builds its session: the gate's hooks.

    pytest-benchmark would compare against the newest file of its own storage (results/runs) and judge
    each benchmark from that one run. Instead the ``--benchmark-compare`` value is taken here and the gate
    (nptbench.tools.session_gate.SessionGate: the baseline SET of this machine, profile and conditions, the
    verdicts of nptbench.analysis.comparison, the second timing, ``--baseline-grow``) decides; these hooks
    only hand it what pytest knows and print what it says. pytest-benchmark is handed the set's newest run
    to show next to the current numbers. ``--benchmark-compare-fail`` (which implies ``--benchmark-compare``)
    fails the session when the gate calls a benchmark slower; its percentage (``median:10%``) is the
    minimum effect. What these hooks touch of pytest-benchmark's own state is listed in
    :class:`BenchmarkInternals`.
    """

    def __init__(self, config, profile: str):
        opt = config.option
        self.config = config
        self.gate = None  # nptbench.tools.session_gate.SessionGate, where the session is judged
        checks = getattr(opt, "benchmark_compare_fail", None) or []
        grow = getattr(opt, "baseline_grow", False)  # a set grows only from sessions judged against it
        requested = getattr(opt, "benchmark_compare", None) or (True if checks or grow else None)
        self.requested = requested  # True, or the text a baseline file's name must hold
        if os.environ.get(CONFIRMING_ENV) or not requested:  # the gate's second timing: timed only, never judged
            return
        from nptbench.tools.session_gate import SessionGate  # the engine loads only where a session is judged

        BenchmarkInternals.take_compare(config)
        # a RunError here becomes a usage error in pytest_configure
        self.gate = SessionGate.find(
            results_root(config), machine.fingerprint(), profile, requested if isinstance(requested, str) else None,
            session_conditions(), fail=bool(checks), min_effect=BenchmarkInternals.min_effect(checks),
            confirm=not getattr(opt, "no_confirm", False), grow=grow,
            config=Path(config.rootpath) / "pyproject.toml")

    def pytest_collection_finish(self, session):
        # --benchmark-autosave is on in pyproject.toml; a session without any benchmark (pytest tests)
        # has nothing to save and should not warn about it.
        if not any("benchmark" in getattr(item, "fixturenames", ()) for item in session.items):
            BenchmarkInternals.no_autosave(self.config)

    def pytest_sessionstart(self, session):
        newest = self.gate.newest() if self.gate else None
        if newest is not None:
            BenchmarkInternals.show_beside(self.config, self.requested, self.gate.paths[-1], newest.data)

    def pytest_sessionfinish(self, session, exitstatus):
        # pytest-benchmark's own sessionfinish (a hook wrapper) has already saved the run by now.
        if self.gate is None or not BenchmarkInternals.active(self.config):
            return
        BenchmarkInternals.drop_own_verdicts(self.config, keep_fail=bool(self.gate.paths))
        from nptbench.tools.session_gate import second_timing

        saved = profile(self.config).saved
        # the run judged: as saved, or where it was not saved, as it would be (not needed without a set)
        current = saved
        if not saved and self.gate.paths:
            current = BenchmarkInternals.current_run(self.config, self.gate.profile)

        def retime(names: set):
            nodeids = [item.nodeid for item in session.items if item.name in names]
            if not nodeids:
                return None
            return second_timing(self.config.rootpath, nodeids, self.gate.profile,
                                 timing_options(self.config.invocation_params.args))

        self.gate.judge(current, as_written(saved) if saved else None, retime)
        if self.gate.failed and session.exitstatus == 0:
            session.exitstatus = 1  # as a failed test would

    def pytest_terminal_summary(self, terminalreporter):
        tr, gate = terminalreporter, self.gate
        if gate is None:
            return
        tr.write_line(gate.header, yellow=not gate.paths)  # also under -q, where pytest shows no header
        if gate.table:
            tr.section("nptbench compare: this run against the baseline set")
            for path in gate.paths:
                tr.write_line(f"baseline: {path}")
            for line in gate.table.splitlines():
                tr.write_line(line)
        if not gate.lines:
            return
        if gate.failed:
            tr.section("performance regressed (--benchmark-compare-fail)", red=True, bold=True)
        for line in gate.lines:
            tr.write_line(f"nptbench: {line}", red=gate.status == Status.FAILED, yellow=gate.status != Status.FAILED)


class BenchmarkInternals:
    """Every piece of pytest-benchmark's own state the gate reads or writes, in one place: pytest-benchmark
    offers no public way to do these, so a new version that moves one breaks here and nowhere else.

    - its session object, ``config._benchmarksession`` (read only through :func:`benchmark_session`);
    - ``config.option.benchmark_compare``: emptied, so that it loads no run of its own storage (the
      baseline is the gate's set);
    - ``PercentageRegressionCheck`` among ``--benchmark-compare-fail``'s checks: its threshold is the
      gate's minimum effect;
    - the session's ``compare`` and ``compared_mapping`` (the run its table shows beside this one, its
      stats normalized by ``pytest_benchmark.stats.normalize_stats``), ``autosave`` (off where no benchmark
      was collected), ``performance_regressions`` and ``compare_fail`` (its own verdicts, replaced by the
      gate's), ``benchmarks`` and their ``as_dict`` (this session's run where it saved none).

    The run saved whole and never over another's (:func:`save_exclusively`, in place of its
    ``FileStorage.save``) reaches its storage's ``_next_num``, ``get`` and ``logger``.
    """

    @staticmethod
    def take_compare(config) -> None:
        config.option.benchmark_compare = []  # pytest-benchmark must not load results/runs: the baseline is ours

    @staticmethod
    def min_effect(checks) -> float | None:
        """The minimum effect the ``--benchmark-compare-fail`` checks ask for (their largest percentage),
        or None (pyproject.toml's, as compare takes it)."""
        from pytest_benchmark.utils import PercentageRegressionCheck

        percents = [c.threshold / 100 for c in checks if isinstance(c, PercentageRegressionCheck)]
        return max(percents) if percents else None

    @staticmethod
    def active(config) -> bool:
        return benchmark_session(config) is not None

    @staticmethod
    def no_autosave(config) -> None:
        bs = benchmark_session(config)
        if bs is not None:
            bs.autosave = None

    @staticmethod
    def show_beside(config, requested, path: Path, run: dict) -> None:
        """pytest-benchmark's table shows ``run`` (saved at ``path``) beside this session's numbers
        (``requested``: the ``--benchmark-compare`` value, as it would have taken it)."""
        bs = benchmark_session(config)
        if bs is None:
            return
        from pytest_benchmark.stats import normalize_stats

        for bench in run["benchmarks"]:
            normalize_stats(bench["stats"])
        bs.compare = requested
        bs.compared_mapping = {path: {b["fullname"]: b for b in run["benchmarks"]}}

    @staticmethod
    def drop_own_verdicts(config, keep_fail: bool) -> None:
        """pytest-benchmark's verdicts from one run's rounds are dropped: the gate's decide. Without a
        baseline its ``--benchmark-compare-fail`` is not a usage error (the header said so)."""
        bs = benchmark_session(config)
        bs.performance_regressions.clear()
        if not keep_fail:
            bs.compare_fail = None

    @staticmethod
    def current_run(config, size: str) -> dict:
        """This session's run as it would be saved (when it is not: --benchmark-autosave off)."""
        info = {**machine.describe(), "profile": size}
        add_yardsticks(config, info)
        return {"machine_info": {"nptbench": info}, "datetime": datetime.now().isoformat(),
                "benchmarks": [b.as_dict(include_data=True) for b in benchmark_session(config).benchmarks if b]}


# --- session fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def size(pytestconfig) -> str:
    """The size profile of this session: smoke, default or seed."""
    return profile(pytestconfig).size


@pytest.fixture
def measure(benchmark, pytestconfig, request):
    """``measure(fn, args, record=..., reference=...)``: warm up, time, check, record (nptbench.measure.harness);
    under ``--instrument instructions`` count instead of time (:class:`InstructionSession`)."""
    counting = pytestconfig.pluginmanager.get_plugin("nptbench-instrument")
    run = counting.measure(benchmark, request.node) if counting else harness.measure
    return functools.partial(run, benchmark, cold_l2=pytestconfig.getoption("--gpu-cold-l2"),
                             throttle_threshold=pytestconfig.getoption("--gpu-throttle-threshold"))


# --- --instrument instructions (nptbench.measure.instruments) ---------------------------------------------

class InstructionSession:
    """``--instrument instructions``: this session runs again, whole, under valgrind, in ``--instrument-jobs``
    processes that each count a share of the CPU benchmarks (nptbench.measure.instruments.rerun; where it
    cannot, every benchmark skips with the reason); its benchmarks are counted instead of timed, and the
    count run is saved in results/counts/ at the end."""

    def __init__(self, config):
        self.config, self.counted, self.counter, self.reason, self.index = config, [], None, None, {}
        self.shard = instruments.shard_of(os.environ.get(instruments.SHARD_ENV))
        try:
            self.counter = instruments.Counter.here()
        except instruments.NotCounted:
            self.reason = instruments.missing()
            if self.reason is None:  # no return: this process ends with the counted sessions' status
                os._exit(self.count(config))

    @staticmethod
    def count(config) -> int:
        """Run the counted sessions (instruments.rerun) and, asked for the gate (``--benchmark-compare[-fail]``,
        ``--baseline-grow``), judge their count run against the machine's count set (tools.count_gate):
        the exit status of both."""
        from nptbench.tools import count_gate

        opt = config.option
        fail = bool(getattr(opt, "benchmark_compare_fail", None))
        gate = fail or bool(getattr(opt, "benchmark_compare", None)) or getattr(opt, "baseline_grow", False)
        capture = config.pluginmanager.get_plugin("capturemanager")
        root, size, fp = results_root(config), profile(config).size, machine.fingerprint()
        status, saved = instruments.rerun(count_gate.without_gate_options(list(config.invocation_params.args)),
                                          str(config.invocation_params.dir),
                                          capture.suspend_global_capture if capture else lambda: None,
                                          jobs=config.getoption("--instrument-jobs") or instruments.default_jobs(),
                                          results=root, costs=instruments.known_costs(root, size, fp))
        if gate and saved is not None and status == Status.PASSED:
            status = count_gate.gate(saved, root, fp, size, getattr(opt, "baseline_grow", False), fail)
        sys.stdout.flush()
        return int(status)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        """This session's share of the CPU benchmarks (instruments.split); GPU rows, which skip, stay in the
        first session."""
        k, n = self.shard
        self.index = {item.nodeid: i for i, item in enumerate(items)}
        if n == 1:
            return
        cpu = [item for item in items if not (item.get_closest_marker("gpu") or item.get_closest_marker("numba_cuda"))]
        path = os.environ.get(instruments.COSTS_ENV)
        costs = json.loads(Path(path).read_text()) if path else {}
        share = dict(zip((item.nodeid for item in cpu), instruments.split([item.nodeid for item in cpu], n, costs)))
        keep = [item for item in items if share.get(item.nodeid, 0) == k]
        if len(keep) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if share.get(item.nodeid, 0) != k])
            items[:] = keep

    def pytest_sessionstart(self, session):
        bs = benchmark_session(self.config)
        if bs is not None:  # nothing is timed: no yardsticks, ceilings or run of pytest-benchmark's (ours is saved)
            bs.disabled = True
            bs.autosave = bs.save = bs.json = None

    def pytest_runtest_setup(self, item):
        if item.get_closest_marker("gpu") or item.get_closest_marker("numba_cuda"):
            pytest.skip(instruments.GPU_REASON)  # before its fixtures put anything on the device

    def measure(self, benchmark, item):
        if self.reason:
            pytest.skip(self.reason)
        benchmark._mode = "--instrument instructions"  # pytest-benchmark's "fixture was not used" warning
        params = {k: str(v) for k, v in getattr(getattr(item, "callspec", None), "params", {}).items()}
        stand_in = instruments.CountingBenchmark(benchmark, self.counter, self.counted, item.name, item.nodeid, params,
                                                 self.index.get(item.nodeid, 0))

        def run(_, *args, **kwargs):
            try:
                return instruments.measure(stand_in, *args, **kwargs)
            except instruments.NotCounted as exc:
                pytest.skip(str(exc))
        return run

    def pytest_sessionfinish(self, session):
        if self.counter is None:
            return
        k, n = self.shard
        info = {**machine.describe(), "profile": profile(self.config).size, **instruments.session_info(n)}
        run = {"machine_info": {"nptbench": info}, "datetime": datetime.now().isoformat(),
               "benchmarks": self.counted}
        add_skips(self.config, run)
        add_session(self.config, run)
        run = json.loads(json.dumps(run, default=str))
        parts = os.environ.get(instruments.PARTS_ENV)
        if parts:  # the process that started this session merges the parts and saves the run
            (Path(parts) / f"part-{k}.json").write_text(json.dumps(run))
        elif self.counted:
            path = instruments.save(results_root(self.config), instruments.merge([run]))
            profile(self.config).notices.append(f"instruction counts saved in {path}")
