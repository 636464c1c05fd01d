"""Events of a history: every series' steps, grouped by commit, each group attributed to
the machine or the code, machine shifts paired with their reversals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from histbench.analysis.events import assembly, attribution, common_mode, correction
from histbench.analysis.events.clusters import clusters
from histbench.analysis.events.event import EventReport
from histbench.analysis.events.workspace import (
    TIMING_KIND,
    Detector,
    Found,
    SeriesHistory,
    Workspace,
    detect_all,
)
from histbench.store.machine import fingerprint_difference
from histbench.store.results import CommitInfo


def hardware_changes(fingerprints: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Per commit (position), how its hardware differs from the previous commit with a
    fingerprint: evidence that the machine changed there (issue 12's per-result
    fingerprint; imported and older results have none)."""
    changed, previous = {}, None
    for i, fingerprint in enumerate(fingerprints):
        if not fingerprint:
            continue
        if previous is not None:
            diff = fingerprint_difference(dict(previous), dict(fingerprint), "before")
            if diff:
                changed[i] = diff
        previous = fingerprint
    return changed


def find_events(series: Sequence[SeriesHistory], commits: list[CommitInfo], *,
                alpha: float = 0.05, hardware: Mapping[int, str] | None = None,
                detect: Detector = detect_all) -> EventReport:
    """Steps of every series, as changes and events (the package docstring says how)."""
    timing = [k for k, s in enumerate(series) if s.info.kind == TIMING_KIND]
    work = Workspace(series, commits, alpha, detect, hardware or {},
                     {k: r for r, k in enumerate(timing)},
                     common_mode.log_levels([series[k].samples for k in timing],
                                            len(commits)))
    raw = work.changes(series, [s.samples for s in series])
    found = [Found(k, step.index, change)
             for k, pairs in enumerate(raw) for step, change in pairs]
    grouped = [[found[i] for i in g] for g in clusters([f.index for f in found])]
    measured = sum(1 for s in series if any(len(x) for x in s.samples))
    work.groups = _corroborated(grouped, alpha / max(1, measured))
    _find_shifts(work)
    correction.attribute(work)
    mode = common_mode.estimate(work.levels)
    events = assembly.events(work, mode)
    position = work.position
    changes = [f.change for g in work.groups for f in g]
    changes.sort(key=lambda c: (not c.regression, -position[c.first_bad.hash],
                                c.series.label))
    return EventReport(events, changes, [float(x) for x in mode.factors()])


def _corroborated(groups: list[list[Found]], suite_alpha: float) -> list[list[Found]]:
    """Steps that no other benchmark shares are kept only when significant for the whole
    suite (``alpha`` over the number of benchmarks): each series' false-alarm rate is
    ``alpha``, so a suite of 100 would otherwise raise about 5 lone false alarms per
    history. Steps of several benchmarks at one commit stand at ``alpha``."""
    return [g for g in groups if len(g) > 1 or g[0].change.p_value <= suite_alpha]


def _find_shifts(work: Workspace) -> None:
    """The groups that are machine shifts (attribution.is_machine_shift)."""
    for g, group in enumerate(work.groups):
        first, last = work.span(g)
        evidence = work.hardware_at(first, last)
        moves = [math.log(f.change.ratio) for f in group if f.series in work.row_of
                 and f.change.ratio is not None and f.change.ratio > 0]
        jumps = attribution.jumps(work.levels, first, last)
        measured = int(np.sum(~np.isnan(jumps)))
        if attribution.is_machine_shift(moves, measured, evidence is not None):
            members = frozenset(work.row_of[f.series] for f in group
                                if f.series in work.row_of)
            work.shifts[g] = attribution.Shift(members, jumps)
