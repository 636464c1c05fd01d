"""Flip-flops: a machine shift and, later, the shift that undoes it (a runner pool that
changes and changes back moves its benchmarks 1.22x, then 0.84x, then 1.34x, then 0.75x).
Pairing them says so, and says that the level in between was the machine's."""

from __future__ import annotations

import math
from dataclasses import replace

from histbench.analysis.changes import Cause
from histbench.analysis.events.event import Event

UNDO = 0.25  # the two moves cancel to within this share of the larger one (log)
SHARED = 0.5  # and share this much of the smaller one's benchmarks


def pair_reversals(events: list[Event]) -> list[Event]:
    """``events`` with each machine shift paired to the next one, in history order, that
    undoes it; a shift is in one pair at most (a run of 1.25x, 0.8x, 1.25x, 0.8x is two
    pairs, not a chain)."""
    shifts = sorted((e for e in events if e.cause == Cause.ENVIRONMENT and e.ratio),
                    key=lambda e: e.start)
    undoes: dict[int, int] = {}  # later shift -> the one it undoes
    for a, b in zip(shifts, shifts[1:], strict=False):
        if a.number in undoes or not _undoes(a, b):
            continue
        undoes[b.number] = a.number
    undone = {first: second for second, first in undoes.items()}
    return [replace(e, reverts=undoes.get(e.number), reverted_by=undone.get(e.number))
            for e in events]


def _undoes(a: Event, b: Event) -> bool:
    up, down = math.log(a.ratio), math.log(b.ratio)
    if up * down >= 0 or abs(up + down) > UNDO * max(abs(up), abs(down)):
        return False
    names_a = {c.series.label for c in a.changes}
    names_b = {c.series.label for c in b.changes}
    return len(names_a & names_b) >= SHARED * min(len(names_a), len(names_b))
