"""Analysis of instruction counts: samples that repeat to a few parts per million. A
t-test on their spread alone would call any difference significant; the rule floors the
noise at core/modes.COUNT_FLOOR, and no step below it is reported."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from histbench.analysis.name_match import name_regex
from histbench.analysis.steps import detect_steps
from histbench.analysis.two_sample import compare, minimum_detectable_effect
from histbench.core.modes import (
    COUNT_FLOOR,
    MeasureMode,
    benchmark_of,
    count_floor,
    count_series_name,
    effective_mode,
)

BASE = 45_974_172.0


def _counts(level: float, n: int, rng: np.random.Generator, ppm: float = 3.0) -> list[float]:
    """Counts as callgrind gives them: a level, a few ppm of warm/cold jitter."""
    return list(np.round(level * (1 + rng.normal(0, ppm * 1e-6, n))))


@given(st.integers(0, 2**32 - 1), st.integers(2, 5), st.integers(2, 5))
def test_unchanged_code_is_never_significant(seed, na, nb):
    rng = np.random.default_rng(seed)
    c = compare(_counts(BASE, na, rng), _counts(BASE, nb, rng), noise_floor=COUNT_FLOOR)
    assert not c.significant and c.method == "counts"


@given(st.integers(0, 2**32 - 1), st.sampled_from([0.005, 0.01, -0.01, 0.03, -0.2]))
def test_a_change_of_half_a_percent_or_more_is(seed, change):
    rng = np.random.default_rng(seed)
    c = compare(_counts(BASE, 3, rng), _counts(BASE * (1 + change), 3, rng),
                noise_floor=COUNT_FLOOR)
    assert c.significant and c.p_value < 1e-6
    assert c.ratio == pytest.approx(1 + change, rel=1e-4)
    assert c.ci_low < c.ratio < c.ci_high
    assert c.direction == (1 if change > 0 else -1)


def test_a_measured_spread_above_the_floor_is_used():
    rng = np.random.default_rng(1)
    noisy = [BASE * (1 + e) for e in rng.normal(0, 0.02, 5)]  # 2%: not a count at all
    c = compare(noisy, [v * 1.01 for v in noisy], noise_floor=COUNT_FLOOR)
    assert not c.significant  # 1% is inside a 2% spread
    assert minimum_detectable_effect(_counts(BASE, 3, rng), noise_floor=COUNT_FLOOR) > 0.003


def _history(steps: dict[int, float], n: int = 120, seed: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    level, out = BASE, []
    for i in range(n):
        level *= steps.get(i, 1.0)
        out.append(_counts(level * (1 + rng.normal(0, 20e-6)), 3, rng))  # layout: 20 ppm
    return out


@pytest.mark.parametrize("seed", range(5))
def test_count_histories_find_one_percent_steps_at_their_commit_and_nothing_else(seed):
    history = _history({30: 1.01, 70: 0.97, 71: 1.0, 100: 1.2}, seed=seed)
    found = detect_steps(history, noise_floor=COUNT_FLOOR)
    assert [s.index for s in found] == [30, 70, 100]


@pytest.mark.parametrize("seed", range(5))
def test_identical_counts_at_every_commit_except_a_tiny_shift_make_no_step(seed):
    """Exactly repeated counts take the exact path: there too, nothing below the floor."""
    history = [[BASE] * 3] * 40 + [[BASE + 500] * 3] * 40  # 11 ppm
    assert detect_steps(history, noise_floor=COUNT_FLOOR) == []
    assert detect_steps(_history({}, seed=seed), noise_floor=COUNT_FLOOR) == []


def test_names_and_modes():
    name = count_series_name("bench.Sort.time_sort", "instructions")
    assert name == "bench.Sort.time_sort@instructions"
    assert benchmark_of(name) == ("bench.Sort.time_sort", "instructions")
    assert benchmark_of("bench.time_x") == ("bench.time_x", None)
    assert benchmark_of("bench.time_x@other") == ("bench.time_x@other", None)
    assert count_floor("cycles") == COUNT_FLOOR and count_floor("time") == 0.0
    key = (name, (("n", "10"),))
    assert name_regex(key) == r"^bench\.Sort\.time_sort\(10\)$"
    assert effective_mode("instructions", "time", "time", "time") == MeasureMode.INSTRUCTIONS
    assert effective_mode(None, "instructions", "time", "time") == MeasureMode.INSTRUCTIONS
    assert effective_mode(None, None, "instructions", "time") == MeasureMode.INSTRUCTIONS
    assert effective_mode(None, None, "instructions", "track") == MeasureMode.TIME
    assert effective_mode(None, None, None, "time") == MeasureMode.TIME


def test_the_config_key_and_the_flag_are_checked(tmp_path):
    from histbench.core.config import load_config
    from histbench.core.errors import HistbenchError

    path = tmp_path / "histbench.json"
    path.write_text(json.dumps({"project": "p", "measure": "instructions"}))
    assert load_config(path).measure == "instructions"
    path.write_text(json.dumps({"project": "p", "measure": "cycles"}))
    with pytest.raises(HistbenchError, match="measure"):
        load_config(path)
    for command in ("run", "dev", "continuous", "bisect"):
        proc = subprocess.run([sys.executable, "-m", "histbench", command, "--measure",
                               "bogus"], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 2 and "invalid choice: 'bogus'" in proc.stderr


def test_counts_read_with_metric_prefixes():
    from histbench.core.formatting import format_value, unit_scale

    assert format_value(11_090_000, "instructions") == "11.09 M instructions"
    assert format_value(9716, "cycles") == "9.716 k cycles"
    assert format_value(12, "instructions") == "12 instructions"
    assert unit_scale("cycles", 3e9) == (1e9, "G cycles")


@pytest.mark.parametrize("seed", range(5))
def test_a_one_percent_count_step_next_to_large_ones_is_found_at_its_commit(seed):
    """Counts vary by parts per million within a process: at the floor's resolution they
    are exact, and a +1% step seven commits from a +10% and a +30% one is its own step
    (the statistical segmentation, made for noise, merged them)."""
    rng = np.random.default_rng(seed)
    steps = {8: 1.10, 15: 1.01, 22: 1.30, 30: 0.97, 38: 0.80}
    level, history = BASE, []
    for i in range(45):
        level *= steps.get(i, 1.0)
        history.append(list(level * (1 + rng.normal(0, 200e-6, 3))))
    found = detect_steps(history, noise_floor=COUNT_FLOOR)
    assert [s.index for s in found] == sorted(steps)
    for s in found:
        assert s.ratio == pytest.approx(steps[s.index], rel=2e-3)
