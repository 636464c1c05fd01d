"""Slow trends: a history that drifts is no staircase. The drift is estimated around the
steps (first from pair slopes, then within segments) and subtracted before the steps are
judged, and its slope's uncertainty goes into each step test's variance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from histbench.analysis.steps.levels import Levels
from histbench.analysis.steps.noise import robust_sd
from histbench.core.scipy_special import special

DRIFT_SPAN = 50  # commits (with data) each side over which the drift's slope is pooled
DRIFT_ALPHA = 0.05  # ... and its significance adjusted for the history's length
DRIFT_Z = 3.0  # a drift is fitted where its slope is this many standard errors from 0
LAG = 10  # commits between the two ends of a pair, for the first drift estimate
FIRST_DRIFT_SDS = 3.0  # pair slopes further than this from their median cross a step


@dataclass(frozen=True)
class Drift:
    """The trend at each commit (continuous, 0 at the first) and the variance of its slope
    there (0 where no drift was fitted)."""

    values: np.ndarray
    slope_var: np.ndarray


def first_drift(levels: Levels) -> Drift:
    """A first, robust drift: the median slope between commits LAG apart.

    Not the slope within segments of a first segmentation: on a trend, that segmentation
    is a staircase whose treads are chosen where the noise makes them look flat, and the
    slope within them comes out too small. A median of pair slopes hardly sees the few
    pairs that straddle a step.
    """
    n = levels.y.size
    lag = min(LAG, n // 4)
    zero = np.zeros(n)
    if lag < 1:
        return Drift(zero, zero)
    t = levels.index.astype(float)
    slopes = (levels.y[lag:] - levels.y[:-lag]) / (t[lag:] - t[:-lag])
    slope = float(np.median(slopes))
    # The pairs across a large step sit far out on one side of the others and still move
    # the median (with commit-to-commit noise, enough to hide a trend of 20%): they go.
    spread = robust_sd(slopes)
    kept = slopes[np.abs(slopes - slope) <= FIRST_DRIFT_SDS * spread]
    if kept.size >= slopes.size // 2:
        slopes = kept
        slope = float(np.median(slopes))
    se = 1.2533 * robust_sd(slopes) / math.sqrt(slopes.size)
    if not abs(slope) >= DRIFT_Z * se:
        return Drift(zero, zero)
    return Drift(slope * (t - t[0]), np.full(n, se**2))


def drift(levels: Levels, bounds: list[int], before: np.ndarray) -> Drift:
    """Slow trend: the slope within segments, over DRIFT_SPAN commits each side.

    At each commit, the slope is the pooled within-segment least-squares slope of the
    commits in its neighbourhood (segments cut to the neighbourhood): steps do not count
    as trend, and a trend that bends is followed. Where that slope is not significant
    (|z| < DRIFT_Z), and was not before either (``before``: the slope's variance in the
    last round, 0 where there was no drift), there is no drift: fitting one would only
    cost the step tests power. Once found, a drift is kept: within the short treads of a
    staircase fitted to a trend its slope may look insignificant.
    """
    n = levels.y.size
    t = levels.index.astype(float)
    t = t - t.mean()
    xx, xy = _pooled_sums(_Lines(t, levels.y - levels.y.mean(), 1.0 / levels.v), bounds, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(xx > 0, xy / xx, 0.0)
        var = np.where(xx > 0, 1.0 / xx, 0.0)
        real = (slope**2 >= _drift_z(n) ** 2 * var) | (before > 0)
    slope = np.where(real, slope, 0.0)
    var = np.where(real, var, 0.0)
    return Drift(_integrate(t, slope), var)


class _Lines:
    """Prefix sums of weighted levels against time: the centred sums of a least-squares
    line through any run of commits in O(1), for every commit's neighbourhood at once."""

    def __init__(self, t: np.ndarray, y: np.ndarray, w: np.ndarray):
        self.sums = [np.concatenate(([0.0], np.cumsum(v)))
                     for v in (w, w * t, w * y, w * t * t, w * t * y)]

    def centred(self, a, b) -> tuple[np.ndarray, np.ndarray]:
        """Sxx and Sxy of the commits [a, b) (arrays of ends)."""
        sw, st, sy, stt, sty = (p[b] - p[a] for p in self.sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            sxx = np.where(sw > 0, stt - st * st / sw, 0.0)
            sxy = np.where(sw > 0, sty - st * sy / sw, 0.0)
        return sxx, sxy


def _pooled_sums(lines: _Lines, bounds: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """At each commit, Sxx and Sxy pooled over the segments within DRIFT_SPAN commits each
    side (the first and last cut to the neighbourhood, those between whole)."""
    starts = np.asarray([0, *bounds])
    ends = np.asarray([*bounds, n])
    seg = np.repeat(np.arange(starts.size), ends - starts)
    full_xx, full_xy = lines.centred(starts, ends)
    cum_xx = np.concatenate(([0.0], np.cumsum(full_xx)))
    cum_xy = np.concatenate(([0.0], np.cumsum(full_xy)))
    i = np.arange(n)
    a = np.maximum(i - DRIFT_SPAN, 0)
    b = np.minimum(i + DRIFT_SPAN + 1, n)
    sa, sb = seg[a], seg[b - 1]
    one = sa == sb
    xx1, xy1 = lines.centred(a, np.where(one, b, ends[sa]))
    xx3, xy3 = lines.centred(np.where(one, b, starts[sb]), b)
    inner = np.maximum(sb, sa + 1)
    xx = xx1 + xx3 + cum_xx[inner] - cum_xx[sa + 1]
    xy = xy1 + xy3 + cum_xy[inner] - cum_xy[sa + 1]
    return xx, xy


def _drift_z(n: int) -> float:
    """How significant a slope must be to be fitted: DRIFT_Z, or more for long histories,
    which have many neighbourhoods that could show a slope by chance."""
    tail = DRIFT_ALPHA / 2 / max(1.0, n / (2 * DRIFT_SPAN + 1))
    return max(DRIFT_Z, -float(special().ndtri(tail)))


def _integrate(t: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """The drift whose slope at each commit is ``slope``: continuous, 0 at the first."""
    return np.concatenate(([0.0], np.cumsum(np.diff(t) * 0.5 * (slope[:-1] + slope[1:]))))
