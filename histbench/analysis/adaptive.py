"""Adaptive history: which commits to measure next so that every step is pinned to its
exact commit without measuring every commit.

Pure: given the number of first-parent commits of a range (index 0 oldest) and, per
series, the samples measured at some of them, ``plan`` returns the next batch of commit
indices and the status (steps pinned, intervals still open). The loop that measures the
batches is run/adaptive.py.

1. An evenly spaced grid (``grid`` intervals, both ends included) is measured first.
2. Neighbouring measured commits of a series are compared by the two-sample test at a
   Bonferroni-corrected alpha; step detection also runs on the measured subsequence.
3. An interval whose ends differ, or that holds a detected step, is bisected (its
   midpoint measured, for every series at once) until its ends are adjacent commits: the
   step is then pinned (last good, first bad).
4. An interval whose comparison is much less certain than the series' others (its CI
   ``UNCERTAIN`` times wider than the median: a disturbed measurement at one end) could
   hide a step the others would see: it is split once (grid intervals only).

What it cannot see: a change reverted between two measured commits leaves their values
equal. The grid bounds this: any change that lasts at least one grid spacing
(``spacing(n, grid)`` commits) covers a grid commit, hence differs from a neighbour.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from histbench.analysis.steps import detect_steps
from histbench.analysis.two_sample import compare
from histbench.core.errors import HistbenchError

DEFAULT_GRID = 50  # grid intervals (51 commits) measured before any bisection, at most
MIN_SPACING = 8  # ... and never denser than one commit in this many
UNCERTAIN = 5.0  # a pair whose CI is this many times wider than the series' median is refined

Samples = Sequence[Sequence[float]]  # per-process groups (or flat samples) of one commit


@dataclass(frozen=True)
class SeriesData:
    """One series: its samples by commit index (indices without data left out) and its
    noise floor (core/modes.count_floor: counts repeat almost exactly)."""

    samples: Mapping[int, Samples]
    noise_floor: float = 0.0


@dataclass(frozen=True)
class Pinned:
    """A step pinned to one commit: ``first_bad`` is ``last_good + 1``."""

    key: Hashable
    last_good: int
    first_bad: int
    ratio: float | None


@dataclass(frozen=True)
class Interval:
    """Measured neighbours ``lo`` < ``hi`` (not adjacent) of a series that may hide a step."""

    key: Hashable
    lo: int
    hi: int
    why: str  # "differ", "step" or "uncertain"


@dataclass
class Plan:
    measure: list[int]  # the next batch of commit indices, oldest first; empty: done
    pinned: list[Pinned] = field(default_factory=list)
    open: list[Interval] = field(default_factory=list)
    stuck: list[Interval] = field(default_factory=list)  # every commit between measured
    cut: int = 0  # commits wanted but left out by the budget

    @property
    def done(self) -> bool:
        return not self.measure


def default_grid(n: int) -> int:
    """Grid intervals for ``n`` commits: ``DEFAULT_GRID``, fewer on a short range."""
    return max(1, min(DEFAULT_GRID, n // MIN_SPACING))


def grid_indices(n: int, grid: int | None = None) -> list[int]:
    """``grid`` + 1 evenly spaced indices of ``n`` commits, both ends included."""
    if n <= 0:
        return []
    grid = grid or default_grid(n)
    if n <= grid + 1:
        return list(range(n))
    return sorted({round(i * (n - 1) / grid) for i in range(grid + 1)})


def spacing(n: int, grid: int | None = None) -> int:
    """The longest gap of the grid: a change lasting this many commits cannot hide in it."""
    g = grid_indices(n, grid)
    return max((b - a for a, b in pairwise(g)), default=1)


def plan(n: int, series: Mapping[Hashable, SeriesData], measured: set[int], *,
         grid: int | None = None, alpha: float = 0.05,
         budget: int | None = None) -> Plan:
    """The next commits to measure. ``measured``: every index with a result (some may
    have no data for a series: a failed build is not measured twice). ``budget``: how
    many more commits may be measured (None: no limit). ``grid``: intervals of the
    first grid (None: ``default_grid(n)``)."""
    todo = [i for i in grid_indices(n, grid) if i not in measured]
    out = Plan(measure=[])
    if todo:
        out.measure = _capped(todo, budget)
        out.cut = len(todo) - len(out.measure)
        return out
    wanted: dict[int, tuple[int, int]] = {}  # midpoint -> priority (lower first)
    # an uncertain interval is split once, not bisected: its midpoint adds evidence near
    # the doubtful commit, bisecting further would not
    shortest_doubt = max(2, spacing(n, grid) // 2 + 1)
    for key, data in series.items():
        for iv in _flagged(key, data, alpha):
            if iv.hi == iv.lo + 1:
                if iv.why != "uncertain":
                    out.pinned.append(Pinned(key, iv.lo, iv.hi, _ratio(data, iv)))
                continue
            if iv.why == "uncertain" and iv.hi - iv.lo < shortest_doubt:
                continue
            mid = _midpoint(iv.lo, iv.hi, measured)
            if mid is None:
                out.stuck.append(iv)
                continue
            out.open.append(iv)
            rank = (0 if iv.why != "uncertain" else 1, -(iv.hi - iv.lo))
            wanted[mid] = min(wanted.get(mid, rank), rank)
    batch = sorted(wanted, key=lambda i: (wanted[i], i))
    out.measure = sorted(_capped(batch, budget))
    out.cut = len(batch) - len(out.measure)
    return out


def _capped(indices: list[int], budget: int | None) -> list[int]:
    return indices if budget is None else indices[:max(budget, 0)]


def _midpoint(lo: int, hi: int, measured: set[int]) -> int | None:
    """The unmeasured commit nearest the middle of (lo, hi); None when there is none (the
    commits between failed to build, or have no data for this series)."""
    mid = (lo + hi) // 2
    for d in range(hi - lo):
        for i in (mid - d, mid + d):
            if lo < i < hi and i not in measured:
                return i
    return None


def _flagged(key: Hashable, data: SeriesData, alpha: float) -> list[Interval]:
    """Pairs of neighbouring measured commits that differ, hold a step, or are uncertain."""
    values = {i: _values(s) for i, s in data.samples.items()}  # flat, once
    points = sorted(i for i, v in values.items() if v)
    pairs = list(pairwise(points))
    if not pairs:
        return []
    corrected = alpha / len(pairs)
    why: dict[tuple[int, int], str] = {}
    widths: dict[tuple[int, int], float] = {}
    exact = _deterministic([values[i] for i in points])
    for a, b in pairs:
        if exact:  # values that repeat exactly (track_ values): any difference is real
            if values[a][0] != values[b][0]:
                why[(a, b)] = "differ"
            continue
        try:
            c = compare(data.samples[a], data.samples[b], alpha=corrected,
                        noise_floor=data.noise_floor)
        except ValueError:
            continue
        if c.significant:
            why[(a, b)] = "differ"
        elif c.ci_low and c.ci_high and c.ci_low > 0:
            widths[(a, b)] = math.log(c.ci_high / c.ci_low)
    try:
        steps = detect_steps([values[i] for i in points], alpha=alpha,
                             noise_floor=data.noise_floor)
    except HistbenchError:  # a series the detector refuses has no step to give
        steps = []
    for s in steps:
        why.setdefault((points[s.last_good], points[s.index]), "step")
    finite = sorted(w for w in widths.values() if math.isfinite(w))
    if len(finite) >= 3:
        typical = finite[len(finite) // 2]
        for pair, w in widths.items():
            if typical > 0 and w > UNCERTAIN * typical and pair not in why:
                why[pair] = "uncertain"
    return [Interval(key, a, b, w) for (a, b), w in sorted(why.items())]


def _values(samples: Samples) -> list[float]:
    return [float(v) for g in samples
            for v in (g if isinstance(g, (list, tuple)) else [g])]


def _deterministic(values: list[list[float]]) -> bool:
    """The series repeats exactly: every commit's values (flat) are all equal, and either
    some commit has several, or (one value a commit: a ``track_`` value) most neighbours
    are exactly equal, which noise would never make them."""
    if not all(min(v) == max(v) for v in values if v):
        return False
    if any(len(v) > 1 for v in values):
        return True
    firsts = [v[0] for v in values if v]
    equal = sum(a == b for a, b in pairwise(firsts))
    return len(firsts) >= 3 and equal * 2 >= len(firsts) - 1


def _ratio(data: SeriesData, iv: Interval) -> float | None:
    a = statistics.median(_values(data.samples[iv.lo]))
    b = statistics.median(_values(data.samples[iv.hi]))
    return float(b / a) if a > 0 and b > 0 else None
