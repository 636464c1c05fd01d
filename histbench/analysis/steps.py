"""Steps in a benchmark's history: at which commit did its level change, and is that real?

``detect_steps(series)`` takes one list of raw samples per commit, in history order, and
returns the commits where the level moved, each with the levels on both sides, their ratio
and a p-value. The false-alarm rate is controlled over the whole history: with
``alpha=0.05`` a history without any step, of any length, reports one in about 5% of
cases or fewer (family-wise, not per commit).

How (on the log scale when every sample is positive, else on the raw scale):

1. Per-commit level: mean of the commit's samples after dropping those further than
   ``TRIM_SDS`` robust SDs (pooled over the history) from the commit's median: outlier
   samples go, gaussian noise keeps nearly the efficiency of a mean. When the commits'
   ``LOW_QUANTILE`` quantiles are a clearly steadier level (timings whose processes land
   on a fast or a slow mode), those are the levels instead.
2. Noise of a level, from the levels themselves: the spread of first differences (minus
   their median, the local slope), the larger of a MAD and a trimmed SD (the MAD alone
   misses noise that clusters). It includes commit-to-commit jitter, which the spread
   within a commit does not show, and a few steps hardly move it. Commits with fewer
   samples weigh less (jitter + within-commit variance / samples). A commit (or two) far
   off its neighbours is pulled back to ``SPIKE_SDS`` of them: one bad commit is no step.
3. Candidates: binary segmentation with the CUSUM statistic seen as a Brownian bridge,
   with a liberal threshold (``CANDIDATE_P``), so that a rise and a fall soon after do
   not mask each other.
4. Confirmation: the weakest candidate is dropped, one at a time, until every boundary
   left passes a two-sample test of the commits on its two sides (at most ``WINDOW`` each
   side, never past the next boundary), Bonferroni-adjusted for every commit where a step
   could have been: that is what makes the false-alarm rate family-wise, at any history
   length. A boundary's strength allows for a neighbour moving to make up for it, so a
   step is not reported twice, a commit early and a commit late. Each boundary left is
   moved to the commit that best splits its two segments (maximum likelihood), to the
   exact commit of the step when the data allows.
5. Drift: a first slope is the median of slopes between commits ``LAG`` apart (robust to
   steps; the pairs across a large step, far out on one side, are left out first: with
   per-build offsets they moved the median enough to hide a 20% trend, which then came
   out as a staircase of small steps); later rounds pool the least-squares slope within
   segments over ``DRIFT_SPAN`` commits each side, where significant (a trend that bends
   is followed). The drift is subtracted and 3-4 run again, until it settles. A slow
   trend is no staircase, and the slope's uncertainty is part of each step test's
   variance.
6. If the levels vary around the fit more than estimated (heavy-tailed jitter), the
   variance is scaled up to what they show and 3-5 run again.
7. Excursions: builds land at levels of their own (memory layout; on CI, runners of
   another kind, often 10-50% faster), and where that happens often, a run of three or
   four such commits passes the gaussian tests of 4 as a short segment, two steps. (On
   windows of Django's CI history that was most of the false alarms.) So a segment of at
   most ``EXCURSION_MAX`` commits is also tested against the history's own tails: with q
   the share of the other commits as far off as the run (same side, from their segment's
   median; "as far" is nearer the run's level than their own and ``EXCURSION_SDS`` out,
   or as far as the run's nearest commit if that is less: off builds are a cluster, not a
   tail), a run like it turns up somewhere with probability about n q^L; above alpha,
   the run is pulled onto the nearer of its neighbours' levels (next to a step, that
   keeps the step where it is) and 2-6 run again, ``EXCURSION_ROUNDS`` times at most. On
   gaussian noise q is about 1/n for any clear short segment, which stands: nothing is
   lost where builds agree. The same test keeps the family-wise rate near alpha when
   the builds' offsets are heavy-tailed (it was 17-20% with one build in ten off).

The p-value of a step is the Bonferroni-adjusted one of its test (Student t, with the
degrees of freedom of a MAD-based variance estimate); steps have p <= alpha.

A deterministic history (every commit's samples one value, as a ``track_`` count) has
no noise to estimate: each change of value is a step, however few commits were measured.

Limits: a step needs ``MIN_SEGMENT`` (3) commits with data on each side: the newest two
commits cannot show one yet, and a level that leaves for one or two commits and comes back
counts as noise, as does one that leaves for a few commits in a history where that many
builds in a row are that far off anyway (7); a step smaller than about two noise SDs of a
commit's level is often found a commit early or late: the data cannot tell, and a step
whose first commit is an off build (a fast runner) is found where the builds are normal
again. Changes of the machine that every benchmark shows (a new runner image) are steps
like any other: one benchmark's history cannot tell them from a change of the code.

Cost: O(n log n) in the number of commits (prefix sums; the loops run over candidates;
an excursion, where one is found, repeats 2-6 once or twice).

This module is part of the analysis layer: it knows nothing of how samples were made.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from histbench.core.errors import HistbenchError
from histbench.core.scipy_special import special

MIN_SEGMENT = 3  # commits with data on each side of a step, at least
WINDOW = 50  # commits with data each side of a step that its test compares, at most
TRIM_DIFFS = 0.1  # share of the largest differences between levels left out of their SD
TRIM_SDS = 3.0  # samples further from their commit's median are outliers
LOW_QUANTILE = 0.2  # the other candidate for a commit's level ...
LOW_QUANTILE_GAIN = 0.7  # ... taken when its noise is this much smaller than the mean's
SPIKE_SDS = 3.0  # a lone commit is pulled back to this many SDs of its neighbours
CANDIDATE_P = 0.5  # binary segmentation splits while the bridge statistic's p is below this
DRIFT_SPAN = 50  # commits (with data) each side over which the drift's slope is pooled
DRIFT_ALPHA = 0.05  # ... and its significance adjusted for the history's length
DRIFT_Z = 3.0  # a drift is fitted where its slope is this many standard errors from 0
DRIFT_ROUNDS = 6
DRIFT_SETTLED = 0.1  # SDs of a level: a drift that moved less than this is final
REFINE_ROUNDS = 5
LAG = 10  # commits between the two ends of a pair, for the first drift estimate
FIRST_DRIFT_SDS = 3.0  # pair slopes further than this from their median cross a step
MAD_EFFICIENCY = 0.37  # of the MAD against the SD, for the degrees of freedom of the noise
EXCURSION_MAX = 10  # commits: a shorter segment may be a run of off builds ...
EXCURSION_SDS = 3.0  # commits this far off their level (SDs) are off builds ...
EXCURSION_SHARE = 0.5  # ... if at least this share as far off as the run's nearest
EXCURSION_ROUNDS = 3  # ... looked for this many times (each finds those the last left)
RESCALE = 1.1  # a history whose residual variance is this much above the estimate is redone
ZERO_NOISE = 1e-9  # relative noise floor when the data shows none at all


@dataclass(frozen=True)
class Step:
    """A change of level: ``series[index]`` is the first commit at the new level.

    ``before`` and ``after`` are the levels on both sides of the step (in the samples'
    units; with a drift, both are taken at the step), ``ratio`` is after / before and
    ``p_value`` is adjusted for all the commits of the history (family-wise).
    ``last_good`` is the last commit with data before ``index``.
    """

    index: int
    before: float
    after: float
    ratio: float
    p_value: float
    last_good: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect_steps(series: Sequence[Sequence[float]], *, alpha: float = 0.05,
                 min_change: float = 0.0) -> list[Step]:
    """Steps in a history of samples (one list per commit, empty = no data), oldest first.

    Steps with ``|ratio - 1| < min_change`` are left out of the result (they still count
    as steps when the levels around other steps are estimated).
    """
    if not 0 < alpha < 1:
        raise HistbenchError(f"alpha must be between 0 and 1, not {alpha!r}")
    if not min_change >= 0:
        raise HistbenchError(f"min_change must be 0 or more, not {min_change!r}")
    exact = _exact_steps(series, min_change)
    if exact is not None:
        return exact
    data = _Levels.of(series)
    if data is None or data.y.size < 2 * MIN_SEGMENT:
        return []
    for round_ in range(EXCURSION_ROUNDS):
        bounds, fit, strengths = _segment(data, alpha)
        inflate = _residual_variance(fit, bounds)
        if inflate > RESCALE:
            # The levels vary more around the fit than their differences' MAD said: the
            # commit-to-commit noise has heavy tails. Judge again with the honest variance.
            data.v = data.v * inflate
            bounds, fit, strengths = _segment(data, alpha, (bounds, fit))
        pulled = _excursions(data, fit, bounds, alpha) if round_ < EXCURSION_ROUNDS - 1 \
            else None
        if pulled is None:
            break
        data.y = pulled
    steps = []
    edges = [0, *bounds, fit.n]
    for k, strength in enumerate(strengths):
        step = _make_step(data, fit, edges[k + 1], edges[k], edges[k + 2], strength)
        if abs(step.ratio - 1) >= min_change:
            steps.append(step)
    return steps


def _exact_steps(series: Sequence[Sequence[float]], min_change: float) -> list[Step] | None:
    """A deterministic history: every commit's samples (two or more) are one value.

    Counts (``track_`` benchmarks returning a work count, instruction counts) repeat to
    the last digit, so there is no noise to estimate and any change between two measured
    commits is a step, however few commits were measured (a history sampled with
    ``run --steps``). None when any commit varies, or has a single sample (an imported
    median says nothing about its noise): the statistical path decides then.
    """
    values: list[tuple[int, float]] = []
    for i, samples in enumerate(series):
        if len(samples) == 0:
            continue
        if len(samples) < 2 or any(v != samples[0] for v in samples):
            return None
        values.append((i, float(samples[0])))
    if len(values) < 2:
        return None
    steps = []
    for (j, before), (i, after) in itertools.pairwise(values):
        if after == before:
            continue
        ratio = after / before if before else math.copysign(_FLOAT_MAX, after)
        if abs(ratio - 1) >= min_change:
            steps.append(Step(index=i, before=before, after=after,
                              ratio=float(np.clip(ratio, -_FLOAT_MAX, _FLOAT_MAX)),
                              p_value=0.0, last_good=j))
    return steps


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _excursions(data: _Levels, fit: _Fit, bounds: list[int], alpha: float
                ) -> np.ndarray | None:
    """Commits of short segments that are likelier a run of off builds than two steps.

    Builds land at levels of their own (memory layout, a CI runner of another kind): some
    commits are off by many noise SDs, on one side more than the other, and with such
    tails a run of a few of them passes the gaussian step tests as a short segment, two
    steps. Whether it could be noise is read from the history itself: if the share q of
    the other commits as far off as the run (on the same side, from their segment's
    median) makes a run of L such commits likely somewhere in the history (n q^L >
    alpha), the run is an excursion, not a level. "As far" is as far as the run's nearest
    commit, or, when that is further, nearer the run's level than their own and at least
    EXCURSION_SDS out: off builds scatter over a range (a runner 2x to 5x slow), and the
    run's nearest commit is only one draw of it. On gaussian noise q is about 1/n for any
    clear step, and short segments stand.
    The commits of an excursion are pulled onto the nearer level: next to a step, that
    is the step's new or old level, and the step stays where it is.
    Returns the levels with the excursions pulled in, or None if there was none.
    """
    n = fit.n
    edges = np.asarray([0, *bounds, n])
    sizes = np.diff(edges)
    if sizes.size < 2 or not np.any(sizes <= EXCURSION_MAX):
        return None
    resid = data.raw - fit.drift - fit.offset
    # Medians, not the fit's means: off builds pull a mean towards them, and then the
    # others look less far off than the run.
    means = np.asarray([np.median(resid[a:b]) for a, b in zip(edges[:-1], edges[1:],
                                                               strict=True)])
    ref = means.copy()
    short = np.flatnonzero(sizes <= EXCURSION_MAX)
    for k in short:  # an excursion leaves the nearer of its neighbours' levels
        near = [means[j] for j in (k - 1, k + 1) if 0 <= j < means.size]
        ref[k] = min(near, key=lambda m: abs(m - means[k]))
    seg = np.repeat(np.arange(sizes.size), sizes)
    z = (resid - ref[seg]) * np.sqrt(fit.w)
    ups, downs = np.sort(z), np.sort(-z)
    y = data.y.copy()
    pulled = False
    for k in short:
        a, b = int(edges[k]), int(edges[k + 1])
        size = b - a
        sign = 1.0 if means[k] >= ref[k] else -1.0
        t = float(np.min(sign * z[a:b]))
        # Off like the run: nearer the run's level than the reference, and an outlier.
        t = min(t, max(EXCURSION_SDS, EXCURSION_SHARE * t))
        tail = ups if sign > 0 else downs
        beyond = tail.size - int(np.searchsorted(tail, t, side="left")) - size
        q = (max(beyond, 0) + 1) / (n - size + 1)
        places = n if 0 < k < sizes.size - 1 else 1  # at an end, a run has one place
        if places * q**size > alpha:
            y[a:b] = fit.drift[a:b] + fit.offset + ref[k]
            pulled = True
    return y if pulled else None


# ---------------------------------------------------------------------------------------
# Per-commit levels and their noise


@dataclass
class _Levels:
    index: np.ndarray  # position in the series of each commit with data
    y: np.ndarray  # level (log or raw)
    v: np.ndarray  # variance of each level
    df: float  # degrees of freedom of the noise estimate
    log: bool  # y is the log of the samples; else the samples / scale
    scale: float
    raw: np.ndarray  # the levels before lone commits were pulled back to their neighbours

    @classmethod
    def of(cls, series: Sequence[Sequence[float]]) -> _Levels | None:
        try:
            lengths = np.fromiter((len(s) for s in series), dtype=np.int64, count=len(series))
            if series and all(isinstance(s, np.ndarray) for s in series):
                flat = np.concatenate(series).astype(float, copy=False)
            else:
                flat = np.fromiter(itertools.chain.from_iterable(series), dtype=float,
                                   count=int(lengths.sum()))
        except (TypeError, ValueError) as exc:
            raise HistbenchError(f"series must be a list of lists of numbers: {exc}") from None
        owner = np.repeat(np.arange(len(series)), lengths)
        finite = np.isfinite(flat)
        flat, owner = flat[finite], owner[finite]
        if flat.size == 0:
            return None
        log = bool(np.all(flat > 0))
        scale = 1.0 if log else float(np.max(np.abs(flat))) or 1.0
        x = np.log(flat) if log else flat / scale
        counts = np.bincount(owner, minlength=len(series))
        index = np.flatnonzero(counts)
        c = counts[index]
        starts = np.concatenate(([0], np.cumsum(c)[:-1]))
        group = np.repeat(np.arange(index.size), c)
        x = _sort_within(x, group, c)
        med = 0.5 * (x[starts + (c - 1) // 2] + x[starts + c // 2])
        dev = np.abs(x - med[group])
        dev_sorted = _sort_within(dev, group, c)
        mad = 0.5 * (dev_sorted[starts + (c - 1) // 2] + dev_sorted[starts + c // 2])
        several = c >= 3
        spread = 1.4826 * float(np.median(mad[several])) if several.any() else 0.0
        keep = dev <= TRIM_SDS * spread
        kept = np.bincount(group, weights=keep, minlength=index.size)
        total = np.bincount(group, weights=np.where(keep, x, 0.0), minlength=index.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(kept > 0, total / np.maximum(kept, 1), med)
        kept = np.maximum(kept, 1)
        resid = np.where(keep, x - y[group], 0.0)
        dof = float(np.sum(kept - 1))
        within = float(np.sum(resid**2)) / dof if dof > 0 else 0.0
        # A low quantile instead, when it is the steadier level: timings whose processes
        # land on a fast or a slow mode (a busy machine) have a steady fast mode and a
        # mean or median that jumps with the share of slow processes.
        pos = LOW_QUANTILE * (c - 1)
        below = np.floor(pos).astype(np.int64)
        frac = pos - below
        low = x[starts + below] * (1 - frac) + x[starts + np.minimum(below + 1, c - 1)] * frac
        if y.size > 2 and _noise_sd(np.diff(low)) < LOW_QUANTILE_GAIN * _noise_sd(np.diff(y)):
            y = low
        if not log:  # levels of about 1: variances neither overflow nor underflow
            top = float(np.max(np.abs(y)))
            if top > 0:
                y, within, scale = y / top, within / top**2, scale * top
        v, df = _noise(y, kept, within)
        return cls(index=index, y=_clip_spikes(y, v), v=v, df=df, log=log, scale=scale, raw=y)


def _sort_within(values: np.ndarray, group: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``values`` sorted within each run of equal ``group`` (runs of ``sizes``, in order).
    Commits usually have the same number of samples: then one sort of a 2-D view, several
    times faster than a lexsort of the whole history."""
    if sizes.size and np.all(sizes == sizes[0]):
        return np.sort(values.reshape(sizes.size, int(sizes[0])), axis=1).ravel()
    return values[np.lexsort((values, group))]


def _robust_sd(d: np.ndarray) -> float:
    """SD from the MAD; from the mean absolute deviation when most values are equal."""
    if d.size == 0:
        return 0.0
    d = d - np.median(d)
    sd = 1.4826 * float(np.median(np.abs(d)))
    return sd if sd > 0 else 1.2533 * float(np.mean(np.abs(d)))


def _noise_sd(d: np.ndarray) -> float:
    """SD of differences: the larger of the MAD's and that of all but the largest ones.

    The MAD alone is fooled by noise that clusters: levels that often repeat (timings whose
    processes land on a few modes) make many differences tiny and the MAD small, while the
    others are large. Leaving out the largest tenth (at least two: the steps) and correcting
    for what a gaussian would lose in its tails sees them, and agrees with the MAD on
    gaussian noise.
    """
    mad = _robust_sd(d)
    if d.size < 4:
        return mad
    dev = np.sort(np.abs(d - np.median(d)))
    keep = min(dev.size - 2, int(dev.size * (1 - TRIM_DIFFS)))
    cut = -float(special().ndtri(0.5 * (1 - keep / dev.size)))
    lost = 1 - 2 * cut * math.exp(-cut * cut / 2) / math.sqrt(2 * math.pi) / (keep / dev.size)
    trimmed = math.sqrt(float(np.mean(dev[:keep] ** 2)) / lost) if lost > 0 else 0.0
    return max(mad, trimmed)


def _noise(y: np.ndarray, kept: np.ndarray, within: float) -> tuple[np.ndarray, float]:
    """Variance of each commit's level: jitter + within-commit variance / samples kept,
    scaled to the spread of the differences between neighbouring commits."""
    n = y.size
    d = np.diff(y)
    inv = 1.0 / kept
    sd_d = _noise_sd(d)
    jitter = max(0.0, (sd_d**2 - within * float(np.median(inv[:-1] + inv[1:]))) / 2) if n > 1 \
        else 0.0
    rel = jitter + within * inv
    if not np.all(rel > 0):
        rel = np.ones(n)
    scale = _noise_sd(d / np.sqrt(rel[:-1] + rel[1:])) if n > 1 else 0.0
    floor = ZERO_NOISE  # levels are logs, or scaled to at most 1 in size
    v = np.maximum(scale**2 * rel, floor**2)
    df = max(1.0, MAD_EFFICIENCY * (n - 1))
    return v, df


def _clip_spikes(y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pull a commit that is far off its neighbours back to SPIKE_SDS of them.

    A commit where half the samples were disturbed is off by a lot, and with heavy-tailed
    jitter two neighbouring commits may be; a piecewise-constant fit would make two steps
    of them. The reference is the median of the commit and two neighbours on each side
    (one at the ends): a step, with at least MIN_SEGMENT commits on each side, is left
    alone, while one or two commits off on their own are pulled in.
    """
    n = y.size
    if n < 3:
        return y
    ref = np.empty(n)
    ref[[0, -1]] = np.median(y[:3]), np.median(y[-3:])
    ref[1:-1] = np.median(np.stack([y[:-2], y[1:-1], y[2:]]), axis=0)
    if n >= 5:
        five = np.lib.stride_tricks.sliding_window_view(y, 5)
        ref[2:-2] = np.median(five, axis=1)
    sd = np.sqrt(v)
    return np.clip(y, ref - SPIKE_SDS * sd, ref + SPIKE_SDS * sd)


# ---------------------------------------------------------------------------------------
# Segmentation


class _Fit:
    """Residuals (levels minus drift) with prefix sums: any segment's fit in O(1)."""

    def __init__(self, data: _Levels, drift: np.ndarray, slope_var: np.ndarray):
        self.n = data.y.size
        self.t = data.index.astype(float)
        r = data.y - drift
        self.offset = float(np.median(r))
        self.r = r - self.offset  # centred: prefix sums of squares keep their precision
        self.drift = drift
        self.slope_var = slope_var  # variance of the drift's slope, per commit
        w = 1.0 / data.v
        self.w = w
        self.pw = np.concatenate(([0.0], np.cumsum(w)))
        self.pwr = np.concatenate(([0.0], np.cumsum(w * self.r)))
        self.pwrr = np.concatenate(([0.0], np.cumsum(w * self.r**2)))
        self.pwt = np.concatenate(([0.0], np.cumsum(w * self.t)))
        # The same as lists: one element at a time, Python floats are faster.
        self.lw, self.lwr, self.lwrr, self.lwt = (
            p.tolist() for p in (self.pw, self.pwr, self.pwrr, self.pwt))
        self.lsv = slope_var.tolist()

    def rss(self, a: int, b: int) -> float:
        """Weighted residual sum of squares of [a, b) around its mean (in noise variances)."""
        sw = self.lw[b] - self.lw[a]
        if sw <= 0:
            return 0.0
        swr = self.lwr[b] - self.lwr[a]
        return max(self.lwrr[b] - self.lwrr[a] - swr * swr / sw, 0.0)

    def inflation(self, c: int, lo: int, hi: int) -> float:
        """The share of a step's variance that is not the drift's."""
        if not self.lsv[c]:
            return 1.0
        a, b = max(lo, c - WINDOW), min(hi, c + WINDOW)
        wa = self.lw[c] - self.lw[a]
        wb = self.lw[b] - self.lw[c]
        gap = (self.lwt[b] - self.lwt[c]) / wb - (self.lwt[c] - self.lwt[a]) / wa
        base = 1 / wa + 1 / wb
        return base / (base + self.lsv[c] * gap * gap)

    def mean(self, a, b):
        """Weighted mean residual of [a, b) (arrays or ints)."""
        return (self.pwr[b] - self.pwr[a]) / (self.pw[b] - self.pw[a])

    def window(self, c, lo, hi):
        """The commits a step at ``c`` is judged on: WINDOW each side, not past ``lo``/``hi``.

        Over thousands of commits, any slow wobble would be significant; a step is a change
        between the commits just before and just after it.
        """
        return np.maximum(lo, c - WINDOW), np.minimum(hi, c + WINDOW)

    def candidates(self, threshold: float) -> list[int]:
        """Binary segmentation on the weighted CUSUM, seen as a Brownian bridge."""
        found = []
        stack = [(0, self.n)]
        pw, pwr = self.pw, self.pwr
        while stack:
            s, e = stack.pop()
            if e - s < 2 * MIN_SEGMENT:
                continue
            ks = np.arange(s + MIN_SEGMENT, e - MIN_SEGMENT + 1)
            total_w = pw[e] - pw[s]
            bridge = (pwr[ks] - pwr[s]) - (pw[ks] - pw[s]) / total_w * (pwr[e] - pwr[s])
            j = int(np.argmax(np.abs(bridge)))
            if abs(bridge[j]) / math.sqrt(total_w) < threshold:
                continue
            k = int(ks[j])
            found.append(k)
            stack.append((s, k))
            stack.append((k, e))
        return sorted(found)

    def best_split(self, lo: int, hi: int) -> tuple[int, float]:
        """The one step in [lo, hi) that fits best (maximum likelihood), and the RSS."""
        first, last = lo + MIN_SEGMENT, hi - MIN_SEGMENT + 1
        if last <= first:
            return -1, math.inf
        pw, pwr = self.pw[first:last], self.pwr[first:last]
        wa, ra = pw - self.lw[lo], pwr - self.lwr[lo]
        wb, rb = self.lw[hi] - pw, self.lwr[hi] - pwr
        explained = ra * ra / wa + rb * rb / wb
        j = int(np.argmax(explained))
        total = self.lwrr[hi] - self.lwrr[lo] - float(explained[j])
        return first + j, max(total, 0.0)


class _Boundaries:
    """Candidate boundaries in a doubly linked list, pruned weakest first.

    The cost of a boundary is how much worse the fit gets without it (in units of the
    noise variance: a chi-square with one degree of freedom, for a fixed position) when
    one of its neighbours may move to make up for it. Without that move, a step that the
    candidates bracket (one boundary a commit early, one a commit late, a two-commit
    segment in between at a middle level) would survive as two steps.
    """

    def __init__(self, fit: _Fit, cands: list[int], crit: float):
        self.fit = fit
        self.crit = crit
        self.m = len(cands)
        self.pos = [0, *cands, fit.n]
        self.prev = list(range(-1, self.m + 1))
        self.next = list(range(1, self.m + 3))
        self.alive = [True] * (self.m + 2)
        self.version = [0] * (self.m + 2)
        self.move: list[tuple[int, int]] = [(-1, -1)] * (self.m + 2)
        self.heap: list[tuple[float, int, int]] = []
        self.dirty: set[int] = set()
        for k in range(1, self.m + 1):
            self._push(k)

    def _push(self, k: int) -> None:
        self.version[k] += 1
        cost, move, at = self._cost(k, self.crit)
        self.move[k] = (move, at)
        heapq.heappush(self.heap, (cost, k, self.version[k]))

    def _cost(self, k: int, crit: float) -> tuple[float, int, int]:
        """(cost, neighbour to move or -1, its new position).

        A boundary that goes anyway (its cost is below ``crit`` without any move) is not
        looked at further.
        """
        fit, pos = self.fit, self.pos
        rss = fit.rss
        p, q = self.prev[k], self.next[k]
        lo, c, hi = pos[p], pos[k], pos[q]
        a, b = max(lo, c - WINDOW), min(hi, c + WINDOW)
        right = rss(c, b)
        best = (rss(a, b) - rss(a, c) - right, -1, -1)
        infl = fit.inflation(c, lo, hi)
        if best[0] * infl < crit:
            return max(best[0], 0.0) * infl, -1, -1
        if p > 0:  # drop k, move the left neighbour anywhere between its neighbours
            a2 = max(pos[self.prev[p]], lo - WINDOW)
            at, total = fit.best_split(a2, b)
            delta = total - (rss(a2, lo) + rss(lo, c) + right)
            if at >= 0 and delta < best[0]:
                best = (delta, p, at)
        if q <= self.m:  # drop k, move the right neighbour
            b2 = min(pos[self.next[q]], hi + WINDOW)
            at, total = fit.best_split(a, b2)
            delta = total - (rss(a, c) + rss(c, hi) + rss(hi, b2))
            if at >= 0 and delta < best[0]:
                best = (delta, q, at)
        return max(best[0], 0.0) * infl, best[1], best[2]

    def _around(self, k: int) -> list[int]:
        """The boundaries whose cost depends on where boundary ``k`` is."""
        out = [k]
        j = self.prev[k]
        for _ in range(2):
            if j <= 0:
                break
            out.append(j)
            j = self.prev[j]
        j = self.next[k]
        for _ in range(2):
            if j > self.m:
                break
            out.append(j)
            j = self.next[j]
        return out

    def prune(self) -> None:
        """Drop the boundary of lowest cost while that is below ``crit``.

        Costs that a removal changed are recomputed when they come up (or at the end), not
        at once: most of them are removed before they would matter.
        """
        heap, crit, dirty = self.heap, self.crit, self.dirty
        while True:
            while heap:
                cost, k, ver = heap[0]
                if not self.alive[k] or ver != self.version[k]:
                    heapq.heappop(heap)
                    continue
                if cost >= crit:
                    break
                heapq.heappop(heap)
                if k in dirty:
                    dirty.discard(k)
                    self._push(k)
                    continue
                move, at = self.move[k]
                self.alive[k] = False
                p, q = self.prev[k], self.next[k]
                self.next[p], self.prev[q] = q, p
                # Their neighbours within two links changed; a moved one's too.
                touched = [j for j in (self.prev[p], p, q, self.next[q]) if 1 <= j <= self.m]
                if move >= 0:
                    self.pos[move] = at
                    touched += self._around(move)
                dirty.update(j for j in touched if self.alive[j])
            if not dirty:
                return
            for j in list(dirty):
                if self.alive[j]:
                    self._push(j)
            dirty.clear()

    def refine(self) -> bool:
        """Move each boundary to the best split of its two segments; True if one moved."""
        moved = set()
        k = self.next[0]
        while k <= self.m:
            c = self.pos[k]
            lo = max(self.pos[self.prev[k]], c - WINDOW)
            hi = min(self.pos[self.next[k]], c + WINDOW)
            at, _ = self.fit.best_split(lo, hi)
            if at >= 0 and at != c:
                self.pos[k] = at
                moved.add(k)
            k = self.next[k]
        for k in moved:
            self.dirty.update(j for j in self._around(k) if self.alive[j])
        return bool(moved)

    def _alive(self) -> list[int]:
        out = []
        k = self.next[0]
        while k <= self.m:
            out.append(k)
            k = self.next[k]
        return out

    def positions(self) -> list[int]:
        return [self.pos[k] for k in self._alive()]

    def strengths(self) -> list[float]:
        """Each boundary's full cost: its squared z, allowing for a neighbour's move."""
        return [self._cost(k, -math.inf)[0] for k in self._alive()]


def _drift(data: _Levels, bounds: list[int], before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slow trend: the slope within segments, over DRIFT_SPAN commits each side.

    At each commit, the slope is the pooled within-segment least-squares slope of the
    commits in its neighbourhood (segments cut to the neighbourhood): steps do not count
    as trend, and a trend that bends is followed. Where that slope is not significant
    (|z| < DRIFT_Z), and was not before either (``before``: the slope's variance in the
    last round, 0 where there was no drift), there is no drift: fitting one would only
    cost the step tests power. Once found, a drift is kept: within the short treads of a
    staircase fitted to a trend its slope may look insignificant.
    Returns the drift (continuous, zero at the first commit) and the variance of the
    slope at each commit.
    """
    n = data.y.size
    t = data.index.astype(float)
    t = t - t.mean()
    y = data.y - data.y.mean()
    w = 1.0 / data.v
    sums = [np.concatenate(([0.0], np.cumsum(v))) for v in (w, w * t, w * y, w * t * t, w * t * y)]

    def centred(a, b):
        sw, st, sy, stt, sty = (p[b] - p[a] for p in sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            sxx = np.where(sw > 0, stt - st * st / sw, 0.0)
            sxy = np.where(sw > 0, sty - st * sy / sw, 0.0)
        return sxx, sxy

    starts = np.asarray([0, *bounds])
    ends = np.asarray([*bounds, n])
    seg = np.repeat(np.arange(starts.size), ends - starts)
    full_xx, full_xy = centred(starts, ends)
    cum_xx = np.concatenate(([0.0], np.cumsum(full_xx)))
    cum_xy = np.concatenate(([0.0], np.cumsum(full_xy)))
    i = np.arange(n)
    a = np.maximum(i - DRIFT_SPAN, 0)
    b = np.minimum(i + DRIFT_SPAN + 1, n)
    sa, sb = seg[a], seg[b - 1]
    one = sa == sb
    xx1, xy1 = centred(a, np.where(one, b, ends[sa]))
    xx3, xy3 = centred(np.where(one, b, starts[sb]), b)
    inner = np.maximum(sb, sa + 1)
    xx = xx1 + xx3 + cum_xx[inner] - cum_xx[sa + 1]
    xy = xy1 + xy3 + cum_xy[inner] - cum_xy[sa + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(xx > 0, xy / xx, 0.0)
        var = np.where(xx > 0, 1.0 / xx, 0.0)
        real = (slope**2 >= _drift_z(n) ** 2 * var) | (before > 0)
    slope = np.where(real, slope, 0.0)
    var = np.where(real, var, 0.0)
    return _integrate(t, slope), var


def _drift_z(n: int) -> float:
    """How significant a slope must be to be fitted: DRIFT_Z, or more for long histories,
    which have many neighbourhoods that could show a slope by chance."""
    tail = DRIFT_ALPHA / 2 / max(1.0, n / (2 * DRIFT_SPAN + 1))
    return max(DRIFT_Z, -float(special().ndtri(tail)))


def _first_drift(data: _Levels) -> tuple[np.ndarray, np.ndarray]:
    """A first, robust drift: the median slope between commits LAG apart.

    Not the slope within segments of a first segmentation: on a trend, that segmentation
    is a staircase whose treads are chosen where the noise makes them look flat, and the
    slope within them comes out too small. A median of pair slopes hardly sees the few
    pairs that straddle a step.
    """
    n = data.y.size
    lag = min(LAG, n // 4)
    zero = np.zeros(n)
    if lag < 1:
        return zero, zero
    t = data.index.astype(float)
    slopes = (data.y[lag:] - data.y[:-lag]) / (t[lag:] - t[:-lag])
    slope = float(np.median(slopes))
    # The pairs across a large step sit far out on one side of the others and still move
    # the median (with commit-to-commit noise, enough to hide a trend of 20%): they go.
    spread = _robust_sd(slopes)
    kept = slopes[np.abs(slopes - slope) <= FIRST_DRIFT_SDS * spread]
    if kept.size >= slopes.size // 2:
        slopes = kept
        slope = float(np.median(slopes))
    se = 1.2533 * _robust_sd(slopes) / math.sqrt(slopes.size)
    if not abs(slope) >= DRIFT_Z * se:
        return zero, zero
    return slope * (t - t[0]), np.full(n, se**2)


def _integrate(t: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """The drift whose slope at each commit is ``slope``: continuous, 0 at the first."""
    return np.concatenate(([0.0], np.cumsum(np.diff(t) * 0.5 * (slope[:-1] + slope[1:]))))


def _segment(data: _Levels, alpha: float, previous: tuple[list[int], _Fit] | None = None
             ) -> tuple[list[int], _Fit, list[float]]:
    """Steps (positions among the commits with data), the fit they were judged on, and
    their strengths (squared z).

    ``previous``: the steps and fit of an earlier pass, to start the drift from.
    """
    n = data.y.size
    z_crit = -float(special().stdtrit(data.df, alpha / (2 * _tests(n))))
    threshold = float(special().kolmogi(CANDIDATE_P))
    if previous is None:
        bounds: list[int] = []
        fit = _Fit(data, *_first_drift(data))
        rounds, settle_from = DRIFT_ROUNDS, 2  # round 1 changes how the drift is estimated
    else:  # new variances: a new fit on the drift of the earlier pass, and two rounds more
        bounds, fit = previous
        fit = _Fit(data, *_drift(data, bounds, fit.slope_var))
        rounds, settle_from = 2, 1
    settled = DRIFT_SETTLED * math.sqrt(float(np.median(data.v)))
    lag = min(WINDOW, n - 1)
    for round_ in range(rounds):
        if round_:
            new = _Fit(data, *_drift(data, bounds, fit.slope_var))
            moved = new.drift - fit.drift
            if round_ >= settle_from and np.max(np.abs(moved[lag:] - moved[:-lag])) < settled:
                break  # what moved would not move a step test
            fit = new
        cands = _Boundaries(fit, fit.candidates(threshold), z_crit**2)
        cands.prune()
        for _ in range(REFINE_ROUNDS):
            if not cands.refine():
                break
            cands.prune()
        found = cands.positions()
        if round_ and found == bounds:
            break
        bounds = found
    return bounds, fit, cands.strengths()


def _residual_variance(fit: _Fit, bounds: list[int]) -> float:
    """Mean squared standardized residual around the fitted levels (1 for gaussian noise)."""
    seg = np.zeros(fit.n, dtype=np.int64)
    seg[bounds] = 1
    seg = np.cumsum(seg)
    edges = np.asarray([0, *bounds, fit.n])
    means = fit.mean(edges[:-1], edges[1:])
    resid2 = (fit.r - means[seg]) ** 2 * fit.w
    dof = fit.n - len(bounds) - 1
    return float(np.sum(resid2) / dof) if dof > 0 else 1.0


def _tests(n: int) -> int:
    """Commits where a step could be: the Bonferroni factor."""
    return max(1, n - 2 * MIN_SEGMENT + 1)


def _make_step(data: _Levels, fit: _Fit, c: int, lo: int, hi: int, strength: float) -> Step:
    """The step at position ``c`` between boundaries ``lo`` and ``hi``, in the caller's terms."""
    # Levels at the step: the drift at the first commit of the new level is added back.
    a, b = fit.window(c, lo, hi)
    ma = float(fit.mean(a, c) + fit.offset + fit.drift[c])
    mb = float(fit.mean(c, b) + fit.offset + fit.drift[c])
    z = math.sqrt(strength)
    p = min(1.0, 2 * _tests(fit.n) * float(special().stdtr(data.df, -z))) \
        if math.isfinite(z) else 0.0
    if data.log:
        before, after = math.exp(ma), math.exp(mb)
        ratio = math.exp(mb - ma)
    else:
        before, after = ma * data.scale, mb * data.scale
        ratio = after / before if before else (math.inf if after > 0 else
                                                -math.inf if after < 0 else 1.0)
    return Step(index=int(data.index[c]), before=before, after=after, ratio=ratio,
                p_value=p if math.isfinite(p) else 1.0, last_good=int(data.index[c - 1]))
