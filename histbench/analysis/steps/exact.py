"""Deterministic histories (every commit's samples one value, as a ``track_`` count): no
noise to estimate, so every change of value is a step, however few commits were measured."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from histbench.analysis.steps.base import Step

_FLOAT_MAX = float(np.finfo(np.float64).max)


def exact_steps(series: Sequence[Sequence[float]], min_change: float,
                tolerance: float = 0.0) -> list[Step] | None:
    """A deterministic history: every commit's samples (two or more) are one value.

    Counts (``track_`` benchmarks returning a work count, instruction counts) repeat to
    the last digit, so there is no noise to estimate and any change between two measured
    commits is a step, however few commits were measured (a history sampled with
    ``run --steps``). None when any commit varies, or has a single sample (an imported
    median says nothing about its noise): the statistical path decides then.

    ``tolerance`` (relative): samples this close to their commit's median count as one
    value. Instruction counts vary by a few parts per million within a process (a warm
    call against a cold one), far below their noise floor (core/modes.COUNT_FLOOR): at
    that resolution they are deterministic, and a statistical segmentation, built for
    noise, would merge a 1% step into a 10% one seven commits away.
    """
    values = _values(series, tolerance)
    if values is None or len(values) < 2:
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


def _values(series: Sequence[Sequence[float]],
            tolerance: float = 0.0) -> list[tuple[int, float]] | None:
    """(position, value) of each commit with data; None if one is not a single value
    repeated (within ``tolerance`` of its median, relative)."""
    values: list[tuple[int, float]] = []
    for i, samples in enumerate(series):
        if len(samples) == 0:
            continue
        if len(samples) < 2:
            return None
        if tolerance <= 0:
            if any(v != samples[0] for v in samples):
                return None
            values.append((i, float(samples[0])))
            continue
        centre = float(np.median(samples))
        if not all(abs(v - centre) <= tolerance * abs(centre) for v in samples):
            return None
        values.append((i, centre))
    return values
