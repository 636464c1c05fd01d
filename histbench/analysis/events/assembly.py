"""Attributed groups of steps as numbered events: a group becomes up to two events (its
machine shift, its code changes), ordered largest first, shifts paired with reversals."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from histbench.analysis.changes import Cause
from histbench.analysis.events.common_mode import CommonMode
from histbench.analysis.events.event import Event, spread
from histbench.analysis.events.reversals import pair_reversals
from histbench.analysis.events.workspace import Found, Workspace


def events(work: Workspace, mode: CommonMode) -> list[Event]:
    before, after = _presence(work)
    drafts = []
    for group in work.groups:
        for cause in Cause:
            members = [f for f in group if f.change.cause == cause]
            if members:
                drafts.append(_draft(work, members, cause, before, after, mode))
    drafts.sort(key=lambda e: (-e.size, -e.magnitude(), -e.start))
    numbered = pair_reversals([replace(e, number=n) for n, e in enumerate(drafts, 1)])
    for event in numbered:
        for change in event.changes:
            change.event = event.number
    return numbered


def _draft(work: Workspace, members: list[Found], cause: Cause, before: np.ndarray,
           after: np.ndarray, mode: CommonMode) -> Event:
    first = min(f.index for f in members)
    last = max(f.index for f in members)
    earliest = min(members, key=lambda f: f.index).change
    changes = [f.change for f in sorted(members, key=lambda f: (f.index, f.change.series.label))]
    ratio, low, high = spread(changes)
    measured = int(np.sum(before[:, first] & after[:, last]))
    factor = math.exp(mode.jump(last, first - 1)) if mode.known.any() else None
    return Event(0, cause, first, work.commits[first], work.commits[last], earliest.last_good,
                 tuple(changes), measured, ratio, low, high, factor,
                 work.hardware_at(first, last))


def _presence(work: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Per series and commit: whether it has data before the commit, and at it or later
    (an event's "of so many measured" counts series with data on both sides)."""
    n = len(work.commits)
    before = np.zeros((len(work.series), n), dtype=bool)
    after = np.zeros((len(work.series), n), dtype=bool)
    for k, s in enumerate(work.series):
        has = np.array([len(v) > 0 for v in s.samples], dtype=bool)
        if has.size:
            before[k, 1:] = np.cumsum(has)[:-1] > 0
            after[k] = np.cumsum(has[::-1])[::-1] > 0
    return before, after
