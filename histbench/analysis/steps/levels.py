"""From the domain's series (raw samples per commit, gaps, any numbers) to the numeric
core's input: one level per commit with data, on the log scale when every sample is
positive, with its variance. Everything after this works on plain arrays."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from histbench.analysis.steps.noise import MAD_TO_SD, level_variances, noise_sd
from histbench.core.errors import HistbenchError

TRIM_SDS = 3.0  # samples further from their commit's median are outliers
LOW_QUANTILE = 0.2  # the other candidate for a commit's level ...
LOW_QUANTILE_GAIN = 0.7  # ... taken when its noise is this much smaller than the mean's
SPIKE_SDS = 3.0  # a lone commit is pulled back to this many SDs of its neighbours


@dataclass(frozen=True)
class Levels:
    """The levels a history's steps are judged on. Frozen: a pass that rescales the
    variances or pulls excursions in makes new levels, and earlier fits keep theirs."""

    index: np.ndarray  # position in the series of each commit with data
    y: np.ndarray  # level (log or raw)
    v: np.ndarray  # variance of each level
    df: float  # degrees of freedom of the noise estimate
    log: bool  # y is the log of the samples; else the samples / scale
    scale: float
    raw: np.ndarray  # the levels before lone commits were pulled back to their neighbours

    @classmethod
    def of(cls, series: Sequence[Sequence[float]], noise_floor: float = 0.0) -> Levels | None:
        """None when no commit has a finite sample. ``noise_floor``: relative, on the log
        scale (detect_steps)."""
        flat, owner = _finite_samples(series)
        if flat.size == 0:
            return None
        log = bool(np.all(flat > 0))
        scale = 1.0 if log else float(np.max(np.abs(flat))) or 1.0
        x = np.log(flat) if log else flat / scale
        commits = _Commits.of(owner, len(series))
        x = commits.sort(x)
        y, kept, within = _trimmed_means(x, commits)
        # A low quantile instead, when it is the steadier level: timings whose processes
        # land on a fast or a slow mode (a busy machine) have a steady fast mode and a
        # mean or median that jumps with the share of slow processes.
        low = commits.quantile(x, LOW_QUANTILE)
        if y.size > 2 and noise_sd(np.diff(low)) < LOW_QUANTILE_GAIN * noise_sd(np.diff(y)):
            y = low
        if not log:  # levels of about 1: variances neither overflow nor underflow
            top = float(np.max(np.abs(y)))
            if top > 0:
                y, within, scale = y / top, within / top**2, scale * top
        v, df = level_variances(y, kept, within, noise_floor if log else 0.0)
        return cls(index=commits.index, y=_clip_spikes(y, v), v=v, df=df, log=log,
                   scale=scale, raw=y)


def _finite_samples(series: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Every finite sample, flat, and the position in ``series`` of the commit it is of."""
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
    return flat[finite], owner[finite]


@dataclass(frozen=True)
class _Commits:
    """Where each commit's samples sit among all samples (grouped, in commit order): the
    per-commit statistics become array operations, with no Python loop over commits."""

    index: np.ndarray  # position in the series of each commit with data
    sizes: np.ndarray  # its number of samples
    starts: np.ndarray  # where its samples start
    group: np.ndarray  # for each sample, its commit (among those with data)

    @classmethod
    def of(cls, owner: np.ndarray, commits: int) -> _Commits:
        counts = np.bincount(owner, minlength=commits)
        index = np.flatnonzero(counts)
        c = counts[index]
        starts = np.concatenate(([0], np.cumsum(c)[:-1]))
        return cls(index, c, starts, np.repeat(np.arange(index.size), c))

    def sort(self, values: np.ndarray) -> np.ndarray:
        """``values`` sorted within each commit. Commits usually have the same number of
        samples: then one sort of a 2-D view, several times faster than a lexsort of the
        whole history."""
        sizes = self.sizes
        if sizes.size and np.all(sizes == sizes[0]):
            return np.sort(values.reshape(sizes.size, int(sizes[0])), axis=1).ravel()
        return values[np.lexsort((values, self.group))]

    def median(self, ordered: np.ndarray) -> np.ndarray:
        """Each commit's median, of values already sorted within each commit."""
        c, starts = self.sizes, self.starts
        return 0.5 * (ordered[starts + (c - 1) // 2] + ordered[starts + c // 2])

    def quantile(self, ordered: np.ndarray, q: float) -> np.ndarray:
        """Each commit's ``q`` quantile (linear interpolation), of sorted values."""
        c, starts = self.sizes, self.starts
        pos = q * (c - 1)
        below = np.floor(pos).astype(np.int64)
        frac = pos - below
        return ordered[starts + below] * (1 - frac) \
            + ordered[starts + np.minimum(below + 1, c - 1)] * frac

    def total(self, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.group, weights=weights, minlength=self.index.size)


def _trimmed_means(x: np.ndarray, commits: _Commits) -> tuple[np.ndarray, np.ndarray, float]:
    """Each commit's mean without the samples more than TRIM_SDS robust SDs (pooled over the
    history) from its median: outliers go, gaussian noise keeps nearly a mean's efficiency.
    Returns the means, the samples kept per commit (at least 1) and the pooled variance
    within commits."""
    group = commits.group
    med = commits.median(x)
    dev = np.abs(x - med[group])
    mad = commits.median(commits.sort(dev))
    several = commits.sizes >= 3
    spread = MAD_TO_SD * float(np.median(mad[several])) if several.any() else 0.0
    keep = dev <= TRIM_SDS * spread
    kept = commits.total(keep)
    total = commits.total(np.where(keep, x, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(kept > 0, total / np.maximum(kept, 1), med)
    kept = np.maximum(kept, 1)
    resid = np.where(keep, x - y[group], 0.0)
    dof = float(np.sum(kept - 1))
    within = float(np.sum(resid**2)) / dof if dof > 0 else 0.0
    return y, kept, within


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
