"""Disturbed samples: the rule, the worker that follows it, and what users are shown.

Nothing here needs a quiet machine. The rule is tested on made-up readings (hypothesis);
the end-to-end test makes its own disturbance, a benchmark that blocks on every third
call, which loses its CPU share as surely as a sample hit by a neighbour does: a 20 ms
sleep beside 2 ms of work leaves the sample a CPU share near 0.1, and the rule rejects
anything under 0.9 of the typical share (at least 0.9 unless most samples block too).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toyrepo import ToyCommit

from histbench.analysis.run_diff import compare_runs
from histbench.core.errors import HistbenchError
from histbench.measure import disturbance
from histbench.run.rounds import BenchmarkRounds, ProcessEnv, QuietLevel, Settings, run_suite
from histbench.run.suite import BenchmarkSpec, discover
from histbench.store.results import BenchmarkResult, Disturbance, RunResults

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"
readings = st.floats(min_value=1e-4, max_value=1e-2, allow_nan=False)


@given(st.lists(readings, min_size=2, max_size=40), st.floats(0.01, 1.0))
def test_an_even_machine_disturbs_nothing(refs, share):
    """Readings all at the quiet level, shares all alike: no sample is disturbed."""
    level = min(refs)
    flat = [level] * len(refs)
    assert not any(disturbance.disturbed(flat, [share] * (len(refs) - 1), level))


@given(st.lists(readings, min_size=2, max_size=40), st.floats(0.1, 1000.0))
def test_the_rule_has_no_units(refs, scale):
    """Seconds or milliseconds, a faster or slower machine: the same samples are flagged."""
    shares = [1.0] * (len(refs) - 1)
    level = disturbance.quiet_level(refs)
    assert disturbance.disturbed(refs, shares, level) == disturbance.disturbed(
        [r * scale for r in refs], shares, level * scale)


@given(st.lists(readings, min_size=3, max_size=40), st.data())
def test_a_slow_reference_flags_both_samples_beside_it(refs, data):
    level = disturbance.quiet_level(refs)
    i = data.draw(st.integers(1, len(refs) - 2))
    refs = list(refs)
    refs[i] = level * (1 + disturbance.TOLERANCE) * 1.01
    flags = disturbance.disturbed(refs, [1.0] * (len(refs) - 1), level)
    assert flags[i - 1] and flags[i]


@given(st.lists(st.floats(0.5, 1.0), min_size=4, max_size=40))
def test_a_lost_cpu_share_is_disturbed_whatever_the_references(shares):
    shares = [*shares, 0.05]
    refs = [1e-3] * (len(shares) + 1)
    assert disturbance.disturbed(refs, shares, 1e-3)[-1]


def test_quiet_level_is_the_lower_quartile_or_an_earlier_quieter_one():
    refs = [1.0, 1.1, 1.2, 5.0, 5.0, 5.0, 5.0, 5.0]
    assert disturbance.quiet_level(refs) == 1.2
    assert disturbance.quiet_level(refs, 0.9) == 0.9
    assert disturbance.quiet_level([], 0.9) == 0.9
    assert disturbance.quiet_level([]) is None


BLOCKY = """
import time

calls = [0]
number = 1
repeat = 9
warmup_time = 0.0


def _work():
    x = 0
    for i in range(40_000):
        x += i * i


def time_blocky():
    calls[0] += 1
    _work()
    if calls[0] % 3 == 0:
        time.sleep(0.02)


def track_constant():
    return 7
"""


def one_file_suite(tmp_path: Path, module: str, source: str
                   ) -> tuple[list[BenchmarkSpec], ProcessEnv]:
    """A suite of one file written into ``tmp_path``, and where the real worker runs it."""
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / f"{module}.py").write_text(source)
    suite = discover(sys.executable, bench)
    return suite.benchmarks, ProcessEnv(python=sys.executable, benchmark_dir=bench,
                                        workdir=tmp_path)


def measure(tmp_path: Path, module: str, source: str, settings: Settings
            ) -> list[BenchmarkResult]:
    """Run a one-file suite written into ``tmp_path`` with the real worker."""
    benchmarks, penv = one_file_suite(tmp_path, module, source)
    return run_suite(penv, benchmarks, settings)


@pytest.fixture
def blocky_results(tmp_path):
    return measure(tmp_path, "bench_blocky", BLOCKY, Settings(rounds=2))


def test_samples_that_lost_the_cpu_are_set_aside_and_kept(blocky_results):
    timed = next(r for r in blocky_results if r.name.endswith("time_blocky"))
    d = timed.disturbance
    assert d is not None and d.reference_level and d.reference_level > 0 and d.normalised_to
    assert len(timed.process_samples) == len(timed.measured_samples) >= 2  # see MIN_QUIET
    typical = disturbance.typical_share([v for p in timed.process_cpu_shares for v in p])
    rejected = 0
    for clean, measured, refs, shares in zip(timed.process_samples, timed.measured_samples,
                                             timed.process_references,
                                             timed.process_cpu_shares, strict=True):
        assert len(refs) == len(shares) + 1 == len(measured) + 1
        # The file alone re-applies the rule: flags from the evidence, values normalised.
        flags = disturbance.disturbed(refs, shares, d.reference_level, typical)
        scaled = disturbance.normalised(measured, refs, d.normalised_to)
        assert clean == [v for v, bad in zip(scaled, flags, strict=True) if not bad]
        # Every 20 ms sleep was caught; the worker sampled on until it had 9 quiet samples
        # by the rule as it stood then (the parent judges again with the run's final quiet
        # level, so a few may differ), so at least 13 samples, 4 of them blocked.
        assert all(bad for v, bad in zip(measured, flags, strict=True) if v >= 0.02)
        assert len(measured) >= 13 and sum(v >= 0.02 for v in measured) >= 4
        rejected += sum(flags)
    assert d.samples == sum(map(len, timed.measured_samples)) and d.rejected == rejected
    assert d.rejected == d.samples - timed.stats.n and not d.fallback
    assert timed.stats.max < 0.02
    constant = next(r for r in blocky_results if r.name.endswith("track_constant"))
    assert constant.disturbance is None and constant.samples == [7.0, 7.0]


def test_keep_disturbed_counts_every_sample(tmp_path):
    [timed, _] = measure(tmp_path, "bench_blocky", BLOCKY,
                         Settings(rounds=1, reject_disturbed=False))
    assert timed.disturbance is None and len(timed.samples) == 9
    assert sum(v >= 0.02 for v in timed.samples) == 3  # calls 3, 6 and 9 slept


def _result(samples: list[list[float]], fallback: bool) -> BenchmarkResult:
    n = sum(map(len, samples))
    r = BenchmarkResult(name="b.time_x", kind="time", process_samples=samples,
                        disturbance=Disturbance(samples=n, rejected=n if fallback else 0,
                                                slowdown=2.0, worst=2.5, fallback=fallback))
    return r.with_stats()


@pytest.mark.parametrize("fallback", [False, True])
def test_a_side_without_one_quiet_sample_gets_no_verdict(fallback):
    fast = [[1.0, 1.01, 0.99, 1.0]] * 4
    slow = [[2.0, 2.02, 1.98, 2.0]] * 4
    a = RunResults(machine="m", env_name="e", results=[_result(fast, False)])
    b = RunResults(machine="m", env_name="e", results=[_result(slow, fallback)])
    [row] = compare_runs(a, b)
    assert row.verdict == ("disturbed" if fallback else "regression")
    assert row.to_dict()["disturbed_share"] == {"a": 0.0, "b": 1.0 if fallback else 0.0}


def test_disturbance_round_trips_through_the_result_file(blocky_results, tmp_path):
    from histbench.store import results

    run = RunResults(machine="m", env_name="e", results=blocky_results,
                     commit=results.CommitInfo(hash="a" * 40))
    again = results.load(results.save(run, tmp_path))
    assert [r.to_dict() for r in again.results] == [r.to_dict() for r in blocky_results]
    data = json.loads(results.result_path(tmp_path, "m", "a" * 40, "e").read_text())
    assert data["results"][0]["disturbance"]["rejected"] >= 8


def test_show_and_compare_tell_the_user(toy_repo):
    repo, hashes = toy_repo([ToyCommit(), ToyCommit()])
    run = subprocess.run([sys.executable, "-m", "histbench", "run", "main", "--machine",
                          "m"], cwd=repo, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    show = subprocess.run([sys.executable, "-m", "histbench", "show", "--format", "json"],
                          cwd=repo, capture_output=True, text=True)
    timing = next(r for r in json.loads(show.stdout)["results"]
                  if r["name"].endswith("time_compute"))
    assert set(timing["disturbance"]) >= {"samples", "rejected", "slowdown", "worst"}
    # One normalisation level for the whole run, kept for the next runs of this env.
    levels = json.loads((repo / "results" / "m" / "calibration.json").read_text())[
        "__reference_levels__"]
    [level] = levels.values()
    assert timing["disturbance"]["normalised_to"] == level
    text = subprocess.run([sys.executable, "-m", "histbench", "show"], cwd=repo,
                          capture_output=True, text=True).stdout
    assert "disturbed" in text.splitlines()[1]
    cmp = subprocess.run([sys.executable, "-m", "histbench", "compare", hashes[0], hashes[1],
                          "--format", "json"], cwd=repo, capture_output=True, text=True)
    rows = {r["name"]: r for r in json.loads(cmp.stdout)["rows"]}
    shares = rows["bench_toy.time_compute"]["disturbed_share"]
    assert all(0.0 <= shares[side] <= 1.0 for side in "ab")
    assert rows["bench_toy.track_work"]["disturbed_share"] == {"a": None, "b": None}


def test_the_injector_loads_every_core_and_stops_by_itself():
    from noisy_neighbour import Injector, schedule

    bursts = schedule(3, (0.2, 2.0), (0.2, 2.0))
    first = [next(bursts) for _ in range(20)]
    assert all(0.2 <= end - start <= 2.0 for start, end in first)
    assert all(0.2 <= b[0] - a[1] <= 2.0 for a, b in zip(first, first[1:], strict=False))
    injector = Injector(1.0, cores=2, seed=3, busy=(0.5, 0.5), idle=(0.1, 0.1)).start()
    assert len(injector.procs) == 2
    started = time.monotonic()
    injector.wait()  # no stop(): it ends on its own
    assert time.monotonic() - started < 30


def test_the_injector_runs_a_command_beside_the_load(tmp_path):
    script = str(BENCH_DIR / "noise.py")
    proc = subprocess.run([sys.executable, script, "600", "--seed", "1", "--",
                           sys.executable, "-c", "import sys; sys.exit(3)"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3  # the command's own exit code, and no 600 s wait
    assert "seed 1" in proc.stderr


def test_the_rule_can_be_turned_off_in_the_config(tmp_path):
    from histbench.core.config import load_config

    path = tmp_path / "histbench.json"
    path.write_text(json.dumps({"project": "p", "reject_disturbed": False}))
    assert load_config(path).reject_disturbed is False
    path.write_text(json.dumps({"project": "p", "reject_disturbed": "no"}))
    with pytest.raises(HistbenchError, match="reject_disturbed' must be true or false"):
        load_config(path)


def test_samples_too_short_for_a_cpu_share_are_judged_by_the_references_alone(tmp_path):
    assert disturbance.typical_share([None, 0.5, None]) == 0.5
    assert disturbance.disturbed([1e-3] * 3, [None, 0.95], 1e-3) == [False, False]
    assert disturbance.disturbed([1e-3, 5e-3, 1e-3], [None, None], 1e-3) == [True, True]
    [tiny] = measure(tmp_path, "bench_tiny", "number = 1\nrepeat = 6\n\n\ndef time_tiny():\n"
                     "    return 1 + 1\n", Settings(rounds=1))
    assert tiny.process_cpu_shares == [[None] * len(tiny.measured_samples[0])]
    assert tiny.stats.n >= 1 and len(tiny.process_references[0]) == tiny.disturbance.samples + 1


def test_the_energy_estimate_counts_the_samples_not_the_reference_loop(tmp_path):
    """CPU time never exceeds wall time in one thread, so an estimate from the samples'
    own CPU time is at most their wall time times the watts (plus the clock reads at a
    sample's ends: 2% here, where the reference loop, timed between samples, would add
    about as much again as a sample); that loop must not be in it."""
    settings = Settings(rounds=2, energy={"powercap_root": str(tmp_path / "none"),
                                          "watts_per_core": 10.0})
    [r] = measure(tmp_path, "bench_loop", "def time_loop():\n    x = 0\n"
                  "    for i in range(20_000):\n        x += i\n", settings)
    energy = r.extra["energy"]
    assert energy["estimated"] is True
    for joules, measured in zip(energy["per_process"], r.measured_samples, strict=True):
        assert 0 < joules / 10.0 <= 1.02 * sum(measured) / len(measured)


# Samples too short for a CPU share (test above): the reference times alone judge them,
# against the levels these tests set, whatever the machine is doing.
STEADY = """
number = 1
repeat = 4
warmup_time = 0.0


def time_steady():
    return 1 + 1
"""


def _steady_rounds(tmp_path: Path, settings: Settings, quiet: QuietLevel):
    [spec], penv = one_file_suite(tmp_path, "bench_steady", STEADY)
    rounds = BenchmarkRounds(spec)

    def again() -> bool:
        return rounds.top_up(penv, settings, {}, tmp_path, dict, quiet)

    assert rounds.next_round(penv, settings, {}, tmp_path, dict, quiet)
    return rounds, again


def test_a_result_left_without_quiet_samples_by_a_quieter_level_gets_one_more_round(tmp_path):
    """A process judges its samples against the quietest level seen when it ran; a
    quieter process later can leave it with none. Here the level is set below any real
    reference time, as if a much quieter moment had come: no sample stays quiet, however
    loud or quiet this machine is, so the round is topped up (once), and everything
    measured is kept."""
    settings = Settings(rounds=1, disturbance_wait=0.0)
    quiet = QuietLevel()
    rounds, again = _steady_rounds(tmp_path, settings, quiet)
    measured = len(rounds.rounds)
    quiet.seconds = 1e-12
    assert rounds.short_of_quiet(quiet) == [0]
    assert again() and len(rounds.rounds) > measured
    assert not again()  # at most TOP_UPS
    [result] = rounds.results(quiet)
    assert result.disturbance.fallback and result.disturbance.rejected == \
        result.disturbance.samples == sum(map(len, result.measured_samples))
    assert len(result.measured_samples) == len(rounds.rounds)


@pytest.mark.parametrize("repeat", [4, 1])
def test_no_round_is_added_when_the_quiet_samples_suffice(tmp_path, repeat):
    """Every sample quiet (a level far above any reference time), be they 4 or 1 (a
    round of one sample asked for no more)."""
    settings = Settings(rounds=1, repeat=repeat, disturbance_wait=0.0)
    quiet = QuietLevel()
    rounds, again = _steady_rounds(tmp_path, settings, quiet)
    quiet.seconds = 1e3
    assert not rounds.short_of_quiet(quiet)
    assert not again()


def _timed(samples: list[list[float]], fallback: bool, worst: float) -> BenchmarkResult:
    n = sum(map(len, samples))
    r = BenchmarkResult(name="b.time_x", kind="time", process_samples=samples,
                        disturbance=Disturbance(samples=n, rejected=n if fallback else 0,
                                                slowdown=worst, worst=worst,
                                                fallback=fallback))
    return r.with_stats()


@pytest.mark.parametrize("change, worst, expected", [
    (10.0, 2.5, "regression"),    # 10x under a machine at most 2.5x slow: at least 4x
    (2.0, 2.5, "disturbed"),      # the machine alone could have made it
    (1.5, 1.3, "disturbed"),      # 1.15x left: under the 1.2 factor
    (0.1, 2.5, "improvement"),    # faster while B's machine was slow: faster still
])
def test_a_disturbed_side_voids_only_the_changes_the_machine_could_have_made(
        change, worst, expected):
    base = [[1.0, 1.01, 0.99, 1.0]] * 3
    moved = [[v * change for v in p] for p in base]
    a = RunResults(machine="m", env_name="e", results=[_timed(base, False, 1.0)])
    b = RunResults(machine="m", env_name="e", results=[_timed(moved, True, worst)])
    [row] = compare_runs(a, b, factor=1.2)
    assert row.verdict == expected
    # the same from the other side: A disturbed, B moved by 1 / change
    [row] = compare_runs(b, a, factor=1.2)
    assert row.verdict == {"regression": "improvement",
                           "improvement": "regression"}.get(expected, expected)
