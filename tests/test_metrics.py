"""histbench.metrics: speedups with honest intervals, a Pareto front that matches the
definition of dominance, and warnings whenever two results are not like for like."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from histbench.analysis.metrics import (
    Speedup,
    accuracy_delta,
    compression_ratio,
    efficiency,
    fairness_warnings,
    pareto_front,
    speedup,
    unfair,
)
from histbench.analysis.two_sample import compare
from histbench.store.machine import MachineRecord
from histbench.store.results import BenchmarkResult, RunResults

# --------------------------------------------------------------------------- speedup


def _measure(func, n: int = 8) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return samples


def test_instant_model_is_hugely_and_significantly_faster_than_a_sleeping_one():
    # Real timings, but no load can break the bounds: the sleep lasts >= 10 ms whatever
    # happens, and the ~1 us sum would need to run 100x slower in at least 4 of its 8
    # samples, i.e. be preempted in each (p ~ C(8,4) (1 us / 4 ms tick)^4 ~ 3e-13), not
    # just run 2-3x slower as a burst of machine load makes it.
    slow = _measure(lambda: time.sleep(0.01))
    fast = _measure(lambda: sum(range(10)))
    s = speedup(slow, fast)
    assert isinstance(s, Speedup)
    assert s.value > 100 and s.significant and s.p_value < 0.05
    assert s.ci_low <= s.value <= s.ci_high and s.ci_low > 1
    backwards = speedup(fast, slow)
    assert backwards.value < 0.01 and backwards.significant


def test_baseline_against_itself_is_one_and_not_significant():
    rng = np.random.default_rng(7)
    base = rng.lognormal(np.log(0.01), 0.05, 20)
    s = speedup(base, base)
    assert s.value == pytest.approx(1.0) and not s.significant and s.p_value == 1.0
    assert s.ci_low < 1 < s.ci_high
    other = rng.lognormal(np.log(0.01), 0.05, 20)  # same distribution, new draw
    s2 = speedup(base, other)
    assert s2.value == pytest.approx(1.0, abs=0.1) and s2.ci_low < 1 < s2.ci_high


def test_speedup_is_the_inverted_comparison_including_process_level():
    # Processes that disagree: the comparison counts processes, and so must the speedup.
    base = [[1.00, 1.01, 1.00], [1.20, 1.21, 1.20], [0.90, 0.91, 0.90]]
    opt = [[0.50, 0.51, 0.50], [0.60, 0.61, 0.60], [0.45, 0.46, 0.45]]
    s, c = speedup(base, opt), compare(base, opt)
    assert c.level == "processes" and s.level == "processes"
    assert s.n_baseline == 3 and s.n_optimized == 3
    assert s.value == pytest.approx(1 / c.ratio)
    assert s.ci_low == pytest.approx(1 / c.ci_high) and s.ci_high == pytest.approx(1 / c.ci_low)
    assert s.p_value == c.p_value and s.significant == c.significant
    d = s.to_dict()
    assert d["value"] == s.value and json.loads(json.dumps(d, allow_nan=False)) == d


@pytest.mark.parametrize("bad", [[], [0.0, 0.1], [-0.1], [float("nan")], [[0.1], [math.inf]]])
def test_speedup_rejects_times_that_are_not_positive(bad):
    with pytest.raises(ValueError):
        speedup(bad, [0.1, 0.2])
    with pytest.raises(ValueError):
        speedup([0.1, 0.2], bad)


# --------------------------------------------------------------------------- simple ratios


def test_compression_ratio():
    assert compression_ratio(400, 100) == 4.0
    assert compression_ratio(100, 400) == 0.25
    assert compression_ratio(1.5e9, 1.5e9) == 1.0
    for bad in [(0, 10), (10, 0), (-1, 10), (10, -1), (math.nan, 1), (1, math.inf),
                ("10", 1), (True, 1)]:
        with pytest.raises(ValueError, match="size"):
            compression_ratio(*bad)


def test_accuracy_delta_of_figures_and_of_sample_means():
    assert accuracy_delta(0.91, 0.89) == pytest.approx(-0.02)
    assert accuracy_delta(0.80, 0.85) == pytest.approx(0.05)
    assert accuracy_delta([0.90, 0.92], [0.88, 0.89, 0.90]) == pytest.approx(0.89 - 0.91)
    assert accuracy_delta([[0.9, 0.92], [0.91]], 0.9) == pytest.approx(0.9 - 0.91)
    assert accuracy_delta(np.array([0.5, 0.7]), 0.6) == pytest.approx(0.0)
    for bad in [([], 0.9), (0.9, math.nan), ("0.9", 0.9), (0.9, [0.9, math.inf]), (None, 1)]:
        with pytest.raises(ValueError):
            accuracy_delta(*bad)


def test_efficiency():
    assert efficiency(2.0, 4.0, 0.0) == 8.0
    assert efficiency(2.0, 4.0, -1.0) == 4.0
    assert efficiency(2.0, 4.0, 1.0) == 4.0  # a gain is penalised too: it is only a score
    assert efficiency(3.0, 1.0, 0.5) == pytest.approx(2.0)
    for bad in [(0, 1, 0), (1, 0, 0), (-2, 1, 0), (math.inf, 1, 0), (1, 1, math.nan),
                (1, 1, "0")]:
        with pytest.raises(ValueError):
            efficiency(*bad)


# --------------------------------------------------------------------------- Pareto front


def _brute_force_front(points, directions):
    def better_or_equal(p, q):
        pairs = zip(p, q, directions, strict=True)
        return all((a <= b) if d == "min" else (a >= b) for a, b, d in pairs)

    return [i for i, q in enumerate(points)
            if not any(better_or_equal(p, q) and tuple(p) != tuple(q) for p in points)]


@st.composite
def _problems(draw):
    dims = draw(st.integers(1, 4))
    directions = draw(st.lists(st.sampled_from(["min", "max"]), min_size=dims, max_size=dims))
    coordinate = st.integers(-3, 3) | st.floats(-3, 3, allow_nan=False)
    points = draw(st.lists(st.tuples(*[coordinate] * dims), max_size=30))
    return points, directions


@settings(max_examples=300, deadline=None)
@given(_problems())
def test_pareto_front_matches_brute_force(problem):
    points, directions = problem
    assert pareto_front(points, directions) == _brute_force_front(points, directions)


def test_pareto_front_ties_and_duplicates():
    # latency (min), accuracy (max)
    points = [(1, 0.9), (1, 0.9), (1, 0.8), (2, 0.95), (2, 0.9), (0.5, 0.5)]
    assert pareto_front(points, ["min", "max"]) == [0, 1, 3, 5]
    assert pareto_front([], ["min", "min"]) == []
    assert pareto_front([(5,), (3,), (3,)], ["min"]) == [1, 2]
    assert pareto_front([(math.inf, 1.0)], ["min", "max"]) == [0]
    assert pareto_front([(1, 2, 3), (1, 2, 3), (1, 2, 4)], ["min"] * 3) == [0, 1]


@pytest.mark.parametrize("points,directions,match", [
    ([(1, 2)], ["min", "up"], "direction"),
    ([(1, 2)], "mx", "string"),
    ([(1, 2)], [], "objective"),
    ([(1, 2), (1,)], ["min", "min"], "values"),
    ([(1, math.nan)], ["min", "min"], "NaN"),
    ([(1, "a")], ["min", "min"], "number"),
])
def test_pareto_front_validation(points, directions, match):
    with pytest.raises(ValueError, match=match):
        pareto_front(points, directions)


# --------------------------------------------------------------------------- fairness


def _result(version: str = "v1", **extra) -> BenchmarkResult:
    return BenchmarkResult(name="model.time_infer", kind="time", version=version,
                           process_samples=[[0.01, 0.011]], extra=dict(extra))


def _run(machine: str = "box", python: str = "3.11.7", **settings) -> RunResults:
    return RunResults(machine=machine, env_name="env", python=python, settings=dict(settings))


def _record(name: str = "box", cpu: str = "Xeon") -> MachineRecord:
    return MachineRecord(name=name, os="Linux", arch="x86_64", cpu=cpu, cores=8,
                         ram_bytes=16 << 30, python="3.11.7", python_implementation="CPython")


def test_fair_pair_has_no_warnings():
    assert unfair(_result(), _result(), a_run=_run(), b_run=_run()) == []
    assert unfair(_result(), _result()) == []
    assert unfair(_result(), _result(), a_run=_run(python="3.11"), b_run=_run()) == []
    assert unfair(_result(), _result(), a_machine=_record(), b_machine=_record()) == []
    assert fairness_warnings is unfair


def test_different_machine():
    w = unfair(_result(), _result(), a_run=_run("box1"), b_run=_run("box2"))
    assert len(w) == 1 and w[0].startswith("different machine") and "box1" in w[0]
    w = unfair(_result(), _result(), a_machine=_record(), b_machine=_record(cpu="EPYC"))
    assert len(w) == 1 and w[0].startswith("different machine") and "EPYC" in w[0]


def test_different_python():
    w = unfair(_result(), _result(), a_run=_run(python="3.11.7"), b_run=_run(python="3.12.1"))
    assert len(w) == 1 and "different Python" in w[0] and "3.12.1" in w[0]
    # Unknown on one side is not a difference.
    assert unfair(_result(), _result(), a_run=_run(python=""), b_run=_run()) == []


def test_different_benchmark_version():
    w = unfair(_result("abc"), _result("def"))
    assert len(w) == 1 and "different benchmark version" in w[0] and "'def'" in w[0]
    assert unfair(_result(""), _result("def")) == []


def test_cold_vs_warm():
    from_settings = unfair(_result(), _result(), a_run=_run(warmup_time=0.0),
                           b_run=_run(warmup_time=0.1))
    assert len(from_settings) == 1 and "cold vs warm" in from_settings[0]
    # A run that does not override warmup_time used the suite's (warm) default.
    assert len(unfair(_result(), _result(), a_run=_run(), b_run=_run(warmup_time=0))) == 1
    # The result's own record beats the run setting.
    from_extra = unfair(_result(warmup=False), _result(), a_run=_run(), b_run=_run())
    assert len(from_extra) == 1 and "cold vs warm" in from_extra[0]
    assert len(unfair(_result(warmup=0), _result(warmup=0.5))) == 1
    assert unfair(_result(warmup=False), _result(warmup=0)) == []
    assert unfair(_result(warmup=True), _result()) == []  # unknown side: no warning
    assert unfair(_result(), _result(), a_run=_run(warmup_time=-1),
                  b_run=_run(warmup_time=0.2)) == []


def test_all_kinds_at_once_and_whole_runs():
    w = unfair(_result("1", warmup=0), _result("2", warmup=1),
               a_run=_run("a", "3.10.1"), b_run=_run("b", "3.12.0"))
    kinds = ["different machine", "different Python", "different benchmark version",
             "cold vs warm"]
    assert [k for k in kinds if any(x.startswith(k) for x in w)] == kinds and len(w) == 4
    runs = unfair(_run("a", warmup_time=0), _run("b"))
    assert len(runs) == 2 and runs[0].startswith("different machine")
