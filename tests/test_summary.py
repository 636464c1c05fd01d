"""Tests for histbench.summary: agreement with reference implementations, plus edge cases.

Reference values come from ``statistics`` (exact rational arithmetic) and scipy/numpy, so a
disagreement points at our scaling or interpolation, not at the reference.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from histbench.store.samples import Summary, median_interval, summarize, t_interval

FLOAT_MAX = float(np.finfo(np.float64).max)

reasonable = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
any_finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False)


def close(actual: float, expected: float, scale: float, rel: float = 1e-9) -> bool:
    """Relative agreement, with an absolute floor proportional to the data's magnitude.

    Cancellation makes e.g. the mean of [1e6, -1e6, 1e-3] accurate only to ~eps * 1e6,
    whichever way it is computed, so a pure relative tolerance would be unfair.
    """
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=rel * scale)


def all_numbers(summary: Summary) -> list[float]:
    out: list[float] = []
    for value in summary.to_dict().values():
        if isinstance(value, list):
            out.extend(value)
        elif isinstance(value, (int, float)):
            out.append(value)
    return out


def check_invariants(s: Summary, samples: list[float]) -> None:
    """What must hold for every finite input, however extreme."""
    d = s.to_dict()
    json.dumps(d, allow_nan=False)  # raises on NaN/inf
    assert all(math.isfinite(v) for v in all_numbers(s))
    assert s.n == len(samples)
    assert s.min == min(samples) and s.max == max(samples)
    assert s.min <= s.q1 <= s.median <= s.q3 <= s.max
    assert s.min <= s.mean <= s.max
    assert s.ci_low <= s.mean <= s.ci_high
    assert s.median_ci_low <= s.median <= s.median_ci_high
    assert s.min <= s.median_ci_low and s.median_ci_high <= s.max
    assert 0.0 <= s.median_ci_level <= 1.0
    assert s.std >= 0.0 and s.iqr >= 0.0 and s.mad >= 0.0 and s.cv >= 0.0
    assert s.between_group_cv >= 0.0
    assert s.outlier_rule == "iqr"
    assert all(0 <= i < s.n for i in s.outliers)
    assert list(s.outliers) == sorted(set(s.outliers))
    assert s.n_groups == len(s.group_medians) >= 1
    assert Summary.from_dict(json.loads(json.dumps(d))) == s


# --- agreement with references -------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(reasonable, min_size=1, max_size=200))
def test_matches_statistics_and_numpy(samples: list[float]) -> None:
    s = summarize(samples)
    scale = max(abs(v) for v in samples)
    assert close(s.mean, statistics.mean(samples), scale)
    assert close(s.median, statistics.median(samples), scale)
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    assert close(s.q1, q1, scale) and close(s.median, med, scale) and close(s.q3, q3, scale)
    assert close(s.iqr, q3 - q1, scale)
    mad = float(np.median(np.abs(np.asarray(samples) - statistics.median(samples))))
    assert close(s.mad, mad, scale)
    if len(samples) >= 2:
        assert close(s.std, statistics.stdev(samples), scale, rel=1e-7)
        if scale > 1e-150:  # numpy's own squares underflow below that; ours do not
            assert close(s.std, float(np.std(samples, ddof=1)), scale, rel=1e-7)
    else:
        assert s.std == 0.0
    check_invariants(s, samples)


@settings(max_examples=200, deadline=None)
@given(st.lists(positive, min_size=2, max_size=100))
def test_cv_is_std_over_mean(samples: list[float]) -> None:
    s = summarize(samples)
    assert s.cv == pytest.approx(s.std / abs(s.mean), rel=1e-12, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(st.lists(reasonable, min_size=2, max_size=100))
def test_t_interval_matches_scipy(samples: list[float]) -> None:
    s = summarize(samples)
    if s.std == 0.0:
        assert s.ci_low == s.ci_high == s.mean
        return
    low, high = stats.t.interval(0.95, s.n - 1, loc=s.mean, scale=s.std / math.sqrt(s.n))
    assert s.ci_low == pytest.approx(low, rel=1e-12, abs=1e-12 * s.std)
    assert s.ci_high == pytest.approx(high, rel=1e-12, abs=1e-12 * s.std)


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_t_interval_other_levels(level: float) -> None:
    low, high = t_interval(10.0, 2.0, 7, level)
    ref = stats.t.interval(level, 6, loc=10.0, scale=2.0 / math.sqrt(7))
    assert (low, high) == pytest.approx(ref, rel=1e-12)


def test_t_interval_is_not_normal_approximation() -> None:
    low, high = t_interval(0.0, 1.0, 2)
    assert high == pytest.approx(12.706204736 / math.sqrt(2), rel=1e-9)  # not 1.96/sqrt(2)


def test_t_interval_degenerate_and_invalid() -> None:
    assert t_interval(3.0, 0.0, 10) == (3.0, 3.0)
    assert t_interval(3.0, 5.0, 1) == (3.0, 3.0)
    assert t_interval(0.0, 1e308, 2) == (-FLOAT_MAX, FLOAT_MAX)  # saturates, never inf
    for bad in (0.0, 1.0, -0.5, 2.0):
        with pytest.raises(ValueError):
            t_interval(0.0, 1.0, 5, bad)
    with pytest.raises(ValueError):
        t_interval(float("nan"), 1.0, 5)
    with pytest.raises(ValueError):
        t_interval(0.0, -1.0, 5)


# --- median CI --------------------------------------------------------------------------------


def brute_force_median_ranks(n: int, level: float) -> tuple[int, float]:
    """Try every symmetric pair, widest last; first one reaching `level` is the narrowest."""
    for m in range((n - 1) // 2, -1, -1):
        coverage = float(stats.binom.cdf(n - m - 1, n, 0.5) - stats.binom.cdf(m, n, 0.5))
        # P(m+1 <= B <= n-m-1) for 0-based indices m and n-1-m.
        if coverage >= level:
            return m, coverage
    return 0, 1.0 - 2.0 * 0.5**n


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_median_interval_ranks_match_brute_force(level: float) -> None:
    for n in range(1, 120):
        values = [float(i) for i in range(n)]  # value == 0-based rank
        low, high, achieved = median_interval(values, level)
        m, coverage = brute_force_median_ranks(n, level)
        assert (low, high) == (m, n - 1 - m), n
        assert achieved == pytest.approx(coverage, abs=1e-12), n


def test_median_interval_small_n_falls_back_to_min_max() -> None:
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.0, 5.0, 0.9375)
    low, high, achieved = median_interval([float(i) for i in range(6)])
    assert (low, high) == (0.0, 5.0) and achieved == pytest.approx(1 - 2 / 64) and achieved >= 0.95
    assert median_interval([7.0]) == (7.0, 7.0, 0.0)
    for n in range(6, 300, 7):
        assert median_interval(np.arange(float(n)))[2] >= 0.95


def test_median_interval_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        median_interval([])
    with pytest.raises(ValueError):
        median_interval([1.0, 2.0], level=1.0)


def test_median_ci_coverage_monte_carlo() -> None:
    """Skewed (exponential) data: the order-statistic interval still covers ~95%."""
    rng = np.random.default_rng(20240229)  # seeded: the same draws, so the same verdict, always
    true_median = math.log(2.0)
    draws = rng.exponential(size=(2000, 30))
    hits = 0
    for row in draws:
        s = summarize(row)
        hits += s.median_ci_low <= true_median <= s.median_ci_high
    coverage = hits / len(draws)
    assert 0.93 <= coverage <= 0.99
    assert summarize(draws[0]).median_ci_level == pytest.approx(0.9572, abs=1e-4)


# --- edge cases -------------------------------------------------------------------------------


def test_single_sample() -> None:
    s = summarize([4.5])
    assert (s.n, s.mean, s.median, s.min, s.max, s.q1, s.q3) == (1, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5)
    assert (s.std, s.cv, s.iqr, s.mad) == (0.0, 0.0, 0.0, 0.0)
    assert (s.ci_low, s.ci_high) == (4.5, 4.5)
    assert (s.median_ci_low, s.median_ci_high) == (4.5, 4.5)
    assert s.outliers == ()
    assert (s.n_groups, s.group_medians, s.between_group_cv) == (1, (4.5,), 0.0)
    check_invariants(s, [4.5])


def test_two_samples() -> None:
    s = summarize([1.0, 3.0])
    assert (s.mean, s.median, s.std) == (2.0, 2.0, pytest.approx(math.sqrt(2)))
    assert (s.median_ci_low, s.median_ci_high, s.median_ci_level) == (1.0, 3.0, 0.5)
    check_invariants(s, [1.0, 3.0])


@pytest.mark.parametrize("value", [0.0, 0.1, -7.25, 1e300, 1e-300, 5e-324, FLOAT_MAX])
def test_constant_samples(value: float) -> None:
    samples = [value] * 17
    s = summarize(samples)
    assert s.mean == s.median == s.q1 == s.q3 == value
    assert (s.std, s.cv, s.iqr, s.mad, s.between_group_cv) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert s.ci_low == s.ci_high == value
    assert s.median_ci_low == s.median_ci_high == value
    assert s.outliers == ()
    check_invariants(s, samples)


EXTREMES = [
    [1e308, 1e308],
    [1e300, 2e300, 3e300],
    [-1.7e308, 1.7e308],
    [FLOAT_MAX, FLOAT_MAX, FLOAT_MAX, -FLOAT_MAX, -FLOAT_MAX],
    [FLOAT_MAX, -FLOAT_MAX],
    [1e-300, 2e-300, 3e-300],
    [5e-324, 1e-323, 1.5e-323],
    [-3.0, -2.0, -1.0],
    [-1e300, 1e-300, 0.0, 5.0],
    [1e300, -1e-300, 1e-300, 1.0, 1.0 + 1e-15],
    [0.0, -0.0, 0.0],
]


@pytest.mark.parametrize("samples", EXTREMES)
def test_extreme_values_stay_finite(samples: list[float]) -> None:
    check_invariants(summarize(samples), samples)


def test_huge_values_do_not_overflow() -> None:
    assert summarize([1e308, 1e308]).mean == 1e308
    s = summarize([1e300, 2e300, 3e300])
    assert s.mean == pytest.approx(2e300) and s.std == pytest.approx(1e300)
    assert s.cv == pytest.approx(0.5)


def test_tiny_values_do_not_underflow() -> None:
    s = summarize([1e-300, 2e-300, 3e-300])
    assert s.mean == pytest.approx(2e-300, rel=1e-12)
    assert s.std == pytest.approx(1e-300, rel=1e-12)  # naive squares would underflow to 0
    assert s.cv == pytest.approx(0.5, rel=1e-12)


def test_negative_values() -> None:
    s = summarize([-3.0, -2.0, -1.0])
    assert (s.mean, s.median, s.std) == (-2.0, -2.0, 1.0)
    assert s.cv == 0.5  # uses |mean|
    assert s.ci_low < -2.0 < s.ci_high


def test_zero_mean_gives_zero_cv() -> None:
    s = summarize([-1.0, 1.0])
    assert s.mean == 0.0 and s.cv == 0.0 and s.std > 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(any_finite, min_size=1, max_size=50))
def test_invariants_for_any_finite_input(samples: list[float]) -> None:
    check_invariants(summarize(samples), samples)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(any_finite, min_size=1, max_size=10), min_size=1, max_size=6))
def test_invariants_for_any_finite_groups(groups: list[list[float]]) -> None:
    flat = [v for g in groups for v in g]
    check_invariants(summarize(flat, groups), flat)


# --- outliers ---------------------------------------------------------------------------------


def test_planted_outlier_is_flagged_not_removed() -> None:
    samples = list(np.linspace(0.9, 1.1, 40))
    samples[17] *= 100.0
    s = summarize(samples)
    assert s.outliers == (17,)
    assert s.n == 40 and s.max == samples[17]
    assert s.mean > 3.0  # still included in the mean


def test_low_outlier_and_both_sides() -> None:
    samples = list(np.linspace(10.0, 11.0, 30)) + [-500.0, 900.0]
    assert summarize(samples).outliers == (30, 31)


@settings(max_examples=200, deadline=None)
@given(st.lists(reasonable, min_size=1, max_size=100))
def test_outliers_match_tukey_definition(samples: list[float]) -> None:
    s = summarize(samples)
    q1, q3 = np.percentile(samples, [25, 75])
    iqr = q3 - q1
    expected = tuple(i for i, v in enumerate(samples) if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)
    assert s.outliers == expected


# --- groups -----------------------------------------------------------------------------------


def test_group_medians_and_between_group_cv() -> None:
    groups = [[1.0, 2.0, 3.0], [2.0, 4.0], [10.0, 20.0, 30.0, 40.0]]
    flat = [v for g in groups for v in g]
    s = summarize(flat, groups)
    assert s.n_groups == 3
    assert s.group_medians == (2.0, 3.0, 25.0)
    medians = [2.0, 3.0, 25.0]
    expected = statistics.stdev(medians) / abs(statistics.mean(medians))
    assert s.between_group_cv == pytest.approx(expected, rel=1e-12)
    assert s.median == statistics.median(flat)  # the flat view is unaffected by grouping


def test_no_groups_means_one_group() -> None:
    s = summarize([3.0, 1.0, 2.0])
    assert (s.n_groups, s.group_medians, s.between_group_cv) == (1, (2.0,), 0.0)
    assert summarize([3.0, 1.0, 2.0], [[3.0, 1.0, 2.0]]) == s


def test_empty_groups_are_skipped() -> None:
    s = summarize([1.0, 2.0, 5.0], [[1.0, 2.0], [], [5.0]])
    assert s.n_groups == 2 and s.group_medians == (1.5, 5.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(positive, min_size=1, max_size=20), min_size=1, max_size=8))
def test_groups_property(groups: list[list[float]]) -> None:
    flat = [v for g in groups for v in g]
    s = summarize(flat, groups)
    medians = [statistics.median(g) for g in groups]
    assert s.n_groups == len(groups)
    assert s.group_medians == pytest.approx(medians, rel=1e-12)
    if len(groups) < 2:
        assert s.between_group_cv == 0.0
    else:
        expected = statistics.stdev(medians) / abs(statistics.mean(medians))
        assert s.between_group_cv == pytest.approx(expected, rel=1e-7, abs=1e-12)


def test_group_errors() -> None:
    with pytest.raises(ValueError, match="groups hold 2 samples"):
        summarize([1.0, 2.0, 3.0], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="non-finite"):
        summarize([1.0, 2.0], [[1.0], [float("nan")]])


# --- serialisation ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(any_finite, min_size=1, max_size=30))
def test_round_trip_exact(samples: list[float]) -> None:
    s = summarize(samples)
    d = s.to_dict()
    assert Summary.from_dict(d) == s
    assert Summary.from_dict(json.loads(json.dumps(d, allow_nan=False))) == s


def test_to_dict_uses_plain_json_types() -> None:
    s = summarize([1.0, 2.0, 3.0, 400.0], [[1.0, 2.0], [3.0, 400.0]])
    d = s.to_dict()
    assert set(d) == {f.name for f in fields(Summary)}
    assert isinstance(d["outliers"], list) and isinstance(d["group_medians"], list)
    assert d["outliers"] == [3]
    for key, value in d.items():
        assert type(value) in (int, float, str, list), key
        if isinstance(value, list):
            assert all(type(v) in (int, float) for v in value), key


def test_from_dict_rejects_broken_records() -> None:
    d = summarize([1.0, 2.0, 3.0]).to_dict()
    with pytest.raises(ValueError, match="missing"):
        Summary.from_dict({k: v for k, v in d.items() if k != "median"})
    with pytest.raises(ValueError, match="finite"):
        Summary.from_dict({**d, "mean": float("nan")})
    with pytest.raises(ValueError, match="integer"):
        Summary.from_dict({**d, "n": 2.5})
    assert Summary.from_dict({**d, "added_in_future": 1}) == Summary.from_dict(d)


# --- input validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "samples",
    [[], [float("nan")], [1.0, float("inf")], [float("-inf"), 2.0], [1.0, 2.0, float("nan")]],
)
def test_bad_samples_raise_value_error(samples: list[float]) -> None:
    with pytest.raises(ValueError):
        summarize(samples)


def test_error_names_the_problem() -> None:
    with pytest.raises(ValueError, match="empty"):
        summarize([])
    with pytest.raises(ValueError, match="index 2"):
        summarize([1.0, 2.0, float("nan")])
    with pytest.raises(ValueError):
        summarize([[1.0, 2.0], [3.0, 4.0]])  # not flat
    with pytest.raises(ValueError):
        summarize([10**400])  # not representable as a float


def test_input_is_not_modified() -> None:
    samples = np.array([3.0, 1.0, 2.0])
    summarize(samples)
    assert samples.tolist() == [3.0, 1.0, 2.0]
