"""Synthetic noise of benchmark samples, one generator for the detector's tests and for
bench/detection_corpora.py: what the tests check is what the benchmark scores."""

from __future__ import annotations

import numpy as np


def commit_samples(rng: np.random.Generator, level: float, count: int,
                   kind: str) -> list[float]:
    """One commit's samples around ``level`` with the synthetic noise of ``kind``."""
    kind = kind.rstrip("%")
    if kind == "gauss3":
        s = level * (1 + rng.normal(0, 0.03, count))
    elif kind == "lognormal":
        s = level * np.exp(rng.normal(0, 0.05, count))
    elif kind == "jitter":
        s = level * (1 + rng.normal(0, 0.005, count))
    else:
        s = level * (1 + rng.normal(0, 0.01, count))
    if kind == "outliers":
        hit = rng.random(count) < 0.05
        s[hit] *= rng.uniform(2, 5, int(hit.sum()))
    return [float(v) for v in s]


def shape_level(rng: np.random.Generator, level: np.ndarray, kind: str) -> np.ndarray:
    """The per-commit part of a noise kind, applied to a history's levels: a slow +20%
    over the history (``drift``) or a 1% wobble of each commit's level (``jitter``)."""
    n = level.size
    if kind == "drift":
        level = level * (1 + 0.2 * np.arange(n) / max(n - 1, 1))
    if kind == "jitter":
        level = level * (1 + rng.normal(0, 0.01, n))
    return level


def build_offsets(rng: np.random.Generator, n: int, sd: float, tails: str) -> np.ndarray:
    """Per-commit level factors of builds that each land at their own memory layout."""
    if tails == "t3":
        e = rng.standard_t(3, n) / np.sqrt(3.0)  # unit variance
    else:
        e = rng.standard_normal(n)
    return np.maximum(1 + sd * e, 0.5)
