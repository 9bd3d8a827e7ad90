"""The GPU's state with every GPU result (nptbench.measure.gpustate): clocks, temperature, power and throttle
reasons read through NVML before, during and after a benchmark's rounds, and rounds that ran throttled
flagged in the terminal summary, the report and compare. NVML is a fake ``pynvml`` module here, put in place
of the real one through ``gpustate.load_nvml``; no GPU is needed.
"""
from __future__ import annotations

import json
import time
import types
from pathlib import Path

import numpy as np
import pytest

from nptbench import plugin
from nptbench.analysis import gpu_records
from nptbench.analysis import comparison
from nptbench.measure import gpustate, harness
from nptbench.schema import record as schema
from nptbench.schema import runs as runs_model
from nptbench.tools import compare, doctor, report
from nptbench.tools import verdict_text
from tests.test_gpu_logic import FakeBenchmark, fake_cuda, record, timed_work  # noqa: F401 (fake_cuda: a fixture)

APP_MHZ = 1980
IDLE = 0x1
SW_POWER_CAP = 0x4
HW_THERMAL = 0x40


class NVMLError(Exception):
    pass


class FakeNvml(types.SimpleNamespace):
    """The part of pynvml gpustate calls, with the GPU's readings scripted: ``sm`` and ``reasons`` give the
    SM clock and the throttle bit mask of each reading in turn (the last one repeats)."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0
    nvmlClocksEventReasonGpuIdle = 0x1
    nvmlClocksEventReasonApplicationsClocksSetting = 0x2
    nvmlClocksEventReasonSwPowerCap = 0x4
    nvmlClocksThrottleReasonHwSlowdown = 0x8
    nvmlClocksEventReasonSwThermalSlowdown = 0x20
    nvmlClocksThrottleReasonHwThermalSlowdown = 0x40
    nvmlClocksEventReasonNone = 0
    nvmlClocksEventReasonAll = 0x1FF

    def __init__(self, sm=(APP_MHZ,), reasons=(0,), init_error=None, clock_error=None):
        super().__init__()
        self.sm, self.reasons = list(sm), list(reasons)
        self.init_error, self.clock_error = init_error, clock_error
        self.reads = 0

    def _next(self, values):
        return values[min(self.reads, len(values) - 1)]

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return ("handle", uuid)

    def nvmlDeviceGetClockInfo(self, handle, clock):
        if self.clock_error:
            raise self.clock_error
        return self._next(self.sm) if clock == self.NVML_CLOCK_SM else 3201

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 45

    def nvmlDeviceGetPowerUsage(self, handle):
        return 350_000  # mW

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        mask = self._next(self.reasons)
        self.reads += 1  # the last query of a reading: the next reading takes the next script entry
        return mask

    def nvmlDeviceGetApplicationsClock(self, handle, clock):
        return APP_MHZ if clock == self.NVML_CLOCK_SM else 3201

    def nvmlDeviceGetDefaultApplicationsClock(self, handle, clock):
        return APP_MHZ

    def nvmlDeviceGetMaxClockInfo(self, handle, clock):
        return APP_MHZ if clock == self.NVML_CLOCK_SM else 3201

    def nvmlDeviceGetPersistenceMode(self, handle):
        return 1

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle):
        return 700_000

    def nvmlDeviceGetMigMode(self, handle):
        raise NVMLError("Not Supported")  # as on a GPU without MIG

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H200"

    def nvmlSystemGetDriverVersion(self):
        return "570.86.15"

    def nvmlSystemGetNVMLVersion(self):
        return "12.570.86.15"

    def nvmlDeviceGetSupportedClocksEventReasons(self, handle):
        return 0x1FF


@pytest.fixture
def nvml(monkeypatch):
    """Install a fake pynvml: ``nvml(**script)`` returns it; the probe is asked again for each."""
    def install(fake=None, **script):
        fake = fake if fake is not None else FakeNvml(**script)
        gpustate.reset()
        monkeypatch.setattr(gpustate, "load_nvml", lambda: fake)
        return fake

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    yield install
    gpustate.reset()


def run_gpu_benchmark(clock, calls=3, **measure_kwargs):
    bench = FakeBenchmark(calibrated_calls=calls)
    work = timed_work(clock, [1.0] + [0.001] * calls, np.eye(2))
    harness.measure(bench, work, record=record(), reference=np.eye(2), **measure_kwargs)
    return bench.extra_info


# --- the record's fields ------------------------------------------------------------------------------

def test_a_steady_clock_is_not_flagged(fake_cuda, nvml):
    nvml(sm=[APP_MHZ], reasons=[0])
    info = run_gpu_benchmark(fake_cuda)
    assert info["gpu_throttled"] is False and gpu_records.throttle_flag("x", info) is None
    assert info["gpu_sm_clock_ref_mhz"] == APP_MHZ and info["gpu_sm_clock_ref"] == "application"
    assert info["gpu_sm_clock_min_mhz"] == APP_MHZ and info["gpu_sm_clock_ratio_min"] == 1.0
    assert info["gpu_state_before"] == {"sm_clock_mhz": APP_MHZ, "mem_clock_mhz": 3201, "temperature_c": 45,
                                        "power_w": 350.0, "throttle_reasons": []}
    assert info["gpu_state_after"]["sm_clock_mhz"] == APP_MHZ
    assert info["gpu_throttle_threshold"] == schema.DEFAULT_GPU_THROTTLE_THRESHOLD
    assert info["gpu_temperature_max_c"] == 45 and info["gpu_power_max_w"] == 350.0
    assert "gpu_state_note" not in info


def test_an_idle_clock_between_rounds_is_not_a_throttle(fake_cuda, nvml):
    """An idle GPU runs a low clock by design: readings NVML marks GpuIdle do not count."""
    nvml(sm=[APP_MHZ, 345], reasons=[0, IDLE])
    info = run_gpu_benchmark(fake_cuda)
    assert info["gpu_throttle_reasons_seen"] == ["GpuIdle"]
    assert info["gpu_sm_clock_min_mhz"] == APP_MHZ and info["gpu_throttled"] is False


def test_a_throttle_in_the_middle_of_a_benchmark_is_flagged(fake_cuda, nvml, monkeypatch):
    """The clock is steady before and after the rounds; only the sampler, while they run, sees it fall."""
    monkeypatch.setattr(gpustate, "SAMPLE_INTERVAL_S", 0.005)
    fake = nvml(sm=[APP_MHZ, 1200, 1200, APP_MHZ], reasons=[0, SW_POWER_CAP, SW_POWER_CAP, 0])

    def slow_rounds(n):  # rounds that last long enough for the sampler to read during them
        def work(*args):
            fake_cuda.now += 0.001
            time.sleep(0.03)
            return np.eye(2)
        return work

    bench = FakeBenchmark(calibrated_calls=3)
    sampler = gpustate.Sampler(interval=0.005)
    monkeypatch.setattr(gpustate, "Sampler", lambda threshold=None: sampler)
    harness.measure(bench, slow_rounds(3), record=record(), reference=np.eye(2))
    info = bench.extra_info
    assert info["gpu_state_samples"] >= 1 and fake.reads >= 3
    assert info["gpu_state_before"]["sm_clock_mhz"] == APP_MHZ  # the ends alone would not show it
    assert info["gpu_sm_clock_min_mhz"] == 1200
    assert info["gpu_sm_clock_ratio_min"] == pytest.approx(1200 / APP_MHZ, abs=1e-4)
    assert info["gpu_throttle_reasons_seen"] == ["SwPowerCap"] and info["gpu_throttled"] is True
    flag = gpu_records.throttle_flag("bench[x]", info)
    assert flag.startswith("bench[x]: SM clock down to 1200 MHz, 61% of the application clock 1980 MHz "
                           "(threshold 75%); throttle reason SwPowerCap"), flag


def test_the_threshold_decides_a_low_clock(fake_cuda, nvml):
    """1600 of 1980 MHz is 81 %: steady at the default 75 %, throttled at --gpu-throttle-threshold 0.9."""
    nvml(sm=[1600], reasons=[0])
    assert run_gpu_benchmark(fake_cuda)["gpu_throttled"] is False
    nvml(sm=[1600], reasons=[0])
    info = run_gpu_benchmark(fake_cuda, throttle_threshold=0.9)
    assert info["gpu_throttled"] is True and info["gpu_throttle_threshold"] == 0.9
    assert "SM clock down to 1600 MHz, 81% of the application clock" in gpu_records.throttle_flag("x", info)


def test_a_thermal_reason_flags_even_at_full_clock(fake_cuda, nvml):
    nvml(sm=[APP_MHZ], reasons=[HW_THERMAL | IDLE])
    info = run_gpu_benchmark(fake_cuda)
    assert info["gpu_throttle_reasons_seen"] == ["GpuIdle", "HwThermalSlowdown"]
    assert info["gpu_throttled"] is True
    assert gpu_records.throttle_flag("x", info) == "x: throttle reason HwThermalSlowdown; peak 45 °C, 350 W"


def test_reason_bits_decode_with_the_names_pynvml_gives_or_the_schemas():
    assert gpustate.decode_reasons(0x4 | 0x40 | 0x800) == ["SwPowerCap", "HwThermalSlowdown", "bit 0x800"]
    names = gpustate.reason_bits(FakeNvml())
    assert names[0x8] == "HwSlowdown" and names[0x100] == "DisplayClockSetting" and 0 not in names
    assert all(schema.GPU_THROTTLE_REASONS[r][0] for r in schema.GPU_THROTTLE_FLAGGED)


# --- where NVML is missing or refuses ------------------------------------------------------------------

def test_a_missing_pynvml_gives_the_reason_and_nothing_fails(fake_cuda, monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'pynvml'")

    gpustate.reset()
    monkeypatch.setattr(gpustate, "load_nvml", missing)
    try:
        info = run_gpu_benchmark(fake_cuda)
        note = info["gpu_state_note"]
        assert note.startswith("NVML not read: pynvml is not importable") and "nvidia-ml-py" in note
        assert "\n" not in note and not any(k.startswith("gpu_state_b") or k == "gpu_throttled" for k in info)
        assert info["device_time_s"] is not None  # the rest of the record as before
        assert gpustate.static_info() == {"note": note} and gpustate.sample() == {"note": note}
        assert gpu_records.state_missing(info) == note and gpu_records.throttle_flag("x", info) is None
    finally:
        gpustate.reset()


@pytest.mark.parametrize("script, words", [
    ({"init_error": NVMLError("Driver Not Loaded")}, "nvmlInit failed (NVMLError: Driver Not Loaded): no NVIDIA "
                                                      "driver library in this container"),
    ({"clock_error": NVMLError("Insufficient Permissions")}, "it refuses the SM clock of NVML device 0"),
])
def test_nvml_refusing_gives_the_reason_in_one_line(fake_cuda, nvml, script, words):
    nvml(**script)
    info = run_gpu_benchmark(fake_cuda)
    assert words in info["gpu_state_note"] and "\n" not in info["gpu_state_note"]
    assert "gpu_throttled" not in info


def test_a_mig_instance_says_so(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1234")
    nvml(clock_error=NVMLError("Not Supported"))
    dev, why = gpustate.probe()
    assert dev is None and "MIG-1234 (a MIG instance: NVML gives clocks only for the whole GPU)" in why


def test_a_query_nvml_refuses_is_null_and_named(fake_cuda, nvml):
    fake = nvml()
    fake.nvmlDeviceGetCurrentClocksEventReasons = lambda h: (_ for _ in ()).throw(NVMLError("Not Supported"))
    info = run_gpu_benchmark(fake_cuda)
    assert info["gpu_state_before"]["throttle_reasons"] is None and info["gpu_throttled"] is False
    assert info["gpu_state_note"] == "partial: NVML refused throttle_reasons (NVMLError: Not Supported)"


# --- the schema declares every field -----------------------------------------------------------------

def test_the_schema_declares_every_field_gpustate_writes(fake_cuda, nvml):
    nvml(sm=[1200], reasons=[SW_POWER_CAP])
    info = run_gpu_benchmark(fake_cuda)
    gpu_state = {k for k in info if k.startswith("gpu_") and k != "gpu_cold_l2"}
    assert gpu_state == set(schema.GPU_STATE_FIELDS) - {"gpu_state_note"}
    assert all(schema.declared(k) for k in info)
    assert set(info["gpu_state_before"]) == set(schema.GPU_SAMPLE_FIELDS)
    settings = gpustate.static_info()
    assert set(settings) <= set(schema.GPU_MACHINE_FIELDS)
    assert settings["sm_clock_app_mhz"] == APP_MHZ and settings["power_limit_w"] == 700.0
    assert settings["persistence_mode"] is True and settings["driver"] == "570.86.15"
    assert settings["mig_mode"] is None and settings["refused"] == ["mig_mode"]
    # every declared field says its unit or what it is
    for table in (schema.GPU_STATE_FIELDS, schema.GPU_SAMPLE_FIELDS, schema.GPU_MACHINE_FIELDS):
        for name, what in table.items():
            assert what, name
            if name.endswith("_mhz"):
                assert "MHz" in what, name
            if name.endswith("_w"):
                assert "watts" in what, name
            if name.endswith("_c"):
                assert "Celsius" in what, name


def test_machine_info_holds_the_settings_only_with_a_gpu(nvml):
    nvml()
    info = {"gpus": [{"name": "NVIDIA H200"}]}
    plugin.add_gpu_state(info)
    assert info["gpu_state"]["sm_clock_max_mhz"] == APP_MHZ and info["gpu_state"]["nvml_device"] == "NVML device 0"
    cpu = {"gpus": []}
    plugin.add_gpu_state(cpu)
    assert "gpu_state" not in cpu


def test_the_threshold_option_is_a_fraction():
    assert plugin.throttle_threshold("0.8") == 0.8
    for bad in ("0", "1.5", "fast"):
        with pytest.raises(Exception, match="fraction|number"):
            plugin.throttle_threshold(bad)


# --- the doctor ---------------------------------------------------------------------------------------

def test_the_doctor_shows_clocks_power_and_throttling_now(nvml):
    nvml(sm=[1400], reasons=[SW_POWER_CAP])
    lines = doctor.render_gpu_state(doctor.gpu_state(), gpu_seen=True)
    text = "\n".join(lines)
    assert ("GPU state NVIDIA H200 (NVML device 0), driver 570.86.15: SM clock 1400 MHz now, application 1980 MHz, "
            "max 1980 MHz; memory clock 3201 MHz now, application 3201 MHz, max 3201 MHz") in text
    assert "GPU state persistence mode on, power 350 W of a 700 W limit, 45 °C" in text
    assert "throttle  THROTTLING NOW: SwPowerCap" in text
    nvml(sm=[345], reasons=[IDLE])
    assert "throttle  no power or thermal throttling now (GpuIdle)" in doctor.render_gpu_state(doctor.gpu_state(), True)


def test_the_doctor_without_nvml_says_why_only_where_a_gpu_is_seen(monkeypatch):
    def missing():
        raise ImportError("No module named 'pynvml'")

    gpustate.reset()
    monkeypatch.setattr(gpustate, "load_nvml", missing)
    try:
        state = doctor.gpu_state()
        [line] = doctor.render_gpu_state(state, gpu_seen=True)
        assert line.startswith("GPU state NVML not read: pynvml is not importable")
        assert doctor.render_gpu_state(state, gpu_seen=False) == []  # a CPU machine's screen is unchanged
    finally:
        gpustate.reset()


# --- compare and the report -------------------------------------------------------------------------------

HERE = {"cpu_model": "Box CPU", "cpu_cores": 16, "gpus": [{"name": "Fake GPU"}], "profile": "smoke",
        "versions": {"torch": "2.13.0"}}


def gpu_run(device_s: float, when: str, seed: int, **state) -> dict:
    """A saved run of one GPU benchmark (as tests/test_compare.py's fake_run, with a GPU record)."""
    times = device_s * np.random.default_rng(seed).lognormal(0.0, 0.01, 60)
    rec = {"experiment": "square", "variant": "torch-cuda", "backend": "torch", "device": "cuda",
           "dtype": "float32", "shape": [[64, 64], [64, 64]], "flops": None, "bytes": None, "dataset": "random",
           "max_abs_err": 0.0, "rel_err": 0.0, "device_time_s": float(np.median(times)),
           "device_times_s": [float(t) for t in times], **state}
    return {"machine_info": {"nptbench": HERE}, "datetime": when, "benchmarks": [{
        "name": "test_square[torch-cuda]", "fullname": "bench/test_matmul.py::test_square[torch-cuda]",
        "group": "square", "extra_info": rec,
        "stats": {"median": float(np.median(times)) + 1e-5, "data": [float(t) + 1e-5 for t in times]}}]}


THROTTLED = {"gpu_state_before": {"sm_clock_mhz": 1980}, "gpu_sm_clock_ref_mhz": 1980.0,
             "gpu_sm_clock_ref": "application", "gpu_sm_clock_min_mhz": 1290, "gpu_sm_clock_ratio_min": 0.6515,
             "gpu_throttle_reasons_seen": ["SwPowerCap"], "gpu_throttle_threshold": 0.75, "gpu_throttled": True,
             "gpu_temperature_max_c": 83, "gpu_power_max_w": 699.0}
STEADY = {**THROTTLED, "gpu_sm_clock_min_mhz": 1980, "gpu_sm_clock_ratio_min": 1.0, "gpu_throttle_reasons_seen": [],
          "gpu_throttled": False}


def test_compare_notes_a_row_whose_rounds_ran_throttled(tmp_path, capsys):
    base = tmp_path / "base.json"
    new = tmp_path / "new.json"
    base.write_text(json.dumps(gpu_run(1e-3, "2026-01-01T00:00:00", 1, **STEADY)))
    new.write_text(json.dumps(gpu_run(1.5e-3, "2026-01-01T00:10:00", 2, **THROTTLED)))
    assert compare.main([str(base), str(new), "--same-session"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| test_square[torch-cuda]"))
    assert "**slower**" in row
    assert ("**GPU rounds ran throttled in NEW (SM clock down to 1290 MHz, 65% of the application clock 1980 MHz "
            "(threshold 75%); throttle reason SwPowerCap; peak 83 °C, 699 W)**") in row
    [pairing] = comparison.compare_runs([runs_model.load(base)], [runs_model.load(new)], mode="session")
    assert pairing.rows[0].throttled.startswith("GPU rounds ran throttled in NEW (")
    # the flag of either side counts; neither: no note
    [pairing] = comparison.compare_runs([runs_model.load(new)], [runs_model.load(base)], mode="session")
    assert pairing.rows[0].throttled.startswith("GPU rounds ran throttled in BASE (")
    [pairing] = comparison.compare_runs([runs_model.load(base)], [runs_model.load(base)], mode="session")
    assert pairing.rows[0].throttled is None
    assert verdict_text.as_json([pairing], 0)["pairings"][0]["verdicts"][0]["gpu_throttled"] is None


def test_a_pooled_side_keeps_the_throttled_runs_flag(tmp_path):
    runs = [runs_model.Run(Path(f"b{i}"), gpu_run(1e-3, f"2026-01-01T00:0{i}:00", i, **state))
            for i, state in enumerate((STEADY, THROTTLED, STEADY))]
    [pairing] = comparison.compare_runs(runs, runs[:1], mode="baseline")
    assert pairing.rows[0].throttled.startswith("GPU rounds ran throttled in BASE in 1 of 3 runs (")
    from nptbench.analysis import across

    [bench] = across.benches(runs).values()
    assert bench.pooled_record()["gpu_throttled"] is True and bench.record["gpu_throttled"] is False


def test_the_report_checks_name_the_throttled_results(tmp_path):
    run = gpu_run(1e-3, "2026-01-01T00:00:00", 1, **THROTTLED)
    steady = gpu_run(1e-3, "2026-01-01T00:00:00", 2, **STEADY)["benchmarks"][0]
    steady["extra_info"]["variant"] = "torch-cuda-copyback"
    missing = gpu_run(1e-3, "2026-01-01T00:00:00", 3,
                      gpu_state_note="NVML not read: pynvml is not importable")["benchmarks"][0]
    missing["extra_info"]["experiment"] = "abt"
    run["benchmarks"] += [steady, missing]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    md = report.build(report.gather([path]), tmp_path / "out", plots=False)["markdown"].read_text()
    checks = md.split("## Checks", 1)[1]
    line = next(x for x in checks.splitlines() if x.startswith("GPU clocks"))
    assert ("GPU clocks (the SM clock at least 75% of the application clock while the rounds ran, and no power or "
            "thermal throttle reason): checked on 2 of 3 GPU result(s), throttled in 1. **Throttled:** "
            "M1/smoke `square/torch-cuda`: SM clock down to 1290 MHz") in line
    assert "Not recorded for 1 result(s): NVML not read: pynvml is not importable." in line


def test_the_terminal_summary_flags_throttled_benchmarks(capsys):
    lines = []
    tr = types.SimpleNamespace(write_line=lambda text, **kw: lines.append(text))
    bench = lambda name, info: types.SimpleNamespace(name=name, extra_info=info)  # noqa: E731
    session = types.SimpleNamespace(benchmarks=[
        bench("t[steady]", {"device": "cuda", **STEADY}), bench("t[hot]", {"device": "cuda", **THROTTLED}),
        bench("t[cpu]", {"device": "cpu"}),
        bench("t[nonvml]", {"device": "cuda", "gpu_state_note": "NVML not read: why"})])
    plugin.gpu_state_summary(tr, types.SimpleNamespace(_benchmarksession=session))
    assert lines[0].startswith("nptbench: GPU throttled: t[hot]: SM clock down to 1290 MHz, 65% of the application")
    assert lines[1:] == ["nptbench: GPU state not recorded: NVML not read: why"]
