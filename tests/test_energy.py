"""Energy per call: RAPL counters (a faked powercap tree), wraparound, and the estimate,
which must say it is one wherever it appears."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from histbench.run.rounds import ProcessEnv, Settings, run_suite
from histbench.run.suite import discover

SUITE = Path(__file__).parent / "suites" / "energy"


def fake_powercap(root: Path, start: int, wrap: int = 10**12) -> Path:
    package = root / "intel-rapl:0"
    package.mkdir(parents=True)
    (package / "energy_uj").write_text(str(start))
    (package / "max_energy_range_uj").write_text(str(wrap))
    sub = root / "intel-rapl:0:0"  # a sub-zone (cores): already counted in the package
    sub.mkdir()
    (sub / "energy_uj").write_text("999999")
    return package / "energy_uj"


def run(tmp_path: Path, powercap: Path, counter: Path | None) -> dict:
    env = dict(os.environ, HISTBENCH_FAKE_RAPL=str(counter or tmp_path / "unused"))
    if counter is None:
        (tmp_path / "unused").write_text("0")
    suite = discover(sys.executable, SUITE)
    penv = ProcessEnv(python=sys.executable, benchmark_dir=SUITE, env=env)
    settings = Settings(energy={"powercap_root": str(powercap), "watts_per_core": 20.0})
    [result] = run_suite(penv, suite.benchmarks, settings)
    assert result.status == "ok", result.reason
    return result.extra["energy"]


def test_rapl_counter_gives_joules_per_call(tmp_path):
    counter = fake_powercap(tmp_path / "powercap", start=5_000)
    energy = run(tmp_path, tmp_path / "powercap", counter)
    assert energy["source"] == "rapl" and energy["estimated"] is False
    assert energy["joules_per_call"] == pytest.approx(0.001)
    # one figure a process: the 2 rounds, and any run again or added after a burst of load
    assert len(energy["per_process"]) >= 2
    assert energy["per_process"] == pytest.approx([0.001] * len(energy["per_process"]))


def test_counter_wraparound(tmp_path):
    # The counter starts 5 calls short of wrapping and must wrap only once in a round: its
    # range is a million times what a round can spend (1 mJ a call, ~10 us or more a call,
    # the 60 s timeout: at most ~6e6 calls, 6e9 uJ). A smaller range wrapped twice when
    # the round kept sampling through a burst of machine load, and read 1/13 of the energy.
    wrap = 10**16
    counter = fake_powercap(tmp_path / "powercap", start=wrap - 5_000, wrap=wrap)

    # The fake adds without wrapping; make the file wrap like the hardware does.
    text = (SUITE / "bench_energy.py").read_text()
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "bench_energy.py").write_text(text.replace(
        "f.write(str(value + microjoules))", f"f.write(str((value + microjoules) % {wrap}))"))
    env = dict(os.environ, HISTBENCH_FAKE_RAPL=str(counter))
    penv = ProcessEnv(python=sys.executable, benchmark_dir=suite, env=env)
    [result] = run_suite(penv, discover(sys.executable, suite).benchmarks,
                         Settings(rounds=1, energy={"powercap_root": str(tmp_path / "powercap")}))
    assert result.extra["energy"]["joules_per_call"] == pytest.approx(0.001)


def test_estimate_without_counters_is_flagged(tmp_path):
    energy = run(tmp_path, tmp_path / "no-powercap-here", None)
    assert energy["estimated"] is True and energy["source"] == "cpu-time estimate"
    assert energy["watts_per_core"] == 20.0
    assert 0 < energy["joules_per_call"] < 1
