"""The public detector: checks its arguments, takes the exact path for deterministic
histories, and otherwise alternates segmentation, the variance check and the excursion
check until the steps stand, then reports them in the caller's units."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from histbench.analysis.steps.base import MIN_SEGMENT, Step
from histbench.analysis.steps.exact import exact_steps
from histbench.analysis.steps.excursions import pull_excursions
from histbench.analysis.steps.levels import Levels
from histbench.analysis.steps.segmentation import Segmentation, segment
from histbench.analysis.steps.significance import StepTest
from histbench.core.errors import HistbenchError

EXCURSION_ROUNDS = 3  # excursions are looked for this many times (each finds those left)
RESCALE = 1.1  # a history whose residual variance is this much above the estimate is redone


def detect_steps(series: Sequence[Sequence[float]], *, alpha: float = 0.05,
                 min_change: float = 0.0, noise_floor: float = 0.0) -> list[Step]:
    """Steps in a history of samples (one list per commit, empty = no data), oldest first.

    Steps with ``|ratio - 1| < min_change`` are left out of the result (they still count
    as steps when the levels around other steps are estimated). ``noise_floor``: the
    smallest relative noise a commit's level is taken to have, for counts that repeat to
    a few parts per million (core/modes.COUNT_FLOOR); it also bounds ``min_change``.
    """
    if not 0 < alpha < 1:
        raise HistbenchError(f"alpha must be between 0 and 1, not {alpha!r}")
    if not min_change >= 0:
        raise HistbenchError(f"min_change must be 0 or more, not {min_change!r}")
    if not noise_floor >= 0:
        raise HistbenchError(f"noise_floor must be 0 or more, not {noise_floor!r}")
    min_change = max(min_change, noise_floor)
    exact = exact_steps(series, min_change, tolerance=noise_floor)
    if exact is not None:
        return exact
    levels = Levels.of(series, noise_floor)
    if levels is None or levels.y.size < 2 * MIN_SEGMENT:
        return []
    levels, found = _settle(levels, alpha)
    steps = (_make_step(levels, found, k) for k in range(len(found.strengths)))
    return [step for step in steps if abs(step.ratio - 1) >= min_change]


def _settle(levels: Levels, alpha: float) -> tuple[Levels, Segmentation]:
    """Segment; if the levels vary around the fit more than estimated, scale the variance
    up and segment again; pull in runs of off builds and start over, a few times at most.
    Returns the levels the final segmentation was made on, with it."""
    for round_ in range(EXCURSION_ROUNDS):
        found = segment(levels, alpha)
        inflate = found.fit.residual_variance(found.bounds)
        if inflate > RESCALE:
            # The levels vary more around the fit than their differences' MAD said: the
            # commit-to-commit noise has heavy tails. Judge again with the honest variance.
            levels = replace(levels, v=levels.v * inflate)
            found = segment(levels, alpha, found)
        if round_ == EXCURSION_ROUNDS - 1:
            break
        pulled = pull_excursions(levels, found, alpha)
        if pulled is None:
            break
        levels = replace(levels, y=pulled)
    return levels, found


def _make_step(levels: Levels, found: Segmentation, k: int) -> Step:
    """The ``k``-th step of ``found``, in the caller's terms."""
    fit = found.fit
    edges = [0, *found.bounds, fit.n]
    c, lo, hi = edges[k + 1], edges[k], edges[k + 2]
    # Levels at the step: the drift at the first commit of the new level is added back.
    a, b = fit.window(c, lo, hi)
    ma = float(fit.mean(a, c) + fit.offset + fit.drift[c])
    mb = float(fit.mean(c, b) + fit.offset + fit.drift[c])
    p = StepTest(fit.n, levels.df).p_value(found.strengths[k])
    if levels.log:
        before, after = math.exp(ma), math.exp(mb)
        ratio = math.exp(mb - ma)
    else:
        before, after = ma * levels.scale, mb * levels.scale
        ratio = after / before if before else (math.inf if after > 0 else
                                                -math.inf if after < 0 else 1.0)
    return Step(index=int(levels.index[c]), before=before, after=after, ratio=ratio,
                p_value=p, last_good=int(levels.index[c - 1]))
