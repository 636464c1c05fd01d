"""histbench.detect.detect_steps: steps found at the exact commit, false alarms controlled
over a whole history (noise, outliers, skew, commit jitter, slow drift, builds at levels of
their own and runs of them), odd inputs."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from synthetic_noise import build_offsets, commit_samples

from histbench.analysis.steps import Step, detect_steps
from histbench.core.errors import HistbenchError

NOISES = ("gauss1", "gauss3", "lognormal", "outliers", "jitter", "drift")


def history(rng: np.random.Generator, n: int, noise: str, steps: dict[int, float] | None = None,
            base: float = 0.01, samples: int = 10) -> list[list[float]]:
    """Per-commit samples: level `base`, times `ratio` from each step's commit on."""
    level = np.full(n, base)
    for at, ratio in (steps or {}).items():
        level[at:] *= ratio
    if noise == "drift":
        level *= 1 + 0.2 * np.arange(n) / (n - 1)
    if noise == "jitter":
        level *= 1 + rng.normal(0, 0.01, n)
    return [commit_samples(rng, float(lev), samples, noise) for lev in level]


@pytest.mark.parametrize("noise", NOISES)
def test_steps_up_and_down_found_at_the_exact_commit(noise):
    rng = np.random.default_rng(NOISES.index(noise))
    truth = {40: 1.15, 75: 0.85, 110: 1.25}
    found = detect_steps(history(rng, 150, noise, truth))
    assert [s.index for s in found] == list(truth)
    for step, ratio in zip(found, truth.values(), strict=True):
        assert step.ratio == pytest.approx(ratio, rel=0.03)
        assert step.after / step.before == pytest.approx(step.ratio)
        assert step.p_value < 1e-6
        assert step.last_good == step.index - 1


def test_small_step_in_noisy_samples():
    # 3% step, 3% noise per sample, 10 samples per commit: clear with 40 commits a side.
    rng = np.random.default_rng(7)
    found = detect_steps(history(rng, 80, "gauss3", {40: 1.03}))
    assert [s.index for s in found] == [40]
    assert found[0].ratio == pytest.approx(1.03, abs=0.01)


@pytest.mark.parametrize("noise", NOISES)
def test_no_step_histories_rarely_alarm(noise):
    # alpha = 0.05 over the whole history: about 2 of 40 histories at most on average.
    # The seed is fixed, so this is deterministic; the bound leaves room for a rate of 5%.
    rng = np.random.default_rng(100 + NOISES.index(noise))
    alarms = sum(bool(detect_steps(history(rng, int(rng.integers(50, 250)), noise)))
                 for _ in range(40))
    assert alarms <= 5


def test_stricter_alpha_alarms_less():
    rng = np.random.default_rng(11)
    histories = [history(rng, 120, "jitter") for _ in range(20)]
    assert not any(detect_steps(h, alpha=0.01) for h in histories)


def test_jitter_does_not_fool_it_like_adjacent_t_tests_would():
    # Within a commit the samples agree to 0.5%, commits disagree by 1%: a t-test between
    # neighbouring commits' samples is "significant" nearly everywhere.
    rng = np.random.default_rng(12)
    samples = history(rng, 200, "jitter")
    pairs = zip(samples, samples[1:], strict=False)
    naive = sum(stats.ttest_ind(a, b).pvalue < 0.05 for a, b in pairs)
    assert naive > 100
    assert detect_steps(samples) == []


def test_slow_drift_is_no_staircase_but_a_step_on_it_is_found():
    rng = np.random.default_rng(13)
    level = np.linspace(1.0, 1.3, 300)
    drift = [list(lev * (1 + rng.normal(0, 0.01, 10))) for lev in level]
    assert detect_steps(drift) == []
    level[150:] *= 1.05
    stepped = [list(lev * (1 + rng.normal(0, 0.01, 10))) for lev in level]
    found = detect_steps(stepped)
    assert [s.index for s in found] == [150]
    assert found[0].ratio == pytest.approx(1.05, abs=0.01)


def test_outlier_samples_and_a_disturbed_commit_make_no_step():
    rng = np.random.default_rng(14)
    samples = history(rng, 100, "gauss1")
    samples[30] = [v * 4 for v in samples[30][:5]] + samples[30][5:]  # half disturbed
    samples[60][0] *= 10
    assert detect_steps(samples) == []


def test_timings_on_a_busy_machine_whose_processes_run_fast_or_slow():
    # 4 processes x 5 samples per commit; each process runs at 1x, 1.45x or 2x: the median
    # jumps with the share of slow processes, the fast mode is steady.
    rng = np.random.default_rng(22)
    samples = []
    for i in range(20):
        level = 1e-3 * (1.4 if i >= 10 else 1.0)
        samples.append([v for _ in range(4) for v in level * rng.choice([1.0, 1.45, 2.0],
                        p=[0.5, 0.15, 0.35]) * (1 + rng.normal(0, 0.02, 5))])
    found = detect_steps(samples)
    assert [s.index for s in found] == [10]
    assert found[0].ratio == pytest.approx(1.4, rel=0.05)


def test_commits_without_data_are_skipped():
    rng = np.random.default_rng(15)
    samples = history(rng, 80, "gauss1", {40: 1.2})
    for i in (5, 38, 39, 40, 41, 79):
        samples[i] = []
    found = detect_steps(samples)
    assert [s.index for s in found] == [42]
    assert found[0].last_good == 37
    assert found[0].ratio == pytest.approx(1.2, rel=0.01)


@pytest.mark.parametrize("series", [[], [[]], [[], [], []], [[1.0]], [[1.0, 2.0]],
                                    [[1.0], [], [5.0]], [[1.0]] * 3,
                                    [[float("nan")], [float("inf")]]])
def test_degenerate_series_give_no_steps(series):
    assert detect_steps(series) == []


def test_zero_noise():
    assert detect_steps([[2.5] * 5] * 30) == []
    found = detect_steps([[1.0] * 5] * 20 + [[2.0] * 5] * 20)
    assert len(found) == 1
    step = found[0]
    assert (step.index, step.last_good) == (20, 19)
    assert step.before == pytest.approx(1.0) and step.after == pytest.approx(2.0)
    assert step.ratio == pytest.approx(2.0) and step.p_value < 1e-6


def test_quantised_samples():
    rng = np.random.default_rng(16)
    flat = [list(np.round(1 + rng.normal(0, 0.02, 10), 2)) for _ in range(200)]
    assert detect_steps(flat) == []
    stepped = flat[:100] + [[v + 0.1 for v in s] for s in flat[100:]]
    assert [s.index for s in detect_steps(stepped)] == [100]


def test_non_finite_samples_are_ignored_and_no_nan_comes_out():
    rng = np.random.default_rng(17)
    samples = history(rng, 60, "gauss1", {30: 1.3})
    samples[10].append(float("nan"))
    samples[20].append(float("inf"))
    samples[45] = [float("nan")]
    found = detect_steps(samples)
    assert [s.index for s in found] == [30]
    for step in found:
        assert all(math.isfinite(v) for v in (step.before, step.after, step.ratio, step.p_value))


def test_min_change_filters_small_steps():
    rng = np.random.default_rng(18)
    samples = history(rng, 120, "gauss1", {40: 1.03, 80: 1.3})
    assert [s.index for s in detect_steps(samples)] == [40, 80]
    assert [s.index for s in detect_steps(samples, min_change=0.05)] == [80]
    assert detect_steps(samples, min_change=0.5) == []


def test_uneven_sample_counts():
    rng = np.random.default_rng(19)
    level = np.where(np.arange(120) < 60, 1.0, 1.04)
    samples = [list(lev * (1 + rng.normal(0, 0.02, int(rng.choice([1, 3, 20])))))
               for lev in level]
    assert [s.index for s in detect_steps(samples)] == [60]


def test_values_around_zero_use_the_raw_scale():
    rng = np.random.default_rng(20)
    samples = [list(rng.normal(0.0 if i < 50 else 3.0, 1.0, 10)) for i in range(100)]
    found = detect_steps(samples)
    assert [s.index for s in found] == [50]
    assert found[0].after - found[0].before == pytest.approx(3.0, abs=0.3)


def test_long_history_completes():
    rng = np.random.default_rng(21)
    level = np.ones(10_000)
    level[2_500:] *= 1.05
    level[7_000:] *= 0.9
    samples = [list(lev * (1 + rng.normal(0, 0.01, 10))) for lev in level]
    assert [s.index for s in detect_steps(samples)] == [2_500, 7_000]


@pytest.mark.parametrize("bad", [{"alpha": 0}, {"alpha": 1}, {"alpha": -0.1},
                                 {"min_change": -0.1}, {"alpha": float("nan")}])
def test_bad_arguments(bad):
    with pytest.raises(HistbenchError):
        detect_steps([[1.0]] * 10, **bad)


def test_bad_series():
    with pytest.raises(HistbenchError):
        detect_steps([[1.0], None, [2.0]])
    with pytest.raises(HistbenchError):
        detect_steps([["fast"], [1.0]])


def test_step_to_dict():
    step = Step(index=3, before=1.0, after=2.0, ratio=2.0, p_value=0.01, last_good=2)
    assert step.to_dict() == {"index": 3, "before": 1.0, "after": 2.0, "ratio": 2.0,
                              "p_value": 0.01, "last_good": 2}


def test_analysis_layer_imports_nothing_but_numpy_scipy_stdlib_and_errors():
    steps = Path(__file__).parent.parent / "histbench" / "analysis" / "steps"
    imported = set()
    for module in steps.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module)
    third_party = {m for m in imported if m.split(".")[0] not in
                   {"__future__", "heapq", "itertools", "math", "collections", "dataclasses",
                    "typing", "numpy", "scipy"}
                   and not m.startswith("histbench.analysis.steps.")}
    assert third_party == {"histbench.core.errors", "histbench.core.scipy_special"}


commit = st.lists(st.floats(min_value=1e-6, max_value=1e6), max_size=6)
levels = st.lists(st.sampled_from([0.5, 1.0, 1.0, 2.0]), min_size=1, max_size=4)


@st.composite
def histories(draw):
    """Arbitrary samples, or a few plateaus with noise and gaps, which do have steps."""
    if draw(st.booleans()):
        return draw(st.lists(commit, max_size=60))
    plateaus = draw(levels)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    out = []
    for lev in plateaus:
        for _ in range(draw(st.integers(1, 25))):
            k = draw(st.integers(0, 5))
            out.append(list(lev * np.exp(rng.normal(0, 0.05, k))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_steps_are_well_formed(series):
    found = detect_steps(series)
    indices = [s.index for s in found]
    assert indices == sorted(set(indices))
    for step in found:
        assert 0 <= step.last_good < step.index < len(series)
        assert series[step.index] and series[step.last_good]
        assert not any(series[step.last_good + 1:step.index])
        assert step.before > 0 and step.after > 0
        assert step.ratio == pytest.approx(step.after / step.before)
        assert 0 <= step.p_value <= 1
        assert step.p_value <= 0.05


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32),
                         max_size=4), max_size=40))
def test_any_numbers_no_crash_no_nan(series):
    for step in detect_steps(series):
        assert 0 <= step.p_value <= 1
        assert not any(math.isnan(v) for v in (step.before, step.after, step.ratio))


# Per-build offsets: every build lands at a level of its own (memory layout, a CI runner
# of another kind), while the samples within a commit agree closely.
#
# How false failures are kept below 1/1000: ``derandomize=True`` makes hypothesis draw
# the same examples on every run (and the noise comes from numpy generators seeded by
# the example), so each test is deterministic. On top of that, each property is one that
# random noise would break with a probability far below 1/1000 over all its examples:
# the bounds and their arithmetic are next to each test.


def offsets_history(rng: np.random.Generator, n: int, sd: float, tails: str,
                    steps: dict[int, float] | None = None, off_share: float = 0.0,
                    samples: int = 10) -> list[list[float]]:
    """Level 0.01 times each build's offset (1 + sd * gaussian or Student-t(3) noise);
    ``off_share`` of the builds also run 13% fast (a faster runner); samples agree to
    0.3%."""
    level = np.full(n, 0.01)
    for at, ratio in (steps or {}).items():
        level[at:] *= ratio
    level *= build_offsets(rng, n, sd, tails)
    if off_share:
        level *= np.where(rng.random(n) < off_share, 0.87, 1.0)
    return [list(lev * (1 + rng.normal(0, 0.003, samples))) for lev in level]


@settings(derandomize=True, max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(40, 250), sd=st.floats(0.005, 0.02),
       ratio=st.sampled_from([0.7, 0.75, 1.3, 1.5]), where=st.floats(0.2, 0.8))
def test_large_step_between_offset_builds_is_found_at_its_exact_commit(seed, n, sd, ratio,
                                                                        where):
    # |log ratio| >= 0.25: the step commit or the one before lands past the middle only if
    # its gaussian offset is over 6 SDs (p < 1e-8 a commit), so < 1e-6 over 40 examples.
    rng = np.random.default_rng(seed)
    at = int(n * where)
    found = detect_steps(offsets_history(rng, n, sd, "gauss", {at: ratio}))
    step = next((s for s in found if s.index == at), None)
    assert step is not None, [s.index for s in found]
    assert step.ratio == pytest.approx(ratio, rel=0.05)
    # Found, so significant at the family-wise alpha; no stronger p is promised: over 600
    # random draws of this strategy 3 steps had p above 1e-3 (the largest 0.032), which
    # made a stricter bound fail on whichever draw hypothesis happened to make.
    assert step.p_value < 0.05


@settings(derandomize=True, max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tails=st.sampled_from(["gauss", "t3"]),
       off_share=st.sampled_from([0.0, 0.1, 0.2]))
def test_builds_at_levels_of_their_own_rarely_alarm(seed, tails, off_share):
    # 40 histories without a step, offsets of 0.5-2% with gaussian or heavy (t3) tails,
    # and 0, 10% or 20% of the builds on a runner 13% faster, alone or in short runs:
    # no such run is a step. alpha = 0.05 family-wise: at a true rate of 5% per history,
    # 9 or more alarms of 40 has p = 1.3e-4, so < 1e-3 over the 6 examples. (Before runs
    # of fast builds were recognised, 10% of them made 17-20% of such histories alarm.)
    rng = np.random.default_rng(seed)
    alarms = sum(bool(detect_steps(offsets_history(
        rng, int(rng.integers(60, 300)), float(rng.uniform(0.005, 0.02)), tails,
        off_share=off_share))) for _ in range(40))
    assert alarms <= 8


@settings(derandomize=True, max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(3, 8),
       ratio=st.sampled_from([0.75, 1.25, 1.5]))
def test_a_short_plateau_in_gaussian_noise_is_still_two_steps(seed, length, ratio):
    # Runs of off builds are told by the history's own share of far-off commits: with
    # gaussian offsets of 1% there are none, and a 3-8 commit plateau of 25% or more (its
    # middle over 11 SDs away: p < 1e-27 that an offset crosses it) stands as two exact
    # steps.
    rng = np.random.default_rng(seed)
    found = detect_steps(offsets_history(rng, 120, 0.01, "gauss",
                                         {60: ratio, 60 + length: 1 / ratio}))
    assert {60, 60 + length} <= {s.index for s in found}



@given(st.lists(st.tuples(st.integers(1, 5), st.sampled_from([100.0, 125.0, 80.0])),
                min_size=1, max_size=8), st.integers(2, 4))
def test_a_deterministic_history_steps_at_every_change(runs, processes):
    """Counts repeat exactly: every change of value is a step, however short the runs."""
    series, changes, values = [], [], []
    for length, value in runs:
        for _ in range(length):
            if values and value != values[-1]:
                changes.append(len(series))
            series.append([value] * processes)
            values.append(value)
    found = detect_steps(series)
    assert [s.index for s in found] == changes
    assert all(s.p_value == 0 and s.last_good == s.index - 1 for s in found)
    assert all(s.ratio == pytest.approx(values[s.index] / values[s.index - 1]) for s in found)


def test_one_sample_per_commit_is_not_taken_as_deterministic():
    """An imported median per commit says nothing about noise: no step from 2 commits."""
    assert detect_steps([[1.0], [1.0], [1.3], [1.3]]) == []
    assert [s.index for s in detect_steps([[1.0, 1.0], [1.0, 1.0], [1.3, 1.3]])] == [2]


step_levels = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@given(step_levels, step_levels, step_levels, st.booleans())
def test_changes_read_steps_of_any_sign_the_right_way(before, after, final, higher):
    """A step's direction, open or fixed, and ratio hold whatever the signs of its levels:
    -10 to -20 is a fall (an improvement of a time-like value), not a 2x regression."""
    from types import SimpleNamespace

    from histbench.analysis.changes import changes_from_steps
    from histbench.analysis.steps import Step
    from histbench.store.results import CommitInfo

    assume(before != after)
    samples = [np.array([before])] * 3 + [np.array([after])] * 3 + [np.array([final])] * 3
    series = SimpleNamespace(samples=lambda: samples, higher_is_better=higher)
    steps = [Step(3, before, after, after / before if before else 0.0, 0.001, 2),
             Step(6, after, final, final / after if after else 0.0, 0.001, 5)]
    commits = [CommitInfo(hash=f"{i:040x}") for i in range(9)]
    first = changes_from_steps(series, steps, commits)[0]
    assert first.regression == ((after < before) if higher else (after > before))
    if before > 0 and after >= 0 and math.isfinite(after / before):
        assert first.ratio == pytest.approx(after / before)
    else:
        assert first.ratio is None
    assert first.open == ((final - before) / (after - before) >= 0.5)
