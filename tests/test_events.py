"""Events (analysis/events): steps of many benchmarks at one commit, grouped and
attributed to the machine (a CI runner changed) or the code.

Every synthetic history here comes from numpy generators with fixed seeds (and the
property tests run derandomized, conftest's "ci" profile), so nothing depends on timing
or machine load. The noise is 1% per sample (synthetic_noise "gauss"), 5 samples per
commit, so a commit's level is known to about 0.45%: every step in these tests (>= 20%)
is more than 40 noise SDs and the bounds below are far from what noise reaches.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import shared_django_results
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_noise import commit_samples

from histbench.analysis.changes import Cause, changes_from_steps
from histbench.analysis.events import (
    SeriesHistory,
    common_mode,
    find_events,
    hardware_changes,
    history_events,
)
from histbench.analysis.events.clusters import clusters
from histbench.analysis.series import SeriesInfo
from histbench.analysis.steps import detect_steps
from histbench.store.results import CommitInfo

SAMPLES = 5  # per commit
NOISE = "gauss"  # 1% per sample


# --- building synthetic histories --------------------------------------------------------


def make_commits(n: int) -> list[CommitInfo]:
    return [CommitInfo(hash=f"{i:040x}", date=1.7e9 + 3600.0 * i, author="dev",
                       subject=f"commit {i}", parents=[f"{i - 1:040x}"] if i else [])
            for i in range(n)]


def info(name: str, kind: str = "time", unit: str = "seconds",
         higher_is_better: bool = False) -> SeriesInfo:
    return SeriesInfo(key=(name, ()), name=name, params={}, kind=kind, unit=unit,
                      version="1", higher_is_better=higher_is_better)


def levels_history(levels: np.ndarray, rng: np.random.Generator) -> list[list[float]]:
    """Per commit, SAMPLES samples around the level with 1% noise."""
    return [commit_samples(rng, float(level), SAMPLES, NOISE) for level in levels]


def suite(seed: int, n: int = 120, count: int = 20, *,
          shifts: dict[int, float] | None = None,
          code: dict[int, dict[int, float]] | None = None,
          loading_sd: float = 0.05,
          exact: tuple[int, ...] = ()) -> tuple[list[SeriesHistory], list[CommitInfo]]:
    """``count`` timing series over ``n`` commits, each at a level of its own; at each
    commit of ``shifts`` the machine moves every series by factor ** loading (loadings
    ~ N(1, loading_sd); exactly 1 for the series in ``exact``); ``code``: per series,
    its own steps (commit -> factor)."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(math.log(1e-5), math.log(1e-1), count))
    loading = rng.normal(1.0, loading_sd, count)
    loading[list(exact)] = 1.0
    out = []
    for k in range(count):
        level = np.full(n, base[k])
        for at, factor in (shifts or {}).items():
            level[at:] *= factor ** loading[k]
        for at, factor in (code or {}).get(k, {}).items():
            level[at:] *= factor
        out.append(SeriesHistory(info(f"bench.time_{k:02d}"), levels_history(level, rng)))
    return out, make_commits(n)


def index_of(commits: list[CommitInfo], commit: CommitInfo) -> int:
    return [c.hash for c in commits].index(commit.hash)


def changes_at(report, commits, at: int, tolerance: int = 0):
    return [c for c in report.changes
            if abs(index_of(commits, c.first_bad) - at) <= tolerance]


# --- 1. a machine shift ------------------------------------------------------------------


def test_machine_shift_is_one_environment_event_and_no_code_change():
    series, commits = suite(1, shifts={60: 1.3})
    report = find_events(series, commits, alpha=0.05)
    assert len(report.events) == 1, [(e.cause, e.size) for e in report.events]
    event = report.events[0]
    assert event.cause == Cause.ENVIRONMENT
    assert index_of(commits, event.first) == 60 == index_of(commits, event.last)
    assert event.size == 20 and event.measured == 20
    assert event.ratio == pytest.approx(1.3, rel=0.03)
    assert event.low <= event.ratio <= event.high
    assert event.machine_factor == pytest.approx(1.3, rel=0.03)
    assert not event.open and report.open_events == []
    assert event.hardware is None and event.reverts is None and event.reverted_by is None
    assert report.environment == [event]
    assert [c for c in report.changes if c.cause == Cause.CODE] == []
    assert not any(c.open_regression for c in report.changes)
    at = changes_at(report, commits, 60)
    assert len(at) == 20 == len(report.changes)
    assert all(c.cause == Cause.ENVIRONMENT and c.event == event.number for c in at)
    assert len({c.series.label for c in at}) == 20
    # the common mode per commit: 1 before, about 1.3 after (only differences matter)
    mode = np.array(report.common_mode)
    assert len(mode) == 120
    assert np.median(mode[65:]) / np.median(mode[:55]) == pytest.approx(1.3, rel=0.03)


# --- 2. a code step ----------------------------------------------------------------------


def test_code_step_in_three_series_is_one_open_code_event():
    series, commits = suite(2, code={k: {40: 1.3} for k in (3, 7, 11)})
    report = find_events(series, commits, alpha=0.05)
    assert len(report.events) == 1, [(e.cause, e.size) for e in report.events]
    event = report.events[0]
    assert event.cause == Cause.CODE
    assert event.size == 3 and event.measured == 20
    assert index_of(commits, event.first) == 40 == index_of(commits, event.last)
    assert event.last_good is commits[39]
    assert event.open and report.open_events == [event]
    assert event.ratio == pytest.approx(1.3, rel=0.03)
    assert event.regressions == 3
    assert {c.series.name for c in event.changes} == {
        "bench.time_03", "bench.time_07", "bench.time_11"}
    assert all(c.cause == Cause.CODE and c.open_regression and c.event == event.number
               for c in report.changes)
    assert len(report.changes) == 3
    assert event.subjects == ["commit 40"]
    assert report.environment == []


# --- 3. a code step hidden under (or on top of) a machine shift ---------------------------


@pytest.mark.parametrize(("shift", "code", "moved"), [
    (0.8, 1.25, False),  # 0.8 * 1.25 = 1: series 0 does not move at all
    (1.3, 1.3, True),  # series 0 moves 1.69: more than the machine's 1.3
])
def test_code_step_at_a_machine_shift_is_found(shift, code, moved):
    at = 50
    # series 0 feels the machine exactly (loading 1): at 0.8 x 1.25 it does not move
    series, commits = suite(3, shifts={at: shift}, code={0: {at: code}}, exact=(0,))
    if not moved:
        # before correction series 0 has no step of its own there
        assert detect_steps(series[0].samples, alpha=0.05) == []
    report = find_events(series, commits, alpha=0.05)
    code_changes = [c for c in report.changes if c.cause == Cause.CODE]
    assert len(code_changes) == 1, [(c.series.name, c.ratio, c.code_ratio)
                                    for c in code_changes]
    change = code_changes[0]
    assert change.series.name == "bench.time_00"
    assert index_of(commits, change.first_bad) == at
    assert change.code_ratio == pytest.approx(code, rel=0.04)
    assert change.regression and change.open and change.open_regression
    environment = [e for e in report.events if e.cause == Cause.ENVIRONMENT]
    assert len(environment) == 1
    shift_event = environment[0]
    assert index_of(commits, shift_event.first) == at
    assert shift_event.size == 19
    assert shift_event.ratio == pytest.approx(shift, rel=0.03)
    assert "bench.time_00" not in {c.series.name for c in shift_event.changes}
    code_events = [e for e in report.events if e.cause == Cause.CODE]
    assert len(code_events) == 1 and code_events[0].changes == (change,)
    assert change.event == code_events[0].number
    assert code_events[0].open
    assert code_events[0].ratio == pytest.approx(code, rel=0.04)
    assert report.open_events == code_events
    assert len(report.events) == 2


@pytest.mark.parametrize("seed", [2, 5, 11])
def test_code_step_under_a_shift_is_placed_by_the_corrected_history(seed):
    """Series 0's loading is drawn like the others' (N(1, 0.05)), so it moves by
    0.8 ** loading * 1.25, about 1%, at commit 50."""
    at = 50
    series, commits = suite(seed, shifts={at: 0.8}, code={0: {at: 1.25}})
    report = find_events(series, commits, alpha=0.05)
    code_changes = [c for c in report.changes if c.cause == Cause.CODE]
    assert [(c.series.name, index_of(commits, c.first_bad)) for c in code_changes] == [
        ("bench.time_00", at)]
    assert code_changes[0].code_ratio == pytest.approx(1.25, rel=0.04)


# --- missing data ---------------------------------------------------------------------


def with_gap(s: SeriesHistory, lo: int, hi: int) -> SeriesHistory:
    """``s`` without data at commits [lo, hi)."""
    return SeriesHistory(s.info, [[] if lo <= i < hi else v for i, v in enumerate(s.samples)],
                         s.min_change)


def test_measured_counts_series_with_data_on_both_sides():
    series, commits = suite(21, shifts={60: 1.3})
    late = [with_gap(s, 0, 70) for s in series[:5]]  # new benchmarks, after the shift
    report = find_events(late + series[5:], commits, alpha=0.05)
    assert len(report.events) == 1
    event = report.events[0]
    assert event.cause == Cause.ENVIRONMENT and event.size == 15 and event.measured == 15
    assert event.ratio == pytest.approx(1.3, rel=0.03)
    assert event.machine_factor == pytest.approx(1.3, rel=0.03)
    assert report.open_events == []


def test_no_series_no_events():
    commits = make_commits(30)
    assert find_events([], commits).events == []
    assert find_events([], []).changes == []
    flat, _ = suite(22, n=30, count=6)
    report = find_events(flat, commits, alpha=0.05)
    assert report.events == [] and report.changes == []
    assert report.common_mode == pytest.approx([1.0] * 30, abs=0.01)


def test_a_series_missing_data_across_a_shift_is_not_a_code_regression():
    series, commits = suite(21, shifts={60: 1.3})
    gappy = [with_gap(s, 58, 63) for s in series[:2]]
    report = find_events(gappy + series[2:], commits, alpha=0.05)
    environment = report.environment
    assert len(environment) == 1 and index_of(commits, environment[0].first) == 60
    assert report.open_events == []
    assert not any(c.open_regression for c in report.changes)


# --- 4. flip-flops -----------------------------------------------------------------------


def test_shift_and_its_reversal_are_paired():
    series, commits = suite(4, shifts={40: 1.25, 80: 0.8})
    report = find_events(series, commits, alpha=0.05)
    assert [e.cause for e in report.events] == [Cause.ENVIRONMENT] * 2, \
        [(e.cause, e.size) for e in report.events]
    up, down = sorted(report.events, key=lambda e: index_of(commits, e.first))
    assert index_of(commits, up.first) == 40 and index_of(commits, down.first) == 80
    assert up.ratio == pytest.approx(1.25, rel=0.03)
    assert down.ratio == pytest.approx(0.8, rel=0.03)
    assert up.reverted_by == down.number and up.reverts is None
    assert down.reverts == up.number and down.reverted_by is None
    assert not any(c.open_regression for c in report.changes)
    assert report.open_events == []


def test_two_shifts_the_same_way_are_not_paired():
    series, commits = suite(5, shifts={40: 1.25, 80: 1.25})
    report = find_events(series, commits, alpha=0.05)
    assert [e.cause for e in report.events] == [Cause.ENVIRONMENT] * 2
    assert all(e.reverts is None and e.reverted_by is None for e in report.events)


# --- 5. hardware fingerprints ------------------------------------------------------------


def test_few_series_need_fingerprint_evidence_for_a_shift():
    series, commits = suite(6, n=100, count=3, shifts={50: 1.3})
    plain = find_events(series, commits, alpha=0.05)
    assert plain.events and all(e.cause == Cause.CODE for e in plain.events)
    assert sum(e.size for e in plain.events) == 3
    assert all(c.cause == Cause.CODE and c.open_regression for c in plain.changes)

    evidence = "cpu 'B' (before: 'A')"
    report = find_events(series, commits, alpha=0.05, hardware={50: evidence})
    assert len(report.events) == 1
    event = report.events[0]
    assert event.cause == Cause.ENVIRONMENT and event.size == 3
    assert event.hardware == evidence
    assert event.ratio == pytest.approx(1.3, rel=0.03)
    assert not event.open and not any(c.open_regression for c in report.changes)
    assert all(c.cause == Cause.ENVIRONMENT for c in report.changes)


def test_fingerprint_far_from_the_steps_is_no_evidence():
    series, commits = suite(6, n=100, count=3, shifts={50: 1.3})
    report = find_events(series, commits, alpha=0.05, hardware={20: "cpu 'B' (before: 'A')"})
    assert all(e.cause == Cause.CODE and e.hardware is None for e in report.events)


def fingerprint(cpu: str = "Xeon A", cores: int = 4, ram: int = 16 * 1024**3) -> dict:
    return {"arch": "x86_64", "cpu": cpu, "cores": cores, "ram_bytes": ram}


def test_hardware_changes_finds_the_commits_where_the_fingerprint_changes():
    prints = [fingerprint()] * 3 + [{}] + [fingerprint("Xeon B")] * 2 \
        + [fingerprint("Xeon B", ram=16 * 1024**3 + 1024)] + [fingerprint("Xeon B", cores=8)]
    changed = hardware_changes(prints)
    assert set(changed) == {4, 7}  # the empty one is skipped; a tiny ram change is not one
    assert "cpu 'Xeon B'" in changed[4] and "'Xeon A'" in changed[4]
    assert "before:" in changed[4] and "record:" not in changed[4]
    assert "cores 8" in changed[7] and "cpu" not in changed[7]
    assert hardware_changes([]) == {}
    assert hardware_changes([{}, {}]) == {}
    assert hardware_changes([fingerprint()] * 5) == {}


def test_hardware_changes_feed_find_events():
    series, commits = suite(6, n=100, count=3, shifts={50: 1.3})
    prints = [fingerprint()] * 50 + [fingerprint("Xeon B")] * 50
    hardware = hardware_changes(prints)
    assert list(hardware) == [50]
    report = find_events(series, commits, alpha=0.05, hardware=hardware)
    assert [e.cause for e in report.events] == [Cause.ENVIRONMENT]
    assert "Xeon B" in report.events[0].hardware


# --- 6. series other than timings --------------------------------------------------------


@pytest.mark.parametrize(("kind", "unit", "higher_is_better"), [
    ("track", "unitless", True),
    ("track", "unitless", False),
    ("instructions", "instructions", False),
    ("memory", "bytes", False),
])
def test_non_timing_series_stepping_at_a_shift_are_never_environment(kind, unit,
                                                                     higher_is_better):
    series, commits = suite(7, shifts={60: 1.3})
    rng = np.random.default_rng(70)
    others = []
    for k in range(3):
        level = np.full(120, 1000.0 * (k + 1))
        level[60:] *= 1.3
        others.append(SeriesHistory(info(f"bench.{kind}_{k}", kind, unit, higher_is_better),
                                    levels_history(level, rng)))
    report = find_events(series + others, commits, alpha=0.05)
    shifts = report.environment
    assert len(shifts) == 1 and shifts[0].size == 20
    names = {o.info.name for o in others}
    assert not names & {c.series.name for c in shifts[0].changes}
    theirs = [c for c in report.changes if c.series.name in names]
    assert len(theirs) == 3
    assert all(c.cause == Cause.CODE and index_of(commits, c.first_bad) == 60
               for c in theirs)
    code = [e for e in report.events if e.cause == Cause.CODE]
    assert len(code) == 1 and {c.series.name for c in code[0].changes} == names
    assert code[0].open == (not higher_is_better)


def stepped_tracks(count: int, n: int, at: int, factor: float,
                   samples) -> list[SeriesHistory]:
    """``count`` track_ series of ``n`` commits stepping by ``factor`` at ``at``;
    ``samples`` makes a commit's samples of its level."""
    out = []
    for k in range(count):
        level = np.full(n, 10.0 * (k + 1))
        level[at:] *= factor
        out.append(SeriesHistory(info(f"bench.track_{k}", "track", "unitless"),
                                 samples(level)))
    return out


def test_many_non_timing_series_alone_are_never_a_shift():
    rng = np.random.default_rng(8)
    series = stepped_tracks(20, 100, 50, 1.3, lambda level: levels_history(level, rng))
    commits = make_commits(100)
    report = find_events(series, commits, alpha=0.05, hardware={50: "cpu 'B' (before: 'A')"})
    assert report.events and all(e.cause == Cause.CODE for e in report.events)
    assert all(c.cause == Cause.CODE for c in report.changes)


# --- 7. small histories: what detect_steps says, per series -------------------------------


@pytest.mark.parametrize(("seed", "steps"), [
    (11, [{30: 1.3}]),
    (12, [{20: 1.5, 60: 0.7}, {45: 1.25}]),
    (13, [{}, {35: 0.75}, {10: 1.4, 70: 1.4}]),
])
def test_small_histories_report_detect_steps_per_series(seed, steps):
    n = 90
    rng = np.random.default_rng(seed)
    commits = make_commits(n)
    series = []
    for k, own in enumerate(steps):
        level = np.full(n, 0.01 * (k + 1))
        for at, factor in own.items():
            level[at:] *= factor
        series.append(SeriesHistory(info(f"bench.time_{k}"), levels_history(level, rng)))
    report = find_events(series, commits, alpha=0.05)
    assert all(c.cause == Cause.CODE for c in report.changes)
    assert all(e.cause == Cause.CODE for e in report.events)
    for s, own in zip(series, steps, strict=True):
        expected = detect_steps(s.samples, alpha=0.05)
        assert [x.index for x in expected] == sorted(own)  # the detector sees them
        mine = sorted((c for c in report.changes if c.series.name == s.info.name),
                      key=lambda c: index_of(commits, c.first_bad))
        assert [index_of(commits, c.first_bad) for c in mine] == [x.index for x in expected]
        plain = changes_from_steps(s.info, expected, commits)
        for got, want in zip(mine, plain, strict=True):
            assert (got.before, got.after, got.ratio, got.p_value, got.regression,
                    got.open, got.last_good) == (want.before, want.after, want.ratio,
                                                 want.p_value, want.regression,
                                                 want.open, want.last_good)
            assert got.code_ratio is None and got.event is not None
    # regressions first, then newest first
    keys = [(not c.regression, -index_of(commits, c.first_bad)) for c in report.changes]
    assert keys == sorted(keys)


# --- 8. properties -----------------------------------------------------------------------


events_positions = st.lists(st.integers(0, 60), min_size=0, max_size=40)


@given(positions=events_positions, tolerance=st.integers(0, 4))
def test_clusters_partition_and_stay_narrow(positions, tolerance):
    found = clusters(positions, tolerance)
    flat = [i for c in found for i in c]
    assert sorted(flat) == list(range(len(positions)))  # each index exactly once
    assert all(c for c in found)
    spans = [(min(positions[i] for i in c), max(positions[i] for i in c)) for c in found]
    assert all(hi - lo <= 2 * tolerance for lo, hi in spans)
    assert [lo for lo, _ in spans] == sorted(lo for lo, _ in spans)
    assert all(c == sorted(c) for c in found)


@given(positions=events_positions)
def test_clusters_keep_one_commit_together(positions):
    """Steps at one commit are never split (the tolerance only gathers more)."""
    found = clusters(positions)
    where = {}
    for n, c in enumerate(found):
        for i in c:
            where.setdefault(positions[i], set()).add(n)
    assert all(len(v) == 1 for v in where.values())


events_mode_case = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "rows": st.integers(common_mode.MIN_SERIES, 30),
    "n": st.integers(20, 120),
    "noise": st.sampled_from([0.0, 0.002, 0.01, 0.03]),
    "shifts": st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(-0.4, 0.4)), max_size=4),
    "wobble": st.sampled_from([0.0, 0.01, 0.05]),
})


@given(case=events_mode_case)
def test_common_mode_recovers_the_machine_factor(case):
    rng = np.random.default_rng(case["seed"])
    rows, n, noise = case["rows"], case["n"], case["noise"]
    factor = rng.normal(0, case["wobble"], n)  # per commit: the machine's log factor
    for where, size in case["shifts"]:
        factor[int(where * (n - 1)):] += size
    constant = rng.uniform(-12, -2, rows)[:, None]
    levels = constant + factor[None, :] + rng.normal(0, noise, (rows, n))
    mode = common_mode.estimate(levels)
    assert mode.known.all() and mode.log_factor.shape == (n,)
    got = mode.log_factor - np.median(mode.log_factor)
    want = factor - np.median(factor)
    # Per commit the estimate is a median over ``rows`` series of noise less each
    # series' running-median error: SD about 1.3 * noise / sqrt(rows). The largest of up
    # to 120 commits is about 3.5 SDs, and centring both sides on their medians adds about
    # one more: about 6 * noise / sqrt(rows) at the extremes (3000 random cases: median
    # 3.4, 99.9% 6.5, max 7.3). 10 leaves room for what 100 examples can draw.
    bound = 10 * noise / math.sqrt(rows) + 1e-9
    assert np.max(np.abs(got - want)) <= bound, (np.max(np.abs(got - want)), bound)


def test_common_mode_needs_enough_series():
    levels = np.zeros((common_mode.MIN_SERIES - 1, 30))
    levels[:, 15:] += 0.3
    mode = common_mode.estimate(levels)
    assert not mode.known.any() and np.all(mode.log_factor == 0)


def test_common_mode_ignores_a_few_series_moving_alone():
    rng = np.random.default_rng(9)
    levels = rng.uniform(-10, -3, (20, 80))[:, :1] + rng.normal(0, 0.005, (20, 80))
    levels[:3, 40:] += math.log(1.5)  # a code change in three series
    mode = common_mode.estimate(levels)
    assert np.max(np.abs(mode.log_factor - np.median(mode.log_factor))) < 0.02


def events_summary(report, commits) -> list[tuple]:
    return sorted((e.cause.value, index_of(commits, e.first), index_of(commits, e.last),
                   e.size, e.open, round(e.ratio, 9),
                   tuple(sorted(c.series.name for c in e.changes)))
                  for e in report.events)


events_scale_case = st.fixed_dictionaries({
    "seed": st.integers(0, 2**16),
    "scale": st.sampled_from([1e-3, 0.5, 2.0, 1000.0, 2.0**20]),
    "layout": st.sampled_from(["shift", "code", "both", "flip"]),
})
EVENTS_LAYOUTS = {
    "shift": ({60: 1.3}, {}),
    "code": ({}, {k: {40: 1.3} for k in (1, 2, 3)}),
    "both": ({60: 0.8}, {0: {60: 1.25}, 5: {30: 1.4}}),
    "flip": ({40: 1.25, 80: 0.8}, {}),
}


@settings(max_examples=25)
@given(case=events_scale_case)
def test_events_do_not_depend_on_the_unit(case):
    shifts, code = EVENTS_LAYOUTS[case["layout"]]
    series, commits = suite(case["seed"], count=12, shifts=shifts, code=code)
    scaled = [SeriesHistory(s.info, [[case["scale"] * v for v in values]
                                     for values in s.samples]) for s in series]
    one = find_events(series, commits, alpha=0.05)
    two = find_events(scaled, commits, alpha=0.05)
    assert [e.cause for e in one.events] == [e.cause for e in two.events]
    assert events_summary(one, commits) == pytest.approx(events_summary(two, commits))
    assert [(c.series.name, c.cause, c.event, c.open) for c in one.changes] == \
        [(c.series.name, c.cause, c.event, c.open) for c in two.changes]


# --- 9. Django's real asv history --------------------------------------------------------


def test_django_history_machine_shifts_are_events(tmp_path):
    from histbench.analysis.series import load_history
    from histbench.store.asv_import import import_asv

    report_ = import_asv(shared_django_results(), tmp_path, jobs=2)
    assert report_.skipped == []
    history = load_history(tmp_path, "ubuntu-latest")
    assert len(history.commits) == 903
    report = history_events(history)
    open_events = report.open_events
    open_steps = sum(c.regression and c.open for c in report.changes)
    assert len(open_events) <= 40
    assert len(open_events) * 3 <= open_steps, (len(open_events), open_steps)
    assert len(report.environment) >= 10
    largest = max(report.events, key=lambda e: e.size)
    assert largest.cause == Cause.ENVIRONMENT
    assert all(e.cause == Cause.CODE for e in open_events)
    numbers = {e.number for e in report.events}
    assert all(c.event in numbers for c in report.changes)
    assert sorted(numbers) == list(range(1, len(report.events) + 1))


# --- review findings: each failed before its fix -----------------------------------------


@pytest.mark.parametrize("after", [3, 4, 8])
def test_a_code_step_a_few_commits_after_a_shift_stays_an_open_code_event(after):
    """The step's last good commit is after the shift: it is not the shift's."""
    at = 30
    series, commits = suite(4, n=80, shifts={at: 1.3}, code={0: {at + after: 1.5}})
    report = find_events(series, commits, alpha=0.05)
    [shift] = report.environment
    assert shift.size <= shift.measured == 20
    assert len({c.series.key for c in shift.changes}) == shift.size
    [code] = report.open_events
    assert [(c.series.name, index_of(commits, c.first_bad)) for c in code.changes] == [
        ("bench.time_00", at + after)]


def test_an_event_at_the_newest_commit_counts_its_measured_series():
    commits = make_commits(10)
    rng = np.random.default_rng(3)
    series = stepped_tracks(2, 10, 9, 1.5, lambda level: [[v] * 3 for v in level])
    series.append(SeriesHistory(info("bench.time_x"), levels_history(np.full(10, 1e-3),
                                                                      rng)))
    report = find_events(series, commits, alpha=0.05)
    [event] = report.events
    assert index_of(commits, event.first) == 9 and event.size == 2 and event.measured == 3


def test_a_run_of_flip_flops_pairs_two_by_two():
    series, commits = suite(5, shifts={20: 1.25, 40: 0.8, 60: 1.25, 80: 0.8})
    report = find_events(series, commits, alpha=0.05)
    shifts = sorted(report.environment, key=lambda e: e.start)
    assert [e.start for e in shifts] == [20, 40, 60, 80]
    number = {e.start: e.number for e in shifts}
    assert [(e.reverts, e.reverted_by) for e in shifts] == [
        (None, number[40]), (number[20], None), (None, number[80]), (number[60], None)]


def test_the_summary_counts_open_regressions_of_the_code_only():
    from histbench.cli.event_tables import summary

    series, commits = suite(6, shifts={60: 1.3}, code={3: {30: 1.4}})
    report = find_events(series, commits, alpha=0.05)
    counts = summary(report)
    assert counts["open_regression_steps"] == 1
    assert counts["open_regression_steps_any_cause"] >= 20
    assert counts["open_regression_events"] == 1 and counts["environment_events"] == 1

