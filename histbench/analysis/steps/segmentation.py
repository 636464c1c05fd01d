"""One segmentation of the levels: candidates, pruning and refining of the boundaries,
alternated with the drift until neither moves."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from histbench.analysis.steps.base import WINDOW
from histbench.analysis.steps.boundaries import Boundaries
from histbench.analysis.steps.drift import drift, first_drift
from histbench.analysis.steps.fit import Fit
from histbench.analysis.steps.levels import Levels
from histbench.analysis.steps.significance import StepTest, candidate_threshold

DRIFT_ROUNDS = 6
DRIFT_SETTLED = 0.1  # SDs of a level: a drift that moved less than this is final
REFINE_ROUNDS = 5


@dataclass(frozen=True)
class Segmentation:
    """Steps (positions among the commits with data), the fit they were judged on, and
    their strengths (squared z)."""

    bounds: list[int]
    fit: Fit
    strengths: list[float]


def segment(levels: Levels, alpha: float, previous: Segmentation | None = None
            ) -> Segmentation:
    """The steps of ``levels`` at family-wise level ``alpha``.

    ``previous``: the segmentation of an earlier pass, to start the drift from.
    """
    n = levels.y.size
    crit = StepTest(n, levels.df).critical_strength(alpha)
    threshold = candidate_threshold()
    if previous is None:
        bounds: list[int] = []
        fit = Fit(levels, first_drift(levels))
        rounds, settle_from = DRIFT_ROUNDS, 2  # round 1 changes how the drift is estimated
    else:  # new variances: a new fit on the drift of the earlier pass, and two rounds more
        bounds = previous.bounds
        fit = Fit(levels, drift(levels, bounds, previous.fit.slope_var))
        rounds, settle_from = 2, 1
    settled = DRIFT_SETTLED * math.sqrt(float(np.median(levels.v)))
    lag = min(WINDOW, n - 1)
    for round_ in range(rounds):
        if round_:
            new = Fit(levels, drift(levels, bounds, fit.slope_var))
            moved = new.drift - fit.drift
            if round_ >= settle_from and np.max(np.abs(moved[lag:] - moved[:-lag])) < settled:
                break  # what moved would not move a step test
            fit = new
        cands = _boundaries(fit, threshold, crit)
        found = cands.positions()
        if round_ and found == bounds:
            break
        bounds = found
    return Segmentation(bounds, fit, cands.strengths())


def _boundaries(fit: Fit, threshold: float, crit: float) -> Boundaries:
    """The candidates of ``fit``, pruned to those of strength ``crit`` or more, and moved to
    their best splits (pruned again after each move)."""
    cands = Boundaries(fit, fit.candidates(threshold), crit)
    cands.prune()
    for _ in range(REFINE_ROUNDS):
        if not cands.refine():
            break
        cands.prune()
    return cands
