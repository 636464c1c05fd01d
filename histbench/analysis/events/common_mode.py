"""The numeric core of event finding: how the whole machine moved, commit by commit.

On a CI runner every timing of a commit is made on one machine, so when the runner
changes (another CPU, another image, a busy host) every timing benchmark moves at that
commit by about the same factor, and code changes move a few. So the common mode of a
commit is the median, over the timing series measured there, of how far each series is
from its own local level: a median is not moved by the few series a code change moves.

A series' local level is a running median of its log levels less the common mode (so it
follows the series' own code steps but not the machine's); it starts from the series'
median over the whole history, and the two are refined in turn (``ROUNDS``). Whatever
moves most of the series at once at one commit ends up in the common mode, and that is
also the limit of the method: a code change that slows every benchmark alike cannot be
told from a slower machine here.

Plain arrays in and out, log scale: rows are series, columns commits, NaN where a series
has no data.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_SERIES = 5  # timing series measured at a commit, at least, for its common mode
LOCAL_HALF_WIDTH = 10  # commits with data each side of a series' running median
ROUNDS = 2  # refinements of local levels and common mode after the first estimate


@dataclass(frozen=True)
class CommonMode:
    """The machine's own movement per commit."""

    log_factor: np.ndarray  # per commit: log of the machine's factor; 0 where unknown
    support: np.ndarray  # per commit: how many series it was estimated from

    @property
    def known(self) -> np.ndarray:
        return self.support >= MIN_SERIES

    def factors(self) -> np.ndarray:
        return np.exp(self.log_factor)

    def jump(self, first: int, last_good: int, width: int = LOCAL_HALF_WIDTH) -> float:
        """The machine's log move at a step: median common mode of up to ``width`` known
        commits from ``first`` on, less that of those up to ``last_good``."""
        known = np.flatnonzero(self.known)
        before = known[known <= last_good][-width:]
        after = known[known >= first][:width]
        if not before.size or not after.size:
            return 0.0
        return float(np.median(self.log_factor[after]) - np.median(self.log_factor[before]))


def log_levels(samples: Sequence[Sequence[Sequence[float]]], n: int) -> np.ndarray:
    """Series x commits: the log of each commit's median finite sample (NaN: none, or not
    positive). Padded into one array per series, so that a thousand commits are one
    median call, not a thousand."""
    out = np.full((len(samples), n), np.nan)
    for r, per_commit in enumerate(samples):
        width = max((len(v) for v in per_commit), default=0)
        if width == 0:
            continue
        padded = np.full((n, width), np.nan)
        for i, values in enumerate(per_commit):
            if len(values):
                padded[i, :len(values)] = np.asarray(values, dtype=float)
        padded[~np.isfinite(padded)] = np.nan
        middle = _quiet(np.nanmedian, padded, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[r] = np.where(middle > 0, np.log(np.where(middle > 0, middle, 1.0)), np.nan)
    return out


def estimate(levels: np.ndarray) -> CommonMode:
    """The common mode of a (series x commits) array of log levels."""
    levels = np.asarray(levels, dtype=float)
    n = levels.shape[1]
    support = np.sum(~np.isnan(levels), axis=0)
    if levels.shape[0] < MIN_SERIES or n == 0:
        return CommonMode(np.zeros(n), support)
    known = support >= MIN_SERIES
    local = _quiet(np.nanmedian, levels, axis=1, keepdims=True) * np.ones((1, n))
    log_factor = _column_medians(levels - local, known)
    for _ in range(ROUNDS):
        local = _running_medians(levels - log_factor, LOCAL_HALF_WIDTH)
        log_factor = _column_medians(levels - local, known)
    return CommonMode(log_factor, support)


def _quiet(function, *args, **kwargs):
    """numpy's nan-reductions warn on rows without data, which are expected here (a
    benchmark added late, a series with nothing positive): their NaN is the answer."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(*args, **kwargs)


def _column_medians(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Per commit, the median over series; commits not ``known`` take the nearest known
    commit's (the machine stays as it was last seen), or 0 when none is."""
    out = np.zeros(values.shape[1])
    if not known.any():
        return out
    out[known] = _quiet(np.nanmedian, values[:, known], axis=0)
    where = np.flatnonzero(known)
    if where.size < values.shape[1]:
        columns = np.arange(values.shape[1])
        nearest = np.clip(np.searchsorted(where, columns), 0, where.size - 1)
        earlier = np.clip(nearest - 1, 0, where.size - 1)
        pick = np.where(np.abs(where[earlier] - columns) <= np.abs(where[nearest] - columns),
                        where[earlier], where[nearest])
        out[~known] = out[pick[~known]]
    return out


def _running_medians(values: np.ndarray, half: int) -> np.ndarray:
    """Each row's running median over ``half`` commits with data on each side (fewer at
    the ends), at the commits with data; NaN elsewhere."""
    out = np.full(values.shape, np.nan)
    for row, series in enumerate(values):
        where = np.flatnonzero(~np.isnan(series))
        if where.size == 0:
            continue
        padded = np.concatenate([np.full(half, np.nan), series[where], np.full(half, np.nan)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
        out[row, where] = _quiet(np.nanmedian, windows, axis=1)
    return out
