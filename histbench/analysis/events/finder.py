"""Events of a history: every series' steps, grouped by commit, each group attributed to
the machine or the code, machine shifts paired with their reversals."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from histbench.analysis.changes import Cause, Change, changes_from_steps
from histbench.analysis.events import attribution, common_mode
from histbench.analysis.events.clusters import TOLERANCE, clusters
from histbench.analysis.events.event import Event, EventReport, spread
from histbench.analysis.events.reversals import pair_reversals
from histbench.analysis.shard_offsets import divided
from histbench.analysis.steps import Step, detect_steps
from histbench.core.modes import count_floor
from histbench.store.machine import fingerprint_difference
from histbench.store.results import CommitInfo

# What is detected: per series, its samples, threshold (min_change) and noise floor.
Job = tuple[Sequence[Sequence[float]], float, float]
# Steps of many series at once: detect_steps on each (``detect_all``), or a cache and a
# pool of processes in front of it (the site's).
Detector = Callable[[list[Job], float], list[list[Step]]]


def detect_all(jobs: list[Job], alpha: float) -> list[list[Step]]:
    return [detect_steps(samples, alpha=alpha, min_change=min_change, noise_floor=floor)
            for samples, min_change, floor in jobs]
TIMING_KIND = "time"  # the kind whose values a machine shift moves


@dataclass(frozen=True)
class SeriesHistory:
    """One series as event finding reads it: what identifies it (a SeriesInfo, or the
    site's own series), its samples per commit as step detection sees them, and its
    threshold (config ``thresholds``)."""

    info: Any
    samples: Sequence[Sequence[float]]
    min_change: float = 0.0


@dataclass
class _Found:
    """One series' step as a change, with where it is."""

    series: int
    index: int
    change: Change


def hardware_changes(fingerprints: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Per commit (position), how its hardware differs from the previous commit with a
    fingerprint: evidence that the machine changed there (issue 12's per-result
    fingerprint; imported and older results have none)."""
    changed, previous = {}, None
    for i, fingerprint in enumerate(fingerprints):
        if not fingerprint:
            continue
        if previous is not None:
            diff = fingerprint_difference(dict(previous), dict(fingerprint))
            if diff:
                changed[i] = diff.replace("record:", "before:")
        previous = fingerprint
    return changed


def find_events(series: Sequence[SeriesHistory], commits: list[CommitInfo], *,
                alpha: float = 0.05, hardware: Mapping[int, str] | None = None,
                detect: Detector = detect_all) -> EventReport:
    """Steps of every series, as changes and events (module docstring of the package)."""
    hardware = hardware or {}
    raw = _changes(series, [s.samples for s in series], commits, alpha, detect)
    found = [_Found(k, step.index, change)
             for k, pairs in enumerate(raw) for step, change in pairs]
    timing = [k for k, s in enumerate(series) if s.info.kind == TIMING_KIND]
    levels = _log_levels([series[k].samples for k in timing], len(commits))
    mode = common_mode.estimate(levels)
    row_of = {k: r for r, k in enumerate(timing)}
    groups = [[found[i] for i in g] for g in clusters([f.index for f in found])]
    groups, found = _corroborated(groups, alpha / max(1, sum(_measured(s) for s in series)))
    shifts = {}
    for g, group in enumerate(groups):
        first, last = min(f.index for f in group), max(f.index for f in group)
        evidence = _hardware_in(hardware, first, last)
        moves = [math.log(f.change.ratio) for f in group if f.series in row_of
                 and f.change.ratio is not None and f.change.ratio > 0]
        measured = int(np.sum(~np.isnan(attribution.jumps(levels, first, last))))
        if attribution.is_machine_shift(moves, measured, evidence is not None):
            members = frozenset(row_of[f.series] for f in group if f.series in row_of)
            shifts[g] = attribution.Shift(members, attribution.jumps(levels, first, last))
    noise = attribution.level_noise(levels)
    corrected = _corrected(series, timing, shifts, groups, commits, alpha, detect, noise)
    _gather(groups, shifts, corrected, row_of, commits)
    hidden = _attribute(series, groups, shifts, corrected, row_of, noise, commits)
    _reopen(found + hidden, corrected, commits)
    events = _events(series, groups, hidden, shifts, mode, commits, hardware)
    changes = [f.change for f in found] + [f.change for f in hidden]
    order = {c.hash: i for i, c in enumerate(commits)}
    changes.sort(key=lambda c: (not c.regression, -order[c.first_bad.hash], c.series.label))
    return EventReport(events, changes, [float(x) for x in mode.factors()])


def _changes(series: Sequence[SeriesHistory], samples: list[Sequence[Sequence[float]]],
             commits: list[CommitInfo], alpha: float,
             detect: Detector) -> list[list[tuple[Step, Change]]]:
    """Per series, its steps (in ``samples``) with their changes."""
    found = detect([(x, s.min_change, count_floor(s.info.kind))
                    for s, x in zip(series, samples, strict=True)], alpha)
    return [list(zip(steps, changes_from_steps(s.info, steps, commits), strict=True))
            for s, steps in zip(series, found, strict=True)]


def _log_levels(samples: list[Sequence[Sequence[float]]], n: int) -> np.ndarray:
    """Series x commits: the log of each commit's median sample (NaN: none, or not
    positive)."""
    out = np.full((len(samples), n), np.nan)
    for r, per_commit in enumerate(samples):
        for i, values in enumerate(per_commit):
            if len(values):
                middle = float(np.median(np.asarray(values, dtype=float)))
                if middle > 0 and math.isfinite(middle):
                    out[r, i] = math.log(middle)
    return out


def _hardware_in(hardware: Mapping[int, str], first: int, last: int) -> str | None:
    return next((hardware[i] for i in sorted(hardware)
                 if first - TOLERANCE <= i <= last), None)


def _corrected(series: Sequence[SeriesHistory], timing: list[int],
               shifts: dict[int, attribution.Shift], groups: list[list[_Found]],
               commits: list[CommitInfo], alpha: float, detect: Detector,
               noise: np.ndarray) -> dict[int, list[tuple[Step, Change]]]:
    """Per timing series, its steps once the machine's shifts (each times the series'
    loading) are divided out: what is left at a shift is the code's."""
    if not shifts:
        return {}
    keys = sorted(shifts)
    betas = attribution.loadings([shifts[g] for g in keys], len(timing), noise)
    path = np.zeros((len(timing), len(commits)))
    for g, beta in zip(keys, betas, strict=True):
        path[:, _centre(groups[g]):] += (beta * shifts[g].move)[:, None]
    samples = [divided(series[k].samples, np.exp(path[r]).tolist())
               for r, k in enumerate(timing)]
    found = _changes([series[k] for k in timing], samples, commits, alpha, detect)
    return dict(zip(timing, found, strict=True))


def _measured(s: SeriesHistory) -> bool:
    return any(len(x) for x in s.samples)


def _corroborated(groups: list[list[_Found]], suite_alpha: float
                  ) -> tuple[list[list[_Found]], list[_Found]]:
    """Steps that no other benchmark shares are kept only when significant for the whole
    suite (``alpha`` over the number of benchmarks): each series' false-alarm rate is
    ``alpha``, so a suite of 100 would otherwise raise about 5 lone false alarms per
    history. Steps of several benchmarks at one commit stand at ``alpha``."""
    kept = [g for g in groups if len(g) > 1 or g[0].change.p_value <= suite_alpha]
    return kept, [f for g in kept for f in g]


def _centre(group: list[_Found]) -> int:
    """The commit where most of a group's steps are (the earliest of those tied): where a
    machine shift starts, though a step or two of it is placed a commit off."""
    counts = Counter(f.index for f in group)
    return min(counts, key=lambda i: (-counts[i], i))


def _gather(groups: list[list[_Found]], shifts: dict[int, attribution.Shift],
            corrected: dict[int, list[tuple[Step, Change]]], row_of: dict[int, int],
            commits: list[CommitInfo]) -> None:
    """Moves into a shift's group the timing steps that belong to it though not at its
    commits: a series without data across the shift steps at its next commit with data
    (its last good commit is before the shift), and a series that hardly moves with the
    machine has its small step placed a few commits off in the noise (its history less
    the machine's moves has no step there)."""
    if not shifts:
        return
    position = {c.hash: i for i, c in enumerate(commits)}
    spans = {g: (min(f.index for f in groups[g]), max(f.index for f in groups[g]))
             for g in shifts}
    for g, group in enumerate(groups):
        if g in shifts:
            continue
        for f in list(group):
            if f.series not in row_of:
                continue
            good = f.change.last_good
            low = position[good.hash] if good is not None else f.index
            confirmed = any(abs(step.index - f.index) <= TOLERANCE
                            for step, _ in corrected.get(f.series, []))
            for target, (a, b) in spans.items():
                gap = low - TOLERANCE <= b and f.index + TOLERANCE >= a
                displaced = abs(f.index - a) <= attribution.JUMP_WIDTH and not confirmed
                if gap or displaced:
                    group.remove(f)
                    groups[target].append(f)
                    break


def _attribute(series: Sequence[SeriesHistory], groups: list[list[_Found]],
               shifts: dict[int, attribution.Shift],
               corrected: dict[int, list[tuple[Step, Change]]], row_of: dict[int, int],
               noise: np.ndarray, commits: list[CommitInfo]) -> list[_Found]:
    """Marks each change of a machine shift environment or code; returns the code steps
    a shift hid (no step of their own before correction), each in its shift's group."""
    hidden = []
    keys = sorted(shifts)
    betas = dict(zip(keys, attribution.loadings([shifts[g] for g in keys], len(row_of),
                                                noise), strict=True))
    series_of = {r: k for k, r in row_of.items()}
    for g in keys:
        group, shift = groups[g], shifts[g]
        first, last = min(f.index for f in group), max(f.index for f in group)
        code, residuals = {}, {}
        for row, residual in attribution.code_suspects(shift, betas[g], noise,
                                                       0.0).items():
            k = series_of[row]
            floor = math.log1p(series[k].min_change)
            near = [c for step, c in corrected.get(k, [])
                    if first - TOLERANCE <= step.index <= last + TOLERANCE]
            if near and abs(residual) >= floor:
                code[k], residuals[k] = near[0], residual
        for k in attribution.second_factor(residuals, shift):
            del code[k]
        for f in group:
            if f.series in row_of and f.series not in code:
                f.change.cause = Cause.ENVIRONMENT
            elif f.series in code:  # placed where its history less the machine's steps
                better = code[f.series]
                f.change.code_ratio = better.ratio
                f.change.first_bad, f.change.last_good = better.first_bad, better.last_good
                f.index = commits.index(better.first_bad)
        members = {f.series for f in group}
        for k, change in code.items():
            if k in members:
                continue
            moved = replace(change, code_ratio=change.ratio)
            hidden.append(_Found(k, commits.index(change.first_bad), moved))
            group.append(hidden[-1])
    return hidden


def _reopen(found: list[_Found], corrected: dict[int, list[tuple[Step, Change]]],
            commits: list[CommitInfo]) -> None:
    """A code regression is open or fixed by its series less the machine's moves: a
    faster runner later does not fix it."""
    for f in found:
        if f.change.cause != Cause.CODE or f.series not in corrected:
            continue
        near = [c for step, c in corrected[f.series] if abs(step.index - f.index) <= TOLERANCE
                and c.regression == f.change.regression]
        if near:
            f.change.open = near[0].open


def _events(series: Sequence[SeriesHistory], groups: list[list[_Found]], hidden: list[_Found],
            shifts: dict[int, attribution.Shift], mode: common_mode.CommonMode,
            commits: list[CommitInfo], hardware: Mapping[int, str]) -> list[Event]:
    presence = _presence(series, len(commits))
    drafts = []
    for group in groups:
        for cause in Cause:
            members = [f for f in group if f.change.cause == cause]
            if members:
                drafts.append(_draft(members, cause, presence, mode, commits, hardware))
    drafts.sort(key=lambda e: (-e.size, -e.worse_factor(), -e.first.date))
    events = [replace(e, number=n) for n, e in enumerate(drafts, 1)]
    events = pair_reversals(events)
    for event in events:
        for change in event.changes:
            change.event = event.number
    return events


def _draft(members: list[_Found], cause: Cause, presence: np.ndarray,
           mode: common_mode.CommonMode, commits: list[CommitInfo],
           hardware: Mapping[int, str]) -> Event:
    first = min(f.index for f in members)
    last = max(f.index for f in members)
    earliest = min(members, key=lambda f: f.index).change
    changes = [f.change for f in sorted(members, key=lambda f: (f.index, f.change.series.label))]
    ratio, low, high = spread(changes)
    measured = int(np.sum(presence[:, first] & presence[:, last + 1 + len(commits)]))
    factor = math.exp(mode.jump(last, first - 1)) if mode.known.any() else None
    return Event(0, cause, commits[first], commits[last], earliest.last_good, tuple(changes),
                 measured, ratio, low, high, factor, _hardware_in(hardware, first, last))


def _presence(series: Sequence[SeriesHistory], n: int) -> np.ndarray:
    """Per series: [0, n) any data before commit i; [n, 2n) any data at i or later."""
    out = np.zeros((len(series), 2 * n + 1), dtype=bool)
    for k, s in enumerate(series):
        has = np.array([len(v) > 0 for v in s.samples], dtype=bool)
        out[k, 1:n + 1] = np.cumsum(has)[:n] > 0 if n else has
        out[k, n:2 * n] = np.cumsum(has[::-1])[::-1] > 0
    return out
