"""How noisy a commit's level is, read from the levels themselves (robust spreads of their
differences) rather than from the samples within a commit: those miss the jitter from
commit to commit, which is what a step must stand out from."""

from __future__ import annotations

import math

import numpy as np

from histbench.core.scipy_special import special

TRIM_DIFFS = 0.1  # share of the largest differences between levels left out of their SD
MAD_EFFICIENCY = 0.37  # of the MAD against the SD, for the degrees of freedom of the noise
ZERO_NOISE = 1e-9  # relative noise floor when the data shows none at all
MAD_TO_SD = 1.4826  # a gaussian's SD over its median absolute deviation


def mad_sd(d: np.ndarray) -> float:
    """A gaussian's SD from the median absolute deviation about the median (0 when most
    values are equal)."""
    if d.size == 0:
        return 0.0
    return MAD_TO_SD * float(np.median(np.abs(d - np.median(d))))


def robust_sd(d: np.ndarray) -> float:
    """SD from the MAD; from the mean absolute deviation when most values are equal."""
    sd = mad_sd(d)
    return sd if sd > 0 or d.size == 0 else 1.2533 * float(np.mean(np.abs(d - np.median(d))))


def noise_sd(d: np.ndarray) -> float:
    """SD of differences: the larger of the MAD's and that of all but the largest ones.

    The MAD alone is fooled by noise that clusters: levels that often repeat (timings whose
    processes land on a few modes) make many differences tiny and the MAD small, while the
    others are large. Leaving out the largest tenth (at least two: the steps) and correcting
    for what a gaussian would lose in its tails sees them, and agrees with the MAD on
    gaussian noise.
    """
    mad = robust_sd(d)
    if d.size < 4:
        return mad
    dev = np.sort(np.abs(d - np.median(d)))
    keep = min(dev.size - 2, int(dev.size * (1 - TRIM_DIFFS)))
    cut = -float(special().ndtri(0.5 * (1 - keep / dev.size)))
    lost = 1 - 2 * cut * math.exp(-cut * cut / 2) / math.sqrt(2 * math.pi) / (keep / dev.size)
    trimmed = math.sqrt(float(np.mean(dev[:keep] ** 2)) / lost) if lost > 0 else 0.0
    return max(mad, trimmed)


def level_variances(y: np.ndarray, kept: np.ndarray, within: float,
                    noise_floor: float = 0.0) -> tuple[np.ndarray, float]:
    """Variance of each commit's level: jitter + within-commit variance / samples kept,
    scaled to the spread of the differences between neighbouring commits; and the degrees
    of freedom of that estimate."""
    n = y.size
    d = np.diff(y)
    inv = 1.0 / kept
    sd_d = noise_sd(d)
    jitter = max(0.0, (sd_d**2 - within * float(np.median(inv[:-1] + inv[1:]))) / 2) if n > 1 \
        else 0.0
    rel = jitter + within * inv
    if not np.all(rel > 0):
        rel = np.ones(n)
    scale = noise_sd(d / np.sqrt(rel[:-1] + rel[1:])) if n > 1 else 0.0
    floor = max(ZERO_NOISE, noise_floor)  # levels are logs, or scaled to at most 1 in size
    v = np.maximum(scale**2 * rel, floor**2)
    df = max(1.0, MAD_EFFICIENCY * (n - 1))
    return v, df
