"""histbench.stats.compare: honest p-values and ratio intervals, including the case that
breaks naive tests: processes that disagree while their own samples are tight.

Every random draw here comes from a seeded generator (and the property tests run the same
examples every time, tests/conftest.py), so each rate asserted below is a fixed number:
these tests cannot fail by chance, only when the statistics change."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from histbench.analysis.two_sample import compare, minimum_detectable_effect


def test_clear_change_is_significant_with_ratio_interval():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 0.01, 30), rng.normal(1.05, 0.01, 30)
    c = compare(a, b)
    assert c.significant and c.p_value < 1e-6
    assert c.ci_low < 1.05 < c.ci_high and c.ci_low <= c.ratio <= c.ci_high
    assert c.level == "samples" and c.effect_size > 2


def test_welch_matches_scipy_on_log_samples():
    rng = np.random.default_rng(2)
    a, b = rng.lognormal(0, 0.1, 15), rng.lognormal(0.05, 0.2, 12)
    expected = sps.ttest_ind(np.log(a), np.log(b), equal_var=False).pvalue
    assert compare(a, b).p_value == pytest.approx(expected, rel=1e-9)


def test_mannwhitney_available():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1, 0.01, 20), rng.normal(1.02, 0.01, 20)
    c = compare(a, b, method="mannwhitney")
    assert c.method == "mannwhitney" and c.significant
    expected = sps.mannwhitneyu(np.log(a), np.log(b), alternative="two-sided").pvalue
    assert c.p_value == pytest.approx(expected)


def _process_noise_pair(rng, shift=0.0):
    """Four processes a side, each with its own level (sd 2%), tight samples (0.1%)."""
    def side(level):
        return [list(level * (1 + rng.normal(0, 0.02)) * (1 + rng.normal(0, 0.001, 10)))
                for _ in range(4)]
    return side(1.0), side(1.0 + shift)


def test_between_process_variance_does_not_cause_false_alarms():
    rng = np.random.default_rng(4)
    ours = naive = 0
    trials = 300
    for _ in range(trials):
        a, b = _process_noise_pair(rng)
        ours += compare(a, b).significant
        flat_a, flat_b = np.log(np.concatenate(a)), np.log(np.concatenate(b))
        naive += sps.ttest_ind(flat_a, flat_b, equal_var=False).pvalue < 0.05
    assert naive / trials > 0.5  # the trap is real
    assert ours / trials <= 0.10  # nominal 5%, with room for sampling error


def test_process_level_still_finds_large_changes():
    rng = np.random.default_rng(5)
    a, b = _process_noise_pair(rng, shift=0.25)
    c = compare(a, b)
    assert c.level == "processes" and c.n_a == 4 and c.significant


def test_degenerate_inputs():
    same = compare([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert same.ratio == 1 and same.p_value == 1 and not same.significant
    exact = compare([1.0, 1.0], [2.0, 2.0])
    assert exact.ratio == 2 and exact.significant
    single = compare([1.0], [2.0])
    assert single.p_value == 1.0 and not single.significant
    negative = compare([-1.0, -1.1, -0.9], [-2.0, -2.1, -1.9])
    assert negative.ratio is None and negative.direction == -1 and negative.significant
    with pytest.raises(ValueError):
        compare([], [1.0])
    with pytest.raises(ValueError):
        compare([math.nan], [1.0])


finite = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(finite, min_size=1, max_size=30), st.lists(finite, min_size=1, max_size=30),
       st.sampled_from(["welch", "mannwhitney"]))
def test_properties(a, b, method):
    ab = compare(a, b, method=method)
    ba = compare(b, a, method=method)
    for c in (ab, ba):
        assert 0 <= c.p_value <= 1
        assert c.ci_low <= c.ratio * (1 + 1e-9) and c.ratio <= c.ci_high * (1 + 1e-9)
        assert all(math.isfinite(v) for v in (c.ratio, c.ci_low, c.ci_high))
    assert ab.ratio * ba.ratio == pytest.approx(1.0, rel=1e-9)
    assert ab.p_value == pytest.approx(ba.p_value, rel=1e-6, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(finite, min_size=1, max_size=8), min_size=1, max_size=5),
       st.lists(st.lists(finite, min_size=1, max_size=8), min_size=1, max_size=5))
def test_groups_properties(a, b):
    c = compare(a, b)
    assert 0 <= c.p_value <= 1 and c.level in ("samples", "processes")
    assert c.n_a <= sum(map(len, a)) and c.n_b <= sum(map(len, b))


def test_minimum_detectable_effect():
    rng = np.random.default_rng(6)
    small = minimum_detectable_effect(list(rng.normal(1, 0.01, 10)))
    large = minimum_detectable_effect(list(rng.normal(1, 0.01, 100)))
    assert 0 < large < small < 0.05
    a, _ = _process_noise_pair(rng)
    # Wandering processes make the honest figure larger than the flattened samples suggest.
    assert minimum_detectable_effect(a) > 3 * minimum_detectable_effect([v for g in a for v in g])
    assert minimum_detectable_effect([1.0]) is None
    # The promise it makes: a change of that size is detected about 95% of the time.
    mde = minimum_detectable_effect(list(rng.normal(1, 0.02, 20)))
    hits = sum(compare(rng.normal(1, 0.02, 20), rng.normal(1 + mde, 0.02, 20)).significant
               for _ in range(300))
    assert hits / 300 >= 0.88


def test_one_disturbed_process_does_not_hide_a_large_change():
    """One of four processes ran 50% slow (a busy neighbour): a 35% change stays visible."""
    rng = np.random.default_rng(8)

    def proc(level):
        return list(level * (1 + rng.normal(0, 0.01, 5)))

    a = [proc(0.90), proc(0.905), proc(1.38), proc(0.90)]
    b = [proc(1.22), proc(1.26), proc(1.20), proc(1.24)]
    c = compare(a, b)
    assert c.significant and c.level == "processes" and c.n_a == 3


def test_dropping_disturbed_processes_keeps_false_alarms_near_alpha():
    rng = np.random.default_rng(9)
    hits = 0
    for _ in range(400):
        def side():
            return [list((1 + rng.normal(0, 0.02)) * (1 + rng.standard_t(3) * 0.02)
                         * (1 + rng.normal(0, 0.002, 5))) for _ in range(6)]
        hits += compare(side(), side()).significant
    assert hits / 400 <= 0.10


signed = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(signed, min_size=1, max_size=12), st.lists(signed, min_size=1, max_size=12),
       st.booleans())
def test_any_finite_values_give_a_true_ratio_or_none_and_the_right_way(a, b, higher):
    """Values of either sign, up to 1e300 (a track may hold anything finite): the ratio
    is never negative, never inf, never a figure of a scale that has none; the verdict
    follows the direction the median moved in, whatever the signs."""
    from histbench.analysis.run_diff import Verdict, verdict

    c = compare(a, b)
    med_a, med_b = float(np.median(a)), float(np.median(b))
    assert c.direction == (med_b > med_a) - (med_b < med_a)
    if med_a > 0 and med_b >= 0 and math.isfinite(med_b / med_a):
        assert c.ratio == pytest.approx(med_b / med_a) and c.ratio >= 0
        assert math.isfinite(c.ci_low) and math.isfinite(c.ci_high)
    else:
        assert c.ratio is None and c.ci_low is None and c.ci_high is None
    found = verdict(c, higher, 1.0)
    if found == Verdict.REGRESSION:
        assert (med_b < med_a) if higher else (med_b > med_a)
    elif found == Verdict.IMPROVEMENT:
        assert (med_b > med_a) if higher else (med_b < med_a)
